"""SegmentationQC engine: segmentation quality control without ground truth.

No Slicer or Qt imports here: the engine runs in Slicer, in plain Python and on clusters.

    from SegmentationQCLib import read_case, QCEngine
    result = QCEngine().check(read_case("image.nii.gz", "seg.nii.gz"))

Exports load on first use, so light modules (e.g. ``structures``) import without torch.
"""
from importlib import import_module

__version__ = "0.1.0"
_EXPORTS = {"Case": "case", "read_case": "case", "InputError": "errors", "ModelPack": "pack",
            "load_pack": "pack", "QCEngine": "qc", "QCResult": "qc"}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""SegmentationQC engine: segmentation quality control without ground truth.

No Slicer or Qt imports here: the engine runs in Slicer, in plain Python and on clusters.

    from SegmentationQCLib import read_case, QCEngine
    result = QCEngine().check(read_case("image.nii.gz", "seg.nii.gz"))
"""
from .case import Case, read_case
from .errors import InputError
from .pack import ModelPack, load_pack
from .qc import QCEngine, QCResult

__all__ = ["Case", "InputError", "ModelPack", "QCEngine", "QCResult", "load_pack", "read_case"]
__version__ = "0.1.0"

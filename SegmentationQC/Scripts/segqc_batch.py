"""Headless batch QC inside Slicer: the same outputs as ``segqc batch``.

    Slicer --no-main-window --python-script segqc_batch.py --manifest M.csv --out DIR
           [--labels LV=3,MYO=2,RV=1] [--pack NAME_OR_FOLDER] [--device cpu|cuda]
           [--methods M[,M…]] [--flag-on dice|upper] [--exclude-ends N] [--precision float32|bfloat16|int8]
           [--resume] [--install-dependencies]

Writes DIR/results.csv and DIR/cases/<case>.json (see docs/slicer.md). Without
``--install-dependencies`` nothing is installed: a missing torch is reported and the exit code
is 2. Also runs with a plain Python that has the engine installed.
"""
from __future__ import annotations

import argparse
import os
import sys


def _here() -> str:
    # Slicer's --python-script may not set __file__; its sys.argv[0] is the script then.
    return os.path.dirname(os.path.abspath(globals().get("__file__") or sys.argv[0]))


def _find_library() -> None:
    """Installed: SegmentationQCLib beside Scripts/; source tree: two folders up."""
    here = _here()
    for folder in (os.path.dirname(here), os.path.dirname(os.path.dirname(here))):
        if os.path.isfile(os.path.join(folder, "SegmentationQCLib", "__init__.py")):
            if folder not in sys.path:
                sys.path.insert(0, folder)
            return


def _in_slicer() -> bool:
    try:
        import slicer

        return getattr(slicer, "app", None) is not None
    except ImportError:
        return False


def _install_dependencies() -> None:
    """torch through the PyTorch extension, the rest with pip (only when asked to)."""
    import slicer

    import PyTorchUtils

    torch_logic = PyTorchUtils.PyTorchUtilsLogic()
    if not torch_logic.torchInstalled() and torch_logic.installTorch(askConfirmation=False) is None:
        raise RuntimeError("PyTorch could not be installed")
    with open(os.path.join(os.path.dirname(_here()), "Resources", "requirements.txt")) as f:
        reqs = [ln.split("#")[0].strip() for ln in f if ln.split("#")[0].strip()]
    slicer.util.pip_install(reqs)


def parser() -> argparse.ArgumentParser:
    """``segqc batch``'s options (shared with the CLI), with --manifest and --out named."""
    from SegmentationQCLib.cli import Parser, add_common_options, add_resume_option

    ap = Parser(prog="segqc_batch.py", description="SegmentationQC batch inside Slicer (= segqc batch).")
    ap.add_argument("--manifest", required=True, help="CSV with columns case,image,segmentation[,reference]")
    ap.add_argument("--out", required=True, help="output folder: results.csv and cases/<case>.json")
    add_common_options(ap)
    add_resume_option(ap)
    ap.add_argument("--install-dependencies", action="store_true",
                    help="install torch (PyTorch extension) and missing packages if needed")
    return ap


def main(argv=None) -> int:
    _find_library()
    a = parser().parse_args(argv)
    if a.install_dependencies and _in_slicer():
        _install_dependencies()
    try:
        import torch  # noqa: F401
    except ImportError:
        print("segqc_batch: error: torch is not installed; open the SegmentationQC module once, or rerun with "
              "--install-dependencies", file=sys.stderr)
        return 2
    from pathlib import Path

    from SegmentationQCLib.batch import run_batch
    from SegmentationQCLib.cli import error_line
    from SegmentationQCLib.errors import InputError

    try:
        return run_batch(Path(a.manifest), Path(a.out), a.labels, a.pack, a.device, a.flag_on, a.exclude_ends,
                         a.methods, precision=a.precision, resume=a.resume)
    except (InputError, OSError) as e:  # OSError: the output folder (no permission, disk full, …)
        print(f"segqc_batch: error: {error_line(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    code = main(sys.argv[1:])
    if _in_slicer():
        import slicer

        slicer.util.exit(code)
    else:
        sys.exit(code)

"""``segqc``: check one case, a batch from a manifest, or run the demo.

    segqc check IMAGE SEGMENTATION [-o REPORT.json] [--error-map E.nii.gz] [--surrogate S.nii.gz] [--labels LV=3,MYO=2,RV=1]
                [--frame N]
    segqc batch MANIFEST.csv -o OUT_DIR [--labels ...]
    segqc correct IMAGE SEGMENTATION -o CORRECTED.nii.gz [--report REPORT.json] [--frame N]
    segqc ef ED_IMAGE ED_SEGMENTATION [ES_IMAGE ES_SEGMENTATION] [-o MEASUREMENTS.json] [--ed-frame N --es-frame N]
    segqc demo [-o DIR]

Bad input ends with one line on stderr and exit code 2; ``SEGQC_DEBUG=1`` shows tracebacks.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import __version__
from .errors import InputError
from .pack import method_list


class Parser(argparse.ArgumentParser):
    """argparse's parser, its usage errors one line (exit code 2) like every other bad input."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} -h)\n")


def add_resume_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resume", action="store_true", help="keep the cases a previous run into the output folder "
                   "scored ok, with the same settings and unchanged inputs; score the others")


def add_common_options(p: argparse.ArgumentParser) -> None:
    """Options shared by check, batch, demo and Slicer's headless batch script."""
    p.add_argument("--labels", help="label value of each structure, e.g. LV=3,MYO=2,RV=1 (default: a Slicer .seg.nrrd's "
                   "segment names, else ACDC's)")
    p.add_argument("--pack", help="model pack: a bundled name or a folder (default: acdc-cardiac)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    p.add_argument("--precision", choices=["float32", "bfloat16", "int8"], default="float32",
                   help="the networks' arithmetic (bfloat16: where the CPU or GPU has it natively, faster on CPUs; "
                        "int8: x86 CPUs, about twice as fast)")
    p.add_argument("--methods", type=method_list, metavar="M[,M…]",
                   help="estimators to run, the first giving the reported Dice: slice, errormap, manifold, direct3d, "
                        "fused (default: the model pack's)")
    p.add_argument("--flag-on", choices=["dice", "upper"], default="dice",
                   help="flag a slice when its predicted Dice (default) or its interval's upper bound is below the threshold")
    p.add_argument("--exclude-ends", type=count, default=0, metavar="N",
                   help="never flag the N most basal and N most apical segmented slices (default 0)")


def add_frame_option(p: argparse.ArgumentParser, flag: str = "--frame", which: str = "the frame") -> None:
    p.add_argument(flag, type=count, metavar="N", help=f"{which} to check where the image or the segmentation is a cine "
                   "series (4D, or a DICOM folder repeating its slice positions), counted from 0")


def count(text: str) -> int:
    """A whole number, 0 or more (an argparse type)."""
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {text!r}")
    return n


def parser() -> argparse.ArgumentParser:
    ap = Parser(prog="segqc", description="Segmentation quality control without ground truth.")
    ap.add_argument("--version", action="version", version=f"segqc {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="score one segmentation")
    c.add_argument("image")
    c.add_argument("segmentation")
    c.add_argument("-o", "--output", help="report JSON (default: print it on stdout)")
    c.add_argument("--error-map", help="write the voxel error map (float 0-1, the image's grid) to this file")
    c.add_argument("--surrogate", help="write the surrogate segmentation (manifold latent search) to this file")
    add_frame_option(c)
    add_common_options(c)
    b = sub.add_parser("batch", help="score every case of a manifest (columns case,image,segmentation[,reference][,frame])")
    b.add_argument("manifest")
    b.add_argument("-o", "--output", required=True, help="output folder: results.csv and cases/<case>.json")
    add_resume_option(b)
    b.add_argument("--scheduler", metavar="ADDRESS", help="run the cases as tasks on a Dask cluster: a scheduler "
                   "address (tcp://host:8786), or local[:N] for N worker processes on this machine")
    add_common_options(b)
    r = sub.add_parser("correct", help="rebuild the flagged slices from their good neighbours into a new file")
    r.add_argument("image")
    r.add_argument("segmentation")
    r.add_argument("-o", "--output", required=True, help="the corrected segmentation (a new file)")
    r.add_argument("--report", help="report JSON with a correction section")
    add_frame_option(r)
    add_common_options(r)
    e = sub.add_parser("ef", help="LV/RV volumes, mass, stroke volume and ejection fraction, measured and corrected")
    e.add_argument("ed_image", help="the ED image, or a cine image holding both phases")
    e.add_argument("ed_segmentation", help="its segmentation, or a cine segmentation labelling ED and ES")
    e.add_argument("es_image", nargs="?", help="the ES image (omitted: both phases come from the cine pair)")
    e.add_argument("es_segmentation", nargs="?")
    e.add_argument("-o", "--output", help="JSON (default: print it on stdout)")
    add_frame_option(e, "--ed-frame", "the end-diastolic frame")
    add_frame_option(e, "--es-frame", "the end-systolic frame")
    add_common_options(e)
    d = sub.add_parser("demo", help="make an example case, check it, and write a report and a figure")
    d.add_argument("-o", "--output", default="segqc-demo", help="output folder (default: ./segqc-demo)")
    add_common_options(d)
    return ap


def cmd_check(a) -> int:
    from .case import parse_labels, read_case
    from .qc import QCEngine
    from .report import check_outputs, summary, to_report, write_image, write_json

    check_outputs([a.output, a.error_map, a.surrogate], [a.image, a.segmentation], [a.error_map, a.surrogate])
    case = read_case(a.image, a.segmentation, parse_labels(a.labels), frame=a.frame)
    engine = QCEngine(a.pack, a.device, a.methods, a.precision)
    if a.error_map and engine.error_model is None:
        raise InputError(f"model pack {engine.pack.name} has no error-map model; --error-map needs one")
    if a.surrogate and engine.vae is None:
        raise InputError(f"model pack {engine.pack.name} has no manifold model; --surrogate needs one")
    res = engine.check(case, a.flag_on, a.exclude_ends, error_map=bool(a.error_map), surrogate=bool(a.surrogate))
    rep = to_report(res, a.image, a.segmentation)
    if a.error_map:
        write_image(case.to_image(res.error_map), a.error_map)
    if a.surrogate:
        write_image(case.to_image(res.surrogate), a.surrogate)
    if a.output:
        write_json(rep, a.output)
        print(summary(rep), file=sys.stderr)
    else:
        print(json.dumps(rep, indent=1))
    return 0


def _checked(a, image, segmentation, frame, engine=None, files=None):
    """The case read from the files (``files``: those read so far, ``case.read_case``), its result
    and the engine (loaded unless given)."""
    from .case import parse_labels, read_case
    from .qc import QCEngine

    case = read_case(image, segmentation, parse_labels(a.labels), frame=frame, files=files)
    engine = engine or QCEngine(a.pack, a.device, a.methods, a.precision)
    return case, engine.check(case, a.flag_on, a.exclude_ends), engine


def cmd_correct(a) -> int:
    from .correction import correct, outcome_notes
    from .report import check_outputs, correction_section, summary, to_report, write_image, write_json

    check_outputs([a.output, a.report], [a.image, a.segmentation], [a.output])
    case, res, engine = _checked(a, a.image, a.segmentation, a.frame)
    fix = correct(case, res, engine=engine)
    write_image(case.to_image(fix.labels), a.output)
    rep = to_report(res, a.image, a.segmentation)
    rep["correction"] = correction_section(fix, a.output)
    if a.report:
        write_json(rep, a.report)
    print(summary(rep), file=sys.stderr)
    rebuilt = sorted({i for i, _ in fix.rebuilt})
    print(f"rebuilt slices {rebuilt or 'none'}; corrected segmentation in {a.output}", file=sys.stderr)
    for note in outcome_notes(fix):
        print(note, file=sys.stderr)
    return 0


def cmd_ef(a) -> int:
    """ED and ES from four files, or from one cine pair: its frames given, or found in its segmentation
    (``case.cine_phases``: the labelled frames with the largest and the smallest LV)."""
    from .case import cine_phases, parse_labels
    from .correction import correct, ejection
    from .report import check_outputs, summary, to_report, write_json

    if (a.es_image is None) != (a.es_segmentation is None):
        raise InputError("give ES_IMAGE and ES_SEGMENTATION together, or neither (both phases from one cine pair)")
    check_outputs([a.output], [a.ed_image, a.ed_segmentation, a.es_image, a.es_segmentation])
    out, engine, frames, files = {}, None, (a.ed_frame, a.es_frame), {}  # a cine pair is read once
    if a.es_image is None and None in frames:
        found = cine_phases(a.ed_segmentation, parse_labels(a.labels), files=files)
        frames = tuple(f if f is not None else g for f, g in zip(frames, found))
        out["frames"] = {"ED": frames[0], "ES": frames[1], "found": "the labelled frames with the largest and the "
                                                                   "smallest LV volume"}
    phases = (("ED", a.ed_image, a.ed_segmentation, frames[0]),
              ("ES", a.es_image or a.ed_image, a.es_segmentation or a.ed_segmentation, frames[1]))
    warnings, quality = [], {}
    for phase, image, seg, frame in phases:
        case, res, engine = _checked(a, image, seg, frame, engine, files)
        out[phase] = correct(case, res, engine=engine).measurements  # as segqc correct, no file written
        rep = to_report(res, image, seg)
        quality[phase] = {"verdict": rep["verdict"], "dice": {c: v["dice"] for c, v in rep["volume"].items()}}
        warnings += [f"{phase}: {w}" for w in rep["warnings"]]
        print(f"{phase} {summary(rep)}", file=sys.stderr)
    if [Path(p).resolve() for p in phases[0][1:3]] == [Path(p).resolve() for p in phases[1][1:3]] \
            and frames[0] == frames[1]:
        warnings.append("ED and ES are the same image, segmentation and frame: the stroke volume is 0")
        print(f"warning: {warnings[-1]}", file=sys.stderr)
    out["function"] = ejection(out["ED"], out["ES"])
    out["quality"], out["warnings"] = quality, warnings
    if a.output:
        write_json(out, a.output)
    else:
        print(json.dumps(out, indent=1))
    return 0


def cmd_batch(a) -> int:
    from .batch import run_batch

    return run_batch(Path(a.manifest), Path(a.output), a.labels, a.pack, a.device, a.flag_on, a.exclude_ends, a.methods,
                     a.scheduler, a.precision, a.resume)


def cmd_demo(a) -> int:
    from .demo import run_demo

    return run_demo(Path(a.output), a.pack, a.device, a.flag_on, a.exclude_ends, a.methods, a.precision)


def error_line(e: Exception) -> str:
    """The one line bad input ends with: an ``InputError``'s sentence, or an ``OSError``'s reason and path."""
    if isinstance(e, OSError):
        return f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")
    return str(e)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        parser().print_help()
        return 2
    a = parser().parse_args(argv)
    try:
        return {"check": cmd_check, "batch": cmd_batch, "correct": cmd_correct, "ef": cmd_ef,
                "demo": cmd_demo}[a.command](a)
    except (InputError, OSError) as e:  # OSError: writing an output (no permission, disk full, …)
        if os.environ.get("SEGQC_DEBUG"):
            raise
        print(f"segqc: error: {error_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("segqc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Reports in the ``segmentationqc/report/v1`` schema and rows of ``results.csv``."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import InputError
from .metrics import volume_dice
from .qc import QCResult

SCHEMA = "segmentationqc/report/v1"


def _r(x) -> float | None:
    return None if x is None else round(float(x), 4)


def to_report(res: QCResult, image: str = "", segmentation: str = "") -> dict:
    """The report as a JSON-ready dict. Slice ``index`` runs along the slice axis
    (``slice_axis`` names it as an axis of ``GetArrayFromImage``; 0 for usual stacks)."""
    vol = {}
    for k, c in enumerate(res.classes):
        vol[c] = {"dice": _r(res.volume_dice[k]),
                  "low": _r(res.volume_low[k]) if res.volume_low is not None else None,
                  "high": _r(res.volume_high[k]) if res.volume_high is not None else None}
    slices = []
    for i in range(res.slice_dice.shape[0]):
        row = {"index": i, "dice": {c: _r(res.slice_dice[i, k]) for k, c in enumerate(res.classes)}}
        if res.slice_low is not None:
            row["low"] = {c: _r(res.slice_low[i, k]) for k, c in enumerate(res.classes)}
            row["high"] = {c: _r(res.slice_high[i, k]) for k, c in enumerate(res.classes)}
        if res.slice_error_fraction is not None:
            row["error_fraction"] = _r(res.slice_error_fraction[i])
        row["flag"] = bool(res.flags[i].any())
        row["flagged"] = [c for k, c in enumerate(res.classes) if res.flags[i, k]]
        slices.append(row)
    return {
        "schema": SCHEMA, "case": res.case, "image": str(image), "segmentation": str(segmentation),
        "model": dict(res.model), "classes": list(res.classes),
        "slice_axis": int(res.slice_axis), "slice_axis_spacing_mm": _r(res.spacing[0]),
        "method": res.method, "volume": vol, "slices": slices, "verdict": res.verdict,
        "timings_ms": {k: round(v, 1) for k, v in res.timings_ms.items()},
        "warnings": list(res.warnings),
        **({"estimates": {m: {"volume": {c: _r(v[1][k]) for k, c in enumerate(res.classes)}}
                          for m, v in res.estimates.items()}} if len(res.estimates) > 1 else {}),
    }


def correction_section(fix, output: str = "") -> dict:
    """The report's ``correction`` section: slices rebuilt, flagged slices left as they are (not
    rebuilt: an end of the segmented stack or in a run too long to repair from neighbours; kept:
    they fit their neighbours; put back: rebuilt, but the rebuild scored no higher) and measurements
    before/after."""
    def by_slice(pairs):
        out: dict[int, list[str]] = {}
        for i, c in pairs:
            out.setdefault(i, []).append(c)
        return [{"index": i, "structures": cs} for i, cs in sorted(out.items())]

    return {"output": str(output),
            "slices_rebuilt": by_slice(fix.rebuilt),
            "slices_not_rebuilt": by_slice(fix.not_rebuilt),
            "slices_kept": list(fix.kept),
            "slices_put_back": list(fix.put_back),
            "measurements": {k: {kk: (_r(vv) if isinstance(vv, float) else vv) for kk, vv in v.items()}
                             for k, v in fix.measurements.items()}}


def check_outputs(outputs, inputs, images=()) -> None:
    """Refuse, before any work, an output path that is one of the inputs (nothing the user gave is
    written over), an existing folder, one under a file, or, for ``images``, a name whose ending
    SimpleITK writes no format for."""
    for out in filter(None, outputs):
        out = Path(out)
        if any(f and Path(f).exists() and Path(f).resolve() == out.resolve() for f in inputs):
            raise InputError(f"the output {out} is one of the inputs; choose another path")
        if out.is_dir():
            raise InputError(f"the output {out} is a folder; give a file name")
        above = next(q for q in out.absolute().parents if q.exists())
        if not above.is_dir():
            raise InputError(f"the output {out} cannot be made: {above} is a file, not a folder")
    for out in filter(None, images):
        with tempfile.TemporaryDirectory() as d:
            try:
                sitk.WriteImage(sitk.Image([1, 1], sitk.sitkFloat32), str(Path(d, "probe" + "".join(Path(out).suffixes))))
            except RuntimeError:
                raise InputError(f"the output {out}: SimpleITK writes no image format for this name's ending; "
                                 "end it with .nii.gz, .nrrd or .mha") from None


def check_output_folder(out: Path) -> None:
    """Refuse an output folder that is a file."""
    if out.exists() and not out.is_dir():
        raise InputError(f"the output folder {out} is a file; give a folder")


def write_image(image, path: str | Path) -> Path:
    """Write a SimpleITK image, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        sitk.WriteImage(image, str(path), True)
    except RuntimeError as e:
        why = [ln for ln in str(e).splitlines() if "ERROR" in ln] or str(e).splitlines()[-1:]
        raise InputError(f"cannot write {path}: {why[0].split('ERROR:')[-1].strip()}") from None
    return path


def write_json(report: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))
    return path


def csv_columns(classes) -> list[str]:
    cols = ["case", "status", "verdict"] + [f"dice_{c}" for c in classes]
    cols += [f"{b}_{c}" for b in ("low", "high") for c in classes]
    cols += ["flagged_slices", "total_ms"]
    cols += [f"true_dice_{c}" for c in classes] + ["message"]
    return cols


def csv_row(report: dict, true_dice: dict | None = None) -> dict:
    row = {"case": report["case"], "status": "ok", "verdict": report["verdict"],
           "flagged_slices": sum(s["flag"] for s in report["slices"]),
           "total_ms": report["timings_ms"].get("total"), "message": "; ".join(report.get("warnings", []))}
    for c, v in report["volume"].items():
        row[f"dice_{c}"], row[f"low_{c}"], row[f"high_{c}"] = v["dice"], v["low"], v["high"]
    for c, v in (true_dice or {}).items():
        row[f"true_dice_{c}"] = _r(v)
    return row


def true_volume_dice(case, reference, classes) -> dict:
    """Volume Dice of each class of ``case`` with ``reference`` (a case on its grid), each read
    with its own label values."""
    ref = np.zeros_like(case.labels)
    for c in classes:
        ref[reference.labels == reference.class_values[c]] = case.class_values[c]
    return dict(zip(classes, volume_dice(case.labels, ref, [case.class_values[c] for c in classes])))


def summary(rep: dict) -> str:
    dice = "  ".join(f"{c} {v['dice']:.3f}" for c, v in rep["volume"].items())
    flagged = [s["index"] for s in rep["slices"] if s["flag"]]
    line = f"{rep['case']}: {rep['verdict'].upper()}  {dice}"
    if flagged:
        line += f"  (flagged slices: {', '.join(map(str, flagged))})"
    return "\n".join([line] + [f"  warning: {w}" for w in rep.get("warnings", [])])

"""Accuracy and speed of the bundled pack on the validation patients; prints markdown tables.

    python training/benchmark.py [--pack acdc-cardiac] [--zoo training/runs/zoo] [--sources zoo,synthetic,heldout,heldout2,shifted] [--every N]

Sources (validation patients only): segmented by the training family (U-Nets that never saw
them, clean and attacked), synthetic failures of their manual labels, two segmenter families
never used for training (dilated FCN; residual encoder with a feature-pyramid decoder), and a
shifted domain (unseen artefacts and pixel sizes, segmented on the shifted images). Tables: the
default method per source and structure; every method side by side (Williams et al. 2023 filter
view included); the error map (its Dice with the true error map on failing cases, Pearson r of
1 - QI with the true accuracy); the default's volume-Dice MAE by the patients' pathology group
and by the true Dice; time per case next to one forward pass of a Robinson-style 3D ResNet-50
(5 x 8 x 224 x 224) measured in this run.
"""
from __future__ import annotations

import argparse
import datetime
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

import acdc
import evaluate
import valcases
from timing import median_ms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from SegmentationQCLib.case import case_from_arrays, read_case  # noqa: E402
from SegmentationQCLib.direct3d import ResNet50_3D  # noqa: E402
from SegmentationQCLib.phantom import short_axis_stack  # noqa: E402
from SegmentationQCLib.qc import QCEngine, native_precisions  # noqa: E402
from SegmentationQCLib.quantized import calibrate  # noqa: E402

SOURCES = {"zoo": "training-family segmenters", "synthetic": "synthetic failures",
           "heldout": "unseen segmenter family", "heldout2": "second unseen family (FPN)",
           "shifted": "shifted domain"}


def accuracy_table(results: dict) -> str:
    lines = ["| validation cases | n | structure | volume-Dice MAE | Pearson r | slice-Dice MAE | accuracy at 0.7 | true < 0.7 |",
             "|---|---|---|---|---|---|---|---|"]
    for src, s in results.items():
        for c in valcases.CLASSES:
            m = s[c]
            lines.append(f"| {SOURCES[src]} | {s['n_cases']} | {c} | {m['vol_mae']:.3f} | {m['vol_r']:.3f} | "
                         f"{m['slice_mae']:.3f} | {100 * m['acc']:.1f} % | {100 * m['fail_share']:.0f} % |")
        lines.append(f"| {SOURCES[src]} | | case (fails if one structure does) | | | | {100 * s['case_acc']:.1f} % | |")
    return "\n".join(lines)


def method_table(by_method: dict, ms: dict) -> str:
    lines = ["| method | cases | vol MAE LV / MYO / RV | r LV / MYO / RV | slice MAE | acc 0.7 | precision | recall "
             "| flagged / failures | mean Dice before → after | ms per case |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m, per in by_method.items():
        for split, s in per.items():
            f = s["filter"]
            cs = valcases.CLASSES
            mae = " / ".join(f"{s[c]['vol_mae']:.3f}" for c in cs)
            r = " / ".join(f"{s[c]['vol_r']:.2f}" for c in cs)
            lines.append(
                f"| {m} | {split} | {mae} | {r} | {np.mean([s[c]['slice_mae'] for c in cs]):.3f} | "
                f"{100 * s['case_acc']:.1f} % | {100 * f['precision']:.0f} % | {100 * f['recall']:.0f} % | "
                f"{f['flagged']} / {f['failures']} | {f['mean_dice_before']:.3f} → {f['mean_dice_after']:.3f} | {ms[m]:.0f} |")
    return "\n".join(lines)


def error_map_table(rows: dict) -> str:
    lines = ["| validation cases | n | failing (a structure < 0.7) | error-map Dice, failing | error-map Dice, all "
             "| Pearson r (1 - QI, accuracy) |", "|---|---|---|---|---|---|"]
    for src, v in rows.items():
        e = evaluate.error_map_summary(v)
        if e["n"]:
            lines.append(f"| {SOURCES[src]} | {e['n']} | {e['n_failing']} | {e['dice_failing']:.3f} | {e['dice_all']:.3f} "
                         f"| {e['qi_r']:.3f} |")
    return "\n".join(lines)


def group_table(rows: dict) -> str:
    """The default's volume-Dice MAE (LV / MYO / RV) of each source by the patients' pathology group."""
    lines = ["| validation cases | " + " | ".join(acdc.GROUPS) + " |", "|---" * (len(acdc.GROUPS) + 1) + "|"]
    for src, v in rows.items():
        cells = []
        for g in acdc.GROUPS:
            err = [np.abs(r["pred_vol"] - r["true_vol"]) for r in v if acdc.group(acdc.patient_of(r["name"])) == g]
            cells.append(" / ".join(f"{e:.3f}" for e in np.mean(err, 0)) if err else "")
        lines.append(f"| {SOURCES[src]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


BANDS = (0.0, 0.5, 0.7, 0.8, 0.9, 1.0)


def band_table(rows: dict) -> str:
    """The default's volume-Dice MAE of each source and structure by the true Dice's band (n)."""
    names = [f"{lo}–{hi}" for lo, hi in zip(BANDS[:-1], BANDS[1:])]
    lines = ["| validation cases | structure | " + " | ".join(names) + " |", "|---" * (len(names) + 2) + "|"]
    for src, v in rows.items():
        p = np.stack([r["pred_vol"] for r in v])
        t = np.stack([r["true_vol"] for r in v])
        for k, c in enumerate(valcases.CLASSES):
            cells = []
            for lo, hi in zip(BANDS[:-1], BANDS[1:]):
                m = (t[:, k] >= lo) & ((t[:, k] < hi) | (hi == BANDS[-1]))
                cells.append(f"{np.abs(p[m, k] - t[m, k]).mean():.3f} ({m.sum()})" if m.any() else "")
            lines.append(f"| {SOURCES[src]} | {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def speed(engines: list[QCEngine], zoo: Path) -> str:
    """Median time of a check per method (the first engine: the default) and of reading + checking,
    next to one forward pass of the 3D ResNet-50 reference, all in this run; where an engine runs
    in bfloat16 or int8, the reference in that precision too."""
    first = next(valcases.cases("zoo", zoo), None)
    if first is None:
        return f"(no speed table: no training-family segmentation in {zoo}; training/README.md, step 1)"
    name, case, truth = first
    ref = ResNet50_3D().eval()
    x = torch.randn(1, 5, 8, 224, 224)
    precisions = {e.precision for e in engines}
    with torch.no_grad():
        rob = median_ms(lambda: ref(x), 5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            rob16 = median_ms(lambda: ref(x), 5) if "bfloat16" in precisions else None
        ref8 = calibrate(ResNet50_3D().eval(), [x]) if "int8" in precisions else None  # ranges of this input: timing only
        rob8 = median_ms(lambda: ref8(x), 5) if ref8 is not None else None
    s = case.image.shape
    lines = [f"| what ({s[0]} slices, {s[1]}x{s[2]}) | median ms | share of the 3D ResNet-50 |", "|---|---|---|"]
    with tempfile.TemporaryDirectory() as d:
        for n, a in (("img", case.image), ("seg", case.labels)):
            im = sitk.GetImageFromArray(a)
            im.SetSpacing((1.5, 1.5, valcases.SLICE_MM))
            sitk.WriteImage(im, f"{d}/{n}.nii.gz")
        for i, e in enumerate(engines):
            qc = median_ms(lambda: e.check(case), 20)
            tag = f"check, method {e.methods[0]}, {e.precision}" + (" (default)" if i == 0 else "")
            lines.append(f"| {tag} | {qc:.1f} | {100 * qc / rob:.1f} % |")
            if i == 0:
                full = median_ms(lambda: e.check(read_case(f"{d}/img.nii.gz", f"{d}/seg.nii.gz")), 20)
                lines.append(f"| read NIfTI pair + check, method {e.methods[0]} | {full:.1f} | {100 * full / rob:.1f} % |")
                big = case_from_arrays(*short_axis_stack(n_slices=14, size=512, pixel_mm=0.6))
                t = median_ms(lambda: e.check(big), 10)
                lines.append(f"| check, method {e.methods[0]}, a 14-slice 512x512 synthetic stack (0.6 mm pixels) "
                             f"| {t:.1f} | {100 * t / rob:.1f} % |")
    lines.append(f"| Robinson-style 3D ResNet-50, one forward pass (5x8x224x224), float32 | {rob:.0f} | 100 % |")
    for tag, t in (("bfloat16", rob16), ("int8", rob8)):
        if t is not None:
            lines.append(f"| the same pass in {tag} | {t:.0f} | {100 * t / rob:.1f} % |")
    return "\n".join(lines)


def print_accuracy(rows: dict, everything: QCEngine) -> None:
    """The accuracy, per-method and error-map tables of the scored sources."""
    print(accuracy_table({k: evaluate.summary(v) for k, v in rows.items()}))
    cov = [f"{SOURCES[k]}: volume {100 * s['vol_coverage']:.1f} %, slice {100 * s['slice_coverage']:.1f} %"
           for k, s in ((k, evaluate.summary(v)) for k, v in rows.items()) if "vol_coverage" in s]
    if cov:
        print("\nNominal 90 % interval coverage of the default method: " + "; ".join(cov))
    if len(everything.methods) > 1:
        splits = {"in-domain": [r for k in ("zoo", "synthetic") for r in rows.get(k, [])],
                  "unseen family": rows.get("heldout", []), "second unseen family": rows.get("heldout2", []),
                  "shifted": rows.get("shifted", [])}
        splits = {k: v for k, v in splits.items() if v}
        by_method = {m: {k: evaluate.summary(evaluate.as_method(v, m)) for k, v in splits.items()}
                     for m in everything.methods}
        all_rows = [r for v in rows.values() for r in v]
        parts = everything.pack.card.get("fusion", {}).get("methods", [])
        ms = {m: float(np.median([sum(r["ms"].get(p, 0) for p in (parts if m == "fused" else [m])) + r["ms"]["preprocess"]
                                  for r in all_rows])) for m in everything.methods}
        print("\n" + method_table(by_method, ms))
    if "errormap" in everything.available:
        print("\n" + error_map_table(rows))
    print("\nVolume-Dice MAE LV / MYO / RV by pathology group (DCM, HCM, MINF, NOR, ARV: patients 1-20, 21-40, "
          "... 81-100; ARV: abnormal right ventricle):\n\n" + group_table(rows))
    print("\nVolume-Dice MAE by the true volume Dice (cases in brackets):\n\n" + band_table(rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", default=None)
    ap.add_argument("--zoo", type=Path, default=Path(__file__).parent / "runs" / "zoo")
    ap.add_argument("--sources", default="zoo,synthetic,heldout,heldout2,shifted", help="'' for the speed table only")
    ap.add_argument("--every", type=int, default=1, help="score every N-th case of each source (a faster run)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    default = QCEngine(a.pack, "cpu")
    everything = QCEngine(a.pack, "cpu", default.methods + [m for m in default.available if m not in default.methods])
    print(f"# Benchmark: pack {default.pack.name} {default.pack.version}, default method {default.methods[0]} "
          f"({default.precision}), "
          f"{datetime.date.today()}, {platform.machine()}, torch threads {torch.get_num_threads()}"
          + (f", one case in {a.every} of each source" if a.every > 1 else "") + "\n")
    rows = {}
    for src in filter(None, a.sources.split(",")):
        t = time.time()
        rows[src] = valcases.score(everything, src, a.zoo, every=a.every)
        print(f"  scored {len(rows[src])} {src} cases in {time.time() - t:.0f}s", file=sys.stderr, flush=True)
        if not rows[src]:
            del rows[src]
            print(f"  no {src} cases in {a.zoo}: skipped (training/README.md, step 1)", file=sys.stderr, flush=True)
    if rows:
        print_accuracy(rows, everything)
    others = [QCEngine(default.pack, "cpu", [m]) for m in default.available if m != default.methods[0]]
    others[:0] = [QCEngine(default.pack, "cpu", default.methods, p) for p in native_precisions("cpu")[1:]]
    print("\n" + speed([default] + others, a.zoo))


if __name__ == "__main__":
    main()

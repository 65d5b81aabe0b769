"""Accuracy and speed of the bundled pack on the validation patients; prints markdown tables.

    python training/benchmark.py [--pack acdc-cardiac] [--zoo training/runs/zoo]

Sources: validation patients segmented by the training family (U-Nets that never saw them,
clean and attacked), synthetic failures of their manual labels, and a segmenter family
never used for training (dilated FCN). Speed: the time per case of the pipeline next to
one forward pass of a Robinson-style 3D ResNet-50 (5 x 8 x 224 x 224), measured in this run.
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

import evaluate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from SegmentationQCLib.case import read_case  # noqa: E402
from SegmentationQCLib.direct3d import ResNet50_3D  # noqa: E402
from SegmentationQCLib.qc import QCEngine  # noqa: E402

SOURCES = {"zoo": "validation, training-family segmenters", "synthetic": "validation, synthetic failures",
           "heldout": "validation, unseen segmenter family"}


def accuracy_table(results: dict) -> str:
    lines = ["| cases | n | structure | volume-Dice MAE | Pearson r | slice-Dice MAE | accuracy at 0.7 | true fail share |",
             "|---|---|---|---|---|---|---|---|"]
    for src, s in results.items():
        for c in evaluate.CLASSES:
            m = s[c]
            lines.append(f"| {SOURCES[src]} | {s['n_cases']} | {c} | {m['vol_mae']:.3f} | {m['vol_r']:.3f} | "
                         f"{m['slice_mae']:.3f} | {100 * m['acc']:.1f} % | {100 * m['fail_share']:.0f} % |")
        lines.append(f"| {SOURCES[src]} | | any (case fails if one structure does) | | | | {100 * s['case_acc']:.1f} % | |")
    return "\n".join(lines)


def median_ms(fn, repeats: int) -> float:
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(1e3 * (time.perf_counter() - t))
    return float(np.median(ts))


def speed(engine: QCEngine, zoo: Path) -> str:
    name, case, truth = next(evaluate.cases("zoo", zoo))
    with tempfile.TemporaryDirectory() as d:
        for n, a in (("img", case.image), ("seg", case.labels)):
            im = sitk.GetImageFromArray(a)
            im.SetSpacing((1.5, 1.5, evaluate.SLICE_MM))
            sitk.WriteImage(im, f"{d}/{n}.nii.gz")
        qc = median_ms(lambda: engine.check(case), 20)
        full = median_ms(lambda: engine.check(read_case(f"{d}/img.nii.gz", f"{d}/seg.nii.gz")), 20)
    ref = ResNet50_3D().eval()
    x = torch.randn(1, 5, 8, 224, 224)
    with torch.no_grad():
        rob = median_ms(lambda: ref(x), 5)
    s = case.image.shape
    return "\n".join([
        f"| what ({s[0]} slices, {s[1]}x{s[2]}) | median ms | share of the 3D ResNet-50 |", "|---|---|---|",
        f"| SegmentationQC check (preprocess + network + rebuild) | {qc:.1f} | {100 * qc / rob:.1f} % |",
        f"| read NIfTI pair + check | {full:.1f} | {100 * full / rob:.1f} % |",
        f"| Robinson-style 3D ResNet-50, one forward pass (5x8x224x224) | {rob:.0f} | 100 % |"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", default=None)
    ap.add_argument("--zoo", type=Path, default=Path(__file__).parent / "runs" / "zoo")
    ap.add_argument("--sources", default="zoo,synthetic,heldout")
    a = ap.parse_args()
    torch.set_num_threads(2)
    engine = QCEngine(a.pack, "cpu")
    print(f"# Benchmark: pack {engine.pack.name} {engine.pack.version}, {datetime.date.today()}, "
          f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}\n")
    results = {}
    for src in a.sources.split(","):
        t = time.time()
        results[src] = evaluate.summary(evaluate.score(engine, src, a.zoo))
        print(f"  scored {results[src]['n_cases']} {src} cases in {time.time() - t:.0f}s", file=sys.stderr, flush=True)
    print(accuracy_table(results))
    cov = [f"{SOURCES[k]}: volume {100 * s['vol_coverage']:.1f} %, slice {100 * s['slice_coverage']:.1f} %"
           for k, s in results.items() if "vol_coverage" in s]
    if cov:
        print("\nNominal 90 % interval coverage (volume / slice): " + "; ".join(cov))
    print("\n" + speed(engine, a.zoo))


if __name__ == "__main__":
    main()

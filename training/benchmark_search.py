"""Manifold latent search: iterations against time and accuracy, on the validation patients.

    python training/benchmark_search.py [--steps 5,10,15,20,30] [--lr 0.05] [--every 10]

For each iteration budget: the mean time of the search per case, the volume-Dice MAE of the
manifold estimate against the truth, and how far the estimate is from the longest budget's.
Cases: the synthetic failures of the validation patients' manual labels (no zoo needed).
"""
from __future__ import annotations

import argparse
import sys
import time
from itertools import islice
from pathlib import Path

import numpy as np
import torch

import evaluate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from SegmentationQCLib import metrics  # noqa: E402
from SegmentationQCLib.methods import manifold_estimates  # noqa: E402
from SegmentationQCLib.qc import QCEngine, prepare  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", default=None)
    ap.add_argument("--steps", default="5,10,15,20,30")
    ap.add_argument("--lr", type=float, help="Adam step size (default: the card's)")
    ap.add_argument("--every", type=int, default=10, help="use every N-th case")
    a = ap.parse_args()
    torch.set_num_threads(2)
    engine = QCEngine(a.pack, "cpu", ["manifold"])
    cfg = engine.pack.card["models"]["manifold"]
    budgets = [int(s) for s in a.steps.split(",")]
    est = {b: [] for b in budgets}
    ms = {b: [] for b in budgets}
    truth = []
    for _, case, true in islice(evaluate.cases("synthetic", Path("unused")), 0, None, a.every):
        prep = prepare(case, engine.pack)
        truth.append(metrics.volume_dice(case.labels, true, evaluate.VALUES))
        for b in budgets:
            c = dict(cfg, search=dict(cfg["search"], steps=b, tol=0.0, **({"lr": a.lr} if a.lr else {})))
            t = time.perf_counter()
            _, vol, _, _ = manifold_estimates(engine.vae, c, prep.image, prep.labels, list(evaluate.VALUES),
                                              prep.centre, case.spacing[1:], prep.z_out, "cpu")
            ms[b].append(1e3 * (time.perf_counter() - t))
            est[b].append(vol)
    truth = np.array(truth)
    ref = np.array(est[budgets[-1]])
    lr = a.lr or cfg["search"]["lr"]
    print(f"# Latent search budget (Adam lr {lr}), {len(truth)} synthetic-failure validation cases, "
          f"pack {engine.pack.version}\n")
    print(f"| iterations | ms per case | vol MAE LV / MYO / RV | mean abs change from {budgets[-1]} iterations |")
    print("|---|---|---|---|")
    for b in budgets:
        e = np.array(est[b])
        mae = " / ".join(f"{x:.3f}" for x in np.abs(e - truth).mean(0))
        print(f"| {b} | {np.median(ms[b]):.0f} | {mae} | {np.abs(e - ref).mean():.4f} |")


if __name__ == "__main__":
    main()

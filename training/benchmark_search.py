"""Manifold latent search: iterations and anchoring against time and accuracy, on the validation patients.

    python training/benchmark_search.py [--steps 5,10,15,20,30] [--lr 0.05] [--seg-weights 1.0]
                                        [--sources synthetic] [--every 10]

For each iteration budget and label weight (``seg_weight``: how strongly the search holds to
the given segmentation against fitting the image): the median time of the search per case,
the volume-Dice MAE of the manifold estimate against the truth per source, and how far the
estimate is from the longest budget's at the same weight. Sources as in ``valcases.cases``:
``synthetic`` (damaged manual labels; no zoo needed), ``zoo`` (the training-family
segmenters, clean and attacked images), ``heldout``, ``shifted``.
"""
from __future__ import annotations

import argparse
import sys
import time
from itertools import islice
from pathlib import Path

import numpy as np
import torch

import valcases

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from SegmentationQCLib import metrics  # noqa: E402
from SegmentationQCLib.methods import manifold_estimates  # noqa: E402
from SegmentationQCLib.qc import QCEngine, prepare  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", default=None)
    ap.add_argument("--steps", default="5,10,15,20,30")
    ap.add_argument("--lr", type=float, help="Adam step size (default: the card's)")
    ap.add_argument("--seg-weights", default=None, help="label weights to compare (default: the card's)")
    ap.add_argument("--sources", default="synthetic")
    ap.add_argument("--zoo", type=Path, default=Path(__file__).parent / "runs" / "zoo")
    ap.add_argument("--every", type=int, default=10, help="use every N-th case")
    a = ap.parse_args()
    torch.set_num_threads(2)
    engine = QCEngine(a.pack, "cpu", ["manifold"])
    cfg = engine.pack.card["models"]["manifold"]
    budgets = [int(s) for s in a.steps.split(",")]
    weights = [float(w) for w in a.seg_weights.split(",")] if a.seg_weights else [cfg["search"]["seg_weight"]]
    runs = [(w, b) for w in weights for b in budgets]
    est, ms = {r: [] for r in runs}, {r: [] for r in runs}
    truth, source = [], []
    for src in a.sources.split(","):
        for _, case, true in islice(valcases.cases(src, a.zoo), 0, None, a.every):
            prep = prepare(case, engine.pack)
            truth.append(metrics.volume_dice(case.labels, true, valcases.VALUES))
            source.append(src)
            for w, b in runs:
                search = dict(cfg["search"], steps=b, tol=0.0, seg_weight=w, **({"lr": a.lr} if a.lr else {}))
                t = time.perf_counter()
                _, vol, _, _ = manifold_estimates(engine.vae, dict(cfg, search=search), prep.image, prep.labels,
                                                  list(valcases.VALUES), prep.centre, case.spacing[1:], prep.z_out, "cpu")
                ms[(w, b)].append(1e3 * (time.perf_counter() - t))
                est[(w, b)].append(vol)
    truth, source = np.array(truth), np.array(source)
    srcs = list(dict.fromkeys(source))
    lr = a.lr or cfg["search"]["lr"]
    print(f"# Latent search (Adam lr {lr}), pack {engine.pack.version}, "
          + ", ".join(f"{int((source == s).sum())} {s}" for s in srcs) + " validation cases\n")
    print("| label weight | iterations | ms per case | " + " | ".join(f"vol MAE {s} LV / MYO / RV" for s in srcs)
          + f" | mean abs change from {budgets[-1]} iterations |")
    print("|---|---|---|" + "---|" * len(srcs) + "---|")
    for w, b in runs:
        e = np.array(est[(w, b)])
        maes = [" / ".join(f"{x:.3f}" for x in np.abs(e - truth)[source == s].mean(0)) for s in srcs]
        change = np.abs(e - np.array(est[(w, budgets[-1])])).mean()
        print(f"| {w:g} | {b} | {np.median(ms[(w, b)]):.0f} | " + " | ".join(maes) + f" | {change:.4f} |")


if __name__ == "__main__":
    main()

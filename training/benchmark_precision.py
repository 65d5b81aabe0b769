"""float32 against bfloat16 (``QCEngine(precision=...)``): the same answers? how much faster, idle and busy?

    python training/benchmark_precision.py [--sources heldout,shifted] [--every 1]

Accuracy: each source's cases (``valcases``) scored by the default method in both precisions:
volume- and slice-Dice MAE per structure and the largest difference between the two. Speed: the
median time of a check of one phantom case in each precision, on an idle CPU and while another
process keeps the cores busy (a float32 matrix product on as many threads as torch uses here).
Needs a CPU with native bfloat16 arithmetic.
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np
import torch

import valcases
from timing import median_ms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from SegmentationQCLib.case import case_from_arrays  # noqa: E402
from SegmentationQCLib.inference import native_bfloat16  # noqa: E402
from SegmentationQCLib.phantom import short_axis_stack  # noqa: E402
from SegmentationQCLib.qc import QCEngine  # noqa: E402

PRECISIONS = ("float32", "bfloat16")


def busy(threads: int, seconds: float) -> None:
    """Keep ``threads`` cores busy for ``seconds``."""
    torch.set_num_threads(threads)
    a = torch.randn(1000, 1000)
    end = time.time() + seconds
    while time.time() < end:
        a @ a


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", default="heldout,shifted")
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--zoo", type=Path, default=Path(__file__).parent / "runs" / "zoo")
    a = ap.parse_args()
    if not native_bfloat16("cpu"):
        sys.exit("benchmark_precision: this CPU has no native bfloat16 arithmetic")
    torch.set_num_threads(2)
    engines = {p: QCEngine(None, "cpu", precision=p) for p in PRECISIONS}
    print(f"# float32 against bfloat16, method {engines['float32'].methods[0]}, torch threads {torch.get_num_threads()}\n")
    print("| source | n | precision | volume-Dice MAE LV / MYO / RV | slice-Dice MAE LV / MYO / RV "
          "| largest volume-Dice difference |\n|---|---|---|---|---|---|")
    for source in filter(None, a.sources.split(",")):
        rows = {p: valcases.score(e, source, a.zoo, every=a.every) for p, e in engines.items()}
        diff = max(np.abs(x["pred_vol"] - y["pred_vol"]).max() for x, y in zip(*rows.values()))
        for p, r in rows.items():
            vol = np.mean([np.abs(x["pred_vol"] - x["true_vol"]) for x in r], 0)
            sl = np.mean(np.concatenate([np.abs(x["pred_slice"] - x["true_slice"]) for x in r]), 0)
            print(f"| {source} | {len(r)} | {p} | {' / '.join(f'{v:.4f}' for v in vol)} "
                  f"| {' / '.join(f'{v:.4f}' for v in sl)} | {diff:.4f} |")
    case = case_from_arrays(*short_axis_stack(seed=0))
    print("\n| CPU | float32 ms | bfloat16 ms |\n|---|---|---|")
    for load in ("idle", "busy"):
        other = None
        if load == "busy":
            other = multiprocessing.get_context("spawn").Process(target=busy, args=(torch.get_num_threads(), 600))
            other.start()
            time.sleep(2)
        try:
            ms = [median_ms(lambda: e.check(case), 10) for e in engines.values()]
        finally:
            if other is not None:
                other.terminate()
        print(f"| {load} | {ms[0]:.1f} | {ms[1]:.1f} |")


if __name__ == "__main__":
    main()

"""float32 against the faster precisions (``QCEngine(precision=...)``): the same answers? how much faster, idle and busy?

    python training/benchmark_precision.py [--precisions float32,bfloat16,int8] [--sources heldout,shifted] [--every 1]

Accuracy: each source's cases (``valcases``) scored by the default method in every precision
this CPU has (bfloat16 needs native bfloat16 arithmetic, int8 PyTorch's x86 int8 kernels):
volume- and slice-Dice MAE per structure and the largest volume-Dice difference from float32.
Speed: the median time of a check of one phantom case in each precision, on an idle CPU and
while another process keeps the cores busy (a float32 matrix product on as many threads as
torch uses here).
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
from SegmentationQCLib.phantom import short_axis_stack  # noqa: E402
from SegmentationQCLib.qc import QCEngine, native_precisions  # noqa: E402


def busy(threads: int, seconds: float) -> None:
    """Keep ``threads`` cores busy for ``seconds``."""
    torch.set_num_threads(threads)
    a = torch.randn(1000, 1000)
    end = time.time() + seconds
    while time.time() < end:
        a @ a


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--precisions", default="float32,bfloat16,int8", help="float32 first; those this CPU lacks are skipped")
    ap.add_argument("--sources", default="heldout,shifted")
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--zoo", type=Path, default=Path(__file__).parent / "runs" / "zoo")
    a = ap.parse_args()
    precisions = [p for p in a.precisions.split(",") if p in native_precisions("cpu")]
    if precisions[:1] != ["float32"] or len(precisions) < 2:
        sys.exit(f"benchmark_precision: nothing to compare ({', '.join(precisions)} available here of {a.precisions})")
    torch.set_num_threads(2)
    engines = {p: QCEngine(None, "cpu", precision=p) for p in precisions}
    print(f"# float32 against {', '.join(precisions[1:])}, method {engines['float32'].methods[0]}, "
          f"torch threads {torch.get_num_threads()}\n")
    print("| source | n | precision | volume-Dice MAE LV / MYO / RV | slice-Dice MAE LV / MYO / RV "
          "| largest volume-Dice difference from float32 | cases failing (a structure < 0.7) differently |"
          "\n|---|---|---|---|---|---|---|")
    for source in filter(None, a.sources.split(",")):
        rows = {p: valcases.score(e, source, a.zoo, every=a.every) for p, e in engines.items()}
        for p, r in rows.items():
            diff = max(np.abs(x["pred_vol"] - y["pred_vol"]).max() for x, y in zip(rows["float32"], r))
            fails = sum(bool((x["pred_vol"] < 0.7).any()) != bool((y["pred_vol"] < 0.7).any()) for x, y in zip(rows["float32"], r))
            vol = np.mean([np.abs(x["pred_vol"] - x["true_vol"]) for x in r], 0)
            sl = np.mean(np.concatenate([np.abs(x["pred_slice"] - x["true_slice"]) for x in r]), 0)
            print(f"| {source} | {len(r)} | {p} | {' / '.join(f'{v:.4f}' for v in vol)} "
                  f"| {' / '.join(f'{v:.4f}' for v in sl)} | {diff:.4f} | {fails} |")
    case = case_from_arrays(*short_axis_stack(seed=0))
    print(f"\n| CPU | {' | '.join(f'{p} ms' for p in engines)} |\n|---{'|---' * len(engines)}|")
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
        print(f"| {load} | {' | '.join(f'{t:.1f}' for t in ms)} |")


if __name__ == "__main__":
    main()

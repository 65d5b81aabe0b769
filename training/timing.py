"""Median wall time of a call, for the benchmarks' speed tables."""
from __future__ import annotations

import time

import numpy as np


def median_ms(fn, repeats: int, sync=None) -> float:
    """Median milliseconds of ``fn()`` over ``repeats`` calls after one warm-up call; ``sync`` (e.g.
    ``torch.cuda.synchronize``) is called before and after each timed call, so queued GPU work counts."""
    fn()
    ts = []
    for _ in range(repeats):
        if sync:
            sync()
        t = time.perf_counter()
        fn()
        if sync:
            sync()
        ts.append(1e3 * (time.perf_counter() - t))
    return float(np.median(ts))

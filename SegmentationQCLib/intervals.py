"""Interval bounds for predicted Dice from a pack's conformal calibration.

The card holds, per level (slice, volume) and structure, residual quantiles in bins of
predicted Dice (``edges``): the bound is [pred - below[bin], pred + above[bin]], clipped to [0, 1].
"""
from __future__ import annotations

import numpy as np


def bounds(pred: np.ndarray, spec: dict, classes) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) arrays shaped like ``pred`` (..., K)."""
    edges = np.asarray(spec["edges"])
    lo, hi = np.empty_like(pred, dtype=np.float64), np.empty_like(pred, dtype=np.float64)
    for k, c in enumerate(classes):
        b = np.clip(np.searchsorted(edges, pred[..., k], side="right") - 1, 0, len(edges) - 2)
        lo[..., k] = pred[..., k] - np.asarray(spec["below"][c])[b]
        hi[..., k] = pred[..., k] + np.asarray(spec["above"][c])[b]
    return np.clip(lo, 0, 1), np.clip(hi, 0, 1)

"""Interval bounds for predicted Dice from a pack's conformal calibration.

The card holds, per level (slice, volume) and structure, residual quantiles in bins of
predicted Dice (``edges``): the bound is [pred - below[bin], pred + above[bin]], clipped to [0, 1].
With a ``scale`` entry (normalised conformal), the quantiles are of residuals divided by
``floor + |a - b|``, the disagreement of two methods' estimates, and the bound is scaled back:
wider where the methods disagree, narrower where they agree.
"""
from __future__ import annotations

import numpy as np


def scale(spec: dict, estimates: dict | None, level: int):
    """1, or (..., K) ``floor + |a - b|`` for a spec with a ``scale`` entry; ``estimates``: method ->
    (slice, volume) estimates, ``level`` 0 for slices, 1 for the volume."""
    if "scale" not in spec:
        return 1.0
    a, b = (np.asarray(estimates[m][level], dtype=np.float64) for m in spec["scale"]["between"])
    return spec["scale"]["floor"] + np.abs(a - b)


def bounds(pred: np.ndarray, spec: dict, classes, s=1.0) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) arrays shaped like ``pred`` (..., K); ``s``: the ``scale`` of the spec."""
    edges = np.asarray(spec["edges"])
    s = np.broadcast_to(s, pred.shape)
    lo, hi = np.empty_like(pred, dtype=np.float64), np.empty_like(pred, dtype=np.float64)
    for k, c in enumerate(classes):
        b = np.clip(np.searchsorted(edges, pred[..., k], side="right") - 1, 0, len(edges) - 2)
        lo[..., k] = pred[..., k] - np.asarray(spec["below"][c])[b] * s[..., k]
        hi[..., k] = pred[..., k] + np.asarray(spec["above"][c])[b] * s[..., k]
    return np.clip(lo, 0, 1), np.clip(hi, 0, 1)

"""Monotone recalibration of predicted Dice, fitted on validation (isotonic regression).

The card stores, per level and structure, knots (x, y) of a non-decreasing map; predictions
are mapped by linear interpolation between them.
"""
from __future__ import annotations

import numpy as np


def isotonic(x: np.ndarray, y: np.ndarray, knots: int = 21) -> dict:
    """Fit y ~ f(x), f non-decreasing (pool adjacent violators); returns knots {"x": [...], "y": [...]}."""
    order = np.argsort(x)
    xs, ys = np.asarray(x, float)[order], np.asarray(y, float)[order]
    blocks = [[v, 1.0] for v in ys]  # [mean, weight]
    merged: list[list[float]] = []
    for b in blocks:
        merged.append(b)
        while len(merged) > 1 and merged[-2][0] > merged[-1][0]:
            (m1, w1), (m2, w2) = merged[-2], merged[-1]
            merged[-2:] = [[(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2]]
    fitted = np.repeat([m for m, _ in merged], [int(w) for _, w in merged])
    grid = np.linspace(0, 1, knots)
    return {"x": grid.round(4).tolist(), "y": np.interp(grid, xs, fitted).round(4).tolist()}


def apply(pred: np.ndarray, spec: dict, classes) -> np.ndarray:
    """Map (..., K) predictions through each structure's knots."""
    out = np.array(pred, dtype=np.float64, copy=True)
    for k, c in enumerate(classes):
        out[..., k] = np.interp(out[..., k], spec[c]["x"], spec[c]["y"])
    return out

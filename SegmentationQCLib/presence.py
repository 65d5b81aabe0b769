"""Is a structure on a slice where the segmentation has none of it?

There the true Dice is 1 (the truth has none either) or 0 (the segmentation missed it), so the
estimate is a yes/no answer. Without a fitted model the error-map network's most probable manual
label decides (any pixel of the structure: present). A pack may carry a logistic model
(``card["models"]["errormap"]["presence"]``, fitted on validation by ``training/make_pack.py``)
on three features per slice and structure: the manual-label area the error-map network expects
(log, mm²), how many slices away the structure's nearest segmented slice is, and whether another
structure is segmented on the slice; the pack builder keeps it for a structure only where it
answers better than the most probable label when fitted on half the validation patients and
tested on the other half. Slices in a gap (the structure segmented above and below)
are always taken as present.

A whole structure missing from the segmentation is a different question when the pack's
training volumes always have it (``card["always_present"]``, written by the pack builder): then
the truth has it too, and its volume Dice is 0, known rather than estimated (``known_absent``);
on the slices where the heart is segmented (another structure) the structure is taken as
present, since the presence model's features say nothing once a whole structure is missing.
"""
from __future__ import annotations

import numpy as np

from .metrics import within_extent

FEATURES = ("log1p expected manual-label area (mm²)", "slices to the nearest slice segmenting the structure (at most 5)",
            "another structure segmented on the slice")
MAX_DISTANCE = 5


def features(seg_area: np.ndarray, expected_mm2: np.ndarray) -> np.ndarray:
    """(S, K, 3) features of every slice and structure (``seg_area``: (S, K) segmented pixels)."""
    s, k = seg_area.shape
    idx = np.arange(s)
    dist = np.full((s, k), float(MAX_DISTANCE))
    for j in range(k):
        segmented = np.flatnonzero(seg_area[:, j] > 0)
        if segmented.size:
            dist[:, j] = np.minimum(np.abs(idx[:, None] - segmented[None]).min(1), MAX_DISTANCE)
    others = (seg_area > 0).sum(1, keepdims=True) - (seg_area > 0)
    return np.stack([np.log1p(expected_mm2), dist, (others > 0).astype(float)], -1)


def predict(seg_area: np.ndarray, expected_mm2: np.ndarray, model: dict, classes: list[str],
            default: np.ndarray) -> np.ndarray:
    """(S, K) whether each structure is on each slice: the logistic ``model`` (per structure:
    mean, std, weights, bias) for the structures it has, ``default`` for the others."""
    x = features(seg_area, expected_mm2)
    out = default.copy()
    for j, c in enumerate(classes):
        if c in model:
            m = model[c]
            out[:, j] = ((x[:, j] - np.asarray(m["mean"])) / np.asarray(m["std"])) @ np.asarray(m["weights"]) + m["bias"] > 0
    return out


def missing(seg_area: np.ndarray) -> np.ndarray:
    """(S, K) slices where the segmentation has none of a structure outside a gap (a gap: the
    structure segmented above and below, so the anatomy is there): where presence is a question."""
    empty = seg_area == 0
    return empty & ~within_extent(~empty)


def absent_dice(slice_dice: np.ndarray, volume_dice: np.ndarray, seg_area: np.ndarray,
                truth_present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slice and volume Dice where the segmentation has none of a structure: 1 where the truth
    has none either (``truth_present`` False), else 0; a gap in the structure counts as present."""
    empty = seg_area == 0
    absent = missing(seg_area) & ~truth_present
    return (np.where(empty, absent.astype(float), slice_dice),
            np.where(empty.all(0), absent.all(0).astype(float), volume_dice))


def known_absent(seg_area: np.ndarray, classes: list[str], always_present) -> np.ndarray:
    """(K,) structures segmented on no slice although every training volume of the pack has them."""
    return (seg_area.sum(0) == 0) & np.isin(classes, list(always_present or ()))


def known_absent_estimates(estimates: dict, absent: np.ndarray, seg_area: np.ndarray) -> dict:
    """``estimates`` (method -> (slice, volume)) for ``absent`` structures (``known_absent``): volume
    Dice 0, and slice Dice 0 on the slices where another structure is segmented (the heart is there,
    so the structure is too); elsewhere the slice estimates stand."""
    on_heart = absent[None, :] & (seg_area > 0).any(1, keepdims=True)
    return {m: (None if sl is None else np.where(on_heart, 0.0, sl), np.where(absent, 0.0, vol))
            for m, (sl, vol) in estimates.items()}

"""Overlap and clinical metrics.

Dice convention (``../shared/DESIGN.md``): a class absent from both masks has Dice 1.0,
absent from one only 0.0. MVSF = 2(|Y|-|Z|)/(|Y|+|Z|) with Y the truth and Z the
segmentation; 0 when both are empty. Fournel et al. 2021 rebuild the volume Dice from slice
Dice and MVSF: |Y_i| = |Z_i|(2+MVSF_i)/(2-MVSF_i) and |Y_i ∩ Z_i| = DSC_i(|Y_i|+|Z_i|)/2.
"""
from __future__ import annotations

import numpy as np

MYOCARDIUM_DENSITY_G_PER_ML = 1.05


def slice_areas(labels: np.ndarray, values) -> np.ndarray:
    """(S, K) voxels of each label value on each slice (axis 0), int64."""
    flat = labels.reshape(labels.shape[0], -1)
    return np.stack([(flat == v).sum(1) for v in values], 1)


def overlap_counts(seg: np.ndarray, ref: np.ndarray, values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per slice (axis 0) and class: (|seg ∩ ref|, |seg|, |ref|), each (S, K) int64."""
    s = seg.reshape(seg.shape[0], -1)
    r = ref.reshape(ref.shape[0], -1)
    inter = np.stack([((s == v) & (r == v)).sum(1) for v in values], 1)
    return inter, slice_areas(seg, values), slice_areas(ref, values)


def dice_from_counts(inter, z, y) -> np.ndarray:
    """Dice with the both-empty = 1 convention, elementwise."""
    inter, z, y = (np.asarray(a, dtype=np.float64) for a in (inter, z, y))
    den = z + y
    return np.where(den > 0, 2 * inter / np.maximum(den, 1e-12), 1.0)


def mvsf_from_counts(z, y) -> np.ndarray:
    """MVSF = 2(|Y|-|Z|)/(|Y|+|Z|), 0 when both are empty; in [-2, 2]."""
    z, y = np.asarray(z, dtype=np.float64), np.asarray(y, dtype=np.float64)
    den = z + y
    return np.where(den > 0, 2 * (y - z) / np.maximum(den, 1e-12), 0.0)


def slice_dice(seg, ref, values) -> np.ndarray:
    """(S, K) Dice per slice and class."""
    return dice_from_counts(*overlap_counts(seg, ref, values))


def volume_dice(seg, ref, values) -> np.ndarray:
    """(K,) Dice per class over the whole volume."""
    inter, z, y = overlap_counts(seg, ref, values)
    return dice_from_counts(inter.sum(0), z.sum(0), y.sum(0))


def truth_area_from_mvsf(z, mvsf) -> np.ndarray:
    """|Y_i| from |Z_i| and MVSF_i (Fournel eq.); MVSF is clipped below 2."""
    m = np.clip(np.asarray(mvsf, dtype=np.float64), -2.0, 2.0 - 1e-6)
    return np.asarray(z, dtype=np.float64) * (2 + m) / (2 - m)


def rebuild_volume_dice(slice_dice_, z, y_hat) -> np.ndarray:
    """Volume Dice from slice Dice, segmentation areas |Z_i| and estimated truth areas |Y_i|.

    Arrays are (S, K) (or (S,)); returns (K,). Volume Dice is 1.0 where both sums are 0.
    """
    d, z, y = (np.asarray(a, dtype=np.float64) for a in (slice_dice_, z, y_hat))
    inter = 0.5 * d * (y + z)
    return dice_from_counts(inter.sum(0), z.sum(0), y.sum(0))


def volume_ml(labels: np.ndarray, value: int, spacing_mm) -> float:
    """Volume of one label in millilitres."""
    return float((labels == value).sum() * np.prod(spacing_mm) / 1000.0)


def myocardial_mass_g(labels: np.ndarray, myo_value: int, spacing_mm) -> float:
    return volume_ml(labels, myo_value, spacing_mm) * MYOCARDIUM_DENSITY_G_PER_ML


def relative_volume_error(measured: float, truth: float) -> float:
    """|V - V_true| / V_true (nan when the true volume is 0)."""
    return abs(measured - truth) / truth if truth > 0 else float("nan")


def within_extent(area: np.ndarray) -> np.ndarray:
    """(S, K) True from each structure's first to its last slice with area > 0 (gaps included)."""
    present = np.asarray(area) > 0
    return np.maximum.accumulate(present, axis=0) & np.maximum.accumulate(present[::-1], axis=0)[::-1]


def end_slices(seg_area: np.ndarray, n: int) -> np.ndarray:
    """(S,) True for the ``n`` first and last slices of the segmented stack (and those beyond)."""
    s = np.arange(len(seg_area))
    present = np.flatnonzero(np.asarray(seg_area).sum(1) > 0)
    if n <= 0 or not len(present):
        return np.zeros(len(s), bool)
    return (s < present[0] + n) | (s > present[-1] - n)

"""Preprocessing owned by the model pack, shared by training and inference.

Intensities: (x - min) / (p99 - min), clipped to [0, 1] (how the ACDC training images were
scaled). Geometry: each slice is sampled onto a square ROI of ``size`` pixels at
``pixel_mm``, centred on the segmentation's robust centroid; the image bilinearly, the labels
by nearest neighbour. Training adds rotation, flips and scaling through the same grid.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def normalise(image: np.ndarray, upper_percentile: float = 99.0) -> np.ndarray:
    lo = float(image.min())
    hi = float(percentile(image, upper_percentile))
    if hi <= lo:
        return np.zeros_like(image, dtype=np.float32)
    return np.clip((image - lo) / (hi - lo), 0, 1).astype(np.float32)


def percentile(a: np.ndarray, q: float):
    """``np.percentile(a, q)`` of a finite array, the same value (numpy 2.0 rounds float32 a few
    ulps differently): only the values above a subsample's (q - 2)th percentile are partitioned
    (a few % of a large image), unless fewer than the answer needs lie there."""
    flat = a.ravel()
    n = flat.size
    k = q / 100 * (n - 1)
    lo = int(k)
    above = flat[flat >= np.percentile(flat[::max(1, n // 10000)], max(q - 2.0, 0.0))]
    j = lo - (n - above.size)  # the rank of order statistic ``lo`` among ``above``
    if j < 0 or lo + 1 >= n:
        return np.percentile(a, q)
    part = np.partition(above, [j, j + 1])
    return np.quantile(np.array([part[j], part[j + 1]], dtype=a.dtype), k - lo)  # numpy's own interpolation


def roi_centre(labels: np.ndarray) -> np.ndarray | None:
    """(row, col) median of all labelled pixels over the volume, or None if there are none."""
    fg = labels != 0
    rows, cols = fg.sum((0, 2)), fg.sum((0, 1))
    if rows.sum() == 0:
        return None
    return np.array([_median(rows), _median(cols)], dtype=np.float64)


def _median(counts: np.ndarray) -> float:
    """``np.median`` of the indices, index i repeated counts[i] times (without listing them)."""
    cum = np.cumsum(counts)
    n = int(cum[-1])
    lo, hi = np.searchsorted(cum, [(n - 1) // 2, n // 2], side="right")
    return (lo + hi) / 2


def roi_theta(centre_rc, shape_hw, spacing_rc, pixel_mm: float, size: int,
              angle: float = 0.0, flip: bool = False, scale: float = 1.0) -> torch.Tensor:
    """The (2, 3) ``affine_grid`` matrix mapping the ROI onto an (H, W) slice.

    ``centre_rc`` in input pixels, ``spacing_rc`` the input pixel size in mm; ``scale`` > 1
    shows more anatomy (zooms out).
    """
    h, w = shape_hw
    half = size * pixel_mm / 2 * scale
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]]) @ np.diag([-1.0 if flip else 1.0, 1.0])
    a = np.diag([1 / (spacing_rc[1] * w / 2), 1 / (spacing_rc[0] * h / 2)]) @ (rot * half)
    t = [(2 * centre_rc[1] + 1) / w - 1, (2 * centre_rc[0] + 1) / h - 1]
    return torch.tensor(np.concatenate([a, np.array(t)[:, None]], 1), dtype=torch.float32)


def sample(volume: torch.Tensor, theta: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """Sample (N, C, H, W) through (N, 2, 3) matrices onto (N, C, size, size); zeros outside."""
    grid = _grid(theta, volume.shape[1], (size, size))
    return F.grid_sample(volume, grid, mode=mode, padding_mode="zeros", align_corners=False)


def _grid(theta: torch.Tensor, channels: int, shape_hw) -> torch.Tensor:
    """``affine_grid`` for (N, 2, 3) matrices, built once when every slice shares one matrix."""
    if len(theta) > 1 and bool((theta == theta[:1]).all()):
        return _grid(theta[:1], channels, shape_hw).expand(len(theta), -1, -1, -1)
    return F.affine_grid(theta, [len(theta), channels, *shape_hw], align_corners=False)


def model_input(image: torch.Tensor, labels: torch.Tensor, values) -> torch.Tensor:
    """(N, 1+K, h, w) network input: the image and one channel per class value."""
    return torch.cat([image] + [(labels == v).float() for v in values], 1)


def inside_roi(shape_hw, centre_rc, spacing_rc, pixel_mm: float, size: int) -> np.ndarray:
    """Boolean (H, W) mask of the input pixels inside the axis-aligned ROI."""
    half = size * pixel_mm / 2
    r = np.abs(np.arange(shape_hw[0]) - centre_rc[0]) * spacing_rc[0] < half
    c = np.abs(np.arange(shape_hw[1]) - centre_rc[1]) * spacing_rc[1] < half
    return r[:, None] & c[None, :]


def to_native(roi_maps: torch.Tensor, theta: torch.Tensor, shape_hw) -> torch.Tensor:
    """Map (N, C, size, size) ROI maps back onto (N, C, H, W) input slices (bilinear, 0 outside)."""
    a, t = theta[:, :, :2], theta[:, :, 2:]
    inv_a = torch.linalg.inv(a)
    inv = torch.cat([inv_a, -inv_a @ t], 2)
    grid = _grid(inv, roi_maps.shape[1], shape_hw)
    return F.grid_sample(roi_maps, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

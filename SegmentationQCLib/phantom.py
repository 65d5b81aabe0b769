"""A synthetic cine-MRI short-axis stack with known labels (ACDC values), for the demo and tests.

Bright blood pools, a darker myocardial ring, the RV crescent against the septum (labelled as
in ACDC: RV cavity touching the myocardium label, narrowing towards the apex faster than the LV
and present on the basal 80 % of the stack; the apical LV slice keeps a small cavity), lungs
lateral to the heart, a darker liver, chest wall, a smooth coil bias field and Rician noise. Not
anatomy, but close enough in look for the ACDC-trained models to read: the bundled pack flags
none of its slices (``test_trained_pack.py``; why the RV narrows: docs/benchmark.md, "Pack 1.8.0").
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def _ellipse(yy, xx, cy, cx, ry, rx, angle=0.0):
    c, s = np.cos(angle), np.sin(angle)
    u, v = (yy - cy) * c + (xx - cx) * s, -(yy - cy) * s + (xx - cx) * c
    return (u / ry) ** 2 + (v / rx) ** 2 <= 1


def short_axis_stack(n_slices: int = 10, size: int = 192, pixel_mm: float = 1.4,
                     slice_mm: float = 8.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray, tuple]:
    """(image float32 (S, H, W) in arbitrary scanner units, labels uint8, spacing (slice, row, col) mm)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    mm = 1.0 / pixel_mm
    cy, cx = size / 2 + rng.normal(0, 4), size / 2 + rng.normal(0, 4)
    image = np.zeros((n_slices, size, size))
    labels = np.zeros((n_slices, size, size), np.uint8)
    for s in range(n_slices):
        t = s / max(n_slices - 1, 1)  # 0 base, 1 apex
        body = _ellipse(yy, xx, size / 2, size / 2, 80 * mm * 1.4, 110 * mm * 1.4)
        img = np.where(body, 0.30, 0.0)
        img[_ellipse(yy, xx, cy - 5 * mm, cx - 80 * mm, 42 * mm, 22 * mm)] = 0.05  # right lung
        img[_ellipse(yy, xx, cy - 10 * mm, cx + 70 * mm, 45 * mm, 22 * mm)] = 0.05  # left lung
        img[_ellipse(yy, xx, cy + 55 * mm, cx - 35 * mm, 30 * mm, 45 * mm)] = 0.20  # liver
        img[body & ~_ellipse(yy, xx, size / 2, size / 2, 80 * mm * 1.4 - 7 * mm, 110 * mm * 1.4 - 7 * mm)] = 0.65  # fat
        r_lv = (25 - 17 * t ** 1.5) * mm
        wall = (9 + 3 * t) * mm
        epi = _ellipse(yy, xx, cy, cx, r_lv + wall, (r_lv + wall) * 1.05, 0.3)
        lv = _ellipse(yy, xx, cy, cx, r_lv, r_lv * 1.05, 0.3)
        rv = np.zeros_like(epi)
        if t < 0.8:
            rv_r, taper = (24 - 18 * t) * mm, 1 - 0.5 * t ** 2  # the RV narrows towards the apex faster than the LV
            rv = _ellipse(yy, xx, cy - 4 * mm, cx - 0.75 * (r_lv + wall), (r_lv + wall) * 1.25 * taper,
                          (rv_r + 0.6 * (r_lv + wall)) * taper, -0.3) & ~epi
        myo = epi & ~lv
        img[epi] = 0.22
        img[lv] = 0.85
        img[rv] = 0.80
        for k in range(2):  # papillary muscles: dark, inside the cavity, labelled cavity as in ACDC
            a = 2.2 + 1.6 * k
            pm = _ellipse(yy, xx, cy + 0.6 * r_lv * np.sin(a), cx + 0.6 * r_lv * np.cos(a), 3 * mm, 3 * mm) & lv
            img[pm] = 0.35
        labels[s][rv], labels[s][myo], labels[s][lv] = 1, 2, 3
        bias = 1 + 0.25 * np.sin(yy / size * np.pi + rng.uniform(0, 1)) * np.cos(xx / size * np.pi)
        img = ndimage.gaussian_filter(img, 0.8) * bias
        n = rng.normal(0, 0.03, (2, size, size))
        image[s] = np.sqrt((img + n[0]) ** 2 + n[1] ** 2)
    return (1000 * image).astype(np.float32), labels, (slice_mm, pixel_mm, pixel_mm)


def damage_for_demo(labels: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
    """A copy of ``labels`` with three typical failures; returns (labels, {slice: what})."""
    out = labels.copy()
    s = labels.shape[0]
    shift = s // 2 - 1
    out[shift] = np.roll(labels[shift], (0, 14), axis=(0, 1))
    missed = s - 2
    out[missed] = 0
    swap = 1
    out[swap][labels[swap] == 1], out[swap][labels[swap] == 3] = 3, 1
    return out, {shift: "shifted 14 pixels in-plane", missed: "segmentation missing", swap: "LV and RV swapped"}

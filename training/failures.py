"""Structural failures applied to a label volume (S, H, W), ACDC values (1 RV, 2 MYO, 3 LV).

Each generator returns a new array and never changes its input. ``damage`` draws one to three
of them; ``jitter`` alone gives the small boundary disagreements of a good segmenter or a
second rater.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

CLASSES = (1, 2, 3)


def _heart_slices(lab):
    return [s for s in range(lab.shape[0]) if lab[s].any()]


def _disk(shape, cy, cx, ry, rx, angle=0.0):
    yy, xx = np.ogrid[:shape[0], :shape[1]]
    c, s = np.cos(angle), np.sin(angle)
    u, v = (yy - cy) * c + (xx - cx) * s, -(yy - cy) * s + (xx - cx) * c
    return (u / ry) ** 2 + (v / rx) ** 2 <= 1


def miss_end_slices(lab, rng):
    out = lab.copy()
    hs = _heart_slices(lab)
    if not hs:
        return out
    k = int(rng.integers(1, 3))
    ends = {0: hs[:k], 1: hs[-k:], 2: hs[:1] + hs[-1:]}[int(rng.integers(3))]
    out[ends] = 0
    return out


def wrong_level(lab, rng):
    out = lab.copy()
    hs = _heart_slices(lab)
    if len(hs) < 3:
        return out
    i = int(rng.choice(hs))
    far = [j for j in range(lab.shape[0]) if abs(j - i) >= 2]
    out[i] = lab[int(rng.choice(far))]
    return out


def shift_slice(lab, rng):
    out = lab.copy()
    hs = _heart_slices(lab)
    if not hs:
        return out
    for i in rng.choice(hs, size=min(len(hs), int(rng.integers(1, 3))), replace=False):
        d = rng.uniform(3, 20) * np.array([np.cos(a := rng.uniform(0, 2 * np.pi)), np.sin(a)])
        out[i] = ndimage.shift(lab[i], d, order=0, mode="constant")
    return out


def swap_labels(lab, rng):
    out = lab.copy()
    a, b = rng.choice(CLASSES, size=2, replace=False)
    hs = _heart_slices(lab)
    sl = hs if rng.random() < 0.3 or not hs else list(rng.choice(hs, size=min(len(hs), int(rng.integers(1, 4))), replace=False))
    for s in sl:
        m_a, m_b = lab[s] == a, lab[s] == b
        out[s][m_a], out[s][m_b] = b, a
    return out


def morph(lab, rng):
    """Over- or under-segment one class (or the whole heart) on some slices."""
    out = lab.copy()
    hs = _heart_slices(lab)
    if not hs:
        return out
    sl = hs if rng.random() < 0.5 else list(rng.choice(hs, size=min(len(hs), int(rng.integers(1, 4))), replace=False))
    c = int(rng.choice([0, 1, 2, 3]))  # 0: whole heart
    r = int(rng.integers(1, 5))
    grow = rng.random() < 0.5
    st = ndimage.generate_binary_structure(2, 1)
    for s in sl:
        m = lab[s] > 0 if c == 0 else lab[s] == c
        if grow:
            ring = ndimage.binary_dilation(m, st, iterations=r) & ~m
            if c == 0:
                idx = ndimage.distance_transform_edt(~m, return_distances=False, return_indices=True)
                out[s][ring] = lab[s][tuple(i[ring] for i in idx)]
            else:
                out[s][ring] = c
        else:
            band = m & ~ndimage.binary_erosion(m, st, iterations=r)
            out[s][band] = 0
    return out


def holes(lab, rng):
    out = lab.copy()
    hs = _heart_slices(lab)
    for s in rng.choice(hs, size=min(len(hs), int(rng.integers(1, 4))), replace=False) if hs else []:
        pts = np.argwhere(lab[s] > 0)
        cy, cx = pts[rng.integers(len(pts))]
        out[s][_disk(lab[s].shape, cy, cx, rng.uniform(2, 9), rng.uniform(2, 9), rng.uniform(0, np.pi))] = 0
    return out


def stray_blobs(lab, rng):
    out = lab.copy()
    s_, h, w = lab.shape
    hs = _heart_slices(lab) or list(range(s_))
    for _ in range(int(rng.integers(1, 4))):
        s = int(rng.choice(hs))
        pts = np.argwhere(lab[s] > 0)
        if len(pts) and rng.random() < 0.6:  # near the heart
            cy, cx = pts.mean(0) + rng.normal(0, 25, 2)
        else:
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        blob = _disk((h, w), cy, cx, rng.uniform(3, 14), rng.uniform(3, 14), rng.uniform(0, np.pi))
        out[s][blob & (out[s] == 0)] = int(rng.choice(CLASSES))
    return out


def drop_class(lab, rng):
    out = lab.copy()
    c = int(rng.choice(CLASSES))
    hs = [s for s in range(lab.shape[0]) if (lab[s] == c).any()]
    if not hs:
        return out
    sl = hs if rng.random() < 0.2 else list(rng.choice(hs, size=min(len(hs), int(rng.integers(1, 3))), replace=False))
    for s in sl:
        out[s][lab[s] == c] = 0
    return out


def cut(lab, rng):
    """Lose the part of the heart on one side of a random line (a partial segmentation)."""
    out = lab.copy()
    hs = _heart_slices(lab)
    for s in rng.choice(hs, size=min(len(hs), int(rng.integers(1, 4))), replace=False) if hs else []:
        pts = np.argwhere(lab[s] > 0)
        cy, cx = pts.mean(0) + rng.normal(0, 8, 2)
        a = rng.uniform(0, 2 * np.pi)
        yy, xx = np.ogrid[:lab.shape[1], :lab.shape[2]]
        out[s][((yy - cy) * np.cos(a) + (xx - cx) * np.sin(a)) > 0] = 0
    return out


def jitter(lab, rng, amplitude=None):
    """Smooth random deformation of the label map: a good rater's disagreement."""
    amp = rng.uniform(0.5, 2.5) if amplitude is None else amplitude
    out = np.empty_like(lab)
    h, w = lab.shape[1:]
    for s in range(lab.shape[0]):
        if not lab[s].any():
            out[s] = lab[s]
            continue
        d = [ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), 6) for _ in range(2)]
        d = [x * amp / (x.std() + 1e-8) for x in d]
        yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        out[s] = ndimage.map_coordinates(lab[s], [yy + d[0], xx + d[1]], order=0, mode="constant")
    return out


STRUCTURAL = (miss_end_slices, wrong_level, shift_slice, swap_labels, morph, holes, stray_blobs, drop_class, cut)


def damage(lab, rng):
    """One to three structural failures in a row; returns (label volume, names)."""
    names, out = [], lab
    for f in rng.choice(STRUCTURAL, size=int(rng.choice([1, 1, 1, 2, 3])), replace=False):
        out = f(out, rng)
        names.append(f.__name__)
    return out, names

"""Repair of flagged slices from their nearest good neighbours (Fournel et al. 2021, §2.4).

Two levels:
- measurements: a flagged slice's area is replaced by the mean area of the nearest good
  slices above and below (the paper's method) before summing volumes;
- mask: a flagged slice is rebuilt by interpolating the signed distance maps of the nearest
  good slices (one neighbour at an end of the stack: its shape is copied). The cardiac ring
  is kept: the LV cavity and the epicardium (LV ∪ MYO) are interpolated, MYO = epicardium
  minus cavity with at least one pixel of wall, RV is interpolated outside the epicardium.

A flag is per slice and structure group (``groups``: structures rebuilt together). A run of
more than ``MAX_RUN`` consecutive flagged slices is not repaired: its good neighbours are too far
apart to stand in for it (on validation, repairing such runs, mostly small end-systolic apical
slices, raised the LV volume error; see docs/benchmark.md). Those slices stay flagged and are
listed as not rebuilt.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .metrics import MYOCARDIUM_DENSITY_G_PER_ML

CARDIAC_GROUPS = (("LV", "MYO"), ("RV",))
_FAR = 1e3  # signed distance given to a structure absent from a slice (mm)
MAX_RUN = 2  # longest run of consecutive flagged slices that is repaired


def neighbours(good: np.ndarray, i: int) -> tuple[int | None, int | None]:
    """Nearest good slice below and above index i (None if there is none)."""
    below = next((j for j in range(i - 1, -1, -1) if good[j]), None)
    above = next((j for j in range(i + 1, len(good)) if good[j]), None)
    return below, above


def group_flags(flags: np.ndarray, classes: list[str], groups=CARDIAC_GROUPS) -> np.ndarray:
    """(S, K) flags spread over each structure group: LV and MYO are rebuilt (and re-measured) together."""
    out = flags.copy()
    col = {c: k for k, c in enumerate(classes)}
    for group in groups:
        ks = [col[c] for c in group if c in col]
        if ks:
            out[:, ks] = flags[:, ks].any(1, keepdims=True)
    return out


def short_runs(flags: np.ndarray, max_run: int = MAX_RUN) -> np.ndarray:
    """(S, K) flags kept only where they belong to a run of at most ``max_run`` consecutive slices."""
    out = flags.copy()
    for k in range(flags.shape[1]):
        padded = np.r_[False, flags[:, k], False].astype(np.int8)
        starts, ends = np.flatnonzero(np.diff(padded) == 1), np.flatnonzero(np.diff(padded) == -1)
        for a, b in zip(starts, ends):
            if b - a > max_run:
                out[a:b, k] = False
    return out


def repair_flags(flags: np.ndarray, classes: list[str], groups=CARDIAC_GROUPS, max_run: int = MAX_RUN) -> np.ndarray:
    """(S, K) the flags that are repaired: spread over the structure groups, short runs only."""
    return short_runs(group_flags(flags, classes, groups), max_run)


def corrected_areas(areas: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """(S, K) areas with each flagged entry replaced by its good neighbours' mean area."""
    out = areas.astype(np.float64).copy()
    for k in range(areas.shape[1]):
        for i in np.flatnonzero(flags[:, k]):
            nb = [j for j in neighbours(~flags[:, k], i) if j is not None]
            if nb:
                out[i, k] = np.mean(areas[nb, k])
    return out


def corrected_structure_areas(areas: np.ndarray, flags: np.ndarray, classes: list[str],
                              groups=CARDIAC_GROUPS) -> np.ndarray:
    """(S, K) areas corrected as the measurements are: the repaired flags (``repair_flags``, as in
    the rebuilt mask), each area from its good neighbours."""
    return corrected_areas(areas, repair_flags(flags, classes, groups))


def sdf(mask: np.ndarray, spacing_rc) -> np.ndarray:
    """Signed distance (mm), negative inside; +_FAR everywhere for an empty mask."""
    if not mask.any():
        return np.full(mask.shape, _FAR)
    if mask.all():
        return np.full(mask.shape, -_FAR)
    return (ndimage.distance_transform_edt(~mask, sampling=spacing_rc)
            - ndimage.distance_transform_edt(mask, sampling=spacing_rc))


def interpolate(masks: np.ndarray, good: np.ndarray, i: int, spacing_rc) -> np.ndarray:
    """Mask for slice i from the nearest good slices' signed distance maps."""
    b, a = neighbours(good, i)
    if b is None and a is None:
        return masks[i]
    if b is None or a is None:
        return masks[a if b is None else b].copy()
    w = (i - b) / (a - b)
    return ((1 - w) * sdf(masks[b], spacing_rc) + w * sdf(masks[a], spacing_rc)) < 0


@dataclass
class Correction:
    labels: np.ndarray  # (S, H, W) corrected label volume, the user's label values
    rebuilt: list[tuple[int, str]] = field(default_factory=list)  # (slice, structure) pairs rebuilt
    not_rebuilt: list[tuple[int, str]] = field(default_factory=list)  # flagged, in a run too long to repair
    measurements: dict = field(default_factory=dict)  # name -> {"measured", "corrected", "unit"}


def _agrees(a: np.ndarray, b: np.ndarray, min_dice: float) -> bool:
    s = a.sum() + b.sum()
    return s == 0 or 2 * (a & b).sum() / s >= min_dice


def rebuild_slices(labels: np.ndarray, flags: np.ndarray, classes: list[str], class_values: dict,
                   spacing_rc, groups=CARDIAC_GROUPS, surrogate: np.ndarray | None = None,
                   agree: float = 0.7) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """A new label volume with flagged slices rebuilt, group by group; ``labels`` is not changed.

    With a ``surrogate`` (manifold labels, same values), a flagged slice takes the surrogate's
    shape where it agrees with the neighbours' interpolation (Dice >= ``agree``): it follows the
    image, the interpolation only the neighbours."""
    out = labels.copy()
    rebuilt = []
    col = {c: k for k, c in enumerate(classes)}
    flags = repair_flags(flags, classes, groups)
    for group in groups:
        group = [c for c in group if c in col]
        if not group:
            continue
        bad = flags[:, col[group[0]]]
        if not bad.any() or bad.all():
            continue
        if group == ["LV", "MYO"]:
            lv, myo = class_values["LV"], class_values["MYO"]
            endo = labels == lv
            epi = endo | (labels == myo)
            for i in np.flatnonzero(bad):
                e = interpolate(epi, ~bad, i, spacing_rc)
                n = interpolate(endo, ~bad, i, spacing_rc) & e
                if surrogate is not None:
                    se, sn = np.isin(surrogate[i], (lv, myo)), surrogate[i] == lv
                    if _agrees(se, e, agree) and _agrees(sn, n, agree):
                        e, n = se, sn & se
                n &= ~(e & ~ndimage.binary_erosion(e))  # keep a wall of at least one pixel
                out[i][np.isin(out[i], (lv, myo))] = 0
                out[i][e] = myo
                out[i][n] = lv
                rebuilt += [(int(i), c) for c in group]
        else:
            for c in group:
                v = class_values[c]
                m = labels == v
                for i in np.flatnonzero(bad):
                    new = interpolate(m, ~bad, i, spacing_rc)
                    if surrogate is not None and _agrees(surrogate[i] == v, new, agree):
                        new = surrogate[i] == v
                    out[i][out[i] == v] = 0
                    out[i][new & (out[i] == 0)] = v
                    rebuilt.append((int(i), c))
    return out, rebuilt


def measurements(areas: np.ndarray, flags: np.ndarray, classes: list[str], spacing, groups=CARDIAC_GROUPS) -> dict:
    """LV/RV cavity volumes (mL) and LV mass (g), as measured and as corrected (flags spread over
    the structure groups, as in the rebuilt mask)."""
    voxel_ml = float(np.prod(spacing)) / 1000.0
    fixed = corrected_structure_areas(areas, flags, classes, groups)
    out = {}
    names = {"LV": ("LV_volume", "mL", 1.0), "RV": ("RV_volume", "mL", 1.0),
             "MYO": ("LV_mass", "g", MYOCARDIUM_DENSITY_G_PER_ML)}
    for k, c in enumerate(classes):
        name, unit, factor = names.get(c, (f"{c}_volume", "mL", 1.0))
        out[name] = {"measured": float(areas[:, k].sum() * voxel_ml * factor),
                     "corrected": float(fixed[:, k].sum() * voxel_ml * factor), "unit": unit}
    return out


def ejection(ed: dict, es: dict) -> dict:
    """Stroke volume (mL) and ejection fraction (%) of LV and RV from ED and ES measurements."""
    out = {}
    for side in ("LV", "RV"):
        key = f"{side}_volume"
        if key not in ed or key not in es:
            continue
        for kind in ("measured", "corrected"):
            edv, esv = ed[key][kind], es[key][kind]
            out.setdefault(f"{side}_stroke_volume", {"unit": "mL"})[kind] = edv - esv
            out.setdefault(f"{side}_ejection_fraction", {"unit": "%"})[kind] = 100 * (edv - esv) / edv if edv > 0 else float("nan")
    return out


def correct(case, result, groups=CARDIAC_GROUPS, use_surrogate: bool = False) -> Correction:
    """Rebuild the slices ``result`` flags and correct the measurements; the case is not changed.
    ``use_surrogate``: let the result's surrogate guide the rebuild where it agrees."""
    labels, rebuilt = rebuild_slices(case.labels, result.flags, result.classes, case.class_values,
                                     case.spacing[1:], groups, result.surrogate if use_surrogate else None)
    left = group_flags(result.flags, result.classes, groups) & ~repair_flags(result.flags, result.classes, groups)
    return Correction(labels=labels, rebuilt=rebuilt,
                      not_rebuilt=[(int(i), result.classes[k]) for i, k in zip(*np.nonzero(left))],
                      measurements=measurements(result.seg_area, result.flags, result.classes, case.spacing, groups))

"""Repair of flagged slices from their nearest good neighbours (Fournel et al. 2021, §2.4).

Two levels:
- measurements (the paper's method, ``neighbour_mean``): a flagged slice's area is replaced by the
  mean area of the nearest good slices above and below before summing volumes;
- mask: a flagged slice is rebuilt by interpolating the signed distance maps of the nearest
  good slices (one neighbour at an end of the stack: its shape is copied). The cardiac ring
  is kept: the LV cavity and the epicardium (LV ∪ MYO) are interpolated, MYO = epicardium
  minus cavity with at least one pixel of wall, RV is interpolated outside the epicardium.
  The shape comes from the neighbours; the size, where the error-map network is at hand, from
  the neighbours and the image (``image_sizes``): the network, run on the interpolated slice,
  says how large each structure looks there, and where that agrees with the interpolated area
  within ``IMAGE_AGREE`` the slice takes their mean. The corrected measurements are the
  corrected segmentation's (on damaged validation volumes they beat the paper's; docs/benchmark.md).

Before either, a flagged slice whose own segmentation agrees with the neighbours' interpolation
once moved in-plane and relabelled (``realign``: mean Dice >= ``REALIGN_AGREE``) keeps its own
outline, moved and relabelled, and its own areas: a misplaced slice or swapped labels are put
back instead of replaced by a blur of the neighbours, and a slice flagged although it fits its
neighbours is kept as it is. ``REALIGN_AGREE`` was chosen on training patients' damaged
volumes (``training/benchmark_correction.py --split training``; docs/benchmark.md).

A flag is per slice and structure group (``groups``: structures rebuilt together). A run of
more than ``MAX_RUN`` consecutive flagged slices is not repaired: its good neighbours are too far
apart to stand in for it (on validation, repairing such runs, mostly small end-systolic apical
slices, raised the LV volume error; see docs/benchmark.md), except its slices whose predicted Dice
is below ``SURE_WRONG`` for a structure of the group (an erased slice beside two doubtful ones): they
are rebuilt, the run's other slices standing as their neighbours. The other slices of such a run stay
flagged and are listed as not rebuilt.

The first and last slices of the segmented stack are not repaired either, even when flagged
(``check(..., exclude_ends=0)``, the default, flags them): they have a segmented neighbour on one
side only, whose outline and area a repair would copy. Repairing them raised the volume error
of undamaged segmentations (``training/benchmark_correction.py --exclude-ends 0``, docs/benchmark.md).
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, signal

from .case import Case
from .errors import InputError
from .metrics import MYOCARDIUM_DENSITY_G_PER_ML, end_slices, slice_areas

CARDIAC_GROUPS = (("LV", "MYO"), ("RV",))
_FAR = 1e3  # signed distance given to a structure absent from a slice (mm)
MAX_RUN = 2  # longest run of consecutive flagged slices that is repaired
SURE_WRONG = 0.1  # inside a longer run, a slice predicted below this Dice is still repaired
MAX_SHIFT_MM = 30.0  # largest in-plane move tried when realigning a flagged slice
REALIGN_AGREE = 0.7  # mean Dice with the neighbours' interpolation a realigned slice needs
SHIFT_MARGIN = 0.03  # a realigned slice stays in place unless moving it agrees better by more than this
IMAGE_AGREE = 1.5  # an interpolated slice's size follows the image where the two areas are within this factor


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


def repair_flags(flags: np.ndarray, classes: list[str], groups=CARDIAC_GROUPS, max_run: int = MAX_RUN,
                 dice: np.ndarray | None = None, sure: float = SURE_WRONG) -> np.ndarray:
    """(S, K) the flags that are repaired: spread over the structure groups, short runs only. With the
    predicted slice ``dice`` (S, K), a longer run also has its slices whose group has a structure
    predicted below ``sure`` repaired, where they make short runs of their own (the rest of the run
    are their neighbours). The result is its own repair flags."""
    grouped = group_flags(flags, classes, groups)
    out = short_runs(grouped, max_run)
    if dice is not None:
        out |= short_runs(grouped & ~out & group_flags(dice < sure, classes, groups), max_run)
    return out


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
                              groups=CARDIAC_GROUPS, realigned: dict | None = None) -> np.ndarray:
    """(S, K) areas corrected as the measurements are: the repaired flags (``repair_flags``, as in
    the rebuilt mask), each area from its good neighbours; ``realigned`` slices (slice -> (K, H, W)
    masks) are measured on their realigned masks and are good neighbours."""
    areas, flags = areas.astype(np.float64).copy(), repair_flags(flags, classes, groups)
    for i, moved in (realigned or {}).items():
        areas[i], flags[i] = moved.sum((1, 2)), False
    return corrected_areas(areas, flags)


def sdf(mask: np.ndarray, spacing_rc) -> np.ndarray:
    """Signed distance (mm), negative inside; +_FAR everywhere for an empty mask."""
    if not mask.any():
        return np.full(mask.shape, _FAR)
    if mask.all():
        return np.full(mask.shape, -_FAR)
    return (ndimage.distance_transform_edt(~mask, sampling=spacing_rc)
            - ndimage.distance_transform_edt(mask, sampling=spacing_rc))


def interpolate(masks: np.ndarray, good: np.ndarray, i: int, spacing_rc, n: float | None = None) -> np.ndarray:
    """Mask for slice i from the nearest good slices' signed distance maps, weighted by distance:
    the interpolated map's lowest pixels, as many as the neighbours' interpolated area (a plain
    zero level set shrinks where their outlines differ)."""
    b, a = neighbours(good, i)
    if b is None and a is None:
        return masks[i]
    if b is None or a is None:
        return masks[a if b is None else b].copy()
    w = (i - b) / (a - b)
    level = (1 - w) * sdf(masks[b], spacing_rc) + w * sdf(masks[a], spacing_rc)
    if n is None:
        n = (1 - w) * masks[b].sum() + w * masks[a].sum()  # the neighbours' interpolated area
    n = min(int(round(n)), level.size)
    if n == 0:
        return np.zeros_like(masks[i])
    return level <= np.partition(level.ravel(), n - 1)[n - 1]


def _mean_dice(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Dice over the (K, H, W) masks present in a or b (1 when none is)."""
    s = a.sum((1, 2)) + b.sum((1, 2))
    d = 2 * (a & b).sum((1, 2))[s > 0] / s[s > 0]
    return float(d.mean()) if d.size else 1.0


def _relabellings(k: int) -> list[tuple]:
    """No relabelling, then every swap of two structures (a segmenter's usual label mix-up)."""
    swaps = []
    for a, b in itertools.combinations(range(k), 2):
        perm = list(range(k))
        perm[a], perm[b] = b, a
        swaps.append(tuple(perm))
    return [tuple(range(k))] + swaps


def realign(own: np.ndarray, target: np.ndarray, max_shift_px) -> tuple[np.ndarray, float, tuple, tuple]:
    """The slice's own (K, H, W) masks moved in-plane and relabelled (two structures swapped, or
    none) to agree best with ``target``, the neighbours' interpolation: for a slice whose
    segmentation is right but misplaced or mislabelled. Returns the masks, their mean Dice with the
    target, the shift (rows, columns) and the relabelling (new structure of each own structure)."""
    k = len(own)
    found = np.argwhere((own | target).any(0))
    if not found.size:
        return own.copy(), 1.0, (0, 0), tuple(range(k))
    lo = np.maximum(found.min(0) - max_shift_px, 0)  # the moves stay inside this box
    hi = np.minimum(found.max(0) + 1 + np.asarray(max_shift_px), own.shape[1:])
    box = (slice(None), slice(lo[0], hi[0]), slice(lo[1], hi[1]))
    a_, t_ = own[box], target[box]
    corr = [[signal.correlate(t_[b].astype(np.float32), a_[a].astype(np.float32), mode="full", method="fft")
             for b in range(k)] for a in range(k)]
    h, w = a_.shape[1:]
    rr, cc = np.meshgrid(np.arange(1 - h, h), np.arange(1 - w, w), indexing="ij")
    outside = (np.abs(rr) > max_shift_px[0]) | (np.abs(cc) > max_shift_px[1])
    best = (-1.0, (0, 0), tuple(range(k)))
    for perm in _relabellings(k):
        overlap = sum(corr[a][perm[a]] for a in range(k))
        overlap[outside] = -1
        i = np.unravel_index(int(np.argmax(overlap)), overlap.shape)
        if overlap[i] > best[0]:
            best = (overlap[i], (int(rr[i]), int(cc[i])), perm)
    _, d, perm = best
    out = []
    for shift in (d, (0, 0)):
        moved = np.zeros_like(own)
        for a in range(k):
            moved[perm[a]] |= ndimage.shift(own[a], shift, order=0, mode="constant", cval=0)  # whole pixels, zero-filled
        out.append((moved, _mean_dice(moved, target), shift, perm))
    # a move of a pixel or two is the interpolation's own blur, not a misplaced slice: keep it still
    return out[1] if out[1][1] >= out[0][1] - SHIFT_MARGIN else out[0]


@dataclass
class Correction:
    labels: np.ndarray  # (S, H, W) corrected label volume, the user's label values
    rebuilt: list[tuple[int, str]] = field(default_factory=list)  # (slice, structure) pairs rebuilt
    not_rebuilt: list[tuple[int, str]] = field(default_factory=list)  # flagged, not repaired: an end slice or a long run
    measurements: dict = field(default_factory=dict)  # name -> {"measured", "corrected", "neighbour_mean", "unit"}
    kept: list[int] = field(default_factory=list)  # flagged slices kept as they are: they fit their neighbours
    areas: np.ndarray | None = None  # (S, K) areas (pixels) of the corrected segmentation: the corrected measurements
    neighbour_areas: np.ndarray | None = None  # (S, K) areas of the paper's correction (corrected_structure_areas)
    put_back: list[int] = field(default_factory=list)  # rebuilt, put back as they were: scored no higher (keep_better)


def outcome_notes(fix: Correction) -> list[str]:
    """One sentence each for the flagged slices a repair left as they were, and why (the CLI and
    the Slicer panel say the same)."""
    left = sorted({i for i, _ in fix.not_rebuilt})
    return ([f"flagged but not rebuilt (the stack's first or last slice, or more than {MAX_RUN} flagged slices "
             f"in a row): {left}"] if left else []) + (
        [f"flagged but kept as they are (they fit their neighbours): {fix.kept}"] if fix.kept else []) + (
        [f"rebuilt but put back as they were (QC scored the rebuild no higher): {fix.put_back}"] if fix.put_back else [])


def image_sizes(interpolated: np.ndarray, expected: np.ndarray, agree: float = IMAGE_AGREE) -> np.ndarray:
    """Areas for interpolated slices: the mean of the interpolated area and the one the error-map
    network expects from the image, where they are within a factor ``agree`` of each other; the
    interpolated area elsewhere (one of the two is wrong, and the neighbours are the safer guess)."""
    near = (expected <= agree * interpolated) & (interpolated <= agree * expected)
    return np.where(near, 0.5 * (interpolated + expected), interpolated)


def _agrees(a: np.ndarray, b: np.ndarray, min_dice: float) -> bool:
    return _mean_dice(a[None], b[None]) >= min_dice


def realigned_slices(labels: np.ndarray, flags: np.ndarray, classes: list[str], class_values: dict, spacing_rc,
                     groups=CARDIAC_GROUPS, agree: float = REALIGN_AGREE,
                     max_shift_mm: float = MAX_SHIFT_MM) -> dict[int, np.ndarray]:
    """Flagged slices whose own segmentation, moved in-plane and relabelled (``realign``), agrees
    with the neighbours' interpolation (mean Dice >= ``agree``): slice -> (K, H, W) masks. Such a
    slice keeps the user's own outline instead of an interpolated one."""
    flags = repair_flags(flags, classes, groups)
    masks = np.stack([labels == class_values[c] for c in classes], 1)  # (S, K, H, W)
    max_px = [int(max_shift_mm / s) for s in spacing_rc]
    out = {}
    for i in np.flatnonzero(flags.any(1)):
        target = np.stack([interpolate(masks[:, k], ~flags[:, k], i, spacing_rc) for k in range(len(classes))])
        moved, score, _, _ = realign(masks[i], target, max_px)
        if score >= agree:
            out[int(i)] = moved
    return out


def rebuild_slices(labels: np.ndarray, flags: np.ndarray, classes: list[str], class_values: dict,
                   spacing_rc, groups=CARDIAC_GROUPS, surrogate: np.ndarray | None = None,
                   agree: float = 0.7, realigned: dict | None = None,
                   sizes: dict | None = None) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """A new label volume with flagged slices rebuilt, group by group; ``labels`` is not changed.

    ``realigned`` slices (``realigned_slices``) take their realigned masks; the structures that
    change count as rebuilt. The others are interpolated from their neighbours, with the neighbours'
    interpolated areas or ``sizes`` (slice -> (K,) areas in pixels, ``classes`` order). With a
    ``surrogate`` (manifold labels, same values), a flagged slice takes the surrogate's shape where
    it agrees with the neighbours' interpolation (Dice >= ``agree``): it follows the image, the
    interpolation only the neighbours."""
    labels = labels.copy()
    rebuilt = []
    col = {c: k for k, c in enumerate(classes)}
    flags = repair_flags(flags, classes, groups)
    values = [class_values[c] for c in classes]
    for i, moved in (realigned or {}).items():  # realigned slices are good neighbours from here on
        own = np.stack([labels[i] == v for v in values])
        labels[i][np.isin(labels[i], values)] = 0
        for k, v in enumerate(values):
            labels[i][moved[k]] = v
        rebuilt += [(i, c) for k, c in enumerate(classes) if not np.array_equal(moved[k], own[k])]
        flags[i] = False
    out = labels.copy()
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
                size = (sizes or {}).get(int(i))
                e = interpolate(epi, ~bad, i, spacing_rc, None if size is None else size[col["LV"]] + size[col["MYO"]])
                n = interpolate(endo, ~bad, i, spacing_rc, None if size is None else size[col["LV"]]) & e
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
                    size = (sizes or {}).get(int(i))
                    new = interpolate(m, ~bad, i, spacing_rc, None if size is None else size[col[c]])
                    if surrogate is not None and _agrees(surrogate[i] == v, new, agree):
                        new = surrogate[i] == v
                    out[i][out[i] == v] = 0
                    out[i][new & (out[i] == 0)] = v
                    rebuilt.append((int(i), c))
    return out, rebuilt


def volumes(areas: np.ndarray, fixed: np.ndarray, classes: list[str], spacing,
            neighbour: np.ndarray | None = None) -> dict:
    """LV/RV cavity volumes (mL) and LV mass (g) from the measured ``areas``, the corrected
    ``fixed`` ones and, if given, the ``neighbour`` ones ((S, K) pixels each)."""
    voxel_ml = float(np.prod(spacing)) / 1000.0
    out = {}
    names = {"LV": ("LV_volume", "mL", 1.0), "RV": ("RV_volume", "mL", 1.0),
             "MYO": ("LV_mass", "g", MYOCARDIUM_DENSITY_G_PER_ML)}
    for k, c in enumerate(classes):
        name, unit, factor = names.get(c, (f"{c}_volume", "mL", 1.0))
        out[name] = {kind: float(a[:, k].sum() * voxel_ml * factor)
                     for kind, a in (("measured", areas), ("corrected", fixed), ("neighbour_mean", neighbour))
                     if a is not None}
        out[name]["unit"] = unit
    return out


def ejection(ed: dict, es: dict) -> dict:
    """Stroke volume (mL) and ejection fraction (%) of LV and RV from ED and ES measurements."""
    out = {}
    for side in ("LV", "RV"):
        key = f"{side}_volume"
        if key not in ed or key not in es:
            continue
        for kind in ("measured", "corrected", "neighbour_mean"):
            if kind not in ed[key] or kind not in es[key]:
                continue
            edv, esv = ed[key][kind], es[key][kind]
            out.setdefault(f"{side}_stroke_volume", {"unit": "mL"})[kind] = edv - esv
            out.setdefault(f"{side}_ejection_fraction", {"unit": "%"})[kind] = 100 * (edv - esv) / edv if edv > 0 else float("nan")
    return out


def realigned_for(case, result, groups=CARDIAC_GROUPS, agree: float | None = REALIGN_AGREE) -> dict:
    """``realigned_slices`` of a checked case ({} when ``agree`` is None)."""
    if agree is None:
        return {}
    return realigned_slices(case.labels, repairs(result, groups), result.classes, case.class_values,
                            case.spacing[1:], groups, agree)


def repairs(result, groups=CARDIAC_GROUPS) -> np.ndarray:
    """``repair_flags`` of a checked case, its predicted slice Dice deciding inside long runs; the
    first and last slices of the segmented stack are never repaired (``end_slices``)."""
    flags = result.flags & ~end_slices(result.seg_area, 1)[:, None]
    return repair_flags(flags, result.classes, groups, dice=result.slice_dice)


def keep_better(case, result, labels: np.ndarray, rebuilt: list, engine) -> tuple[np.ndarray, list, list[int]]:
    """``labels`` with each rebuilt slice put back as the case has it where ``engine`` does not score
    the rebuild higher (mean predicted Dice of the structures rebuilt on it) than ``result`` scored the
    original; the rebuilt pairs left, and the slices put back. One more check of the case, with the
    engine's methods."""
    after = engine.check(dataclasses.replace(case, labels=labels)).slice_dice
    col = {c: k for k, c in enumerate(result.classes)}
    labels, undone = labels.copy(), []
    for i in sorted({i for i, _ in rebuilt}):
        ks = [col[c] for j, c in rebuilt if j == i]
        new, old = after[i, ks], result.slice_dice[i, ks]
        both = ~np.isnan(new) & ~np.isnan(old)  # nothing to compare: the rebuild stands
        if both.any() and new[both].mean() <= old[both].mean():
            labels[i] = case.labels[i]
            undone.append(int(i))
    return labels, [(i, c) for i, c in rebuilt if i not in undone], undone


def correct(case, result, groups=CARDIAC_GROUPS, use_surrogate: bool = False,
            realign_agree: float | None = REALIGN_AGREE, engine=None, sizes_from_image: bool = True,
            verify: bool = True) -> Correction:
    """Rebuild the slices ``result`` flags and correct the measurements; the case is not changed.
    ``use_surrogate``: let the result's surrogate guide the rebuild where it agrees.
    ``realign_agree``: the agreement a flagged slice's own segmentation, moved and relabelled,
    needs with its neighbours to be kept (``realigned_slices``); None interpolates every slice.
    ``engine``: the ``QCEngine`` that checked the case; with an error-map model and ``sizes_from_image``,
    the interpolated slices are rebuilt again at ``image_sizes``, from the areas the network expects on
    them; with ``verify``, a rebuilt slice the engine does not score higher than the original is put
    back as it was and listed under ``put_back`` (``keep_better``).
    The corrected measurements are the corrected segmentation's; ``neighbour_mean`` is the paper's."""
    if not isinstance(case, Case) or not all(hasattr(result, a) for a in ("classes", "flags", "seg_area")):
        raise InputError(f"correct takes a Case and the result of its check, not {type(case).__name__} and "
                         f"{type(result).__name__}")
    classes = result.classes
    values = [case.class_values[c] for c in classes]
    if not np.array_equal(slice_areas(case.labels, values), result.seg_area):
        raise InputError("the result was not computed on this segmentation (the segmented areas of its slices differ): "
                         "check this segmentation, then correct it with that check's result")
    repair = repairs(result, groups)  # its own repair flags: passed on unchanged
    realigned = realigned_for(case, result, groups, realign_agree)

    def rebuild(sizes=None):
        return rebuild_slices(case.labels, repair, classes, case.class_values, case.spacing[1:], groups,
                              result.surrogate if use_surrogate else None, realigned=realigned, sizes=sizes)

    labels, rebuilt = rebuild()
    interpolated = sorted({i for i, _ in rebuilt} - set(realigned))
    if interpolated and sizes_from_image and getattr(engine, "error_model", None) is not None:
        expected = engine.expected_areas(dataclasses.replace(case, labels=labels), interpolated)
        own = slice_areas(labels[interpolated], values)
        labels, rebuilt = rebuild(dict(zip(interpolated, image_sizes(own, expected))))
    undone = []
    if rebuilt and engine is not None and verify:
        labels, rebuilt, undone = keep_better(case, result, labels, rebuilt, engine)
    left = group_flags(result.flags, classes, groups) & ~repair
    moved = {i for i, _ in rebuilt}
    areas = slice_areas(labels, values)
    neighbour = corrected_structure_areas(result.seg_area, repair, classes, groups, realigned)
    return Correction(labels=labels, rebuilt=rebuilt,
                      not_rebuilt=[(int(i), classes[k]) for i, k in zip(*np.nonzero(left))],
                      kept=sorted(i for i in realigned if i not in moved and i not in undone), areas=areas,
                      neighbour_areas=neighbour, put_back=undone,
                      measurements=volumes(result.seg_area, areas, classes, case.spacing, neighbour))

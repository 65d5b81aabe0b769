"""Does the label mapping look right? A check on where the structures lie, not on their quality.

In every ACDC training volume the LV cavity and the myocardium are concentric (centroids at most
about 9 mm apart, per slice, median over the slices) and the RV lies far from both (at least
25 mm). A file whose labels follow another convention (M&Ms: LV 1, RV 3, against ACDC's LV 3,
RV 1), read with the default mapping, shows the RV concentric with the myocardium instead, and
the QC would score the user's labels as a swap. The pack's card lists such pairs
(``concentric``, written by ``training/make_pack.py`` from the training labels); a case where
another structure takes one member's place gets a warning naming the labels that look swapped.
Nothing is changed: the user decides (``--labels``).
"""
from __future__ import annotations

from itertools import combinations

import numpy as np

SEPARATION = 1.5  # a pair is kept when 1.5 x its largest offset in training is below every other structure's


def slice_centroids(mask: np.ndarray, spacing_rc) -> np.ndarray:
    """(S, 2) centroid (mm) of a boolean (S, H, W) mask on each slice; NaN where the slice has none."""
    n = mask.sum((1, 2)).astype(np.float64)
    rows = mask.sum(2) @ np.arange(mask.shape[1]) * spacing_rc[0]
    cols = mask.sum(1) @ np.arange(mask.shape[2]) * spacing_rc[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([rows, cols], 1) / n[:, None]


def offsets(labels: np.ndarray, class_values: dict, spacing_rc) -> dict:
    """(a, b) -> the median over slices of the distance (mm) between a's and b's centroids, on the
    slices that have both (NaN when none has), for every pair of structures."""
    centres = {c: slice_centroids(labels == v, spacing_rc) for c, v in class_values.items()}
    out = {}
    for a, b in combinations(class_values, 2):
        d = np.linalg.norm(centres[a] - centres[b], axis=1)
        out[a, b] = out[b, a] = float(np.median(d[np.isfinite(d)])) if np.isfinite(d).any() else float("nan")
    return out


def concentric_pairs(volumes, class_values: dict) -> list[dict]:
    """From manual label volumes ((labels, spacing_rc) pairs): the pairs of structures within m mm
    of each other in every volume while every other structure is farther than SEPARATION * m
    from both, as {"structures": [a, b], "max_mm": m}."""
    found = [offsets(lab, class_values, sp) for lab, sp in volumes]
    pairs = []
    for a, b in combinations(class_values, 2):
        near = np.nanmax([f[a, b] for f in found])
        far = min((np.nanmin([f[c, x] for f in found]) for c in class_values if c not in (a, b) for x in (a, b)),
                  default=np.inf)
        if np.isfinite(near) and SEPARATION * near < far:
            pairs.append({"structures": [a, b], "max_mm": round(float(near), 1)})
    return pairs


def swap_warnings(labels: np.ndarray, class_values: dict, pairs: list | None, spacing_rc, pack: str = "") -> list[str]:
    """Warnings where a concentric pair (a, b) is broken because another structure c sits where a
    belongs (within SEPARATION * max_mm of b) and a does not: a and c look swapped. Structures
    missing from the case give no evidence either way."""
    pairs = [p for p in pairs or [] if all(s in class_values for s in p["structures"])]
    d = offsets(labels, class_values, spacing_rc) if pairs else {}
    out = []
    for pair in pairs:
        for a, b in (pair["structures"], pair["structures"][::-1]):
            for c in class_values:
                if c not in (a, b) and d[c, b] <= SEPARATION * pair["max_mm"] < d[a, b]:
                    out.append(f"{a} (label {class_values[a]}) and {c} (label {class_values[c]}) look swapped: in "
                               f"every training volume of model pack {pack} {a} and {b} are concentric, here {c} and "
                               f"{b} are ({d[c, b]:.0f} mm apart against {d[a, b]:.0f} mm); check the label mapping "
                               f"(--labels)")
    return out

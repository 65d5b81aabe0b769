"""Validation cases, and the engine's scores on them, for the benchmarks and the pack builder.

Sources of validation cases (patients in the validation split only):
- ``zoo``: segmenters of the training family (U-Nets) that never saw these patients, clean
  and under test-time attacks;
- ``synthetic``: manual labels with a second rater's jitter and structural failures;
- ``heldout``: a segmenter family never used to make QC training data (dilated FCN);
- ``heldout2``: a second such family (residual encoder, feature-pyramid decoder), added after
  pack 1.8.0 was built, so no choice of that pack saw it;
- ``shifted``: images changed by shifts never used in training (``shifts.py``: bias field,
  ghosting, Gibbs ringing, another pixel size, another intensity curve), then segmented by
  final training-family and held-out-family segmenters run on the shifted image.
"""
from __future__ import annotations

import json
import sys
from itertools import islice
from pathlib import Path

import numpy as np

import acdc
import attacks
import failures
import segmenters
import shifts

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from SegmentationQCLib import metrics  # noqa: E402
from SegmentationQCLib.case import case_from_arrays  # noqa: E402
from SegmentationQCLib.qc import prepare  # noqa: E402

VALUES = (3, 2, 1)
CLASSES = ("LV", "MYO", "RV")
UNSEEN = {"heldout": "dil", "heldout2": "fpn"}  # source -> a segmenter family the QC set never used
SLICE_MM = 10.0  # ACDC slice thickness (5-10 mm) is not stored; it does not change a Dice


def from_source(source: str, stem: str) -> bool:
    """Whether the zoo's prediction file ``stem`` (``<family>_...``) belongs to ``source``: an
    unseen source's own family, or for ``zoo`` any family no unseen source has."""
    family = stem.split("_")[0]
    return family == UNSEEN[source] if source in UNSEEN else family not in UNSEEN.values()


def cases(source: str, zoo: Path, seed: int = 0):
    """Yield (name, Case, truth labels) for one source of validation cases (none for a segmenter
    source whose predictions the zoo lacks)."""
    preds = {}
    if source == "zoo" or source in UNSEEN:
        for f in sorted((zoo / "preds").glob("*.npz")):
            if not from_source(source, f.stem):
                continue
            meta = json.loads(f.with_suffix(".json").read_text())
            z = np.load(f)
            for k in z.files:
                preds.setdefault(k.split("|")[0], []).append((f"{f.stem}|{k.split('|')[1]}", z[k], meta[k]))
        if not preds:
            return
    _, val = acdc.split(seed=seed)
    rng = np.random.default_rng(seed + 123)
    models = _final_segmenters(zoo) if source == "shifted" else []
    for p in val:
        for v in acdc.load_patient(p):
            if source == "shifted":
                img, lab, px, names = shifts.apply_random(v.image, v.label, v.pixel_mm, rng)
                for tag, model in models:
                    yield (f"{v.key}|{tag}|{'+'.join(names)}",
                           case_from_arrays(img, segmenters.predict(model, img), (SLICE_MM, px, px)), lab)
                continue
            if source == "synthetic":
                items = [("truth", v.label, None)] + [(f"jitter{i}", failures.jitter(v.label, rng), None) for i in range(2)]
                for i in range(8):
                    lab, names = failures.damage(v.label if i % 2 else failures.jitter(v.label, rng), rng)
                    items.append(("+".join(names) + f"#{i}", lab, None))
            else:
                items = preds.get(v.key, [])
            for tag, lab, meta in items:
                image = v.image
                if meta and meta["attack"] != "clean":
                    image = attacks.apply(v.image, meta["attack"], meta["params"])
                yield f"{v.key}|{tag}", case_from_arrays(image, lab, (SLICE_MM, v.pixel_mm, v.pixel_mm)), v.label


def _final_segmenters(zoo: Path) -> list:
    """The last checkpoint of each segmenter family (fold 0 for the training family)."""
    import torch

    out = []
    for tag, spec in (("u8_f0_it2000", {"family": "unet", "base": 8}), ("u4s_f0_it1000", {"family": "unet", "base": 4}),
                      ("dil_all_it1200", {"family": "dilated", "width": 32})):
        f = zoo / f"{tag}.pt"
        if f.exists():
            m = segmenters.build(spec)
            m.load_state_dict(torch.load(f, weights_only=True))
            out.append((tag, m.eval()))
    return out


def score(engine, source: str, zoo: Path, seed: int = 0, every: int = 1) -> list[dict]:
    """Run the engine on every (``every``-th) case of a source; rows of predicted and true values.

    ``est``: every method the engine ran -> (slice (S, K) or None, volume (K,)); ``pred_*``
    and the bounds are the engine's reported (first) method."""
    rows = []
    for name, case, truth in islice(cases(source, zoo, seed), 0, None, every):
        res = engine.check(case, error_map="errormap" in engine.needed())  # its own error map, for the scores below
        rows.append({"name": name, "source": source,
                     "pred_vol": res.volume_dice, "true_vol": metrics.volume_dice(case.labels, truth, VALUES),
                     "pred_slice": res.slice_dice, "true_slice": metrics.slice_dice(case.labels, truth, VALUES),
                     "low_vol": res.volume_low, "high_vol": res.volume_high,
                     "low_slice": res.slice_low, "high_slice": res.slice_high,
                     "est": res.estimates, "ms": res.timings_ms, "seg_area": res.seg_area,
                     "errormap_area_mm2": res.errormap_area_mm2,
                     **(error_map_scores(res.error_map, case, truth, engine.pack) if res.error_map is not None else {})})
    return rows


def error_map_scores(emap: np.ndarray, case, truth: np.ndarray, pack) -> dict:
    """Dice of the thresholded error map with the true one (1 when both are empty), the QI and the
    true pixel accuracy, both over the model's ROI."""
    err = case.labels != truth
    hard = emap > 0.5
    den = hard.sum() + err.sum()
    inside = ~prepare(case, pack).outside[None].repeat(len(err), 0)
    return {"em_dice": float(2 * (hard & err).sum() / den) if den else 1.0,
            "qi": float(emap[inside].mean()), "accuracy": float(1 - err[inside].mean())}

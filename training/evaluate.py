"""Metrics, fits and cross-fits on scored validation rows (``valcases.score``), shared by the
benchmarks and the pack builder."""
from __future__ import annotations

import sys
from itertools import product
from pathlib import Path

import numpy as np

from acdc import patient_of
from valcases import CLASSES

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from SegmentationQCLib import presence  # noqa: E402
from SegmentationQCLib.calibration import apply as apply_calibration, isotonic  # noqa: E402
from SegmentationQCLib.intervals import bounds, scale  # noqa: E402
from SegmentationQCLib.methods import fuse  # noqa: E402


def error_map_summary(rows: list[dict], threshold: float = 0.7) -> dict:
    """Error-map Dice on failing cases (a structure's true volume Dice < threshold) and on all,
    and the Pearson r of 1 - QI with the true accuracy."""
    rows = [r for r in rows if "em_dice" in r]
    failing = [r["em_dice"] for r in rows if r["true_vol"].min() < threshold]
    return {"n": len(rows), "n_failing": len(failing), "dice_failing": float(np.mean(failing)) if failing else float("nan"),
            "dice_all": float(np.mean([r["em_dice"] for r in rows])),
            "qi_r": float(np.corrcoef([1 - r["qi"] for r in rows], [r["accuracy"] for r in rows])[0, 1])}


def as_method(rows: list[dict], method: str) -> list[dict]:
    """Rows whose predictions are one method's estimates (no bounds unless it is the reported one)."""
    out = []
    for r in rows:
        sl, vol = r["est"][method]
        out.append(dict(r, pred_vol=vol, pred_slice=sl, low_vol=None, high_vol=None, low_slice=None, high_slice=None))
    return out


def summary(rows: list[dict], threshold: float = 0.7) -> dict:
    """Per class: volume-Dice MAE and Pearson r, slice-Dice MAE, pass/fail accuracy at
    ``threshold``; per case: the Williams et al. 2023 filter view (a case fails when one of its
    structures does): precision and recall of flagging failures, cases flagged, mean true Dice
    before and after removing the flagged cases; interval coverage when there are bounds."""
    pv = np.stack([r["pred_vol"] for r in rows])
    tv = np.stack([r["true_vol"] for r in rows])
    has_slices = rows[0]["pred_slice"] is not None
    ps = np.concatenate([r["pred_slice"] for r in rows]) if has_slices else None
    ts = np.concatenate([r["true_slice"] for r in rows])
    out = {"n_cases": len(rows), "n_slices": len(ts)}
    for k, c in enumerate(CLASSES):
        out[c] = {"vol_mae": float(np.abs(pv[:, k] - tv[:, k]).mean()),
                  "vol_r": float(np.corrcoef(pv[:, k], tv[:, k])[0, 1]) if tv[:, k].std() > 0 else float("nan"),
                  "slice_mae": float(np.abs(ps[:, k] - ts[:, k]).mean()) if has_slices else float("nan"),
                  "acc": float(((pv[:, k] < threshold) == (tv[:, k] < threshold)).mean()),
                  "true_mean": float(tv[:, k].mean()), "fail_share": float((tv[:, k] < threshold).mean())}
    flagged, failed = pv.min(1) < threshold, tv.min(1) < threshold
    out["case_acc"] = float((flagged == failed).mean())
    kept = tv[~flagged].mean(1)
    out["filter"] = {"precision": float((flagged & failed).sum() / max(flagged.sum(), 1)),
                     "recall": float((flagged & failed).sum() / max(failed.sum(), 1)),
                     "flagged": int(flagged.sum()), "failures": int(failed.sum()),
                     "mean_dice_before": float(tv.mean()), "mean_dice_after": float(kept.mean()) if len(kept) else float("nan")}
    if rows[0]["low_vol"] is not None:
        lo, hi = np.stack([r["low_vol"] for r in rows]), np.stack([r["high_vol"] for r in rows])
        out["vol_coverage"] = float(((tv >= lo - 1e-9) & (tv <= hi + 1e-9)).mean())
        slo, shi = np.concatenate([r["low_slice"] for r in rows]), np.concatenate([r["high_slice"] for r in rows])
        out["slice_coverage"] = float(((ts >= slo - 1e-9) & (ts <= shi + 1e-9)).mean())
        out["vol_width"], out["slice_width"] = float((hi - lo).mean()), float((shi - slo).mean())
    return out

EDGES = [0.0, 0.3, 0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0001]
SCALE_FLOOR = 0.1  # normalised intervals: residuals / (SCALE_FLOOR + |a - b|)
SCALE_MIN_GAIN = 0.1  # ... kept for a level only when that much narrower (it trusts a signal that shifts off-domain)


def fit_intervals(rows: list[dict], coverage: float = 0.9, scale_by: dict | None = None) -> dict:
    """Split-conformal bounds per level and class, conditional on the predicted-Dice bin.

    ``below``/``above`` are the (1+coverage)/2 quantiles of pred-true and true-pred in each
    bin (finite-sample corrected), so [pred-below, pred+above] aims at ``coverage``. With
    ``scale_by`` ({"between": [a, b], "floor": f}) the residuals are divided by f + |a - b|
    (normalised conformal; see ``intervals.scale``).
    """
    q = (1 + coverage) / 2
    spec = {}
    for i, (level, key) in enumerate((("slice", "slice"), ("volume", "vol"))):
        p = np.concatenate([np.atleast_2d(r[f"pred_{key}"]) for r in rows])
        t = np.concatenate([np.atleast_2d(r[f"true_{key}"]) for r in rows])
        s = {"edges": EDGES, "below": {}, "above": {}, **({"scale": scale_by} if scale_by else {})}
        d = np.concatenate([np.atleast_2d(np.broadcast_to(scale(s, r["est"], i), np.shape(r[f"pred_{key}"])))
                            for r in rows])
        for k, c in enumerate(CLASSES):
            b = np.clip(np.searchsorted(EDGES, p[:, k], side="right") - 1, 0, len(EDGES) - 2)
            lo, hi = [], []
            for j in range(len(EDGES) - 1):
                m = b == j
                if m.sum() < 20:  # too few: widen to the neighbouring bins
                    m = np.abs(b - j) <= 1
                n = m.sum()
                level_q = min(1.0, np.ceil((n + 1) * q) / max(n, 1))
                lo.append(float(np.quantile((p[m, k] - t[m, k]) / d[m, k], level_q)) if n else 1.0)
                hi.append(float(np.quantile((t[m, k] - p[m, k]) / d[m, k], level_q)) if n else 1.0)
            s["below"][c] = [max(0.0, x) for x in lo]
            s["above"][c] = [max(0.0, x) for x in hi]
        spec[level] = s
    return spec


def apply_intervals(rows: list[dict], spec: dict) -> list[dict]:
    """Rows with low/high bounds from ``spec`` (the engine's rule), for cross-fitting."""
    out = []
    for r in rows:
        r = dict(r)
        for i, (level, key) in enumerate((("slice", "slice"), ("volume", "vol"))):
            r[f"low_{key}"], r[f"high_{key}"] = bounds(r[f"pred_{key}"], spec[level], CLASSES,
                                                       scale(spec[level], r["est"], i))
        out.append(r)
    return out


def patient_halves(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """The rows of every other validation patient (by number), and the rest: the two halves
    that cross-fitting fits on one and tests on the other."""
    patient = np.array([patient_of(r["name"]) for r in rows])
    half = set(np.unique(patient)[::2].tolist())
    return [r for r, p in zip(rows, patient) if p in half], [r for r, p in zip(rows, patient) if p not in half]


def crossfit_coverage(rows: list[dict], coverage: float = 0.9, scale_by: dict | None = None) -> dict:
    """Coverage and mean width of intervals fitted on one half of the validation patients,
    tested on the other."""
    a, b = patient_halves(rows)
    tested = (apply_intervals(b, fit_intervals(a, coverage, scale_by))
              + apply_intervals(a, fit_intervals(b, coverage, scale_by)))
    s = summary(tested)
    return {"volume": s["vol_coverage"], "slice": s["slice_coverage"],
            "volume_width": s["vol_width"], "slice_width": s["slice_width"]}


def choose_intervals(rows: list[dict], coverage: float = 0.9, between: list[str] | None = None) -> tuple[dict, dict]:
    """Per level, plain or normalised (by the disagreement of the two methods ``between``)
    intervals: normalised only where, cross-fitted, it is at least SCALE_MIN_GAIN narrower with
    coverage within 2 points of ``coverage``. Returns (spec, cross-fitted coverage and width of
    each option, and the choice per level)."""
    options = {"plain": None}
    if between and len(between) == 2:
        options["normalised"] = {"between": list(between), "floor": SCALE_FLOOR}
    tried = {name: crossfit_coverage(rows, coverage, sb) for name, sb in options.items()}
    specs = {name: fit_intervals(rows, coverage, sb) for name, sb in options.items()}
    chosen = {}
    for lvl in ("volume", "slice"):
        n = tried.get("normalised")
        better = n and abs(n[lvl] - coverage) <= 0.02 and \
            n[f"{lvl}_width"] <= (1 - SCALE_MIN_GAIN) * tried["plain"][f"{lvl}_width"]
        chosen[lvl] = "normalised" if better else "plain"
    return {lvl: specs[name][lvl] for lvl, name in chosen.items()}, {**tried, "chosen": chosen}


def fit_fusion(rows: list[dict], methods: list[str], step: float = 0.05) -> dict:
    """Per structure and level, the convex weights of ``methods`` with the least absolute error
    (grid over the simplex); a method without slice estimates gets no slice weight."""
    grid = [w for w in product(np.arange(0, 1 + 1e-9, step), repeat=len(methods)) if abs(sum(w) - 1) < 1e-6]
    out = {"methods": list(methods)}
    for level, idx, true_key in (("slice_weights", 0, "true_slice"), ("volume_weights", 1, "true_vol")):
        usable = [m for m in methods if rows[0]["est"][m][idx] is not None]
        est = {m: np.concatenate([np.atleast_2d(r["est"][m][idx]) for r in rows]) for m in usable}
        true = np.concatenate([np.atleast_2d(r[true_key]) for r in rows])
        weights = {m: {} for m in methods}
        for k, c in enumerate(CLASSES):
            best = None
            for w in grid:
                if any(wi > 0 for m, wi in zip(methods, w) if m not in usable):
                    continue
                err = np.abs(sum(wi * est[m][:, k] for m, wi in zip(methods, w) if m in usable) - true[:, k]).mean()
                if best is None or err < best[0]:
                    best = (err, w)
            for m, wi in zip(methods, best[1]):
                weights[m][c] = round(float(wi), 3)
        out[level] = weights
    return out


def fit_calibration(rows: list[dict], method: str) -> dict:
    """Isotonic maps per level and structure from one method's estimates to the truth."""
    out = {}
    for level, idx, true_key in (("slice", 0, "true_slice"), ("volume", 1, "true_vol")):
        if rows[0]["est"][method][idx] is None:
            continue
        p = np.concatenate([np.atleast_2d(r["est"][method][idx]) for r in rows])
        t = np.concatenate([np.atleast_2d(r[true_key]) for r in rows])
        out[level] = {c: isotonic(p[:, k], t[:, k]) for k, c in enumerate(CLASSES)}
    return out


def with_fused(rows: list[dict], fusion: dict) -> list[dict]:
    """Rows with the ``fused`` estimate of a card's ``fusion`` entry added to their ``est``."""
    return [dict(r, est={**r["est"], "fused": tuple(
        fuse({m: r["est"][m][i] for m in fusion["methods"] if r["est"][m][i] is not None}, fusion[level], CLASSES)
        for i, level in enumerate(("slice_weights", "volume_weights")))}) for r in rows]


def calibrated(rows: list[dict], method: str, spec: dict) -> list[dict]:
    """Rows with one method's estimates passed through ``spec``."""
    out = []
    for r in rows:
        sl, vo = r["est"][method]
        new = (apply_calibration(sl, spec["slice"], CLASSES) if sl is not None and "slice" in spec else sl,
               apply_calibration(vo, spec["volume"], CLASSES) if "volume" in spec else vo)
        out.append(dict(r, est={**r["est"], method: new}))
    return out


def _empty_slices(rows: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features (N, K, F), truth present (N, K) and mask (N, K) of the slices where the
    segmentation has none of a structure, outside a gap (where presence is a question)."""
    x = np.concatenate([presence.features(r["seg_area"], r["errormap_area_mm2"]) for r in rows])
    y = np.concatenate([r["true_slice"] < 0.5 for r in rows])
    return x, y, np.concatenate([presence.missing(r["seg_area"]) for r in rows])


def _logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> dict:
    """Logistic regression on standardised features by Newton's method, L2-penalised."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.c_[(x - mu) / sd, np.ones(len(x))]
    w, pen = np.zeros(z.shape[1]), l2 * np.r_[np.ones(z.shape[1] - 1), 1e-3]
    for _ in range(100):
        p = 1 / (1 + np.exp(-z @ w))
        step = np.linalg.solve((z * (p * (1 - p))[:, None]).T @ z + np.diag(pen), z.T @ (p - y) + pen * w)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return {"mean": mu.tolist(), "std": sd.tolist(), "weights": w[:-1].tolist(), "bias": float(w[-1])}


def fit_presence(rows: list[dict], classes=CLASSES) -> dict:
    """Per structure (of ``classes``), the logistic model (``presence``) of whether the truth has
    the structure on a slice the segmentation left empty."""
    x, y, m = _empty_slices(rows)
    return {"features": list(presence.FEATURES),
            **{c: _logistic(x[m[:, k], k], y[m[:, k], k].astype(float)) for k, c in enumerate(CLASSES) if c in classes}}


def with_presence(rows: list[dict], model: dict) -> list[dict]:
    """Rows whose error-map estimates answer the segmentation's empty slices with ``model``
    where it has the structure (the others keep their answers as scored)."""
    out = []
    for r in rows:
        sl, vol = r["est"]["errormap"]
        present = presence.predict(r["seg_area"], r["errormap_area_mm2"], model, list(CLASSES), sl < 0.5)
        out.append(dict(r, est={**r["est"], "errormap": presence.absent_dice(sl, vol, r["seg_area"], present)}))
    return out


def with_known_absent(rows: list[dict], always_present) -> list[dict]:
    """Rows whose estimates treat structures the segmentation has on no slice and the pack's training
    volumes always have as ``QCEngine.check`` does (``presence.known_absent_estimates``)."""
    return [dict(r, est=presence.known_absent_estimates(
        r["est"], presence.known_absent(r["seg_area"], list(CLASSES), always_present), r["seg_area"])) for r in rows]


def crossfit_presence(rows: list[dict]) -> dict:
    """Per structure: empty slices (outside gaps), and how many the rows' error-map estimates
    answer wrongly as scored and with a presence model fitted on the other half of the
    validation patients."""
    a, b = patient_halves(rows)
    fixed = with_presence(a, fit_presence(b)) + with_presence(b, fit_presence(a))
    _, _, m = _empty_slices(a + b)
    out = {}
    for k, c in enumerate(CLASSES):
        wrong = [np.concatenate([np.abs(r["est"]["errormap"][0][:, k] - r["true_slice"][:, k]) > 0.5 for r in rs])[m[:, k]]
                 for rs in (a + b, fixed)]
        out[c] = {"empty_slices": int(m[:, k].sum()), "wrong_as_scored": int(wrong[0].sum()),
                  "wrong_crossfit": int(wrong[1].sum())}
    return out


def crossfit_calibration_gain(rows: list[dict], method: str) -> dict:
    """Volume- and slice-Dice MAE of ``method`` without and with a recalibration fitted on the
    other half of the validation patients."""
    a, b = patient_halves(rows)
    fixed = calibrated(b, method, fit_calibration(a, method)) + calibrated(a, method, fit_calibration(b, method))
    out = {}
    for name, rs in (("raw", a + b), ("calibrated", fixed)):
        s = summary(as_method(rs, method))
        sl = [s[c]["slice_mae"] for c in CLASSES]
        out[name] = {"volume": float(np.mean([s[c]["vol_mae"] for c in CLASSES])),
                     "slice": None if np.isnan(sl).any() else float(np.mean(sl))}  # None: volume-level method
    return out

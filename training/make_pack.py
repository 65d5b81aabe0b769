"""Assemble the bundled model pack from the trained models, calibrated on validation.

    python training/make_pack.py [--out SegmentationQCLib/packs/acdc-cardiac] [--reuse-rows] [--fit-on segmenters|all]
                                 [--slice-run NAME] [--errormap-run NAME]

Takes ``runs/slice/best.pt`` and, when trained, ``runs/errormap``, ``runs/vae`` and
``runs/direct3d`` (``--slice-run``/``--errormap-run``: those networks from other run folders). On the validation patients it decides test-time flips of the slice network
(kept only if they lower the slice-Dice MAE by TTA_MIN_GAIN) and of the error-map network
(ERRORMAP_FLIPS, kept if they lower its in-domain volume-Dice MAE), lists the structures every
training volume has (``always_present``: missing from a whole segmentation, their volume Dice is
0) and the pairs always concentric (``concentric``: a case where another structure takes a
member's place gets a label-swap warning), fits the presence model (per structure, kept where it
answers better than the error map's most probable label when fitted and tested on different
validation patients). It keeps an isotonic recalibration of a method where it lowers the MAE
when fitted and tested on different validation patients, and fits the fusion weights of the
fast methods (``FUSABLE``); for those two methods both on the segmenters' outputs among the
validation cases (``fit_rows``), for the others on every in-domain case.
It picks the default method (lowest mean of the in-domain and shifted-domain volume-Dice MAE)
and, on every in-domain validation case (segmenters' outputs and synthetic failures), fits
conformal intervals for each method (the default's normalised by its fused methods'
disagreement where that is narrower at the same cross-fitted coverage),
sets per-structure slice-flag thresholds (a common quantile of the predicted Dice of acceptable
slices, true Dice >= 0.7, the largest that flags at most FLAG_RATE of the slices acceptable for
every structure, away from the stack's ends) and the dip that flags a slice far below both
neighbours (the smallest of DIPS adding at most DIP_EXTRA_RATE of acceptable slices flagged),
quantises the slice and error-map networks to int8 (``add_int8``, for ``--precision int8``), and
writes ``card.json`` (with sha256s and validation metrics) and ``README.md``.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

import acdc
import evaluate
import valcases

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from SegmentationQCLib import labelcheck  # noqa: E402
from SegmentationQCLib.metrics import end_slices, within_extent  # noqa: E402
from SegmentationQCLib.pack import ModelPack, sha256  # noqa: E402
from SegmentationQCLib.preprocess import model_input  # noqa: E402
from SegmentationQCLib.quantized import calibrate  # noqa: E402
from SegmentationQCLib.qc import QCEngine, slice_flags  # noqa: E402

HERE = Path(__file__).parent
ROOT = HERE.parent
RUNS = HERE / "runs"
BUNDLED = ROOT / "SegmentationQCLib" / "packs" / "acdc-cardiac"
FLAG_EXCLUDE_ENDS = 1  # slice-flag thresholds are fitted away from the basal/apical ends, as the paper flags
TTA_MIN_GAIN = 0.005  # flips quadruple the slice network's time: kept only for this much less slice-Dice MAE
ERRORMAP_FLIPS = [[3]]  # a left-right flip, averaged with the plain input: doubles the error-map network's time
SEARCH = {"steps": 30, "lr": 0.05, "tol": 1e-3, "seg_weight": 1.0}  # latent search (see docs/benchmark.md)
FLAG_RATE = 0.04  # slice-flag thresholds flag at most this share of validation slices acceptable for every structure
FLAG_QUANTILES = (0.05, 0.04, 0.03, 0.025, 0.02, 0.015, 0.01, 0.0075, 0.005)  # per-structure quantiles tried, largest first
DIPS = (0.5, 0.45, 0.4, 0.35, 0.3)  # dip flags tried (a slice this far below both neighbours), largest first
DIP_EXTRA_RATE = 0.001  # the smallest dip kept adds at most this share of acceptable slices flagged, in-domain and shifted
INT8_CALIBRATION = 256  # Dice-balanced, unaugmented ROIs of the QC set's training split fix the int8 activation ranges
FUSABLE = ("slice", "errormap")  # the fused default runs only these fast methods (the others take 2-12x the time)
# the code that makes the validation cases
CASE_CODE = ("acdc.py", "valcases.py", "attacks.py", "failures.py", "shifts.py", "segmenters.py")
MODELS = {  # pack model name -> (run folder, weights file in the pack, arch from the run's config)
    "slice": ("slice", "slice_qc.pt", lambda c: {"width": c["width"]}),
    "errormap": ("errormap", "error_map.pt", lambda c: {"base": c["base"]}),
    "manifold": ("vae", "manifold_vae.pt", lambda c: {"latent": c["latent"], "size": 96}),
    "direct3d": ("direct3d", "direct3d.pt", lambda c: {"in_channels": 5, "base": c["base"]}),
}


def add_models(card: dict, out: Path, previous: dict, previous_dir: Path, runs: dict | None = None) -> None:
    """Weights from the training runs (``runs``: model name -> another run folder than MODELS');
    a model with no run here but in the ``previous`` pack (at ``previous_dir``: ``out`` or the
    bundled pack; trained in an earlier session) is kept as it is, its sha256 checked."""
    for name, (run, file, arch) in MODELS.items():
        run = (runs or {}).get(name, run)
        best = RUNS / run / "best.pt"
        if name in (runs or {}) and not best.exists():  # asked for by name: a typo must not keep the pack's
            raise SystemExit(f"make_pack.py: no trained {name} network in {RUNS / run} (best.pt)")
        if best.exists():
            cfg = json.loads((RUNS / run / "config.json").read_text())
            trained = {k: cfg[k] for k in ("steps", "batch", "lr", "seed") if k in cfg}
            for k in ("init", "distil"):  # fine-tuned, distilled: from which weights (before a copy replaces them)
                if cfg.get(k):
                    trained[f"{k}_sha256"] = sha256(_run_file(cfg[k]))
            shutil.copy(best, out / file)
            card["models"][name] = {"file": file, "sha256": sha256(out / file), "arch": arch(cfg), "trained": trained}
        elif name in previous.get("models", {}):
            entry = previous["models"][name]
            if previous_dir.resolve() != out.resolve():
                shutil.copy(previous_dir / entry["file"], out / entry["file"])
            if sha256(out / entry["file"]) != entry["sha256"]:
                raise SystemExit(f"{out / entry['file']} does not match its card's sha256; retrain {run}")
            card["models"][name] = {k: entry[k] for k in ("file", "sha256", "arch", "trained")}
            print(f"{name}: no run in {RUNS / run}, keeping the pack's {entry['file']}", flush=True)
    if "manifold" in card["models"]:
        card["models"]["manifold"].update(size=96, pixel_mm=2.0, search=SEARCH)


def _run_file(path: str) -> Path:
    """A file a training run's config names, relative to where it ran (the repository or training/)."""
    return next((p for p in (Path(path), ROOT / path, HERE / path) if p.exists()), Path(path))


def anatomy(patients: list[int]) -> dict:
    """From the manual labels of ``patients``: the structures every volume has (``always_present``)
    and the pairs of structures always concentric (``concentric``, SegmentationQCLib/labelcheck.py)."""
    values = dict(zip(valcases.CLASSES, valcases.VALUES))
    labels = [(v.label, (v.pixel_mm, v.pixel_mm)) for p in patients for v in acdc.load_patient(p)]
    have = [all((lab == values[c]).any() for lab, _ in labels) for c in valcases.CLASSES]
    return {"always_present": [c for c, h in zip(valcases.CLASSES, have) if h],
            "concentric": labelcheck.concentric_pairs(labels, values)}


def fit_rows(rows: dict, on: str = "segmenters") -> list[dict]:
    """The in-domain validation rows the fused methods' recalibration and the fusion are fitted on:
    by default the segmenters' outputs (``valcases`` source ``zoo``), the kind of segmentation a
    user brings; ``on="all"`` adds the synthetic failures (packs up to 1.3.0), which splits the
    difference between opposite biases (segmenters' outputs over-predicted, hand-made failures
    under-predicted; docs/benchmark.md). The manifold's and the 3D baseline's recalibration use
    every in-domain case: fitted on segmenter outputs, where the manifold is weakest, it ruined
    that second opinion everywhere else."""
    return [r for r in rows["in-domain"] if on == "all" or r["source"] == "zoo"]


def prune_fusion(fusion: dict) -> dict:
    """Drop the methods every fused weight ignores, so that the engine does not run them."""
    keep = [m for m in fusion["methods"] if any(w[m][c] > 0 for w in (fusion["slice_weights"], fusion["volume_weights"])
                                                for c in w[m])]
    return {"methods": keep, **{lvl: {m: fusion[lvl][m] for m in keep} for lvl in ("slice_weights", "volume_weights")}}


def _flag_inputs(rows: list[dict], method: str):
    """Per row: the method's predicted slice Dice, the segmented areas and the slices acceptable
    for every structure that can be flagged (true Dice >= 0.7, away from the stack's ends)."""
    r = evaluate.as_method(rows, method) if method in rows[0]["est"] and rows[0]["est"][method][0] is not None else rows
    return [(x["pred_slice"], x["seg_area"], (x["true_slice"] >= 0.7).all(1) & ~end_slices(x["seg_area"], FLAG_EXCLUDE_ENDS)
             & within_extent(x["seg_area"]).any(1)) for x in r]


def _flag_rate(inputs, thr: np.ndarray, dip: float | None = None) -> float:
    """The share of acceptable slices flagged for any structure."""
    flagged = [slice_flags(p, a, thr, FLAG_EXCLUDE_ENDS, dip).any(1)[ok] for p, a, ok in inputs]
    return float(np.concatenate(flagged).mean())


def flag_thresholds(rows: list[dict], method: str) -> dict:
    """Per structure: a quantile of the predicted slice Dice of acceptable slices (true Dice >= 0.7)
    that can be flagged (within the structure's extent, away from the FLAG_EXCLUDE_ENDS first and
    last segmented slices); the largest common quantile that flags at most FLAG_RATE of the slices
    acceptable for every structure."""
    inputs = _flag_inputs(rows, method)
    p = np.concatenate([x[0] for x in inputs])
    ok = np.concatenate([(x["true_slice"] >= 0.7) for x in rows])
    # where a flag can be raised at all: a score of 0 under a threshold of 1
    can = np.concatenate([slice_flags(np.zeros_like(pr), a, np.ones(pr.shape[1]), FLAG_EXCLUDE_ENDS) for pr, a, _ in inputs])
    for q in FLAG_QUANTILES:
        thr = np.array([np.clip(np.quantile(p[can[:, k] & ok[:, k], k], q), 0.2, 0.8) for k in range(p.shape[1])])
        if _flag_rate(inputs, thr) <= FLAG_RATE:
            break
    return {c: round(float(thr[k]), 3) for k, c in enumerate(valcases.CLASSES)}


def flag_dip(rows: dict, method: str, thresholds: dict) -> float | None:
    """The smallest of DIPS whose dip flags add at most DIP_EXTRA_RATE of acceptable slices
    flagged to the thresholds' own, on the in-domain and on the shifted validation cases."""
    thr = np.array([thresholds[c] for c in valcases.CLASSES])
    inputs = {k: _flag_inputs(rs, method) for k, rs in rows.items()}
    base = {k: _flag_rate(x, thr) for k, x in inputs.items()}
    kept = None
    for dip in DIPS:
        if any(_flag_rate(x, thr, dip) - base[k] > DIP_EXTRA_RATE for k, x in inputs.items()):
            break
        kept = dip
    return kept


def fingerprint(root: Path, files) -> str:
    """sha256 over files' paths (relative to ``root``) and contents: a change invalidates the
    cached validation scores."""
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.relative_to(root)}:{sha256(f)}\n".encode())
    return h.hexdigest()


def zoo_fingerprint(zoo: Path) -> str:
    """The zoo's files: segmenters, their predictions, the split."""
    return fingerprint(zoo, sorted(p for p in zoo.rglob("*") if p.is_file()))


def add_int8(card: dict, out: Path, data: Path, seed: int) -> None:
    """Int8 forms of the slice and error-map networks (``SegmentationQCLib/quantized.py``), their
    activation ranges observed on INT8_CALIBRATION ROIs of the QC set's training split (the error
    map's also on the card's flips of them, which it reads at inference)."""
    from qcset import VALUES
    from train_slice import balanced_p, load, sample_rois

    bank = load(data / "train.npz")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(bank["dice"]), INT8_CALIBRATION, replace=False, p=balanced_p(bank["dice"]))
    x = model_input(*sample_rois(bank, idx, rng, False)[:2], VALUES)
    pack = ModelPack(out, card)
    for name, file, network in (("slice", "slice_qc_int8.pt", pack.load_slice_model),
                                ("errormap", "error_map_int8.pt", pack.load_error_model)):
        if name not in card["models"]:
            continue
        flips = [tuple(f) for f in card["models"][name].get("flips", [])]
        batches = [t for i in range(0, len(x), 32) for t in [x[i:i + 32]] + [torch.flip(x[i:i + 32], f) for f in flips]]
        torch.save(calibrate(network("cpu"), batches).state_dict(), out / file)
        card["models"][name]["int8"] = {
            "file": file, "sha256": sha256(out / file),
            "calibration": f"{INT8_CALIBRATION} Dice-balanced ROIs of the QC set's training split (seed {seed})"
                           + (f" and their flips {card['models'][name]['flips']}" if flips else "")}
        print(f"int8 {name}: {file}", flush=True)


def cases_fingerprint() -> str:
    """The code that makes the validation cases."""
    return fingerprint(HERE, [HERE / f for f in CASE_CODE])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zoo", type=Path, default=RUNS / "zoo")
    ap.add_argument("--out", type=Path, default=BUNDLED)
    ap.add_argument("--data", type=Path, default=RUNS / "qcset", help="the QC set (its training split calibrates int8)")
    ap.add_argument("--reuse-rows", action="store_true",
                    help="take the validation scores from the last run's runs/make_pack_rows.pkl when the weights, search "
                         "settings, zoo and case code are the same "
                         "(to refit calibration, fusion, intervals and thresholds in a minute)")
    ap.add_argument("--fit-on", default="segmenters", choices=["segmenters", "all"],
                    help="validation cases the fused methods' recalibration and the fusion are fitted on: the "
                         "segmenters' outputs, or all in-domain cases (with the synthetic failures; packs up to 1.3.0)")
    ap.add_argument("--slice-run", help="the slice network from training/runs/NAME instead of runs/slice "
                                         "(e.g. slice_gpu, training/README.md)")
    ap.add_argument("--errormap-run", help="the error-map network from training/runs/NAME instead of runs/errormap "
                                            "(e.g. errormap_distil, docs/benchmark.md)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    a.out.mkdir(parents=True, exist_ok=True)
    split = json.loads((a.zoo / "split.json").read_text())
    previous_dir = a.out if (a.out / "card.json").exists() else BUNDLED  # a new folder starts from the bundled pack
    previous = json.loads((previous_dir / "card.json").read_text()) if (previous_dir / "card.json").exists() else {}
    slice_run = RUNS / (a.slice_run or MODELS["slice"][0]) / "config.json"
    seed = json.loads(slice_run.read_text())["seed"] if slice_run.exists() else previous["training"]["seed"]
    runs = {name: run for name, run in (("slice", a.slice_run), ("errormap", a.errormap_run)) if run}
    card = {
        "name": "acdc-cardiac", "version": "1.8.0", "date": datetime.date.today().isoformat(),
        "description": "Segmentation QC for cardiac cine MRI short-axis stacks (LV cavity, LV myocardium, RV cavity).",
        "classes": ["LV", "MYO", "RV"], "label_values": {"LV": 3, "MYO": 2, "RV": 1},
        "preprocessing": {"pixel_mm": 1.5, "roi_size": 128, "upper_percentile": 99.0},
        "models": {}, "tta": False, "default_methods": ["slice"],
        "thresholds": {"fail": 0.7, "review": 0.8, "slice_flag": {"LV": 0.7, "MYO": 0.7, "RV": 0.7}},
        "training": {"data": "ACDC training set (Bernard et al., IEEE TMI 2018), 80 patients, ED and ES. The files "
                             f"store no spacing: the training scripts read every file at {acdc.PIXEL_MM} mm, the "
                             f"validation cases at {acdc.PIXEL_MM} mm or, for grids wider than {acdc.WIDE_GRID} pixels "
                             f"(patient 57), a {acdc.FOV_MM:.0f} mm field of view (acdc.Volume.pixel_mm)",
                     "train_patients": split["train"], "validation_patients": split["val"],
                     "segmenter_folds": split["folds"], "seed": seed,
                     "reproduce": "python training/build_zoo.py && python training/qcset.py && python training/train_slice.py"
                                  " && python training/train_errormap.py --out training/runs/errormap_first"
                                  " && python training/train_errormap.py --init training/runs/errormap_first/best.pt --lr 1e-3"
                                  " --out training/runs/errormap_ft1 && python training/train_errormap.py --init"
                                  " training/runs/errormap_ft1/best.pt --lr 1e-3 --steps 4000 && python training/train_vae.py"
                                  " && python training/train_direct3d.py && python training/make_pack.py"
                                  + ("" if not runs else " (then, on a GPU, training/README.md step 4b, and make_pack.py "
                                     + " ".join([f"--{k}-run {v}" for k, v in runs.items()]
                                                + ([f"--data training/runs/{a.data.name}"] if a.data.resolve() != RUNS / "qcset" else [])) + ")")},
    }
    add_models(card, a.out, previous, previous_dir, runs)
    card.update(anatomy(split["train"]))

    def engine(methods):
        return QCEngine(ModelPack(a.out, card), "cpu", methods)

    def in_domain(e):
        return valcases.score(e, "zoo", a.zoo) + valcases.score(e, "synthetic", a.zoo)

    def option_maes(name: str, options, apply, method: str, error) -> list[float]:
        """The in-domain mean ``error`` of ``method`` with each option of a card setting applied."""
        out = []
        for option in options:
            apply(option)
            out.append(float(np.mean([error(x) for x in in_domain(engine([method]))])))
            print(f"{name} {option}: validation MAE {out[-1]:.4f}", flush=True)
        return out

    methods = [m for m in ("slice", "errormap", "manifold", "direct3d") if m in card["models"]]
    key = {"weights": {m: card["models"][m]["sha256"] for m in methods}, "search": SEARCH, "errormap_flips": ERRORMAP_FLIPS,
           "zoo": zoo_fingerprint(a.zoo),
           "cases": cases_fingerprint()}
    cache = RUNS / "make_pack_rows.pkl"
    saved = pickle.loads(cache.read_bytes()) if a.reuse_rows and cache.exists() else {}
    if saved.get("key") == key:
        print(f"validation rows from {cache} (same weights, zoo and cases)", flush=True)
    else:
        saved = {"key": key, "tta_mae": dict(zip((False, True), option_maes(
            "slice-network flips", (False, True), lambda t: card.update(tta=t), "slice",
            lambda x: np.abs(x["pred_slice"] - x["true_slice"]).mean())))}
    tta_mae = saved["tta_mae"]
    card["tta"] = tta_mae[False] - tta_mae[True] >= TTA_MIN_GAIN
    if "errormap" in card["models"]:
        if "errormap_flips_mae" not in saved:
            saved["errormap_flips_mae"] = option_maes(
                "error-map flips", ([], ERRORMAP_FLIPS), lambda f: card["models"]["errormap"].update(flips=f),
                "errormap", lambda x: np.abs(x["pred_vol"] - x["true_vol"]).mean())
        without, with_flips = saved["errormap_flips_mae"]
        card["models"]["errormap"]["flips"] = ERRORMAP_FLIPS if with_flips < without else []
    add_int8(card, a.out, a.data, seed)
    flips = card["models"].get("errormap", {}).get("flips")
    if "rows" not in saved or saved.get("rows_errormap_flips") != flips:  # scored with the flips decided above
        e = engine(methods)
        saved["rows"] = {"in-domain": in_domain(e), "shifted": valcases.score(e, "shifted", a.zoo)}
        saved["rows_errormap_flips"] = flips
        cache.write_bytes(pickle.dumps(saved))
    rows = saved["rows"]
    presence_crossfit = None
    if "errormap" in methods:  # slices a structure is missing from: is it there? (SegmentationQCLib/presence.py)
        presence_crossfit = evaluate.crossfit_presence(rows["in-domain"])
        print(f"empty slices answered wrongly (most probable label / cross-fitted presence model): {presence_crossfit}",
              flush=True)
        better = [c for c, x in presence_crossfit.items() if x["wrong_crossfit"] < x["wrong_as_scored"]]
        if better:
            card["models"]["errormap"]["presence"] = evaluate.fit_presence(rows["in-domain"], better)
            rows = {k: evaluate.with_presence(rs, card["models"]["errormap"]["presence"]) for k, rs in rows.items()}
    rows = {k: evaluate.with_known_absent(rs, card["always_present"]) for k, rs in rows.items()}
    card["calibration"], gains = {}, {}
    for m in methods:
        on = fit_rows(rows, a.fit_on if m in FUSABLE else "all")
        gains[m] = evaluate.crossfit_calibration_gain(on, m)
        spec = evaluate.fit_calibration(on, m)
        keep = {lvl: spec[lvl] for lvl in spec if gains[m]["calibrated"][lvl] < gains[m]["raw"][lvl]}
        print(f"{m}: cross-fitted MAE {gains[m]}; recalibrating {sorted(keep) or 'nothing'}", flush=True)
        if keep:
            card["calibration"][m] = keep
            rows = {k: evaluate.calibrated(rs, m, keep) for k, rs in rows.items()}
    if len(methods) > 1:
        card["fusion"] = prune_fusion(evaluate.fit_fusion(fit_rows(rows, a.fit_on), [m for m in methods if m in FUSABLE]))
        rows = {k: evaluate.with_fused(rs, card["fusion"]) for k, rs in rows.items()}
        methods.append("fused")
    # as the engine (methods.finish): known-absent structures again after recalibration and fusion
    rows = {k: evaluate.with_known_absent(rs, card["always_present"]) for k, rs in rows.items()}
    scores = {m: {k: evaluate.summary(evaluate.as_method(rs, m)) for k, rs in rows.items()} for m in methods}
    for m, s in scores.items():
        print(m, {k: round(np.mean([v[c]["vol_mae"] for c in valcases.CLASSES]), 4) for k, v in s.items()}, flush=True)
    default = min(methods, key=lambda m: np.mean([np.mean([s[c]["vol_mae"] for c in valcases.CLASSES])
                                                   for s in scores[m].values()]))
    card["default_methods"] = [default]
    with_slices = [m for m in methods if rows["in-domain"][0]["est"][m][0] is not None]
    card["intervals"] = {m: evaluate.fit_intervals(evaluate.as_method(rows["in-domain"], m), 0.9)
                         for m in with_slices if m != default}
    intervals_crossfit = None
    if default in with_slices:  # the default's intervals may be normalised by its two fused methods' disagreement
        between = card["fusion"]["methods"] if default == "fused" else None
        card["intervals"][default], intervals_crossfit = evaluate.choose_intervals(
            evaluate.as_method(rows["in-domain"], default), 0.9, between)
        print(f"intervals of {default}: {intervals_crossfit}", flush=True)
    card["thresholds"]["slice_flag"] = flag_thresholds(rows["in-domain"], default)
    card["thresholds"]["slice_dip"] = flag_dip(rows, default, card["thresholds"]["slice_flag"])
    main_rows = evaluate.apply_intervals(evaluate.as_method(rows["in-domain"], default), card["intervals"][default]) \
        if default in card["intervals"] else evaluate.as_method(rows["in-domain"], default)
    s = evaluate.summary(main_rows)
    summary_shifted = evaluate.summary(evaluate.apply_intervals(evaluate.as_method(rows["shifted"], default),
                                                                card["intervals"][default])) if default in card["intervals"] else {}
    card["validation"] = {
        "cases": s["n_cases"], "slices": s["n_slices"], "default_method": default,
        "per_class": {c: {k: round(v, 4) for k, v in s[c].items()} for c in valcases.CLASSES},
        "interval_coverage_90_crossfit": {lvl: intervals_crossfit[name][lvl] for lvl, name in intervals_crossfit["chosen"].items()}
        if intervals_crossfit else None,
        "interval_options_crossfit": intervals_crossfit,
        "interval_coverage_90_shifted": {lvl: summary_shifted[f"{key}_coverage"] for lvl, key in (("volume", "vol"), ("slice", "slice"))}
        if default in card["intervals"] else None,
        "recalibration_crossfit": gains,
        "presence_crossfit": presence_crossfit,
        "slice_mae_without_with_flips": [round(tta_mae[False], 4), round(tta_mae[True], 4)],
        "errormap_volume_mae_without_with_flips": [round(x, 4) for x in saved.get("errormap_flips_mae", [])],
        "method_volume_mae": {m: {k: round(float(np.mean([v[c]["vol_mae"] for c in valcases.CLASSES])), 4)
                                  for k, v in sc.items()} for m, sc in scores.items()},
        "sources": "validation patients: training-family segmenters (clean and attacked) and synthetic failures; "
                   "shifted: unseen artefacts and pixel sizes",
        "fitted_on": f"recalibration of {' and '.join(FUSABLE)}, and fusion: " + (
            "the training-family segmenters' outputs" if a.fit_on == "segmenters" else "every in-domain case")
            + "; presence model, other methods' recalibration, intervals and flag thresholds: every in-domain case"}
    (a.out / "card.json").write_text(json.dumps(card, indent=1))
    (a.out / "README.md").write_text(model_card_md(card))
    print(json.dumps(card["validation"], indent=1))


def model_card_md(card: dict) -> str:
    v = card["validation"]
    models = "\n".join(f"- `{m}`: `{e['file']}`, sha256 `{e['sha256']}`, arch {e['arch']}, trained {e['trained']}"
                       + (f"; int8 form (`--precision int8`) `{e['int8']['file']}`, sha256 `{e['int8']['sha256']}`, "
                          f"calibrated on {e['int8']['calibration']}" if "int8" in e else "")
                       for m, e in card["models"].items())
    lines = [f"# Model pack `{card['name']}` {card['version']} ({card['date']})", "", card["description"], "",
             "## Training data", f"{card['training']['data']}. Split by patient: "
             f"{len(card['training']['train_patients'])} training, {len(card['training']['validation_patients'])} "
             "validation (never seen by a segmenter or a QC model in training).",
             f"Validation patients: {card['training']['validation_patients']}.", "",
             "## Models", models, "",
             f"Input: a {card['preprocessing']['roi_size']}-pixel ROI at {card['preprocessing']['pixel_mm']} mm "
             f"(image + one channel per structure). Slice-network test-time flips: {card['tta']} (validation slice-Dice MAE "
             f"without / with: {' / '.join(str(x) for x in v['slice_mae_without_with_flips'])}). "
             + (f"Error-map network flips: {card['models']['errormap']['flips']} (validation volume-Dice MAE of the "
                f"error-map method without / with {ERRORMAP_FLIPS}: "
                f"{' / '.join(str(x) for x in v['errormap_volume_mae_without_with_flips'])}). "
                if v.get("errormap_volume_mae_without_with_flips") else "") +
             f"Default method: `{card['default_methods'][0]}`.", "",
             f"## Validation of the default method ({v['cases']} cases, {v['slices']} slices)",
             "| structure | volume-Dice MAE | r | slice-Dice MAE | accuracy at 0.7 |", "|---|---|---|---|---|"]
    for c, m in v["per_class"].items():
        lines.append(f"| {c} | {m['vol_mae']:.3f} | {m['vol_r']:.3f} | {m['slice_mae']:.3f} | {100 * m['acc']:.1f} % |")
    if v.get("fitted_on"):
        lines += ["", f"Fitted on the validation cases: {v['fitted_on']}."]
    lines += ["", "Mean volume-Dice MAE by method (in-domain / shifted): " + "; ".join(
        f"{m} {x['in-domain']:.3f} / {x['shifted']:.3f}" for m, x in v["method_volume_mae"].items())]
    if card.get("always_present"):
        lines += ["", f"Structures the manual labels have in every training volume: {', '.join(card['always_present'])}. "
                      "One segmented on no slice gets volume Dice 0, known rather than estimated, and slice Dice 0 "
                      "wherever another structure is segmented."]
    for pair in card.get("concentric", []):
        a, b = pair["structures"]
        lines += ["", f"In every training volume {a} and {b} are concentric (centroids at most {pair['max_mm']} mm apart, "
                      f"median over the slices) and every other structure lies farther than {labelcheck.SEPARATION:g} "
                      f"times that from both: a case where another structure takes the place of one of them gets a "
                      f"warning that the labels look swapped."]
    pres = v.get("presence_crossfit")
    if pres:
        lines += ["", "Slices a structure is missing from (outside gaps): is it there? Wrong answers with the error "
                      "map's most probable label / with the presence model, cross-fitted over two halves of the "
                      "validation patients: " + "; ".join(
                          f"{c} {x['wrong_as_scored']} / {x['wrong_crossfit']} of {x['empty_slices']}" for c, x in pres.items())
                  + ". The card's `models.errormap.presence` answers for "
                  + (", ".join(c for c in pres if c in card["models"]["errormap"].get("presence", {})) or "no structure")
                  + ", the most probable label for the others."]
    cov = v.get("interval_coverage_90_crossfit")
    if cov:
        ch, opt = v["interval_options_crossfit"]["chosen"], v["interval_options_crossfit"]
        lines += ["", f"Nominal 90 % intervals (volume {ch['volume']}, slice {ch['slice']}), cross-fitted over two halves "
                      f"of the validation patients: volume coverage {100 * cov['volume']:.1f} % (mean width "
                      f"{opt[ch['volume']]['volume_width']:.3f}), slice coverage {100 * cov['slice']:.1f} % (mean width "
                      f"{opt[ch['slice']]['slice_width']:.3f})."]
    cov = v.get("interval_coverage_90_shifted")
    if cov:
        lines += [f"On the shifted-domain validation cases (fitted on all in-domain ones): volume coverage "
                  f"{100 * cov['volume']:.1f} %, slice coverage {100 * cov['slice']:.1f} %."]
    lines += ["", "## Thresholds", f"verdict fail below {card['thresholds']['fail']}, review below "
              f"{card['thresholds']['review']}; slice flag below {card['thresholds']['slice_flag']} "
              f"(a common quantile of the predicted Dice of validation slices whose true Dice is >= 0.7, the largest that "
              f"flags at most {100 * FLAG_RATE:g} % of the slices acceptable for every structure; the "
              f"{FLAG_EXCLUDE_ENDS} first and last segmented slices of each stack and slices beyond a structure's "
              f"extent left out)" + (f", or more than {card['thresholds']['slice_dip']} below both neighbouring slices (the "
                                     f"smallest of {', '.join(map(str, DIPS))} that adds at most {100 * DIP_EXTRA_RATE:g} % of "
                                     f"acceptable slices flagged, in-domain and shifted)" if card["thresholds"].get("slice_dip") else "")
              + ".", "",
              "## Reproduce", f"`{card['training']['reproduce']}` (seed {card['training']['seed']}).", "",
              "Cite Bernard et al., IEEE TMI 37(11), 2018 for the ACDC data."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

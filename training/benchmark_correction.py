"""Fournel et al. 2021, Table 7, on the validation patients: one bad mid-ventricular slice.

    python training/benchmark_correction.py [--pack acdc-cardiac] [--exclude-ends 1] [--thresholds LV=0.4,MYO=0.4,RV=0.2]
                                            [--perfect-flags] [--repeats 3] [--split validation|training]
                                            [--realign 0.7[,0,0.6,...]] [--no-image-sizes] [--no-verify]

For each validation volume, a good segmentation (the best training-family segmenter's clean
output when every structure's Dice is >= 0.8, else the manual labels with a second rater's
jitter) gets one mid-ventricular slice replaced by a wrong one (a slice from another level, an
in-plane shift, an erased slice, or LV/RV swapped), in ``--repeats`` copies with their own
slice and damage. ``--split training`` damages the training patients' volumes instead, to tune
the repair (``--realign``: the agreement a flagged slice needs to keep its own realigned outline;
several values print a sweep) away from the validation patients. Printed per structure: 3D Dice
and relative volume error (RVE) without damage, with damage, after measurement-level correction
(areas of flagged slices from their neighbours, the paper's) and after mask-level correction (the
rebuilt slices of ``segqc correct``, whose volumes are its corrected measurements; sized from the
neighbours and the image, or from the neighbours only with ``--no-image-sizes``; a rebuilt slice the
engine does not score above the original put back, unless ``--no-verify``), and the ratio of corrected to undamaged RVE with a 95 % bootstrap interval over
the patients; the Dice of rebuilt slices; how
often the damaged slice was flagged, and how often slices of the undamaged segmentation were:
all of them, and those whose true Dice is >= 0.7 (an undamaged slice of a segmenter's output
can be truly bad, and then a flag is right); what the repair does to the undamaged
segmentations themselves (their RVE repaired on their own flags against as they are); and the
LV and RV ejection fractions' errors, undamaged and damaged, before and after the repair (the
corrected segmentations' volumes).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

import acdc
import failures
import valcases

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from SegmentationQCLib import metrics  # noqa: E402
from SegmentationQCLib.case import case_from_arrays  # noqa: E402
from SegmentationQCLib.correction import (REALIGN_AGREE, correct, corrected_structure_areas,  # noqa: E402
                                         realigned_for, repairs)
from SegmentationQCLib.qc import QCEngine  # noqa: E402

VALUES = valcases.VALUES
DAMAGES = ("other level", "shift", "erased", "LV/RV swap")


def good_segmentation(v, zoo: Path, rng) -> tuple[np.ndarray, str]:
    best, name = None, None
    for f in sorted((zoo / "preds").glob("u*_it*.npz")):
        z = np.load(f)
        k = f"{v.key}|clean"
        if k in z.files:
            d = metrics.volume_dice(z[k], v.label, VALUES)
            if d.min() >= 0.8 and (best is None or d.mean() > best[0]):
                best, name = (d.mean(), z[k]), f.stem
    if best is not None:
        return best[1], name
    return failures.jitter(v.label, rng, amplitude=1.0), "jittered labels"


def damage_mid_slice(seg: np.ndarray, rng) -> tuple[np.ndarray, int, str]:
    lv = [s for s in range(seg.shape[0]) if (seg[s] == 3).any()]
    mid = lv[len(lv) // 3: max(len(lv) // 3 + 1, 2 * len(lv) // 3)]
    i = int(rng.choice(mid))
    kind = DAMAGES[int(rng.integers(len(DAMAGES)))]
    out = seg.copy()
    if kind == "other level":
        j = min(lv[-1], i + 3) if i + 3 <= lv[-1] else max(lv[0], i - 3)
        out[i] = seg[j]
    elif kind == "shift":
        a = rng.uniform(0, 2 * np.pi)
        out[i] = ndimage.shift(seg[i], rng.uniform(10, 20) * np.array([np.cos(a), np.sin(a)]), order=0)
    elif kind == "erased":
        out[i] = 0
    else:
        out[i][seg[i] == 1], out[i][seg[i] == 3] = 3, 1
    return out, i, kind


def ratio_interval(rows: list[dict], column: int, n: int = 2000, seed: int = 0) -> np.ndarray:
    """(K, 2) 95 % bootstrap interval (patients resampled) of mean RVE ``column`` / mean RVE without damage."""
    rng = np.random.default_rng(seed)
    patients = sorted({r["patient"] for r in rows})
    by = {p: np.array([[r["rve"][0], r["rve"][column]] for r in rows if r["patient"] == p]) for p in patients}
    ratios = []
    for _ in range(n):
        e = np.concatenate([by[p] for p in rng.choice(patients, len(patients))])  # (copies, 2, K)
        ratios.append(np.nanmean(e[:, 1], 0) / np.nanmean(e[:, 0], 0))
    return np.percentile(ratios, [2.5, 97.5], axis=0).T


def ejection_line(ef_areas: dict) -> str:
    """Mean |error| of the LV and RV ejection fractions (percentage points) over the patients with
    both frames: as segmented, repaired, damaged and damaged then repaired (the ED and ES copies
    paired in order, so each pair has one damaged slice in each frame)."""
    ks = [valcases.CLASSES.index(c) for c in ("LV", "RV")]

    def ef(ed, es):
        return 100 * (ed[ks] - es[ks]) / ed[ks]

    errors = {}
    for p in sorted({p for p, _ in ef_areas}):
        if (p, "ED") not in ef_areas or (p, "ES") not in ef_areas:
            continue
        ed, es = ef_areas[(p, "ED")], ef_areas[(p, "ES")]
        truth = ef(ed["truth"], es["truth"])
        for kind in ("undamaged", "undamaged, repaired", "damaged", "damaged, repaired"):
            pairs = zip(ed[kind], es[kind]) if kind.startswith("damaged") else [(ed[kind], es[kind])]
            errors.setdefault(kind, []).extend(np.abs(ef(a, b) - truth) for a, b in pairs)
    n = len({p for p, _ in ef_areas if (p, "ED") in ef_areas and (p, "ES") in ef_areas})
    return (f"Ejection fraction, mean |error| in percentage points, LV / RV ({n} patients; a damaged copy has one "
            "slice damaged in each of ED and ES): " + "; ".join(
                f"{kind} {' / '.join(f'{x:.2f}' for x in np.mean(e, 0))}" for kind, e in errors.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", default=None)
    ap.add_argument("--zoo", type=Path, default=Path(__file__).parent / "runs" / "zoo")
    ap.add_argument("--exclude-ends", type=int, default=1)
    ap.add_argument("--flag-on", default="dice", choices=["dice", "upper"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3, help="damaged copies per volume (another slice and damage each)")
    ap.add_argument("--thresholds", metavar="LV=T,MYO=T,RV=T", help="slice-flag thresholds instead of the card's")
    ap.add_argument("--realign", default=None, metavar="DICE[,DICE...]",
                    help="realignment agreement instead of the engine's default (0: interpolate every slice); "
                         "several values: the table uses the first, and a sweep over all of them follows")
    ap.add_argument("--split", default="validation", choices=["validation", "training"],
                    help="the patients whose volumes are damaged (training: to tune the repair away from validation)")
    ap.add_argument("--no-image-sizes", action="store_true",
                    help="rebuild at the neighbours' interpolated areas only")
    ap.add_argument("--no-verify", action="store_true",
                    help="keep every rebuilt slice, also where the engine does not score it above the original")
    ap.add_argument("--perfect-flags", action="store_true",
                    help="flag exactly the damaged slice (every structure): what the repair itself can do")
    a = ap.parse_args()
    torch.set_num_threads(2)
    engine = QCEngine(a.pack, "cpu")
    if a.thresholds:
        engine.pack.card["thresholds"]["slice_flag"] = {k: float(v) for k, v in
                                                        (x.split("=") for x in a.thresholds.split(","))}
    rng = np.random.default_rng(a.seed)
    train, val = acdc.split(seed=a.seed)
    rows, undamaged = [], []  # undamaged: per volume, RVE as it is and repaired (each realign agreement)
    ef_areas = {}  # (patient, phase) -> structure volumes (pixels): truth, undamaged, repaired, damaged copies
    def fixed(case, res, t):
        return correct(case, res, realign_agree=t, engine=engine, sizes_from_image=not a.no_image_sizes,
                       verify=not a.no_verify)
    sweep = [REALIGN_AGREE] if a.realign is None else [float(x) or None for x in a.realign.split(",")]
    for p in (val if a.split == "validation" else train):
        for v in acdc.load_patient(p):
            good, source = good_segmentation(v, a.zoo, rng)
            spacing = (valcases.SLICE_MM, v.pixel_mm, v.pixel_mm)
            good_case = case_from_arrays(v.image, good, spacing)
            res_good = engine.check(good_case, a.flag_on, a.exclude_ends)
            true_area = metrics.slice_areas(v.label, VALUES).sum(0)
            good_dice = metrics.volume_dice(good, v.label, VALUES)
            good_area = metrics.slice_areas(good, VALUES).sum(0)
            good_rve = np.abs(good_area - true_area) / true_area
            repaired = [fixed(good_case, res_good, t).areas.sum(0) for t in sweep]
            undamaged.append([good_rve] + [np.abs(x - true_area) / true_area for x in repaired])
            frame = ef_areas[(p, v.phase)] = {"truth": true_area, "undamaged": good_area,
                                              "undamaged, repaired": repaired[0], "damaged": [], "damaged, repaired": []}
            good_ok = metrics.slice_dice(good, v.label, VALUES) >= 0.7  # (S, K) its acceptable slices
            for _ in range(a.repeats):
                bad, i, kind = damage_mid_slice(good, rng)
                case = case_from_arrays(v.image, bad, spacing)
                res = engine.check(case, a.flag_on, a.exclude_ends)
                if a.perfect_flags:
                    res.flags[:] = False
                    res.flags[i] = True
                fixes = [fixed(case, res, t) for t in sweep]
                fix = fixes[0]
                meas = fix.neighbour_areas.sum(0)
                bad_area = metrics.slice_areas(bad, VALUES).sum(0)
                frame["damaged"].append(bad_area)
                frame["damaged, repaired"].append(fix.areas.sum(0))
                # where the measurement error comes from
                only_damaged, others = np.zeros_like(res.flags), res.flags.copy()
                only_damaged[i], others[i] = res.flags[i], True
                split = [np.abs(corrected_structure_areas(res.seg_area, repairs(r), res.classes, realigned=realigned_for(
                    case, r, agree=sweep[0])).sum(0) - true_area) / true_area
                         for r in (dataclasses.replace(res, flags=f) for f in (only_damaged, others))]
                other = np.ones(len(good), bool)
                other[i] = False
                ok = good_ok.copy()
                ok[i] = False
                rows.append({
                    "kind": kind, "source": source, "patient": p,
                    "dice": [good_dice] + [metrics.volume_dice(s, v.label, VALUES) for s in (bad, fix.labels)],
                    "rve": [good_rve] + [np.abs(areas - true_area) / true_area for areas in (
                        bad_area, fix.areas.sum(0), meas)],
                    "rve_split": split,
                    "sweep": [[np.abs(areas - true_area) / true_area for areas in
                               (f.neighbour_areas.sum(0), f.areas.sum(0))] for f in fixes],
                    "slice_dice_fixed": metrics.slice_dice(fix.labels[i:i + 1], v.label[i:i + 1], VALUES)[0],
                    "slice_dice_bad": metrics.slice_dice(bad[i:i + 1], v.label[i:i + 1], VALUES)[0],
                    "slice_dice_good": metrics.slice_dice(good[i:i + 1], v.label[i:i + 1], VALUES)[0],
                    "flag_bad": res.flags[i], "flag_bad_any": res.flags[i].any(),
                    "flag_good": res_good.flags[other].mean(0), "flag_good_any": res_good.flags[other].any(1).mean(),
                    "false_flags": (res_good.flags & ok).sum(0), "ok": ok.sum(0),
                    "false_any": (res_good.flags.any(1) & ok.all(1)).sum(), "ok_any": ok.all(1).sum()})
    print(f"# One wrong mid-ventricular slice, {len(rows)} damaged copies of {len(rows) // a.repeats} {a.split} volumes "
          f"(realign {sweep[0]}, exclude_ends={a.exclude_ends}, flag_on={a.flag_on}, verify={not a.no_verify}, {'perfect flags' if a.perfect_flags else 'thresholds'} "
          f"{engine.pack.card['thresholds']['slice_flag']}, dip {engine.pack.card['thresholds'].get('slice_dip')}); damages: "
          + ", ".join(f"{k} {sum(r['kind'] == k for r in rows)}" for k in DAMAGES) + "\n")
    print("| structure | Dice no damage | Dice damaged | Dice corrected (mask) | RVE no damage | RVE damaged "
          "| RVE corrected (measurement) | RVE corrected (mask) | rebuilt-slice Dice (damaged → rebuilt) "
          "| damaged slice flagged (where this structure lost > 0.1 Dice) | undamaged slices flagged "
          "| acceptable slices (true Dice >= 0.7) flagged |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for k, c in enumerate(valcases.CLASSES):
        d = np.array([[x[k] for x in r["dice"]] for r in rows])
        e = np.array([[x[k] for x in r["rve"]] for r in rows])
        sb = np.mean([r["slice_dice_bad"][k] for r in rows])
        sf = np.mean([r["slice_dice_fixed"][k] for r in rows])
        hurt = [r for r in rows if r["slice_dice_bad"][k] < r["slice_dice_good"][k] - 0.1]  # structure really damaged
        fb = np.mean([r["flag_bad"][k] for r in hurt]) if hurt else float("nan")
        fg = np.mean([r["flag_good"][k] for r in rows])
        ff = sum(r["false_flags"][k] for r in rows) / max(sum(r["ok"][k] for r in rows), 1)
        print(f"| {c} | {d[:, 0].mean():.3f} | {d[:, 1].mean():.3f} | {d[:, 2].mean():.3f} | {np.nanmean(e[:, 0]):.3f} "
              f"| {np.nanmean(e[:, 1]):.3f} | {np.nanmean(e[:, 3]):.3f} | {np.nanmean(e[:, 2]):.3f} | {sb:.2f} → {sf:.2f} "
              f"| {100 * fb:.0f} % | {100 * fg:.1f} % | {100 * ff:.1f} % |")
    none = np.nanmean([r["rve"][0] for r in rows], 0)
    print()
    for column, level in ((3, "measurement"), (2, "mask")):
        ci = ratio_interval(rows, column)
        print(f"RVE corrected ({level}) / RVE no damage, with its 95 % bootstrap interval over the "
              f"{len({r['patient'] for r in rows})} patients: " + "; ".join(
                  f"{c} {np.nanmean([r['rve'][column][k] for r in rows]) / none[k]:.3f} [{lo:.2f}, {hi:.2f}]"
                  for k, (c, (lo, hi)) in enumerate(zip(valcases.CLASSES, ci))))
    if not a.perfect_flags:
        split = np.array([r["rve_split"] for r in rows])  # (volumes, 2, K)
        print("\nRVE corrected (measurement) with the flags split, "
              + "; ".join(f"{c} {np.nanmean(split[:, 0, k]):.3f} / {np.nanmean(split[:, 1, k]):.3f}"
                          for k, c in enumerate(valcases.CLASSES))
              + " (the damaged slice's own flags only / the damaged slice flagged exactly, other flags kept)")
    print("\nRVE corrected (measurement / mask) by damage: " + "; ".join(
        f"{kind} " + ", ".join(f"{c} {np.nanmean([r['rve'][3][k] for r in rows if r['kind'] == kind]):.3f} / "
                                f"{np.nanmean([r['rve'][2][k] for r in rows if r['kind'] == kind]):.3f}"
                                for k, c in enumerate(valcases.CLASSES)) for kind in DAMAGES))
    u = np.nanmean(np.array(undamaged), 0)  # (1 + len(sweep), K)
    print("\nThe repair run on the undamaged segmentations (its own flags; the corrected segmentation), RVE LV / MYO / RV: "
          + "; ".join(f"realign {t or 'none'} {' / '.join(f'{x:.3f}' for x in u[j + 1])} "
                      f"({' / '.join(f'{x:.2f}' for x in u[j + 1] / u[0])} × not repaired)" for j, t in enumerate(sweep)))
    print("\n" + ejection_line(ef_areas))
    if len(sweep) > 1:
        print("\n| realign agreement | RVE corrected (measurement) LV / MYO / RV | × no damage "
              "| RVE corrected (mask) | × no damage |\n|---|---|---|---|---|")
        for j, t in enumerate(sweep):
            m, k = (np.nanmean([r["sweep"][j][x] for r in rows], 0) for x in (0, 1))
            print(f"| {t or 'none'} | " + " | ".join(" / ".join(f"{v:.{n}f}" for v in w) for w, n in
                                                     ((m, 3), (m / none, 2), (k, 3), (k / none, 2))) + " |")
    print(f"\nDamaged slice flagged for at least one structure: {100 * np.mean([r['flag_bad_any'] for r in rows]):.1f} %; "
          f"undamaged slices flagged for at least one structure: {100 * np.mean([r['flag_good_any'] for r in rows]):.1f} %; "
          f"slices acceptable for every structure flagged: "
          f"{100 * sum(r['false_any'] for r in rows) / max(sum(r['ok_any'] for r in rows), 1):.1f} %")


if __name__ == "__main__":
    main()

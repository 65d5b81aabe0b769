"""Volume-Dice MAE of every method by kind of validation case, from make_pack's cached scores.

    python training/breakdown.py [--by kind|patient] [--signed] [--qi] [--empty] [--worst N]
                                 [--rows training/runs/make_pack_rows.pkl] [--pack acdc-cardiac]

Takes the estimates that ``make_pack.py`` scored on all validation cases, recalibrates and
fuses them as the pack's card says (what the engine reports), and prints one table: the
training-family segmenters on clean and on attacked images (by attack), the synthetic cases
(manual labels, jittered manual labels, and damage by its first kind) and the shifted domain;
or, ``--by patient``, one row per validation patient (all sources). It answers "where is a
method weak" without rescoring anything (run make_pack.py first). ``--signed``: the mean
predicted minus true volume Dice instead of the MAE (over- or under-prediction). ``--qi`` prints instead the
error map's QI–accuracy Pearson r of each source with the spreads that set it, and the same r
with one kind of case left out at a time: which cases cost the r. ``--empty`` prints the slices
a structure is missing from (their share of the slice-Dice error, and how often the structure's
presence is answered wrongly, with the error map's most probable label and as reported).
``--worst N`` lists, per source and structure, the N cases the default's volume Dice misses most.
"""
from __future__ import annotations

import argparse
import pickle
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

import acdc
import evaluate
import valcases
from SegmentationQCLib import presence
from SegmentationQCLib.errors import InputError
from SegmentationQCLib.methods import finish
from SegmentationQCLib.pack import load_pack


def group(row: dict) -> str:
    """The row's kind: source plus attack or first damage."""
    tag = row["name"].split("|")
    if row["source"] == "zoo":
        return f"segmenters, {tag[-1]} images"
    if row["source"] == "synthetic":
        first = re.sub(r"#\d+$", "", tag[1]).split("+")[0]
        return "synthetic, " + {"truth": "manual labels (true Dice 1)"}.get(first, "jittered manual labels"
                                                                          if first.startswith("jitter") else first)
    return row["source"]


def as_reported(rows: list[dict], card: dict) -> list[dict]:
    """Rows with the card's presence model applied, then the engine's steps after scoring
    (``methods.finish``: recalibration, the fused estimate, known-absent structures)."""
    model = card["models"].get("errormap", {}).get("presence")
    if model:
        rows = evaluate.with_presence(rows, model)
    return [dict(r, est=finish(r["est"], card, list(valcases.CLASSES), r["seg_area"])[0]) for r in rows]


def grouped(items: list, key=lambda r: r["source"]) -> list[tuple[str, list]]:
    """``items`` grouped by ``key`` (default: the row's source), keys sorted."""
    groups = defaultdict(list)
    for x in items:
        groups[key(x)].append(x)
    return sorted(groups.items())


def table(rows: list[dict], by=group, signed: bool = False) -> str:
    """Per group of rows and method: the volume-Dice MAE (``signed``: mean predicted - true)."""
    methods = list(rows[0]["est"])
    err = (lambda d: d) if signed else np.abs
    out = ["| cases | n | " + " | ".join(f"{m} LV / MYO / RV" for m in methods) + " |",
           "|---|---|" + "---|" * len(methods)]
    for g, rs in grouped(rows, by):
        cells = [" / ".join(f"{e:.3f}" for e in np.mean([err(r["est"][m][1] - r["true_vol"]) for r in rs], 0))
                 for m in methods]
        out.append(f"| {g} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def worst_table(rows: list[dict], method: str, n: int) -> str:
    """Per source and structure: the ``n`` cases whose ``method`` volume Dice is furthest from the truth."""
    out = ["| source | structure | case | predicted | true |", "|---|---|---|---|---|"]
    for src, rs in grouped(rows):
        for k, c in enumerate(valcases.CLASSES):
            for r in sorted(rs, key=lambda r: -abs(r["est"][method][1][k] - r["true_vol"][k]))[:n]:
                out.append(f"| {src} | {c} | {r['name']} | {r['est'][method][1][k]:.3f} | {r['true_vol'][k]:.3f} |")
    return "\n".join(out)


def qi_r(rows: list[dict]) -> float:
    return float(np.corrcoef([1 - r["qi"] for r in rows], [r["accuracy"] for r in rows])[0, 1])


def qi_table(rows: list[dict]) -> str:
    """Per source: the QI–accuracy r, the spread of the true accuracy and of its residual about a
    line fitted on 1 - QI (r = sqrt(1 - (residual SD / accuracy SD)^2)); then r with each kind of
    case left out in turn."""
    sources = grouped([r for r in rows if "qi" in r])
    out = ["| source | n | r (1 - QI, accuracy) | accuracy SD | residual SD |", "|---|---|---|---|---|"]
    for src, rs in sources:
        q, acc = 1 - np.array([r["qi"] for r in rs]), np.array([r["accuracy"] for r in rs])
        res = acc - np.polyval(np.polyfit(q, acc, 1), q)
        out.append(f"| {src} | {len(rs)} | {qi_r(rs):.3f} | {acc.std():.4f} | {res.std():.4f} |")
    out += ["", "| source | kind left out | n | r without it |", "|---|---|---|---|"]
    for src, rs in sources:
        kinds = sorted({group(r) for r in rs})
        for k in kinds if len(kinds) > 1 else []:
            rest = [r for r in rs if group(r) != k]
            out.append(f"| {src} | {k} | {len(rs) - len(rest)} | {qi_r(rest):.3f} |")
    return "\n".join(out)


def empty_table(scored: list[dict], reported: list[dict], method: str) -> str:
    """Per source and structure: the slices a structure is missing from (outside gaps), the share
    of ``method``'s slice-Dice error they carry, and how many the error-map estimate answers
    wrongly (present or not) with its most probable label (as scored) and as reported."""
    out = ["| source | structure | slices missing it | share of the slice-Dice error | wrong: most probable label "
           "| wrong: as reported |", "|---|---|---|---|---|---|"]
    for src, pairs in grouped(list(zip(scored, reported)), lambda pair: pair[0]["source"]):
        true = np.concatenate([a["true_slice"] for a, _ in pairs])
        empty = np.concatenate([presence.missing(a["seg_area"]) for a, _ in pairs])
        err = np.abs(np.concatenate([b["est"][method][0] for _, b in pairs]) - true)
        wrong = [np.abs(np.concatenate([x["est"]["errormap"][0] for x in xs]) - true) > 0.5
                 for xs in ([a for a, _ in pairs], [b for _, b in pairs])]
        for k, c in enumerate(valcases.CLASSES):
            m = empty[:, k]
            out.append(f"| {src} | {c} | {m.sum()} | {100 * err[m, k].sum() / err[:, k].sum():.0f} % "
                       f"| {wrong[0][m, k].sum()} | {wrong[1][m, k].sum()} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=Path, default=Path(__file__).parent / "runs" / "make_pack_rows.pkl")
    ap.add_argument("--pack", default=None, help="the pack whose calibration and fusion to apply (default: the bundled one)")
    ap.add_argument("--by", choices=("kind", "patient"), default="kind")
    ap.add_argument("--signed", action="store_true", help="mean predicted - true volume Dice instead of the MAE")
    ap.add_argument("--worst", type=int, metavar="N", help="the N cases per source and structure the default misses most")
    ap.add_argument("--qi", action="store_true",
                    help="the QI–accuracy r by source, one kind of case left out at a time")
    ap.add_argument("--empty", action="store_true",
                    help="slices a structure is missing from: their share of the slice-Dice error, wrong answers")
    a = ap.parse_args()
    try:
        card = load_pack(a.pack).card
    except InputError as e:
        raise SystemExit(f"breakdown: {e}") from None
    if not a.rows.exists():
        raise SystemExit(f"{a.rows} not found: run make_pack.py first")
    cached = pickle.loads(a.rows.read_bytes())
    scored = [r for rs in cached["rows"].values() for r in rs]
    rows = as_reported(scored, card)
    if a.empty:
        print(empty_table(scored, rows, card["default_methods"][0]))
    elif a.worst:
        print(worst_table(rows, card["default_methods"][0], a.worst))
    elif a.qi:
        print(qi_table(rows))
    else:
        print(table(rows, group if a.by == "kind" else lambda r: f"patient {acdc.patient_of(r['name']):03d}", a.signed))


if __name__ == "__main__":
    main()

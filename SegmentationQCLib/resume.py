"""``segqc batch --resume``: what a previous run into the same folder scored and may be kept.

Every batch writes ``OUT_DIR/batch.json``: its settings (model pack, methods, precision, labels,
flagging) and, per case, a fingerprint of its inputs (paths, sizes and modification times of the
image, segmentation and reference, and the frame). A resumed batch keeps a case's results.csv
row when the previous run scored it ``ok`` with the same settings and the same fingerprint and
its ``cases/<case>.json`` is there; every other case is scored again.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

STATE = "batch.json"


def batch_settings(engine, class_values: dict | None, flagging: dict) -> dict:
    """What a batch's results depend on besides its inputs: the model pack (its card's sha256
    covers the weights and calibration), methods, precision, labels and flagging."""
    return {"pack": f"{engine.pack.name} {engine.pack.version}",
            "card_sha256": hashlib.sha256((engine.pack.path / "card.json").read_bytes()).hexdigest(),
            "methods": engine.methods, "precision": engine.precision, "labels": class_values, **flagging}


def fingerprint(row: dict) -> str:
    """The row's inputs as they are on disk now: any change of path, size, time or frame changes it."""
    parts = []
    for col in ("image", "segmentation", "reference"):
        path = row.get(col) or ""
        try:
            st = os.stat(path) if path else None
        except OSError:
            st = None
        parts += [path, f"{st.st_size}:{st.st_mtime_ns}" if st else ""]
    parts.append((row.get("frame") or "").strip())
    return hashlib.sha1("\0".join(parts).encode()).hexdigest()[:16]


def fingerprints(rows: list[dict]) -> dict[str, str]:
    return {r["case"]: fingerprint(r) for r in rows}


def save_state(out_dir: Path, settings: dict, inputs: dict[str, str]) -> None:
    """``batch.json``: the settings and the cases' ``fingerprints``."""
    (out_dir / STATE).write_text(json.dumps({"settings": settings, "inputs": inputs}))


def kept_rows(out_dir: Path, settings: dict, inputs: dict[str, str], case_file) -> tuple[dict, str]:
    """(case -> the previous run's results.csv row to keep, a sentence saying what was kept and why
    not more). ``inputs``: the cases' ``fingerprints`` now; ``case_file(case)``: the path of the
    case's report."""
    state, results = out_dir / STATE, out_dir / "results.csv"
    if not (state.exists() and results.exists()):
        return {}, f"nothing to resume in {out_dir} (no {STATE} and results.csv): scoring every case"
    try:
        old = json.loads(state.read_text())
        with open(results, newline="") as f:
            previous = list(csv.DictReader(f))
    except (OSError, ValueError, csv.Error) as e:
        return {}, f"cannot read the previous run in {out_dir} ({e}): scoring every case"
    if old.get("settings") != settings:
        return {}, f"the previous run in {out_dir} used other settings ({_differences(old.get('settings'), settings)}): " \
                   "scoring every case"
    kept = {r["case"]: r for r in previous
            if r.get("status") == "ok" and None not in r.values()  # a whole row, not one cut by a stop
            and r.get("case") in inputs and old.get("inputs", {}).get(r["case"]) == inputs[r["case"]]
            and case_file(r["case"]).exists()}
    return kept, f"kept {len(kept)} of {len(inputs)} cases scored by the previous run in {out_dir}"


def _differences(old, new: dict) -> str:
    if not isinstance(old, dict):
        return "none recorded"
    return ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k))

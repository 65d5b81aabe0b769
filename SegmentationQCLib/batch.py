"""``segqc batch``: every case of a manifest, each failure recorded, the batch going on.

``check_one`` scores one manifest row, ``check_rows`` several in turn; ``--scheduler`` runs
them as Dask tasks (``distributed.py``).
"""
from __future__ import annotations

import csv
import sys
import time
from collections import Counter
from pathlib import Path

from .case import case_from_images, file_labels, parse_labels, read_case
from .errors import InputError
from .files import read_image
from .qc import QCEngine
from .report import check_output_folder, csv_columns, csv_row, to_report, true_volume_dice, write_json
from .resume import batch_settings, fingerprints, kept_rows, save_state

REQUIRED = ("case", "image", "segmentation")
GROUP_MAX = 64  # rows in one cluster task at most (``file_groups``)


def read_manifest(path: Path) -> list[dict]:
    """The manifest's rows, paths made absolute. Comma-, semicolon- or tab-separated, with or
    without a byte-order mark (as spreadsheets save CSV); a row without a case name is named
    ``rowN`` (N: its place among the rows, from 1)."""
    if not path.exists():
        raise InputError(f"manifest not found: {path}")
    if path.is_dir():
        raise InputError(f"the manifest {path} is a folder; give a CSV file with the columns case,image,segmentation")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            start, head = 0, f.readline()
            while head and not head.strip():  # blank lines above the header
                start, head = f.tell(), f.readline()
            f.seek(start)
            reader = csv.DictReader(f, delimiter=max(",;\t", key=head.count))
            rows, fields = list(reader), reader.fieldnames or []
    except UnicodeDecodeError:
        raise InputError(f"manifest {path.name} is not a text (UTF-8) CSV file") from None
    if not head.strip():
        raise InputError(f"manifest {path.name} is empty; give a CSV file with the columns case,image,segmentation")
    missing = [c for c in REQUIRED if c not in fields]
    if missing:
        raise InputError(f"manifest {path.name} needs the columns case,image,segmentation "
                         f"(missing: {', '.join(missing)})")
    if not rows:
        raise InputError(f"manifest {path.name} lists no cases")
    for i, r in enumerate(rows, 1):
        r["case"] = (r["case"] or "").strip() or f"row{i}"
    dup = sorted(n for n, k in Counter(r["case"] for r in rows).items() if k > 1)
    if dup:
        raise InputError(f"manifest {path.name} repeats case names: {', '.join(dup[:5])}")
    by_file: dict[str, list[str]] = {}
    for r in rows:  # cases/<case>.json: one file per case, also where case does not count
        by_file.setdefault(_safe(r["case"]).lower(), []).append(r["case"])
    clash = next((names for names in by_file.values() if len(names) > 1), None)
    if clash:
        raise InputError(f"manifest {path.name}: the case names {', '.join(map(repr, clash))} give one file name "
                         f"(cases/{_safe(clash[0])}.json); rename all but one")
    base = path.parent
    for r in rows:
        for col in ("image", "segmentation", "reference"):
            if r.get(col):
                p = Path(r[col])
                r[col] = str(p if p.is_absolute() else base / p)
    return rows


def check_one(row: dict, engine: QCEngine, class_values: dict | None, out_dir: Path, files: dict | None = None,
              **flagging) -> dict:
    """Score one manifest row; returns its results.csv row (status ok or error). ``class_values``:
    ``--labels``, or None for each file's own (``file_labels``). ``files``: files read so far
    (``case.read_case``). ``flagging``: ``flag_on`` and ``exclude_ends`` as in ``QCEngine.check``."""
    try:
        empty = [c for c in REQUIRED[1:] if not (row.get(c) or "").strip()]
        if empty:
            raise InputError(f"the manifest row gives no {' and no '.join(empty)}")
        frame = _frame(row.get("frame"))
        case = read_case(row["image"], row["segmentation"], class_values, name=row["case"], frame=frame, files=files)
        rep = to_report(engine.check(case, **flagging), row["image"], row["segmentation"])
        true = None
        if row.get("reference"):
            ref_img, _ = read_image(row["reference"], "reference", frame, files)
            ref_values = class_values or file_labels(ref_img, Path(row["reference"]))[0]
            ref = case_from_images(case.reference, ref_img, Path(row["image"]), Path(row["reference"]),
                                   ref_values, row["case"], [])
            true = true_volume_dice(case, ref, engine.pack.classes)
            rep["reference"] = {"path": row["reference"], "dice": {c: round(float(v), 4) for c, v in true.items()}}
        write_json(rep, out_dir / "cases" / f"{_safe(row['case'])}.json")
        return csv_row(rep, true)
    except InputError as e:
        return {"case": row["case"], "status": "error", "message": str(e)}
    except Exception as e:  # a batch survives its bad cases
        return {"case": row["case"], "status": "error", "message": f"unexpected {type(e).__name__}: {e}"}


def _frame(text: str | None) -> int | None:
    """A manifest's optional ``frame`` cell: empty, or a whole number."""
    if not (text or "").strip():
        return None
    try:
        return int(text)
    except ValueError:
        raise InputError(f"the frame column holds {text!r}; give a frame number (0, 1, ...) or leave it empty") from None


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "case"


def run_batch(manifest: Path, out_dir: Path, labels: str | None = None, pack=None, device=None,
              flag_on: str = "dice", exclude_ends: int = 0, methods=None, scheduler: str | None = None,
              precision: str = "float32", resume: bool = False) -> int:
    """Check every manifest row here, or as tasks on a Dask cluster when ``scheduler`` is given
    (see ``distributed.connect``; rows of results.csv then come in the order cases finish).
    ``resume``: keep what a previous run into ``out_dir`` scored (``resume.kept_rows``)."""
    check_output_folder(out_dir)
    rows = read_manifest(manifest)
    class_values = parse_labels(labels)
    engine = QCEngine(pack, device, methods, precision)  # validates the pack and methods before any work starts
    inputs = {Path(r[c]).resolve() for r in rows for c in ("image", "segmentation", "reference") if r.get(c)}
    results_path = out_dir / "results.csv"
    if results_path.resolve() in inputs:
        raise InputError(f"{results_path} is one of the inputs; choose another output folder")
    if results_path.exists() and not resume:
        raise InputError(f"{out_dir} already holds a batch's results.csv; give --resume to keep what it scored and "
                         "check the rest, or choose another output folder")
    flagging = {"flag_on": flag_on, "exclude_ends": exclude_ends}
    client = None
    if scheduler:
        from .distributed import connect, map_rows

        client = connect(scheduler)  # before any output is made: a wrong address leaves nothing behind
    settings, prints = batch_settings(engine, class_values, flagging), fingerprints(rows)
    kept: dict = {}
    if resume:
        kept, said = kept_rows(out_dir, settings, prints, lambda case: out_dir / "cases" / f"{_safe(case)}.json")
        print(said, file=sys.stderr)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_state(out_dir, settings, prints)
    kept_in_order = [kept[r["case"]] for r in rows if r["case"] in kept]
    rows = [r for r in rows if r["case"] not in kept]
    if client is not None:
        print(f"Dask cluster: {client.dashboard_link}", file=sys.stderr)
        if not client.scheduler_info().get("workers"):
            print("the scheduler has no workers yet: the cases wait until one joins (dask worker ADDRESS)",
                  file=sys.stderr)
        engine_args = (str(engine.pack.path), device, tuple(methods) if methods else None, precision)
        results = map_rows(client, rows, engine_args, class_values, out_dir.resolve(), flagging)
    else:  # rows sharing files one after another, so that each file is read once
        results = check_rows([r for g in file_groups(rows, max(1, len(rows))) for r in g], engine, class_values,
                             out_dir, flagging)
    try:
        _write_results(results, results_path, engine.pack.classes, len(rows), kept_in_order)
    finally:
        if client is not None:
            client.close()
    return 0


def check_rows(rows, engine: QCEngine, class_values: dict | None, out_dir: Path, flagging: dict):
    """Results of the rows in turn. A file stays read while the next row names it too (the frames
    of a cine file, one row each), so holding at most one row's files."""
    files: dict = {}
    for row in rows:
        keep = _paths(row)
        for path in set(files) - keep:
            del files[path]
        yield check_one(row, engine, class_values, out_dir, files, **flagging)


def file_groups(rows: list[dict], largest: int = GROUP_MAX) -> list[list[dict]]:
    """The rows in groups that share files (directly or through other rows: the frames of a cine
    file, wherever they are in the manifest), in manifest order within and between groups, cut
    into pieces of at most ``largest`` rows: a task each on a cluster, one run of ``check_rows``
    here (rows naming the same files one after another read them once)."""
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict = {}  # file -> the first row naming it
    for i, row in enumerate(rows):
        for path in _paths(row):
            parent[root(i)] = root(first.setdefault(path, i))
    groups: dict[int, list[dict]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(root(i), []).append(row)
    return [g[k:k + largest] for g in groups.values() for k in range(0, len(g), largest)]


def _paths(row: dict) -> set:
    return {Path(row[c]).resolve() for c in ("image", "segmentation", "reference") if row.get(c)}


def _time_left(elapsed: float, done: int, n: int) -> str:
    """The time left at the pace so far, e.g. ``  (about 2 h 05 min left)``; empty at the end and
    until there is a pace (10 cases or a minute)."""
    if done == n or (done < 10 and elapsed < 60):
        return ""
    left = round(elapsed / done * (n - done))
    h, m = divmod(left // 60, 60)
    return f"  (about {h} h {m:02d} min left)" if h else f"  (about {m} min {left % 60:02d} s left)"


def _write_results(results, results_path: Path, classes, n: int, kept: list[dict]) -> None:
    """results.csv: the ``kept`` rows of a previous run, then the ``n`` new results as they come,
    each written at once so that a batch stopped any way can be resumed from it."""
    t0 = time.time()
    with open(results_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=csv_columns(classes), extrasaction="ignore")
        w.writeheader()
        w.writerows(kept)
        counts: dict[str, int] = {"kept": len(kept)} if kept else {}
        for i, res in enumerate(results, 1):
            w.writerow(res)
            f.flush()
            key = res.get("verdict") if res["status"] == "ok" else "error"
            counts[key] = counts.get(key, 0) + 1
            detail = res.get("message") if res["status"] == "error" else \
                " ".join(f"{c} {res[f'dice_{c}']:.3f}" for c in classes)
            print(f"[{i}/{n}] {res['case']}: {key}  {detail}{_time_left(time.time() - t0, i, n)}",
                  file=sys.stderr, flush=True)
    print(f"{n + len(kept)} cases in {time.time() - t0:.1f}s: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
          + f"; results in {results_path}", file=sys.stderr)

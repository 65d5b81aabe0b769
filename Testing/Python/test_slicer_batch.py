"""The headless Slicer batch script writes what ``segqc batch`` writes (run here without Slicer)."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "SegmentationQC" / "Scripts" / "segqc_batch.py"


def without_timings(folder: Path):
    with open(folder / "results.csv", newline="") as f:
        rows = [{k: v for k, v in r.items() if k != "total_ms"} for r in csv.DictReader(f)]
    cases = {}
    for p in sorted((folder / "cases").glob("*.json")):
        rep = json.loads(p.read_text())
        rep.pop("timings_ms")
        cases[p.name] = rep
    return rows, cases


def test_same_outputs_as_segqc_batch(files, tiny_pack, tmp_path):
    from SegmentationQCLib.cli import main

    manifest = tmp_path / "manifest.csv"
    manifest.write_text("case,image,segmentation,reference\n"
                        f"damaged,{files['image']},{files['damaged']},{files['truth']}\n"
                        f"good,{files['image']},{files['truth']},\n"
                        f"missing,{files['image']},nowhere.nii.gz,\n")
    options = ["--pack", str(tiny_pack), "--device", "cpu", "--exclude-ends", "1"]
    assert main(["batch", str(manifest), "-o", str(tmp_path / "segqc")] + options) == 0
    run = subprocess.run([sys.executable, str(SCRIPT), "--manifest", str(manifest), "--out", str(tmp_path / "slicer")]
                         + options, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    rows, cases = without_timings(tmp_path / "slicer")
    assert (rows, cases) == without_timings(tmp_path / "segqc")
    assert [r["status"] for r in rows] == ["ok", "ok", "error"] and set(cases) == {"damaged.json", "good.json"}
    assert not cases["good.json"]["slices"][0]["flag"]  # --exclude-ends reached the engine


def test_bad_input_is_one_line_and_exit_2(files, tiny_pack, tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"case,image,segmentation\ngood,{files['image']},{files['truth']}\n")
    for args, message in [(["--manifest", str(tmp_path / "none.csv"), "--out", str(tmp_path)], "manifest not found"),
                          (["--manifest", str(manifest)], "the following arguments are required: --out"),
                          (["--manifest", str(manifest), "--out", str(files["image"]) + "/out"], "Not a directory")]:
        run = subprocess.run([sys.executable, str(SCRIPT), *args, "--pack", str(tiny_pack)],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 2 and run.stderr.startswith("segqc_batch") and message in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1

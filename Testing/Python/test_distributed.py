"""``segqc batch --scheduler``: the same results as the plain batch, computed as Dask tasks."""
from __future__ import annotations

import csv
import shutil

import pytest

from SegmentationQCLib.cli import main

distributed = pytest.importorskip("distributed")


def _rows(path):
    return {r["case"]: r for r in csv.DictReader(open(path))}


def test_dask_batch_matches_the_plain_batch(files, random_pack, capsys, monkeypatch):
    from SegmentationQCLib import files as files_module

    d = files["dir"]
    manifest = d / "m.csv"
    manifest.write_text("case,image,segmentation,reference\n"
                        "missing,nope.nii.gz,nope.nii.gz,\n"
                        f"good,{files['image']},{files['damaged']},{files['truth']}\n"
                        f"perfect,{files['image']},{files['truth']},\n")  # one task: they share the image
    assert main(["batch", str(manifest), "-o", str(d / "plain"), "--pack", str(random_pack)]) == 0
    reads, read = [], files_module._read_one
    monkeypatch.setattr(files_module, "_read_one", lambda path, *a: reads.append(path.name) or read(path, *a))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        assert main(["batch", str(manifest), "-o", str(d / "dask"), "--pack", str(random_pack),
                     "--scheduler", cluster.scheduler_address]) == 0
        assert reads == [files[k].name for k in ("image", "damaged", "truth")]  # the worker read each file once
        assert "1 error" in capsys.readouterr().err
        shutil.copytree(d / "dask", d / "resumed")
        assert main(["batch", str(manifest), "-o", str(d / "resumed"), "--pack", str(random_pack), "--resume",
                     "--scheduler", cluster.scheduler_address]) == 0
    assert "kept 2 of 3 cases" in capsys.readouterr().err
    assert [r["case"] for r in csv.DictReader(open(d / "resumed" / "results.csv"))] == ["good", "perfect", "missing"]
    plain, dask = _rows(d / "plain" / "results.csv"), _rows(d / "dask" / "results.csv")
    assert set(dask) == {"good", "missing", "perfect"}
    assert dask["missing"]["status"] == "error" and "not found" in dask["missing"]["message"]
    for case in ("good", "perfect"):
        assert dask[case]["status"] == "ok"
        for c in ("LV", "MYO", "RV"):
            assert float(dask[case][f"dice_{c}"]) == pytest.approx(float(plain[case][f"dice_{c}"]), abs=1e-6)
    assert (d / "dask" / "cases" / "good.json").exists()


def test_bad_scheduler_is_one_clear_error(files, random_pack, capsys):
    manifest = files["dir"] / "m.csv"
    manifest.write_text(f"case,image,segmentation\ngood,{files['image']},{files['damaged']}\n")
    for bad in ("local:many", "local:0"):  # no workers: the tasks would wait for ever
        assert main(["batch", str(manifest), "-o", str(files["dir"] / "o"), "--pack", str(random_pack),
                     "--scheduler", bad]) == 2
        assert "local:N with N a number of workers, 1 or more" in capsys.readouterr().err
    assert not (files["dir"] / "o").exists()  # nothing made for a batch that could not start


def test_rows_sharing_files_make_one_group(tmp_path):
    from SegmentationQCLib.batch import file_groups

    rows = [{"case": c, "image": str(tmp_path / i), "segmentation": str(tmp_path / g), "reference": ref}
            for c, i, g, ref in [("ed", "cine.nii.gz", "cine_seg.nii.gz", ""), ("a", "a.nii.gz", "sa.nii.gz", ""),
                                 ("c", "c.nii.gz", "sc.nii.gz", ""), ("es", "cine.nii.gz", "cine_seg.nii.gz", ""),
                                 ("b", "b.nii.gz", "sb.nii.gz", str(tmp_path / "sa.nii.gz")),  # shares a's reference
                                 ("d", "d.nii.gz", "sd.nii.gz", ""), ("c2", "c.nii.gz", "sb.nii.gz", "")]]  # joins c and b
    assert [[r["case"] for r in g] for g in file_groups(rows)] == [["ed", "es"], ["a", "c", "b", "c2"], ["d"]]
    assert [[r["case"] for r in g] for g in file_groups(rows, largest=3)] == [["ed", "es"], ["a", "c", "b"], ["c2"], ["d"]]


def test_a_cohort_is_submitted_a_window_at_a_time(tmp_path, monkeypatch):
    from SegmentationQCLib import distributed as dist

    monkeypatch.setattr(dist, "WINDOW", 2, raising=False)  # with one worker thread: 4 tasks on the cluster at most
    monkeypatch.setattr(dist, "_check_on_worker", lambda group, *a: [{"case": r["case"], "status": "ok"} for r in group])
    rows = [{"case": f"c{i}", "image": str(tmp_path / f"i{i}.nii.gz"), "segmentation": str(tmp_path / f"s{i}.nii.gz")}
            for i in range(12)]
    yielded, ahead = [], []
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        submit = client.submit
        monkeypatch.setattr(client, "submit", lambda *a, **k: ahead.append(len(ahead) + 1 - len(yielded)) or submit(*a, **k))
        for res in dist.map_rows(client, rows, (), None, tmp_path, {}):
            yielded.append(res["case"])
    assert sorted(yielded) == sorted(r["case"] for r in rows)
    assert max(ahead) <= 4 + 1  # submitted and not yet handed on (+1: the task just done, whose results come next)

"""The pack builder (training/make_pack.py): its flag rules on made-up validation rows, where it takes the weights from."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
import make_pack  # noqa: E402


def _rows(n, dip_at=None, seed=0):
    """Cases of 8 slices, every slice acceptable (true Dice 0.9), predicted 0.9 +- 0.005;
    ``dip_at`` cases get slice 4 predicted 0.58 for the LV (about 0.32 below its neighbours)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        pred = np.clip(0.9 + rng.normal(0, 0.005, (8, 3)), 0, 1)
        if dip_at is not None and i in dip_at:
            pred[4, 0] = 0.58
        rows.append({"est": {"fused": (pred, pred.mean(0))}, "pred_slice": pred, "true_slice": np.full((8, 3), 0.9),
                     "seg_area": np.full((8, 3), 100)})
    return rows


def test_flag_thresholds_keep_the_acceptable_flag_rate():
    rows = _rows(300)
    rng = np.random.default_rng(1)
    for r in rows:  # predictions spread over 0.3-1.0, so that the quantiles tried lie inside the 0.2-0.8 clip
        r["pred_slice"][:] = rng.uniform(0.3, 1.0, (8, 3))  # the same array as the fused estimate
    thr = make_pack.flag_thresholds(rows, "fused")
    rate = make_pack._flag_rate(make_pack._flag_inputs(rows, "fused"), np.array([thr[c] for c in ("LV", "MYO", "RV")]))
    assert rate <= make_pack.FLAG_RATE


def test_flag_dip_is_the_smallest_within_the_extra_rate():
    thr = {"LV": 0.5, "MYO": 0.5, "RV": 0.5}
    clean = {"in-domain": _rows(200), "shifted": _rows(50, seed=1)}
    assert make_pack.flag_dip(clean, "fused", thr) == min(make_pack.DIPS)
    # acceptable slices ~0.32 below their neighbours in the shifted cases only: a dip of 0.3 would flag them
    dipped = {"in-domain": _rows(200), "shifted": _rows(50, dip_at=range(10), seed=1)}
    assert make_pack.flag_dip(dipped, "fused", thr) == 0.35


def test_presence_model_learns_whether_a_missing_structure_is_there():
    """Rows whose last two slices are empty for every structure, the truth having the structure
    there or not; the error map expects ~300 mm² where it is and ~3 mm² where it is not."""
    evaluate = make_pack.evaluate
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        seg = np.full((6, 3), 100)
        seg[4:] = 0
        present = rng.random((6, 3)) < 0.5
        area = np.where(present, 300.0, 3.0) * rng.uniform(0.5, 1.5, (6, 3))
        true = np.where(seg == 0, (~present).astype(float), 0.9)
        est = np.where(seg == 0, 1.0, 0.9)  # as scored: never there
        rows.append({"name": f"p{i:03d}_ED|x", "seg_area": seg, "errormap_area_mm2": area, "true_slice": true,
                     "est": {"errormap": (est, est.mean(0))}})
    fixed = evaluate.with_presence(rows, evaluate.fit_presence(rows))
    for r, f in zip(rows, fixed):
        np.testing.assert_array_equal(f["est"]["errormap"][0], r["true_slice"])
    cf = evaluate.crossfit_presence(rows)
    assert cf["LV"]["empty_slices"] == 80 and cf["LV"]["wrong_crossfit"] == 0 < cf["LV"]["wrong_as_scored"]


def test_recalibration_and_fusion_are_fitted_on_segmenter_outputs():
    rows = {"in-domain": [{"source": "zoo", "name": "a"}, {"source": "synthetic", "name": "b"},
                          {"source": "zoo", "name": "c"}], "shifted": [{"source": "shifted", "name": "d"}]}
    assert [r["name"] for r in make_pack.fit_rows(rows)] == ["a", "c"]
    assert [r["name"] for r in make_pack.fit_rows(rows, "all")] == ["a", "b", "c"]


def test_breakdown_refuses_a_missing_pack_in_one_sentence(monkeypatch, tmp_path):
    import breakdown

    monkeypatch.setattr(sys, "argv", ["breakdown.py", "--pack", str(tmp_path / "nowhere")])
    with pytest.raises(SystemExit) as e:
        breakdown.main()
    assert str(e.value).startswith("breakdown: no model pack at") and "\n" not in str(e.value)


def test_benchmark_files_stops_in_one_sentence_when_the_batch_fails(monkeypatch, tmp_path):
    import benchmark_files

    monkeypatch.setattr(benchmark_files, "write_cases", lambda *args: tmp_path / "cases" / "manifest.csv")  # not written
    monkeypatch.setattr(sys, "argv", ["benchmark_files.py", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as e:
        benchmark_files.main()
    assert str(e.value).startswith("benchmark_files.py: segqc batch failed on") and "\n" not in str(e.value)


def test_models_come_from_the_run_asked_for_with_the_weights_they_started_from(monkeypatch, tmp_path):
    runs = tmp_path / "runs"
    monkeypatch.setattr(make_pack, "RUNS", runs)
    monkeypatch.setattr(make_pack, "HERE", tmp_path)  # configs name files relative to training/, as the scripts ran
    (runs / "teacher").mkdir(parents=True)
    (runs / "teacher" / "best.pt").write_bytes(b"teacher")
    for run, weights in (("errormap", b"plain"), ("errormap_distil", b"distilled")):
        (runs / run).mkdir()
        (runs / run / "best.pt").write_bytes(weights)
        (runs / run / "config.json").write_text(json.dumps({"steps": 3, "batch": 2, "lr": 1e-3, "seed": 0, "base": 8,
                                                            "init": "runs/teacher/best.pt", "distil": "runs/teacher/best.pt"}))
    out = tmp_path / "pack"
    out.mkdir()
    card = {"models": {}}
    make_pack.add_models(card, out, {}, out, {"errormap": "errormap_distil"})
    entry = card["models"]["errormap"]
    assert (out / "error_map.pt").read_bytes() == b"distilled" and entry["arch"] == {"base": 8}
    assert entry["trained"]["init_sha256"] == entry["trained"]["distil_sha256"] == make_pack.sha256(runs / "teacher" / "best.pt")
    make_pack.add_models(card, out, {}, out)
    assert (out / "error_map.pt").read_bytes() == b"plain"


def test_a_run_asked_for_by_name_must_exist(monkeypatch, tmp_path):
    monkeypatch.setattr(make_pack, "RUNS", tmp_path / "runs")
    (tmp_path / "pack").mkdir()
    with pytest.raises(SystemExit) as e:
        make_pack.add_models({"models": {}}, tmp_path / "pack", {}, tmp_path / "pack", {"slice": "slice_gpu"})
    assert str(e.value) == f"make_pack.py: no trained slice network in {tmp_path / 'runs' / 'slice_gpu'} (best.pt)"


def test_a_network_fine_tuned_from_the_pack_it_replaces_records_the_weights_it_started_from(monkeypatch, tmp_path):
    runs = tmp_path / "runs"
    monkeypatch.setattr(make_pack, "RUNS", runs)
    monkeypatch.setattr(make_pack, "HERE", tmp_path)
    out = tmp_path / "pack"
    out.mkdir()
    (out / "slice_qc.pt").write_bytes(b"previous pack")
    (runs / "sl30").mkdir(parents=True)
    (runs / "sl30" / "best.pt").write_bytes(b"fine-tuned")
    (runs / "sl30" / "config.json").write_text(json.dumps({"steps": 3, "seed": 0, "width": 16, "init": "pack/slice_qc.pt"}))
    before = make_pack.sha256(out / "slice_qc.pt")
    card = {"models": {}}
    make_pack.add_models(card, out, {}, out, {"slice": "sl30"})
    assert (out / "slice_qc.pt").read_bytes() == b"fine-tuned"
    assert card["models"]["slice"]["trained"]["init_sha256"] == before != card["models"]["slice"]["sha256"]

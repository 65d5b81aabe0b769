"""The preview of trained networks on the demo's phantoms (training/phantom_check.py)."""
import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
import make_pack  # noqa: E402
import phantom_check  # noqa: E402
from SegmentationQCLib.case import case_from_arrays  # noqa: E402
from SegmentationQCLib.pack import load_pack, sha256  # noqa: E402
from SegmentationQCLib.phantom import short_axis_stack  # noqa: E402
from SegmentationQCLib.qc import QCEngine  # noqa: E402


def _run(tmp_path, name, state):
    run = tmp_path / name
    run.mkdir()
    torch.save(state, run / "best.pt")
    (run / "config.json").write_text(json.dumps({"base": 8}))
    return run


def test_the_bundled_network_as_a_run_gives_the_bundled_answers(tmp_path):
    bundled = load_pack()
    state = torch.load(bundled.path / "error_map.pt", weights_only=True)
    pack = phantom_check.with_runs(make_pack.BUNDLED, {"errormap": _run(tmp_path, "same", state)}, tmp_path / "p")
    assert pack.card == bundled.card
    (r,) = phantom_check.preview(pack, ["errormap"], [0])
    image, truth, spacing = short_axis_stack(seed=0)
    own = QCEngine(bundled, "cpu", ["errormap"]).check(case_from_arrays(image, truth, spacing))
    assert r["lowest_slice_dice"]["errormap"] == dict(zip(bundled.classes, own.slice_dice.min(0).round(3).tolist()))
    assert r["undamaged_flags"] == [] and r["damaged_flagged_slices"] == r["damaged_slices"]


def test_a_new_network_replaces_the_bundled_one_without_its_recalibration(tmp_path):
    bundled = load_pack()
    state = torch.load(bundled.path / "error_map.pt", weights_only=True)
    state["head.bias"] = state["head.bias"] + torch.tensor([2.0, 0, 0, 0])  # leans towards background
    pack = phantom_check.with_runs(make_pack.BUNDLED, {"errormap": _run(tmp_path, "new", state)}, tmp_path / "p")
    entry = pack.card["models"]["errormap"]
    assert entry["sha256"] != bundled.card["models"]["errormap"]["sha256"] and "int8" not in entry
    assert "errormap" not in pack.card["calibration"] and pack.card["thresholds"] == bundled.card["thresholds"]
    assert sha256(bundled.path / "error_map.pt") == bundled.card["models"]["errormap"]["sha256"]  # the bundled file is untouched
    (r,) = phantom_check.preview(pack, ["errormap"], [0])
    (same,) = phantom_check.preview(bundled, ["errormap"], [0])
    assert r["lowest_slice_dice"] != same["lowest_slice_dice"]


def test_an_unfinished_run_is_one_sentence(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(make_pack, "RUNS", tmp_path)
    (tmp_path / "half").mkdir()
    monkeypatch.setattr(sys, "argv", ["phantom_check.py", "--errormap-run", "half"])
    with pytest.raises(SystemExit):
        phantom_check.main()
    assert "not a finished training run: no " in capsys.readouterr().err


def test_seeds_that_are_not_numbers_are_one_sentence(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["phantom_check.py", "--seeds", "0,x"])
    with pytest.raises(SystemExit):
        phantom_check.main()
    assert "'0,x' is not a comma-separated list of whole numbers" in capsys.readouterr().err


def test_the_guard_passes_the_bundled_networks_and_stops_one_that_flags_the_phantom():
    from SegmentationQCLib.errornet import ErrorNet
    from SegmentationQCLib.slicenet import SliceQCNet

    bundled = load_pack()
    net = SliceQCNet(n_classes=3, width=bundled.card["models"]["slice"]["arch"]["width"])
    net.load_state_dict(torch.load(bundled.path / "slice_qc.pt", weights_only=True))
    assert phantom_check.guard("slice", bundled.card["models"]["slice"]["arch"])(net)["passed"]
    arch = bundled.card["models"]["errormap"]["arch"]
    state = torch.load(bundled.path / "error_map.pt", weights_only=True)
    net = ErrorNet(3, **arch)
    net.load_state_dict(state)
    check = phantom_check.guard("errormap", arch)
    assert check(net) == {"passed": True, "undamaged_flags": {0: [], 1: [], 2: []},
                          "damaged_flagged_slices": {s: [1, 4, 8] for s in (0, 1, 2)}}
    state["head.bias"] = state["head.bias"] + torch.tensor([4.0, 0, 0, 0])  # doubts every structure
    net.load_state_dict(state)
    failed = check(net)
    assert not failed["passed"] and any(failed["undamaged_flags"].values())

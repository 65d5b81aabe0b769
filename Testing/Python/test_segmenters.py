"""The training zoo's segmenter families, its build order and the QC set's use of it."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
import build_zoo  # noqa: E402
import qcset  # noqa: E402
import segmenters  # noqa: E402

SPECS = {**build_zoo.ZOO, **build_zoo.ZOO_30, **build_zoo.HELDOUT}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_family_segments_an_image_of_any_size(name):
    torch.manual_seed(0)
    out = segmenters.predict(segmenters.build(SPECS[name]), np.random.default_rng(0).random((2, 37, 50)))
    assert out.shape == (2, 37, 50) and out.dtype == np.uint8 and out.max() <= 3


def test_encdec_goes_down_to_an_eighth_and_back_in_one_chain():
    net = segmenters.build(build_zoo.ZOO_30["ed"]).eval()
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in net.modules())
    strides = [m.stride[0] for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    ups = [m for m in net.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert strides.count(2) == 3 and len(ups) == 3
    assert [type(m) for m in net.children()] == [torch.nn.Sequential]  # one chain: no skip path
    with torch.no_grad():
        x = torch.rand(1, 1, 32, 32)
        assert net(x).shape == (1, 4, 32, 32)


@pytest.mark.parametrize("loss", ["ce", "ce+dice"])
def test_training_returns_cpu_weights_at_each_checkpoint(loss):
    rng = np.random.default_rng(0)
    lab = np.zeros((3, 64, 64), np.uint8)
    lab[:, 20:40, 20:40] = 3
    lab[:, 24:36, 24:36] = 1
    vol = type("V", (), {"image": rng.random((3, 64, 64)).astype(np.float32), "label": lab})
    spec = {"family": "unet", "base": 4, "depth": 2, "loss": loss}
    states = segmenters.train(spec, [vol], seed=1, checkpoints=[1, 3], log=lambda s: None)
    assert sorted(states) == [1, 3]
    assert all(t.device.type == "cpu" for t in states[3].values())
    assert any(not torch.equal(states[1][k], states[3][k]) for k in states[3])


def test_families_added_later_keep_the_seeds_of_earlier_segmenters():
    jobs = [(n, f) for n, _, f in build_zoo.all_jobs()]
    first_30 = min(i for i, (n, _) in enumerate(jobs) if n in build_zoo.ZOO_30)
    assert all(n in build_zoo.ZOO_30 for n, _ in jobs[first_30:])
    assert jobs[:first_30] == [(n, f) for n in ("u8", "u4s") for f in range(3)] + \
        [("dil", None), ("fpn", None)] + [("u12", f) for f in range(3)]


def test_the_qc_set_leaves_out_every_held_out_family(tmp_path):
    (tmp_path / "preds").mkdir()
    lab = np.zeros((2, 8, 8), np.uint8)
    for stem in ("u8_f0_it300", "ed_f1_it600", "dil_all_it400", "fpn_all_it500"):
        np.savez(tmp_path / "preds" / f"{stem}.npz", **{"patient001_frame01|clean": lab})
        (tmp_path / "preds" / f"{stem}.json").write_text(json.dumps({"patient001_frame01|clean": {"params": {}}}))
    used = {tag for items in qcset._zoo_for(tmp_path).values() for tag, *_ in items}
    assert used == {"u8_f0_it300", "ed_f1_it600"}


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "cuda:99"])
def test_a_device_this_machine_lacks_is_refused_in_one_line(device, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["build_zoo.py", "--device", device])
    with pytest.raises(SystemExit) as e:
        build_zoo.main()
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and err[-1].startswith(f"build_zoo.py: error: argument --device: '{device}' is not cpu")

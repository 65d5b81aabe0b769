"""The error-map training script (training/train_errormap.py) on a tiny QC set made from a phantom."""
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
import train_errormap  # noqa: E402
from qcset import WINDOW  # noqa: E402

from SegmentationQCLib.errornet import ErrorNet  # noqa: E402
from SegmentationQCLib.phantom import damage_for_demo, short_axis_stack  # noqa: E402


def _qcset(folder: Path) -> Path:
    """train.npz and val.npz: a phantom's slices, segmented by its truth and by a damaged copy."""
    img, truth, _ = short_axis_stack(n_slices=6, size=WINDOW, seed=0)
    bad = damage_for_demo(truth)[0]
    images = (255 * img / img.max()).astype(np.uint8)
    segs = np.concatenate([truth, bad]).astype(np.uint8)
    n = len(img)
    data = {"images": images, "segs": segs,
            "image_id": np.tile(np.arange(n), 2), "attacked_id": np.full(2 * n, -1),
            "seg_id": np.arange(2 * n), "truth_id": np.tile(np.arange(n), 2),
            "centre": np.full((2 * n, 2), WINDOW / 2, np.float32), "variant": np.repeat([0, 1], n),
            "dice": np.repeat([1.0, 0.5], n).astype(np.float32), "variant_names": np.array(["truth", "damaged"])}
    folder.mkdir()
    for split in ("train", "val"):
        np.savez(folder / f"{split}.npz", **data)
    return folder


def _train(monkeypatch, tmp_path, name, *extra, base: int = 8) -> dict:
    out = tmp_path / name
    monkeypatch.setattr(sys, "argv", ["train_errormap.py", "--data", str(tmp_path / "qcset"), "--out", str(out),
                                      "--steps", "1", "--batch", "2", "--base", str(base), *extra])
    train_errormap.main()
    ErrorNet(3, base=base).load_state_dict(torch.load(out / "best.pt", weights_only=True))
    return json.loads((out / "log.jsonl").read_text().splitlines()[-1])


def test_distillation_adds_the_teachers_mirror_averaged_labels_to_the_loss(tmp_path, monkeypatch):
    _qcset(tmp_path / "qcset")
    torch.manual_seed(1)
    teacher = tmp_path / "teacher.pt"
    torch.save(ErrorNet(3, base=8).state_dict(), teacher)
    plain = _train(monkeypatch, tmp_path, "plain")
    distilled = _train(monkeypatch, tmp_path, "distilled", "--distil", str(teacher))
    # same seed, same batch, same start: the one step's loss differs by the KL term (> 0 for a random teacher)
    assert distilled["loss"] > plain["loss"]
    assert json.loads((tmp_path / "distilled" / "config.json").read_text())["distil"] == str(teacher)
    assert set(plain["val"]) == {"errormap_dice_failing", "errormap_dice_acceptable", "errormap_dice_balanced",
                                 "qi_accuracy_r"}


def test_a_narrower_network_learns_from_a_wider_teacher(tmp_path, monkeypatch):
    _qcset(tmp_path / "qcset")
    torch.manual_seed(1)
    teacher = tmp_path / "teacher.pt"
    torch.save(ErrorNet(3, base=8).state_dict(), teacher)
    plain = _train(monkeypatch, tmp_path, "plain", base=4)
    distilled = _train(monkeypatch, tmp_path, "distilled", "--distil", str(teacher), base=4)
    assert distilled["loss"] > plain["loss"]


def test_perturbed_borders_cut_or_grow_one_structure_and_leave_the_others():
    _, truth, _ = short_axis_stack(n_slices=6, size=WINDOW, seed=0)
    xs = torch.from_numpy(truth[2:3, None].astype(np.float32))
    xs = xs.repeat(40, 1, 1, 1)
    out = train_errormap.perturb_borders(xs, np.random.default_rng(0), 1.0)
    assert torch.equal(xs[0], torch.from_numpy(truth[2:3].astype(np.float32)))  # the input is not changed
    changed = out != xs
    assert changed.flatten(1).any(1).float().mean() > 0.8
    cut = grown = 0
    for b in range(len(xs)):
        where = changed[b, 0]
        if not where.any():
            continue
        before, after = xs[b, 0][where], out[b, 0][where]
        # one structure per sample: its pixels became background (a cut) or background became it (grown)
        if (after == 0).all():
            assert before.unique().numel() == 1
            cut += 1
        else:
            assert (before == 0).all() and after.unique().numel() == 1
            grown += 1
    assert cut > 5 and grown > 5
    assert torch.equal(train_errormap.perturb_borders(xs, np.random.default_rng(0), 0.0), xs)


def test_the_phantom_guard_keeps_a_checkpoint_that_flags_the_phantom_out_of_best(tmp_path, monkeypatch, capsys):
    from SegmentationQCLib.pack import load_pack

    _qcset(tmp_path / "qcset")
    state = torch.load(load_pack().path / "error_map.pt", weights_only=True)
    for name, lean in (("sound", 0.0), ("doubting", 4.0)):  # a background-leaning head flags the sound phantom
        s = dict(state, **{"head.bias": state["head.bias"] + torch.tensor([lean, 0, 0, 0])})
        torch.save(s, tmp_path / f"{name}.pt")
        monkeypatch.setattr(sys, "argv", ["train_errormap.py", "--data", str(tmp_path / "qcset"), "--out",
                                          str(tmp_path / name), "--steps", "1", "--batch", "2", "--lr", "1e-12",
                                          "--init", str(tmp_path / f"{name}.pt"), "--phantom-guard"])
        train_errormap.main()
    sound, doubting = (json.loads((tmp_path / n / "log.jsonl").read_text())["guard"] for n in ("sound", "doubting"))
    assert sound["passed"] and (tmp_path / "sound" / "best.pt").exists()
    assert not doubting["passed"] and not (tmp_path / "doubting" / "best.pt").exists()
    assert "no checkpoint passed the guard" in capsys.readouterr().out

"""The bundled pack against known behaviour on phantoms the tests make (not ACDC)."""

import numpy as np
import pytest
import torch

from SegmentationQCLib.case import case_from_arrays
from SegmentationQCLib.errors import InputError
from SegmentationQCLib.pack import PACKS_DIR, load_pack, sha256
from SegmentationQCLib.phantom import damage_for_demo, short_axis_stack
from SegmentationQCLib.qc import QCEngine, native_precisions
from SegmentationQCLib.quantized import native_int8


@pytest.fixture(scope="module")
def engine():
    return QCEngine(device="cpu")


@pytest.fixture(scope="module", params=[0, 1, 2])
def phantom(request):
    return short_axis_stack(seed=request.param)


def test_card_describes_the_pack():
    pack = load_pack()
    card = pack.card
    assert card["classes"] == ["LV", "MYO", "RV"]
    for m in card["models"].values():
        for weights in (m, m.get("int8", m)):
            assert sha256(pack.path / weights["file"]) == weights["sha256"]
    assert {m for m, e in card["models"].items() if "int8" in e} == {"slice", "errormap"}
    assert set(card["training"]["validation_patients"]).isdisjoint(card["training"]["train_patients"])
    assert (PACKS_DIR / card["name"] / "README.md").exists()
    assert "intervals" in card and "validation" in card


def test_perfect_scores_higher_than_damaged(engine, phantom):
    image, truth, spacing = phantom
    damaged, where = damage_for_demo(truth)
    good = engine.check(case_from_arrays(image, truth, spacing))
    bad = engine.check(case_from_arrays(image, damaged, spacing))
    assert good.volume_dice.min() > bad.volume_dice.min()
    hit = sorted(where)
    intact = [i for i in range(len(truth)) if i not in where]
    # damaged slices score lower than intact ones, for the structures the damage hit
    assert bad.slice_dice[hit].min(1).mean() < good.slice_dice[intact].min(1).mean() - 0.3
    assert good.verdict != "fail"


def test_missed_slice_scores_low(engine, phantom):
    image, truth, spacing = phantom
    seg = truth.copy()
    mid = len(truth) // 2
    seg[mid] = 0  # the heart is there, the segmentation is not
    res = engine.check(case_from_arrays(image, seg, spacing))
    assert res.slice_dice[mid].max() < 0.5
    assert res.flags[mid].all()


def test_a_structure_absent_from_truth_and_segmentation_scores_one(engine, phantom):
    image, truth, spacing = phantom
    res = engine.check(case_from_arrays(image, truth, spacing))
    absent = ~np.stack([(truth == v).any((1, 2)) for v in (3, 2, 1)], 1)  # (S, K): LV, MYO, RV values
    assert absent.any()  # the phantom's apical slice has no RV
    assert np.all(res.slice_dice[absent] > 0.5)


def test_an_empty_segmentation_of_a_heart_fails(engine, phantom):
    """Every structure missing from every slice: the presence model must say the heart is there."""
    image, truth, spacing = phantom
    res = engine.check(case_from_arrays(image, np.zeros_like(truth), spacing))
    assert res.verdict == "fail" and np.all(res.volume_dice < 0.1)
    cavity = (truth == 3).sum((1, 2))
    # where the heart is: the apical slice, its cavity a tenth of the basal one, may read as beyond the LV (pack 1.8.0)
    assert res.slice_dice[cavity > 0.15 * cavity.max()].max() < 0.5


def test_a_structure_missing_from_every_slice_scores_zero_with_a_warning(engine, phantom):
    """Every ACDC training volume has an RV: a segmentation without one has RV Dice 0, whatever the images say."""
    image, truth, spacing = phantom
    res = engine.check(case_from_arrays(image, np.where(truth == 1, 0, truth), spacing))
    assert engine.pack.card["always_present"] == ["LV", "MYO", "RV"]
    assert res.volume_dice[2] == 0 and res.volume_low[2] == res.volume_high[2] == 0
    assert all(v[1][2] == 0 for v in res.estimates.values())
    assert any(w.startswith("RV is segmented on no slice") for w in res.warnings)
    assert res.volume_dice[:2].min() > 0.5 and res.verdict == "fail"


def test_labels_in_another_convention_get_a_swap_warning(engine, phantom):
    image, truth, spacing = phantom
    assert not any("look swapped" in w for w in engine.check(case_from_arrays(image, truth, spacing)).warnings)
    mms = np.array([0, 3, 2, 1], truth.dtype)[truth]  # LV 1, RV 3 (M&Ms), read with ACDC's mapping
    res = engine.check(case_from_arrays(image, mms, spacing))
    assert [w for w in res.warnings if w.startswith("LV (label 3) and RV (label 1) look swapped")]


def test_intervals_bracket_the_prediction(engine, phantom):
    image, truth, spacing = phantom
    res = engine.check(case_from_arrays(image, truth, spacing))
    assert np.all(res.volume_low <= res.volume_dice) and np.all(res.volume_dice <= res.volume_high)
    assert np.all(res.slice_low <= res.slice_dice + 1e-9) and np.all(res.slice_dice <= res.slice_high + 1e-9)


def test_flags_the_damaged_slices_and_nothing_else(engine, phantom):
    image, truth, spacing = phantom
    damaged, where = damage_for_demo(truth)
    assert not engine.check(case_from_arrays(image, truth, spacing)).flags.any()
    flagged = engine.check(case_from_arrays(image, damaged, spacing)).flags.any(1)
    assert np.flatnonzero(flagged).tolist() == sorted(where)


def test_repair_puts_back_misplaced_and_relabelled_slices(engine, phantom):
    from SegmentationQCLib.correction import correct
    from SegmentationQCLib.metrics import slice_dice

    image, truth, spacing = phantom
    damaged, where = damage_for_demo(truth)
    case = case_from_arrays(image, damaged, spacing)
    fix = correct(case, engine.check(case), engine=engine)  # sized by the image too, as segqc correct does
    moved = [i for i, what in where.items() if "shifted" in what or "swapped" in what]
    np.testing.assert_array_equal(fix.labels[moved], truth[moved])  # realigned, not interpolated
    missed = [i for i, what in where.items() if "missing" in what]
    assert slice_dice(fix.labels[missed], truth[missed], [3, 2])[0].min() > 0.8  # interpolated


def test_error_map_reads_a_mirrored_heart_as_the_heart_mirrored(engine):
    """The card's ``flips`` average the error-map network over left-right mirror images, which
    makes the error map equivariant to that mirror (without them it is only nearly so)."""
    image, truth, spacing = short_axis_stack(seed=0)
    damaged = damage_for_demo(truth)[0]
    assert engine.pack.card["models"]["errormap"]["flips"] == [[3]]

    def emap(eng, img, seg):
        return eng.check(case_from_arrays(img, seg, spacing), error_map=True).error_map

    want = emap(engine, image, damaged)[..., ::-1]
    got = emap(engine, image[..., ::-1].copy(), damaged[..., ::-1].copy())
    assert np.abs(got - want).max() < 1e-3
    plain = QCEngine(device="cpu")
    plain.pack.card["models"]["errormap"]["flips"] = []
    unflipped = emap(plain, image[..., ::-1].copy(), damaged[..., ::-1].copy())
    assert np.abs(unflipped - emap(plain, image, damaged)[..., ::-1]).max() > 0.05


FAST = [(p, d, p in native_precisions(d)) for p, d in (("bfloat16", "cpu"), ("bfloat16", "cuda"), ("int8", "cpu"))]


@pytest.mark.parametrize("precision, device", [pytest.param(p, d, marks=pytest.mark.skipif(
    not ok, reason=f"no {p} arithmetic on a {d} here")) for p, d, ok in FAST])
def test_faster_precisions_give_the_float32_answers_within_a_few_thousandths(precision, device):
    image, truth, spacing = short_axis_stack(seed=2)
    case = case_from_arrays(image, damage_for_demo(truth)[0], spacing)
    full, fast = (QCEngine(device=device, precision=p).check(case) for p in ("float32", precision))
    assert (full.model["precision"], fast.model["precision"]) == ("float32", precision)
    assert 0 < np.abs(fast.volume_dice - full.volume_dice).max() < 0.01  # other arithmetic, nearly the same answers
    assert np.abs(fast.slice_dice - full.slice_dice).max() < 0.05  # pack 1.8.0, int8: 0.047 on one slice here
    np.testing.assert_array_equal(fast.flags, full.flags)
    assert QCEngine(device="cpu").precision == "float32"  # the default


def test_bfloat16_is_refused_where_it_would_be_emulated(monkeypatch):
    monkeypatch.setattr("SegmentationQCLib.qc.native_bfloat16", lambda device: False)
    with pytest.raises(InputError, match="native bfloat16 arithmetic, which device cpu lacks"):
        QCEngine(device="cpu", precision="bfloat16")


def test_int8_is_refused_off_x86_cpus_before_torch_2_4_and_without_int8_weights(monkeypatch, random_pack):
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)  # as on a CUDA machine
    with pytest.raises(InputError, match="int8 precision runs on x86 CPUs only.*device cuda"):
        QCEngine(device="cuda", precision="int8")
    # PyTorch 2.0-2.3 have the kernels but cannot load quantised weights weights-only
    monkeypatch.setattr("torch.__version__", torch.torch_version.TorchVersion("2.3.1"))
    assert not native_int8("cpu") and "int8" not in native_precisions("cpu")
    with pytest.raises(InputError, match="with PyTorch 2.4 or later .* with torch 2.3.1; use float32"):
        QCEngine(device="cpu", precision="int8")
    monkeypatch.setattr("SegmentationQCLib.qc.native_int8", lambda device: True)
    with pytest.raises(InputError, match="has no int8 weights for its slice network"):
        QCEngine(random_pack, "cpu", precision="int8")


def test_bfloat16_on_a_cuda_gpu_without_it_is_refused_naming_the_device(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.get_device_capability", lambda device=None: (7, 5))  # e.g. a T4
    with pytest.raises(InputError, match="which device cuda lacks"):
        QCEngine(device="cuda", precision="bfloat16")

"""Metrics against values computed by hand."""
import numpy as np
import pytest

from SegmentationQCLib import metrics


def test_dice_by_hand():
    seg = np.zeros((1, 4, 4), np.uint8)
    ref = np.zeros((1, 4, 4), np.uint8)
    seg[0, :2, :2] = 3  # 4 voxels
    ref[0, :2, :3] = 3  # 6 voxels, 4 shared
    assert metrics.slice_dice(seg, ref, [3])[0, 0] == pytest.approx(2 * 4 / 10)
    assert metrics.mvsf_from_counts(4, 6) == pytest.approx(2 * (6 - 4) / 10)


def test_dice_convention_for_empty_slices():
    seg = np.zeros((3, 4, 4), np.uint8)
    ref = np.zeros((3, 4, 4), np.uint8)
    seg[1, 0, 0] = 1  # in the segmentation only
    ref[2, 0, 0] = 1  # in the truth only
    d = metrics.slice_dice(seg, ref, [1])[:, 0]
    assert d.tolist() == [1.0, 0.0, 0.0]
    assert metrics.mvsf_from_counts(0, 0) == 0.0
    assert metrics.mvsf_from_counts(0, 5) == 2.0


def test_volume_dice_and_fournel_rebuild():
    rng = np.random.default_rng(0)
    ref = (rng.random((5, 20, 20)) < 0.3).astype(np.uint8) * 2
    seg = ref.copy()
    seg[1] = 0  # a missed slice
    seg[3, :5] = 2  # over-segmentation
    inter, z, y = metrics.overlap_counts(seg, ref, [2])
    want = 2 * inter.sum() / (z.sum() + y.sum())
    assert metrics.volume_dice(seg, ref, [2])[0] == pytest.approx(want)
    d = metrics.dice_from_counts(inter, z, y)
    m = metrics.mvsf_from_counts(z, y)
    # Where the segmentation is not empty, MVSF gives back the true area exactly.
    y_hat = np.where(z > 0, metrics.truth_area_from_mvsf(z, m), y)
    np.testing.assert_allclose(y_hat, y)
    assert metrics.rebuild_volume_dice(d, z, y_hat)[0] == pytest.approx(want)


def test_volumes_mass_and_relative_error():
    lab = np.zeros((2, 10, 10), np.uint8)
    lab[:, :5, :4] = 2  # 40 voxels of 1.5 x 1.5 x 10 mm = 22.5 mm^3 -> 0.9 mL
    assert metrics.volume_ml(lab, 2, (10, 1.5, 1.5)) == pytest.approx(0.9)
    assert metrics.myocardial_mass_g(lab, 2, (10, 1.5, 1.5)) == pytest.approx(0.945)
    assert metrics.relative_volume_error(110.0, 100.0) == pytest.approx(0.1)
    assert np.isnan(metrics.relative_volume_error(1.0, 0.0))


def test_isotonic_recalibration():
    from SegmentationQCLib.calibration import apply, isotonic

    rng = np.random.default_rng(0)
    x = rng.random(500)
    y = np.clip(x ** 2 + rng.normal(0, 0.02, 500), 0, 1)  # an over-confident predictor
    spec = {"LV": isotonic(x, y)}
    assert np.all(np.diff(spec["LV"]["y"]) >= 0)
    fixed = apply(x[:, None], spec, ["LV"])[:, 0]
    assert np.abs(fixed - x ** 2).mean() < 0.25 * np.abs(x - x ** 2).mean()

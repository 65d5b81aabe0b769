"""Repair from neighbouring slices: measurements by hand, masks on a phantom."""
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import ndimage

from SegmentationQCLib import metrics
from SegmentationQCLib.case import case_from_arrays
from SegmentationQCLib.errors import InputError
from SegmentationQCLib.correction import (IMAGE_AGREE, MAX_RUN, SURE_WRONG, Correction, correct, corrected_areas,
                                         corrected_structure_areas, ejection, group_flags, image_sizes, interpolate,
                                         neighbours, outcome_notes, realign, realigned_slices, rebuild_slices, repair_flags, repairs,
                                         sdf, short_runs, volumes)

CLASSES = ["LV", "MYO", "RV"]
VALUES = {"LV": 3, "MYO": 2, "RV": 1}


def test_neighbours_and_area_replacement():
    good = np.array([True, False, False, True, True])
    assert neighbours(good, 1) == (0, 3) and neighbours(good, 0) == (None, 3)
    areas = np.array([[10.0], [0.0], [99.0], [20.0], [30.0]])
    flags = ~good[:, None]
    np.testing.assert_allclose(corrected_areas(areas, flags)[:, 0], [10, 15, 15, 20, 30])


def test_measurements_and_ejection_fraction():
    areas = np.array([[100.0, 50.0, 80.0], [0.0, 50.0, 80.0], [100.0, 50.0, 80.0]])
    flags = np.zeros((3, 3), bool)
    flags[1, 0] = True
    fixed = corrected_structure_areas(areas, flags, CLASSES)
    m = volumes(areas, fixed, CLASSES, (10.0, 1.0, 1.0), neighbour=fixed)  # a voxel is 0.01 mL
    assert m["LV_volume"]["measured"] == pytest.approx(2.0) and m["LV_volume"]["corrected"] == pytest.approx(3.0)
    assert m["LV_volume"]["neighbour_mean"] == pytest.approx(3.0) and m["LV_volume"]["unit"] == "mL"
    assert m["LV_mass"]["measured"] == pytest.approx(1.5 * 1.05) and m["LV_mass"]["unit"] == "g"
    es = {"LV_volume": {"measured": 1.0, "corrected": 1.2}, "RV_volume": m["RV_volume"]}
    e = ejection(m, es)
    assert e["LV_ejection_fraction"]["measured"] == pytest.approx(50.0)
    assert e["LV_ejection_fraction"]["corrected"] == pytest.approx(60.0)
    assert e["LV_stroke_volume"]["corrected"] == pytest.approx(1.8)
    assert "neighbour_mean" not in e["LV_ejection_fraction"] and "neighbour_mean" in e["RV_ejection_fraction"]


def test_a_flag_on_the_myocardium_corrects_the_cavity_too():
    areas = np.array([[100.0, 50.0, 80.0], [10.0, 20.0, 0.0], [100.0, 50.0, 80.0]])
    flags = np.zeros((3, 3), bool)
    flags[1, 1] = True  # MYO only: LV and MYO are rebuilt together, RV is left alone
    np.testing.assert_array_equal(group_flags(flags, CLASSES), [[0, 0, 0], [1, 1, 0], [0, 0, 0]])
    m = volumes(areas, corrected_structure_areas(areas, flags, CLASSES), CLASSES, (10.0, 1.0, 1.0))
    assert m["LV_volume"]["corrected"] == pytest.approx(3.0) and m["RV_volume"]["corrected"] == pytest.approx(1.6)


def test_runs_longer_than_max_run_are_left_as_they_are(stack):
    flags = np.zeros((9, 1), bool)
    flags[1:1 + MAX_RUN] = True  # short run: repaired
    flags[5:6 + MAX_RUN] = True  # one slice too many: left
    np.testing.assert_array_equal(short_runs(flags)[:, 0], np.r_[False, [True] * MAX_RUN, [False] * (8 - MAX_RUN)])
    areas = np.tile(np.arange(1.0, 10.0)[:, None], (1, 3))
    fixed = corrected_structure_areas(areas, np.repeat(flags, 3, 1), CLASSES)
    np.testing.assert_array_equal(fixed[5:], areas[5:])
    assert not np.array_equal(fixed[1:3], areas[1:3])
    _, truth, spacing = stack
    long_run = np.zeros((truth.shape[0], 3), bool)
    long_run[2:3 + MAX_RUN] = True
    out, rebuilt = rebuild_slices(truth, long_run, CLASSES, VALUES, spacing[1:])
    assert rebuilt == [] and np.array_equal(out, truth)


def test_a_surely_wrong_slice_inside_a_long_run_is_still_repaired():
    flags = np.zeros((7, 3), bool)
    flags[2:5, 1] = True  # three doubtful myocardium slices in a row: too long a run for LV + MYO
    flags[3] = True  # the middle one is erased: every structure flagged
    dice = np.full((7, 3), 0.9)
    dice[2:5, 1] = 0.5
    dice[3] = 0.0
    plain = repair_flags(flags, CLASSES)
    np.testing.assert_array_equal(plain[:, :2], np.zeros((7, 2), bool))  # the whole run is left
    sure = repair_flags(flags, CLASSES, dice=dice)
    expected = np.zeros((7, 3), bool)
    expected[3] = True  # only the surely wrong slice, rebuilt from the run's other slices
    np.testing.assert_array_equal(sure, expected)
    np.testing.assert_array_equal(repair_flags(sure, CLASSES), sure)  # its own repair flags
    dice[3, :2] = SURE_WRONG  # not below: the run is left again
    np.testing.assert_array_equal(repair_flags(flags, CLASSES, dice=dice)[:, :2], plain[:, :2])
    areas = np.tile(np.arange(1.0, 8.0)[:, None], (1, 3))
    areas[3] = 0.0
    np.testing.assert_allclose(corrected_structure_areas(areas, sure, CLASSES)[3], [4.0, 4.0, 4.0])


def test_the_end_slices_of_the_stack_are_not_repaired():
    seg_area = np.array([[0, 0, 0], [4, 6, 5], [4, 6, 5], [4, 6, 5], [4, 6, 5], [4, 6, 0]])  # RV ends a slice early
    np.testing.assert_array_equal(metrics.end_slices(seg_area, 1), [1, 1, 0, 0, 0, 1])
    flags = np.zeros((6, 3), bool)
    flags[[1, 3, 5], 0] = True  # the LV on the stack's first and last slices and in the middle
    flags[4, 2] = True  # the RV on its own last slice, inside the stack
    result = SimpleNamespace(flags=flags, classes=CLASSES, seg_area=seg_area, slice_dice=np.full((6, 3), 0.5))
    expected = np.zeros((6, 3), bool)
    expected[3, :2] = True  # the middle LV slice, with the MYO (one group)
    expected[4, 2] = True
    np.testing.assert_array_equal(repairs(result), expected)


@pytest.mark.parametrize("bad", [4, 0])
def test_rebuilt_slice_is_close_and_anatomically_plausible(stack, bad):
    _, truth, spacing = stack
    seg = truth.copy()
    seg[bad] = np.roll(truth[bad], 15, axis=1)  # a slice misplaced in-plane
    flags = np.zeros((truth.shape[0], 3), bool)
    flags[bad] = True
    before = seg.copy()
    out, rebuilt = rebuild_slices(seg, flags, CLASSES, VALUES, spacing[1:])
    np.testing.assert_array_equal(seg, before)  # the input is not changed
    assert sorted({s for s, _ in rebuilt}) == [bad]
    np.testing.assert_array_equal(np.delete(out, bad, 0), np.delete(seg, bad, 0))
    d_damaged = metrics.slice_dice(seg[bad:bad + 1], truth[bad:bad + 1], [3, 2, 1])[0]
    d_fixed = metrics.slice_dice(out[bad:bad + 1], truth[bad:bad + 1], [3, 2, 1])[0]
    assert np.all(d_fixed > d_damaged) and d_fixed.min() > 0.75
    lv = out[bad] == 3
    # the myocardium is a ring: no LV cavity pixel touches background or RV
    ring = ndimage.binary_dilation(lv) & ~lv
    assert np.all(np.isin(out[bad][ring], (2, 3)))


def test_surrogate_guides_the_rebuild_only_where_it_agrees(stack):
    _, truth, spacing = stack
    seg = truth.copy()
    seg[4] = 0
    flags = np.zeros((truth.shape[0], 3), bool)
    flags[4] = True
    guided, _ = rebuild_slices(seg, flags, CLASSES, VALUES, spacing[1:], surrogate=truth)
    np.testing.assert_array_equal(guided[4], truth[4])  # the surrogate agrees with the neighbours: it is used
    plain, _ = rebuild_slices(seg, flags, CLASSES, VALUES, spacing[1:])
    wrong = np.zeros_like(truth)
    fallback, _ = rebuild_slices(seg, flags, CLASSES, VALUES, spacing[1:], surrogate=wrong)
    np.testing.assert_array_equal(fallback, plain)  # an empty surrogate disagrees: interpolation


def _masks(labels):
    return np.stack([labels == VALUES[c] for c in CLASSES])


def test_realign_puts_back_a_misplaced_slice_with_swapped_labels(stack):
    _, truth, _ = stack
    want = _masks(truth[4])
    moved = np.stack([np.roll(np.roll(m, 9, 0), -6, 1) for m in want])[[2, 1, 0]]  # shifted, LV and RV swapped
    got, agreement, shift, perm = realign(moved, want, (20, 20))
    assert shift == (-9, 6) and perm == (2, 1, 0) and agreement == 1.0
    np.testing.assert_array_equal(got, want)
    _, _, shift, _ = realign(moved, want, (5, 5))  # beyond the largest move: not found
    assert shift != (-9, 6)
    empty = np.zeros_like(want)
    got, agreement, shift, perm = realign(empty, empty, (20, 20))  # an empty slice between empty neighbours
    assert agreement == 1.0 and shift == (0, 0) and perm == (0, 1, 2) and not got.any()
    assert realign(empty, want, (20, 20))[1] == 0.0  # an erased slice agrees with nothing


def test_flagged_slices_fitting_their_neighbours_keep_their_own_outline(stack):
    _, truth, spacing = stack
    seg = truth.copy()
    seg[4] = np.roll(truth[4], 12, axis=1)  # misplaced: put back
    seg[6] = 0  # erased: interpolated
    flags = np.zeros((truth.shape[0], 3), bool)
    flags[[2, 4, 6]] = True  # slice 2 is right: kept as it is
    realigned = realigned_slices(seg, flags, CLASSES, VALUES, spacing[1:])
    assert sorted(realigned) == [2, 4]
    out, rebuilt = rebuild_slices(seg, flags, CLASSES, VALUES, spacing[1:], realigned=realigned)
    np.testing.assert_array_equal(out[4], truth[4])
    np.testing.assert_array_equal(out[2], seg[2])
    assert sorted({i for i, _ in rebuilt}) == [4, 6]
    areas = np.stack([_masks(s).sum((1, 2)) for s in seg]).astype(float)
    fixed = corrected_structure_areas(areas, flags, CLASSES, realigned=realigned)
    np.testing.assert_array_equal(fixed[[2, 4]], [areas[2], _masks(truth[4]).sum((1, 2))])
    np.testing.assert_allclose(fixed[6], (areas[5] + areas[7]) / 2)
    assert realigned_slices(seg, flags, CLASSES, VALUES, spacing[1:], agree=1.01) == {}


def test_interpolated_slice_has_the_neighbours_mean_area():
    rr, cc = np.mgrid[:64, :64]
    below = (rr - 32) ** 2 + (cc - 24) ** 2 < 10 ** 2
    above = (rr - 32) ** 2 + (cc - 40) ** 2 < 6 ** 2  # smaller, and only half overlapping
    masks = np.stack([below, np.zeros_like(below), above])
    got = interpolate(masks, np.array([True, False, True]), 1, (1.0, 1.0))
    want = (below.sum() + above.sum()) / 2
    assert abs(got.sum() - want) <= 0.02 * want
    plain = (sdf(below, (1.0, 1.0)) + sdf(above, (1.0, 1.0))) / 2 < 0  # the zero level set falls short
    assert plain.sum() < 0.9 * want and got[plain].all()


def test_image_sizes_follow_the_image_only_where_it_agrees_with_the_neighbours():
    interpolated = np.array([[100.0, 50.0, 0.0]])
    expected = np.array([[140.0, 50.0 * IMAGE_AGREE * 1.01, 20.0]])
    np.testing.assert_allclose(image_sizes(interpolated, expected), [[120.0, 50.0, 0.0]])
    rr, cc = np.mgrid[:40, :40]
    disc = (rr - 20) ** 2 + (cc - 20) ** 2 < 8 ** 2  # about 200 pixels
    got = interpolate(np.stack([disc, np.zeros_like(disc), disc]), np.array([True, False, True]), 1, (1.0, 1.0), n=300)
    assert abs(got.sum() - 300) <= 16 and got[disc].all()  # the same shape grown to the size asked (ties kept)


class _Engine:
    """What ``correct`` asks of a QCEngine: the areas its error-map network expects on some slices."""
    error_model = object()

    def __init__(self, areas):
        self.areas, self.asked = areas, []

    def expected_areas(self, case, slices):
        self.asked.append((case.labels.copy(), list(slices)))
        return self.areas[slices]


def test_correct_sizes_interpolated_slices_from_the_neighbours_and_the_image(stack):
    image, truth, spacing = stack
    seg = truth.copy()
    seg[4] = 0  # erased: interpolated
    seg[6] = np.roll(truth[6], 12, axis=1)  # misplaced: realigned, not resized
    flags = np.zeros((truth.shape[0], 3), bool)
    flags[[4, 6]] = True
    case = case_from_arrays(image, seg, spacing, VALUES)
    result = SimpleNamespace(flags=flags, classes=CLASSES, seg_area=np.stack([_masks(s).sum((1, 2)) for s in seg]),
                             slice_dice=np.full(flags.shape, 0.5), surrogate=None)
    plain = correct(case, result)
    interpolated = plain.areas[4].astype(float)
    expected = np.zeros((len(seg), 3))
    expected[4] = interpolated * [0.8, 0.8, 2 * IMAGE_AGREE]  # the RV disagrees: its interpolated area is kept
    engine = _Engine(expected)
    sized = correct(case, result, engine=engine, verify=False)
    assert [slices for _, slices in engine.asked] == [[4]]  # the realigned slice keeps its own outline and size
    np.testing.assert_array_equal(engine.asked[0][0][4], plain.labels[4])  # asked about the interpolated slice
    np.testing.assert_allclose(sized.areas[4], interpolated * [0.9, 0.9, 1], rtol=0.06)  # ties at the level kept
    np.testing.assert_array_equal(np.delete(sized.labels, 4, 0), np.delete(plain.labels, 4, 0))
    # the corrected measurements are the corrected segmentation's; neighbour_mean the paper's
    ml = float(np.prod(spacing)) / 1000
    assert sized.measurements["LV_volume"]["corrected"] == pytest.approx(sized.areas[:, 0].sum() * ml)
    assert sized.measurements["LV_volume"]["neighbour_mean"] == pytest.approx(plain.neighbour_areas[:, 0].sum() * ml)
    np.testing.assert_array_equal(sized.neighbour_areas, plain.neighbour_areas)
    assert correct(case, result, engine=SimpleNamespace(error_model=None), verify=False).measurements == plain.measurements


class _Scorer:
    """What ``keep_better`` asks of a QCEngine: the predicted slice Dice of the corrected case."""

    def __init__(self, dice):
        self.dice, self.checked = dice, []

    def check(self, case):
        self.checked.append(case.labels.copy())
        return SimpleNamespace(slice_dice=self.dice)


def test_a_rebuild_the_engine_does_not_score_higher_is_put_back(stack):
    image, truth, spacing = stack
    seg = truth.copy()
    seg[[4, 6, 8]] = 0  # erased
    flags = np.zeros((truth.shape[0], 3), bool)
    flags[[4, 6, 8]] = True
    case = case_from_arrays(image, seg, spacing, VALUES)
    before = np.full(flags.shape, 0.5)
    before[8] = np.nan  # nothing to compare: the rebuild stands
    result = SimpleNamespace(flags=flags, classes=CLASSES, seg_area=np.stack([_masks(s).sum((1, 2)) for s in seg]),
                             slice_dice=before, surrogate=None)
    plain = correct(case, result)
    after = np.full(flags.shape, 0.5)
    after[4], after[6] = 0.9, [0.9, 0.3, 0.3]  # slice 4 scored higher, slice 6 lower on average
    engine = _Scorer(after)
    fix = correct(case, result, engine=engine)
    np.testing.assert_array_equal(engine.checked[0], plain.labels)  # the rebuild was scored
    np.testing.assert_array_equal(fix.labels[[4, 8]], plain.labels[[4, 8]])
    np.testing.assert_array_equal(fix.labels[6], seg[6])  # put back as the user had it
    assert sorted({i for i, _ in fix.rebuilt}) == [4, 8] and fix.put_back == [6] and fix.kept == []
    np.testing.assert_array_equal(fix.areas[6], 0)
    assert fix.measurements["LV_volume"]["neighbour_mean"] == plain.measurements["LV_volume"]["neighbour_mean"]
    assert not np.array_equal(seg, fix.labels) and case.labels is not fix.labels  # the user's labels untouched
    np.testing.assert_array_equal(case.labels, seg)


def test_outcome_notes_name_each_slice_left_as_it_was_and_why():
    assert outcome_notes(Correction(labels=np.zeros(1))) == []
    fix = Correction(labels=np.zeros(1), not_rebuilt=[(0, "LV"), (0, "RV"), (9, "MYO")], kept=[3], put_back=[5, 6])
    assert outcome_notes(fix) == [
        f"flagged but not rebuilt (the stack's first or last slice, or more than {MAX_RUN} flagged slices in a row): [0, 9]",
        "flagged but kept as they are (they fit their neighbours): [3]",
        "rebuilt but put back as they were (QC scored the rebuild no higher): [5, 6]"]


def test_a_result_of_another_segmentation_is_refused(stack):
    image, truth, spacing = stack
    flags = np.zeros((truth.shape[0], 3), bool)
    flags[4] = True
    result = SimpleNamespace(flags=flags, classes=CLASSES, seg_area=np.stack([_masks(s).sum((1, 2)) for s in truth]),
                             slice_dice=np.full(flags.shape, 0.5), surrogate=None)
    assert isinstance(correct(case_from_arrays(image, truth, spacing, VALUES), result), Correction)
    edited = truth.copy()
    edited[5] = 0  # the segmentation changed after its check
    with pytest.raises(InputError, match="not computed on this segmentation"):
        correct(case_from_arrays(image, edited, spacing, VALUES), result)
    with pytest.raises(InputError, match="not computed on this segmentation"):
        correct(case_from_arrays(image[:-1], truth[:-1], spacing, VALUES), result)  # another stack
    with pytest.raises(InputError, match="takes a Case and the result of its check"):
        correct(case_from_arrays(image, truth, spacing, VALUES), None)

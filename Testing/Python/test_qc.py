"""The pipeline's arithmetic and preprocessing, independent of trained weights."""
import numpy as np
import pytest

from SegmentationQCLib import metrics
from SegmentationQCLib.case import case_from_arrays
from SegmentationQCLib.errors import InputError
from SegmentationQCLib.pack import load_pack
from SegmentationQCLib.preprocess import inside_roi
from SegmentationQCLib.qc import Prepared, QCEngine, input_notes, prepare, rebuild
from SegmentationQCLib.slicenet import AREA_UNIT

VALUES = [3, 2, 1]


def test_rebuild_is_exact_given_true_slice_values(stack):
    """With the true in-ROI Dice, MVSF and area, the pipeline's rebuild gives the true volume
    Dice, including slices the segmentation misses and blobs outside the ROI."""
    image, truth, spacing = stack
    seg = truth.copy()
    seg[3] = 0  # missed slice
    seg[5] = np.roll(truth[5], 6, axis=1)  # shifted slice
    seg[6, :6, :6] = 1  # a stray RV blob in a corner, outside the ROI
    centre = np.array([95.0, 95.0])
    inside = inside_roi(seg.shape[1:], centre, spacing[1:], 1.5, 128)
    assert not inside[:6, :6].any()
    ins = lambda a: np.where(inside, a, 0)  # noqa: E731
    i, z, y = metrics.overlap_counts(ins(seg), ins(truth), VALUES)
    z_all = metrics.overlap_counts(seg, seg, VALUES)[1]
    ratio = 1.5 ** 2 / (spacing[1] * spacing[2])
    prep = Prepared(x=None, z_in=z, z_out=z_all - z, area_ratio=ratio, centre=centre)
    d, m, a = metrics.dice_from_counts(i, z, y), metrics.mvsf_from_counts(z, y), y / AREA_UNIT / ratio
    slice_d, y_hat, vol = rebuild(d, m, a, prep)
    np.testing.assert_allclose(vol, metrics.volume_dice(seg, truth, VALUES), atol=1e-9)
    np.testing.assert_allclose(slice_d, metrics.slice_dice(seg, truth, VALUES), atol=1e-9)


def test_roi_follows_the_segmentation_and_the_pixel_size(stack, random_pack):
    """The same anatomy at 1.4 mm and at 0.7 mm pixels gives the same ROI content."""
    image, truth, spacing = stack
    pack = load_pack(random_pack)
    coarse = prepare(case_from_arrays(image, truth, spacing), pack)
    fine_img = np.repeat(np.repeat(image, 2, 1), 2, 2)
    fine_lab = np.repeat(np.repeat(truth, 2, 1), 2, 2)
    fine = prepare(case_from_arrays(fine_img, fine_lab, (spacing[0], 0.7, 0.7)), pack)
    a, b = coarse.x[:, 1:].sum((2, 3)).numpy(), fine.x[:, 1:].sum((2, 3)).numpy()
    assert np.abs(a - b).max() <= 0.03 * a.max()
    # the heart sits at the ROI centre
    _, rows, cols = np.nonzero(coarse.x[:, 1:].sum(1).numpy())
    assert abs(np.median(rows) - 63.5) < 4 and abs(np.median(cols) - 63.5) < 4


def test_empty_segmentation_still_gets_a_result(stack, random_pack):
    image, truth, spacing = stack
    res = QCEngine(random_pack).check(case_from_arrays(image, np.zeros_like(truth), spacing))
    assert res.slice_dice.shape == (truth.shape[0], 3)
    assert np.all((res.volume_dice >= 0) & (res.volume_dice <= 1))


def test_blank_image_slices_are_named_and_a_blank_image_refused(stack, random_pack):
    image, truth, spacing = stack
    engine = QCEngine(random_pack)
    assert not any("blank" in w for w in engine.check(case_from_arrays(image, truth, spacing)).warnings)
    labels, broken = truth.copy(), image.copy()
    labels[9] = 0
    broken[[0, 4, 9]] = 7.0  # corrupt slices; slice 9 has no labels, so it does not matter
    warned = [w for w in engine.check(case_from_arrays(broken, labels, spacing)).warnings if "blank" in w]
    assert warned == ["image slices [0, 4] are blank (one value in every voxel) where the segmentation has labels: "
                      "their Dice cannot be judged from the image"]
    with pytest.raises(InputError, match="one value \\(0\\) in every voxel"):
        engine.check(case_from_arrays(np.zeros_like(image), truth, spacing, name="blank"))


def test_check_never_changes_the_case(stack, random_pack):
    image, truth, spacing = stack
    case = case_from_arrays(image.copy(), truth.copy(), spacing)
    QCEngine(random_pack).check(case)
    np.testing.assert_array_equal(case.labels, truth)
    np.testing.assert_array_equal(case.image, image)


def test_pack_integrity_is_checked(random_pack, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(random_pack, bad)
    with open(bad / "slice_qc.pt", "ab") as f:
        f.write(b"x")
    from SegmentationQCLib.errors import InputError

    with pytest.raises(InputError, match="sha256"):
        QCEngine(bad)


def test_flag_rules():
    from SegmentationQCLib.qc import QCResult, flag_slices

    d = np.array([[0.5, 0.9, 0.9], [0.9, 0.6, 0.9], [0.95, 0.95, 0.3], [0.4, 0.9, 0.9], [0.9, 0.9, 0.1]])
    area = np.array([[0, 0, 0], [5, 5, 5], [5, 5, 0], [5, 5, 5], [5, 5, 0]])
    res = QCResult(case="c", classes=["LV", "MYO", "RV"], slice_dice=d, volume_dice=d.mean(0), seg_area=area,
                   truth_area=area, spacing=(10.0, 1.0, 1.0), verdict="pass", flags=np.zeros(d.shape, bool),
                   slice_high=d + 0.2)
    t = {"LV": 0.7, "MYO": 0.7, "RV": 0.7}
    # slice 0 is beyond every structure's extent and slice 4 beyond the RV's: not flagged; the RV gap on slice 2 is
    np.testing.assert_array_equal(np.argwhere(flag_slices(res, t)), [[1, 1], [2, 2], [3, 0]])
    np.testing.assert_array_equal(np.argwhere(flag_slices(res, t, exclude_ends=1)), [[2, 2], [3, 0]])
    np.testing.assert_array_equal(np.argwhere(flag_slices(res, t, flag_on="upper")), [[2, 2], [3, 0]])


def test_dip_flags_a_slice_much_worse_than_both_neighbours():
    from SegmentationQCLib.qc import QCResult, flag_slices

    lv = np.array([0.95, 0.9, 0.45, 0.92, 0.45, 0.45, 0.9, 0.95, 0.5])  # a lone dip (2), a low pair (4, 5), a low end (8)
    d = np.stack([lv, np.full(9, 0.9), np.full(9, 0.9)], 1)
    area = np.full((9, 3), 5)
    area[8, 1:] = 0
    area[0, 2] = 0  # the RV starts at slice 1
    d[1, 2] = 0.4  # an RV dip next to the RV's end: its lower neighbour is no RV slice
    res = QCResult(case="c", classes=["LV", "MYO", "RV"], slice_dice=d, volume_dice=d.mean(0), seg_area=area,
                   truth_area=area, spacing=(10.0, 1.0, 1.0), verdict="pass", flags=np.zeros(d.shape, bool))
    t = {"LV": 0.4, "MYO": 0.4, "RV": 0.2}
    assert not flag_slices(res, t).any()
    # only the lone LV dip; not the pair, the end slice, or the RV slice beside the RV's end
    for dip in (0.3, 0.4):
        np.testing.assert_array_equal(np.argwhere(flag_slices(res, t, dip=dip)), [[2, 0]])
    assert not flag_slices(res, t, dip=0.5).any()  # 0.45 is not 0.5 below 0.9


def test_roi_maps_go_back_onto_the_slice_grid(stack, random_pack):
    """Sampling a slice into the ROI and mapping it back recovers it inside the ROI."""
    from SegmentationQCLib.preprocess import to_native

    image, truth, spacing = stack
    prep = prepare(case_from_arrays(image, truth, spacing), load_pack(random_pack))
    back = to_native(prep.x[:, 1:2], prep.theta, truth.shape[1:])[:, 0].numpy()
    lv = (truth == 3).astype(float)
    inner = ~prep.outside
    assert np.abs(back - lv)[:, inner].mean() < 0.01
    assert (back[:, prep.outside] == 0).all()


def test_the_error_map_is_put_on_the_case_grid_only_when_asked_for(stack, tiny_pack_with_error_map):
    image, truth, spacing = stack
    case = case_from_arrays(image, truth, spacing)
    engine = QCEngine(str(tiny_pack_with_error_map), "cpu", ["errormap"])
    plain, asked = engine.check(case), engine.check(case, error_map=True)
    assert plain.error_map is None and asked.error_map.shape == truth.shape
    assert ((asked.error_map >= 0) & (asked.error_map <= 1)).all()
    # the error-map method's own outputs do not depend on it
    assert plain.quality_index == asked.quality_index
    np.testing.assert_array_equal(plain.volume_dice, asked.volume_dice)
    np.testing.assert_array_equal(plain.slice_error_fraction, asked.slice_error_fraction)


def test_a_check_runs_the_error_map_network_only_for_the_methods_that_need_it(stack, tiny_pack_with_error_map):
    image, truth, spacing = stack
    case = case_from_arrays(image, truth, spacing)
    engine = QCEngine(str(tiny_pack_with_error_map), "cpu", ["slice"])
    assert engine.needed() == {"slice"}
    res = engine.check(case, error_map="errormap" in engine.needed())  # as training/valcases.py asks
    assert "errormap" not in res.timings_ms and res.quality_index is None and res.error_map is None


def test_input_the_pack_cannot_judge_is_named_in_the_warnings(stack, random_pack):
    image, truth, spacing = stack
    pack = load_pack(random_pack)
    assert input_notes(case_from_arrays(image, truth, spacing), pack) == []
    metres = case_from_arrays(image, truth, (spacing[0] / 1000, spacing[1] / 1000, spacing[2] / 1000))
    assert "times smaller than the 1.5 mm model pack" in " ".join(input_notes(metres, pack))
    assert len(input_notes(metres, pack)) == 1  # not also called a tight crop
    crop = case_from_arrays(image[:, 40:100, :], truth[:, 40:100, :], spacing)  # 60 rows
    assert input_notes(crop, pack) == [
        f"the image's slices cover only {60 * spacing[1]:.0f} x {image.shape[2] * spacing[2]:.0f} mm; model pack "
        f"{pack.name} reads a 192 mm square around the structures and needs at least 96 mm of it: a crop this tight "
        "may cut the structures off, and the estimates may be meaningless"]
    assert input_notes(case_from_arrays(image[:, :80], truth[:, :80], (spacing[0], 1.25, 1.25)), pack) == []
    extra = case_from_arrays(image, truth, spacing, {"LV": 3, "MYO": 2, "RV": 1, "LA": 4})
    assert input_notes(extra, pack) == [f"the label mapping names LA, which model pack {pack.name} does not score (it "
                                        "scores LV, MYO, RV): label values [4] are ignored"]


def test_python_callers_get_one_sentence_for_arguments_that_do_not_fit(stack, random_pack):
    image, truth, spacing = stack
    with pytest.raises(InputError, match="device 'tpu' is not cpu, cuda or cuda:N"):
        QCEngine(random_pack, "tpu")
    engine = QCEngine(random_pack, "cpu", ["slice"])
    with pytest.raises(InputError, match="check takes a Case .* not str"):
        engine.check("image.nii.gz")
    case = case_from_arrays(image, truth, spacing)
    for bad in (-1, 1.5, "2", True):
        with pytest.raises(InputError, match="exclude_ends must be a whole number"):
            engine.check(case, exclude_ends=bad)
    engine.predict_slices = None  # refused before any network runs
    with pytest.raises(InputError, match="flag_on must be 'dice' or 'upper', not 'x'"):
        engine.check(case, flag_on="x")
    del engine.predict_slices
    assert engine.check(case, exclude_ends=np.int64(1)).flags.shape == (len(image), 3)


def test_methods_as_a_comma_separated_string_as_on_the_command_line(random_pack):
    assert QCEngine(random_pack, "cpu", "slice, ").methods == ["slice"]
    with pytest.raises(InputError, match=r"method sliec is not available with model pack random \(available: slice\)"):
        QCEngine(random_pack, "cpu", "slice,sliec")  # it had read the string's letters: "method s, l, i, c, e"

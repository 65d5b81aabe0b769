"""Whether a structure is on a slice the segmentation left empty, on hand-computed values."""
import numpy as np

from SegmentationQCLib.presence import MAX_DISTANCE, absent_dice, features, known_absent, known_absent_estimates, predict


def test_features_are_expected_area_distance_to_the_segmented_extent_and_other_structures():
    seg = np.array([[0, 0], [0, 5], [4, 5], [0, 0], [0, 0], [0, 0], [0, 0], [0, 0], [0, 0]])  # (S, K) pixels
    x = features(seg, np.full(seg.shape, np.e - 1))
    assert np.allclose(x[..., 0], 1.0)
    assert x[:, 0, 1].tolist() == [2, 1, 0, 1, 2, 3, 4, 5, 5]  # nearest structure-0 slice is 2, capped
    assert x[:, 1, 1].tolist() == [1, 0, 0, 1, 2, 3, 4, 5, 5]
    assert x[:, 0, 2].tolist() == [0, 1, 1, 0, 0, 0, 0, 0, 0]  # structure 1 segmented there
    assert (features(np.zeros((2, 1)), np.zeros((2, 1)))[..., 1] == MAX_DISTANCE).all()  # absent everywhere


def test_predict_is_the_logistic_model_per_structure():
    seg = np.zeros((2, 2))
    area = np.array([[0.0, 100.0], [100.0, 0.0]])
    model = {c: {"mean": [0, 0, 0], "std": [1, 1, 1], "weights": [1.0, 0, 0], "bias": -2.0} for c in "AB"}
    assert predict(seg, area, model, ["A", "B"], np.zeros((2, 2), bool)).tolist() == [[False, True], [True, False]]
    model.pop("B")  # a structure without a model keeps the default answer
    assert predict(seg, area, model, ["A", "B"], np.ones((2, 2), bool)).tolist() == [[False, True], [True, True]]


def test_an_empty_structure_scores_one_where_the_truth_lacks_it_too_and_zero_where_not():
    seg = np.array([[4, 0], [4, 0]])
    sl, vol = absent_dice(np.full((2, 2), 0.3), np.full(2, 0.3), seg, np.array([[True, False], [True, True]]))
    assert sl.tolist() == [[0.3, 1.0], [0.3, 0.0]] and vol.tolist() == [0.3, 0.0]
    _, vol = absent_dice(np.full((2, 2), 0.3), np.full(2, 0.3), seg, np.zeros((2, 2), bool))
    assert vol[1] == 1.0  # absent from segmentation and truth: perfect


def test_a_gap_in_the_segmentation_scores_zero_whatever_the_model_says():
    seg = np.array([[4], [0], [4], [0]])
    sl, _ = absent_dice(np.ones((4, 1)), np.ones(1), seg, np.zeros((4, 1), bool))
    assert sl[:, 0].tolist() == [1.0, 0.0, 1.0, 1.0]


def test_a_structure_the_pack_always_has_missing_from_every_slice_has_volume_dice_zero():
    seg = np.array([[4, 0, 0], [3, 0, 2]])  # B and C missing from slice 0, B from every slice
    assert known_absent(seg, ["A", "B", "C"], ["A", "B", "C"]).tolist() == [False, True, False]
    assert known_absent(seg, ["A", "B", "C"], ["A", "C"]).tolist() == [False, False, False]  # B may be absent
    assert known_absent(seg, ["A", "B", "C"], None).tolist() == [False, False, False]
    seg = np.array([[4, 0, 0], [0, 0, 0]])  # B missing everywhere; nothing segmented on slice 1
    est = known_absent_estimates({"m": (np.full((2, 3), 0.9), np.full(3, 0.9)), "v": (None, np.full(3, 0.8))},
                                 np.array([False, True, False]), seg)
    assert est["m"][1].tolist() == [0.9, 0.0, 0.9] and est["v"][1].tolist() == [0.8, 0.0, 0.8]
    assert est["m"][0].tolist() == [[0.9, 0.0, 0.9], [0.9, 0.9, 0.9]]  # 0 where the heart is segmented
    assert est["v"][0] is None

"""Interval bounds from a card's conformal spec: plain and normalised by two methods' disagreement."""
import numpy as np
import pytest

from SegmentationQCLib.intervals import bounds, scale

CLASSES = ["LV", "RV"]
SPEC = {"edges": [0.0, 0.5, 1.0001], "below": {"LV": [0.2, 0.1], "RV": [0.3, 0.05]},
        "above": {"LV": [0.1, 0.05], "RV": [0.2, 0.02]}}


def test_plain_bounds_come_from_the_prediction_bin_and_are_clipped():
    lo, hi = bounds(np.array([[0.4, 0.98]]), SPEC, CLASSES)
    np.testing.assert_allclose(lo, [[0.2, 0.93]])
    np.testing.assert_allclose(hi, [[0.5, 1.0]])
    assert scale(SPEC, None, 0) == 1.0


def test_normalised_bounds_widen_where_the_methods_disagree():
    spec = dict(SPEC, scale={"between": ["slice", "errormap"], "floor": 0.1})
    pred = np.array([[0.8, 0.8], [0.8, 0.8]])
    est = {"slice": (np.array([[0.8, 0.8], [0.9, 0.4]]), None), "errormap": (np.array([[0.8, 0.8], [0.8, 0.8]]), None)}
    s = scale(spec, est, 0)
    np.testing.assert_allclose(s, [[0.1, 0.1], [0.2, 0.5]])
    lo, hi = bounds(pred, spec, CLASSES, s)
    np.testing.assert_allclose(lo, [[0.79, 0.795], [0.78, 0.775]])
    np.testing.assert_allclose(hi, [[0.805, 0.802], [0.81, 0.81]])
    with pytest.raises(KeyError):
        scale(spec, {"slice": est["slice"]}, 0)  # a normalised spec needs both methods' estimates

import numpy as np
import pytest
import torch

from SegmentationQCLib.preprocess import percentile, roi_centre, roi_theta, sample, to_native


def test_roi_centre_is_the_median_of_labelled_pixels():
    rng = np.random.default_rng(0)
    for _ in range(50):
        lab = (rng.random((3, 9, 7)) < rng.random()).astype(np.uint8)
        rows, cols = np.nonzero(lab)[1:]
        got = roi_centre(lab)
        if len(rows) == 0:
            assert got is None
        else:
            assert list(got) == [np.median(rows), np.median(cols)]


def test_one_shared_roi_matrix_samples_like_one_matrix_per_slice():
    vol = torch.rand(4, 1, 30, 26)
    theta = roi_theta(np.array([14.0, 12.0]), (30, 26), (1.2, 1.3), 1.5, 16)
    shared = theta.expand(4, 2, 3)
    per_slice = shared.clone()
    per_slice[0, 0, 2] += 1e-3  # rows differ: one grid per slice
    roi = sample(vol, shared, 16, "bilinear")
    assert torch.allclose(roi[1:], sample(vol, per_slice, 16, "bilinear")[1:])
    assert torch.allclose(to_native(roi, shared, (30, 26))[1:], to_native(roi, per_slice, (30, 26))[1:], atol=1e-6)


@pytest.mark.parametrize("kind", ["image", "ties", "subsample misleads"])
def test_percentile_is_numpys(kind):
    rng = np.random.default_rng(0)
    if kind == "image":
        a = rng.gamma(2.0, 100.0, (6, 200, 180)).astype(np.float32)
    elif kind == "ties":
        a = rng.integers(0, 4, (5, 100, 100)).astype(np.int16)
    else:  # the strided subsample sees only the large values: the threshold is too high, all is sorted
        a = rng.random(100_000)
        a[::10] = 1000 + np.arange(10_000)
    for q in (0.0, 50.0, 98.7, 99.0, 100.0):
        # numpy 2.0 interpolates float32 data a few ulps off (later numpy: exactly); a neighbouring
        # order statistic would be ~1e-4 away
        assert percentile(a, q) == pytest.approx(np.percentile(a, q), rel=1e-6, abs=0)

"""Estimators besides the slice network, on hand-computed values."""
import numpy as np

from SegmentationQCLib.methods import errormap_estimates, fuse


def _onehot(s=2, k=3, n=8):
    oh = np.zeros((s, k, n, n))
    oh[:, 0, 2:4, 2:4] = 1  # 4 px of structure 0 per slice
    oh[:, 1, 5:7, 5:6] = 1  # 2 px of structure 1
    return oh


def test_errormap_estimates_agree_with_the_segmentation_when_the_prediction_does():
    oh = _onehot()
    sl, vol = errormap_estimates(oh, oh, np.zeros((2, 3)))
    assert np.allclose(sl, 1) and np.allclose(vol, 1)  # structure 2 absent from both: Dice 1


def test_errormap_estimates_count_soft_overlap_and_out_of_roi_voxels():
    oh = _onehot()
    q = oh * 0.5  # half the probability mass on the labelled pixels
    z_out = np.zeros((2, 3))
    z_out[0, 0] = 4  # slice 0 has 4 more structure-0 voxels outside the ROI
    sl, vol = errormap_estimates(q, oh, z_out)
    # slice 0, structure 0: tp 2, segmentation 4 + 4, truth 2 -> 2*2/10
    assert np.isclose(sl[0, 0], 0.4) and np.isclose(sl[1, 0], 2 * 2 / 6)
    assert np.isclose(vol[0], 2 * 4 / (12 + 4))
    assert np.isclose(vol[1], 2 * 2 / (4 + 2))


def test_fuse_weights_estimates_per_structure():
    est = {"a": np.array([0.8, 0.6]), "b": np.array([0.6, 1.0])}
    out = fuse(est, {"a": {"X": 0.5, "Y": 1.0}, "b": {"X": 0.5, "Y": 0.0}}, ["X", "Y"])
    assert np.allclose(out, [0.7, 0.6])

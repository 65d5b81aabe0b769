"""The label-mapping check on hand-made volumes: a ring, its cavity and a structure beside them."""
import numpy as np

from SegmentationQCLib.labelcheck import concentric_pairs, offsets, swap_warnings

ACDC = {"LV": 3, "MYO": 2, "RV": 1}


def heart(shift: int = 0) -> np.ndarray:
    """(4, 64, 64) labels: LV disk (3) inside a MYO ring (2), RV disk (1) 20 pixels to the side."""
    r, c = np.mgrid[:64, :64]
    d = np.hypot(r - 32, c - 24 - shift)
    sl = np.where(d < 6, 3, np.where(d < 9, 2, 0))
    sl[np.hypot(r - 32, c - 44 - shift) < 7] = 1
    return np.stack([sl] * 4).astype(np.uint8)


def test_offsets_are_centroid_distances_in_mm():
    d = offsets(heart(), ACDC, (1.0, 2.0))
    assert d["LV", "MYO"] < 0.5 and d["MYO", "LV"] == d["LV", "MYO"]
    assert abs(d["LV", "RV"] - 40.0) < 0.5  # 20 columns of 2 mm


def test_concentric_pairs_need_every_volume_and_the_others_far():
    pairs = concentric_pairs([(heart(), (1.0, 1.0)), (heart(3), (1.0, 1.0))], ACDC)
    assert [p["structures"] for p in pairs] == [["LV", "MYO"]]
    lab = heart()
    lab[lab == 1] = 0
    lab[:, 30:35, 22:27] = 1  # an "RV" at the centre of the ring in one volume: no rule
    assert concentric_pairs([(heart(), (1.0, 1.0)), (lab, (1.0, 1.0))], ACDC) == []


def test_a_swapped_mapping_is_named_and_a_right_one_is_not():
    pairs = [{"structures": ["LV", "MYO"], "max_mm": 2.0}]
    assert swap_warnings(heart(), ACDC, pairs, (1.0, 1.0)) == []
    (w,) = swap_warnings(heart(), {"LV": 1, "MYO": 2, "RV": 3}, pairs, (1.0, 1.0), "p")  # M&Ms' convention read as ACDC
    assert w.startswith("LV (label 1) and RV (label 3) look swapped") and "pack p" in w
    assert swap_warnings(heart(), {"LV": 1, "MYO": 2, "RV": 3}, None, (1.0, 1.0)) == []  # a pack without pairs

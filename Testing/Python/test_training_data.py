"""How the training scripts read ACDC files (training/acdc.py), which store no spacing."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
import acdc  # noqa: E402


def _volume(h, w):
    return acdc.Volume(1, 1, "ED", np.zeros((2, h, w), np.float32), np.zeros((2, h, w), np.uint8))


@pytest.mark.parametrize("h, w", [(154, 154), (256, 216), (216, 320)])
def test_usual_grids_are_read_at_the_acdc_pixel_size(h, w):
    assert _volume(h, w).pixel_mm == acdc.PIXEL_MM


@pytest.mark.parametrize("h, w", [(512, 428), (276, 384)])
def test_wide_grids_are_read_with_finer_pixels_over_the_same_field_of_view(h, w):
    px = _volume(h, w).pixel_mm
    assert px < acdc.PIXEL_MM
    assert max(h, w) * px == pytest.approx(acdc.FOV_MM)

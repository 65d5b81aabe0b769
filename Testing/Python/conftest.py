"""Fixtures: every test makes its own data (phantoms, perturbed masks); no ACDC here."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from SegmentationQCLib.phantom import damage_for_demo, short_axis_stack


def write(array, path, spacing_xyz=(1.4, 1.4, 8.0), origin=(0.0, 0.0, 0.0), direction=None):
    img = sitk.GetImageFromArray(array)
    img.SetSpacing(spacing_xyz)
    img.SetOrigin(origin)
    if direction is not None:
        img.SetDirection(direction)
    sitk.WriteImage(img, str(path))
    return path


@pytest.fixture(scope="session")
def stack():
    return short_axis_stack(seed=1)


@pytest.fixture
def files(tmp_path, stack):
    image, truth, spacing = stack
    damaged, where = damage_for_demo(truth)
    xyz = tuple(reversed(spacing))
    return {"image": write(image, tmp_path / "image.nii.gz", xyz),
            "truth": write(truth, tmp_path / "truth.nii.gz", xyz),
            "damaged": write(damaged, tmp_path / "damaged.nii.gz", xyz),
            "where": where, "dir": tmp_path}

"""Voxel error-map network (after Zhang & Chung 2019): P(the given label is wrong) per pixel.

A small U-Net on the same ROI input as the slice network (image + one channel per structure),
one logit per pixel.
"""
from __future__ import annotations

from .unet import UNet


class ErrorNet(UNet):
    def __init__(self, n_classes: int = 3, base: int = 8, depth: int = 4):
        super().__init__(1 + n_classes, 1, base, depth)

"""Voxel error-map network (after Zhang & Chung 2019): P(the given label is wrong) per pixel.

A small U-Net on the same ROI input as the slice network (image + one channel per structure).
It predicts the distribution of the *true* label of every pixel (background + structures);
the error probability is one minus the probability it gives the label the segmentation has.
This trains like a segmenter (cross-entropy + Dice on the manual labels), which learns from the
image far faster than a single "wrong" logit that sees mostly bad examples.
"""
from __future__ import annotations

import torch

from .unet import UNet


class ErrorNet(UNet):
    def __init__(self, n_classes: int = 3, base: int = 8, depth: int = 4):
        super().__init__(1 + n_classes, 1 + n_classes, base, depth)

    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return error_probability(x, torch.softmax(self(x), 1))


def error_probability(x: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1, h, w) probability that the label in ``x``'s one-hot channels is wrong, and ``q``,
    the network's (N, 1+K, h, w) distribution of the manual label (background first)."""
    given = x[:, 1:]
    given = torch.cat([1 - given.sum(1, keepdim=True).clamp(max=1), given], 1)
    return 1 - (q * given).sum(1, keepdim=True), q

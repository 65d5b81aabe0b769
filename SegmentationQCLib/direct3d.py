"""Direct 3D Dice regression after Robinson et al. 2018: a 3D ResNet-50.

The baseline every other method is measured against (``--methods direct3d``), and at full
width (``base=64``) the speed reference of the benchmark: one forward pass on 5 x 8 x 224 x 224
(image, background and three structures).
"""
from __future__ import annotations

import torch
import torch.nn as nn


class Bottleneck3d(nn.Module):
    expansion = 4

    def __init__(self, i: int, width: int, stride: int):
        super().__init__()
        o = width * self.expansion
        self.body = nn.Sequential(
            nn.Conv3d(i, width, 1, bias=False), nn.BatchNorm3d(width), nn.ReLU(inplace=True),
            nn.Conv3d(width, width, 3, stride=(1, stride, stride), padding=1, bias=False), nn.BatchNorm3d(width),
            nn.ReLU(inplace=True), nn.Conv3d(width, o, 1, bias=False), nn.BatchNorm3d(o))
        self.skip = None if (i == o and stride == 1) else nn.Sequential(
            nn.Conv3d(i, o, 1, stride=(1, stride, stride), bias=False), nn.BatchNorm3d(o))

    def forward(self, x):
        return torch.relu(self.body(x) + (x if self.skip is None else self.skip(x)))


class ResNet50_3D(nn.Module):
    """Layers (3, 4, 6, 3) of bottlenecks; in-plane strides only (8 slices is a shallow depth)."""

    def __init__(self, in_channels: int = 5, n_outputs: int = 3, base: int = 64):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv3d(in_channels, base, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
                                  nn.BatchNorm3d(base), nn.ReLU(inplace=True), nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)))
        layers, i = [], base
        for n, width, stride in ((3, base, 1), (4, 2 * base, 2), (6, 4 * base, 2), (3, 8 * base, 2)):
            for j in range(n):
                layers.append(Bottleneck3d(i, width, stride if j == 0 else 1))
                i = width * 4
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(i, n_outputs)

    def forward(self, x):
        return torch.sigmoid(self.head(self.layers(self.stem(x)).mean((2, 3, 4))))

"""The per-slice QC network (after Fournel et al. 2021, "2D_R").

Input: (N, 1+K, size, size), the normalised image ROI and one channel per structure.
Output per structure: slice Dice (sigmoid), MVSF (2·tanh, in [-2, 2]) and the true area in
ROI pixels divided by ``AREA_UNIT`` (softplus), which is used where the segmentation is
empty and MVSF cannot give the true area.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

AREA_UNIT = 1000.0


class _Res(nn.Module):
    def __init__(self, i: int, o: int, stride: int):
        super().__init__()
        self.c1 = nn.Conv2d(i, o, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(o)
        self.c2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(o)
        self.skip = None if (i == o and stride == 1) else nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (x if self.skip is None else self.skip(x)))


class SliceQCNet(nn.Module):
    def __init__(self, n_classes: int = 3, width: int = 24, dropout: float = 0.1):
        super().__init__()
        w = [width, 2 * width, 4 * width, 8 * width, 8 * width]
        self.stem = nn.Sequential(nn.Conv2d(1 + n_classes, w[0], 3, 1, 1, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True))
        self.stages = nn.Sequential(*[_Res(w[max(i - 1, 0)], w[i], 2) for i in range(len(w))])
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(2 * w[-1], 3 * n_classes)
        self.k = n_classes

    def forward(self, x):
        f = self.stages(self.stem(x))
        f = torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1)
        y = self.head(self.drop(f)).view(-1, 3, self.k)
        return torch.sigmoid(y[:, 0]), 2 * torch.tanh(y[:, 1]), F.softplus(y[:, 2])

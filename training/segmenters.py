"""Segmenter families used to make graded segmentations for the QC training set.

``UNet`` (several capacities and training lengths) makes the training failures (with
``EncDecNet``, no skip connections, and other U-Net depths and losses in a tried zoo,
``build_zoo.ZOO_30``); ``DilatedNet`` (a pooling-free context network) and
``FPNNet`` (a residual encoder with a feature-pyramid decoder) are different families kept for
the benchmark only.
"""
from __future__ import annotations

import time

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from SegmentationQCLib.unet import UNet  # noqa: E402


class DilatedNet(nn.Module):
    """Context aggregation by dilated convolutions at a quarter resolution, no skip connections."""

    def __init__(self, width: int = 32, n_classes: int = 4):
        super().__init__()
        layers = [nn.Conv2d(1, width, 3, stride=2, padding=1), nn.ReLU(inplace=True),
                  nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
        for d in (1, 2, 4, 8, 16, 1):
            layers += [nn.Conv2d(width, width, 3, padding=d, dilation=d), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(width, n_classes, 1)
        self.multiple = 4

    def forward(self, x):
        y = self.head(self.body(x))
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


class _Residual(nn.Module):
    """Two 3x3 convolutions (the first strided) plus a 1x1 projection of the input."""

    def __init__(self, i: int, o: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(i, o, 3, stride, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
                                  nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o))
        self.skip = nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))

    def forward(self, x):
        return F.relu(self.body(x) + self.skip(x))


class FPNNet(nn.Module):
    """Residual encoder (strides 2 to 16) and a top-down feature pyramid; predicts at a quarter
    resolution, upsampled bilinearly."""

    def __init__(self, width: int = 16, n_classes: int = 4):
        super().__init__()
        ch = [width, 2 * width, 4 * width, 8 * width]
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.stages = nn.ModuleList([_Residual(width if i == 0 else ch[i - 1], ch[i], 2) for i in range(4)])
        self.lateral = nn.ModuleList([nn.Conv2d(c, 2 * width, 1) for c in ch[1:]])
        self.head = nn.Sequential(nn.Conv2d(2 * width, 2 * width, 3, padding=1, bias=False), nn.BatchNorm2d(2 * width),
                                  nn.ReLU(inplace=True), nn.Conv2d(2 * width, n_classes, 1))
        self.multiple = 16

    def forward(self, x):
        feats, y = [], self.stem(x)
        for stage in self.stages:
            y = stage(y)
            feats.append(y)
        top = self.lateral[-1](feats[-1])
        for lat, f in zip(reversed(self.lateral[:-1]), reversed(feats[1:-1])):
            top = lat(f) + F.interpolate(top, size=f.shape[-2:], mode="nearest")
        return F.interpolate(self.head(top), size=x.shape[-2:], mode="bilinear", align_corners=False)


class EncDecNet(nn.Module):
    """Encoder-decoder without skip connections (SegNet-like): three strided stages down to an
    eighth of the resolution and three transposed-convolution stages up, so every border is
    drawn from the bottleneck alone."""

    def __init__(self, width: int = 16, n_classes: int = 4):
        super().__init__()

        def conv(i, o, stride=1):
            return [nn.Conv2d(i, o, 3, stride, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]
        ch = [width, 2 * width, 4 * width, 8 * width]
        down = conv(1, ch[0])
        for i in range(3):
            down += conv(ch[i], ch[i + 1], 2) + conv(ch[i + 1], ch[i + 1])
        up = []
        for i in reversed(range(3)):
            up += [nn.ConvTranspose2d(ch[i + 1], ch[i], 2, stride=2), nn.BatchNorm2d(ch[i]), nn.ReLU(inplace=True)]
            up += conv(ch[i], ch[i])
        self.body = nn.Sequential(*down, *up, nn.Conv2d(ch[0], n_classes, 1))
        self.multiple = 8

    def forward(self, x):
        return self.body(x)


def build(spec: dict) -> nn.Module:
    if spec["family"] == "unet":
        return UNet(1, 4, spec["base"], spec.get("depth", 4))
    if spec["family"] == "dilated":
        return DilatedNet(spec["width"])
    if spec["family"] == "fpn":
        return FPNNet(spec["width"])
    if spec["family"] == "encdec":
        return EncDecNet(spec["width"])
    raise ValueError(spec["family"])


def _batch(slices, rng, size=128, batch=12):
    """Random augmented crops, centred near the heart most of the time."""
    xs, ys = [], []
    for _ in range(batch):
        img, lab = slices[rng.integers(len(slices))]
        h, w = img.shape
        pad = size // 2
        img = np.pad(img, pad)
        lab = np.pad(lab, pad)
        fg = np.argwhere(lab > 0)
        if len(fg) and rng.random() < 0.85:
            cy, cx = fg[rng.integers(len(fg))] + rng.integers(-20, 21, 2)
        else:
            cy, cx = rng.integers(pad, pad + h), rng.integers(pad, pad + w)
        cy = int(np.clip(cy, pad, pad + h)); cx = int(np.clip(cx, pad, pad + w))
        x = img[cy - pad:cy + pad, cx - pad:cx + pad]
        y = lab[cy - pad:cy + pad, cx - pad:cx + pad]
        k = rng.integers(4)
        x, y = np.rot90(x, k), np.rot90(y, k)
        if rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, ::-1]
        x = np.clip(x * rng.uniform(0.8, 1.2), 0, 1) ** rng.uniform(0.7, 1.4)
        xs.append(x.copy()); ys.append(y.copy())
    return torch.from_numpy(np.stack(xs)[:, None].astype(np.float32)), torch.from_numpy(np.stack(ys).astype(np.int64))


def train(spec: dict, volumes, seed: int, checkpoints: list[int], log=print, device: str = "cpu") -> dict[int, dict]:
    """Train one segmenter; returns {iteration: state_dict (on the CPU)} at each checkpoint
    iteration. ``spec["loss"]``: ``"ce+dice"`` (default) or ``"ce"`` alone."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    slices = [(v.image[s], v.label[s]) for v in volumes for s in range(v.image.shape[0])]
    model = build(spec).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=spec.get("lr", 3e-3))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(checkpoints))
    out, t0 = {}, time.time()
    for it in range(1, max(checkpoints) + 1):
        model.train()
        x, y = (t.to(device) for t in _batch(slices, rng))
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        if spec.get("loss") != "ce":
            prob = logits.softmax(1)
            onehot = F.one_hot(y, 4).permute(0, 3, 1, 2).float()
            inter = (prob * onehot).sum((0, 2, 3))[1:]
            loss = loss + (1 - (2 * inter + 1) / (prob.sum((0, 2, 3))[1:] + onehot.sum((0, 2, 3))[1:] + 1)).mean()
        opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        if it % 200 == 0:
            log(f"  it {it} loss {loss.item():.3f} ({time.time() - t0:.0f}s)")
        if it in checkpoints:
            out[it] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return out


@torch.no_grad()
def predict(model: nn.Module, image: np.ndarray) -> np.ndarray:
    """Label map (S, H, W) uint8 for a float image (S, H, W) in [0, 1], on the model's device."""
    model.eval()
    s, h, w = image.shape
    m = model.multiple
    ph, pw = (-h) % m, (-w) % m
    x = torch.from_numpy(np.pad(image, ((0, 0), (0, ph), (0, pw)))[:, None].astype(np.float32))
    x = x.to(next(model.parameters()).device)
    return model(x).argmax(1)[:, :h, :w].cpu().numpy().astype(np.uint8)

"""Manifold QC (after Wang et al. 2020): a VAE of good (image, segmentation) pairs.

At inference each slice's pair is encoded, then its latent code is refined by gradient
descent so that the decoded pair is as close as possible to the given one (image MSE plus
label cross-entropy). Bad segmentations lie off the manifold of good pairs, so the decoded
labels (the surrogate truth) differ from them; Dice(surrogate, segmentation) is the estimate.
The VAE was trained on good pairs only: it needs no failure examples.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .inference import channel_argmax


class PairVAE(nn.Module):
    def __init__(self, n_classes: int = 3, latent: int = 32, width: int = 16, size: int = 96):
        super().__init__()
        self.k, self.size = n_classes, size
        c = [width, 2 * width, 4 * width, 8 * width]
        enc, i = [], 2 + n_classes  # image + background + structures
        for o in c:
            enc += [nn.Conv2d(i, o, 4, 2, 1), nn.BatchNorm2d(o), nn.LeakyReLU(0.2, inplace=True)]
            i = o
        self.enc = nn.Sequential(*enc)
        self.cells = size // 16
        flat = c[-1] * self.cells ** 2
        self.mu, self.logvar = nn.Linear(flat, latent), nn.Linear(flat, latent)
        self.fc = nn.Linear(latent, flat)
        dec = []
        for i, o in zip(c[::-1], c[::-1][1:] + [width]):
            dec += [nn.ConvTranspose2d(i, o, 4, 2, 1), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]
        self.dec = nn.Sequential(*dec, nn.Conv2d(width, 2 + n_classes, 3, padding=1))
        self.top = c[-1]

    def pair(self, image: torch.Tensor, labels_onehot: torch.Tensor) -> torch.Tensor:
        """VAE input from (N, 1, s, s) image and (N, K, s, s) structure channels."""
        bg = 1 - labels_onehot.sum(1, keepdim=True).clamp(max=1)
        return torch.cat([image, bg, labels_onehot], 1)

    def encode(self, x):
        h = self.enc(x).flatten(1)
        return self.mu(h), self.logvar(h)

    def decode(self, z):
        """(image (N, 1, s, s) in [0, 1], label logits (N, 1+K, s, s))."""
        y = self.dec(self.fc(z).view(-1, self.top, self.cells, self.cells))
        return torch.sigmoid(y[:, :1]), y[:, 1:]

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decode(z), mu, logvar


def pair_loss(decoded, image, labels_index, reduction: str = "mean", seg_weight: float = 1.0):
    """Image MSE + ``seg_weight`` x label cross-entropy, per sample when reduction='none'."""
    img, logits = decoded
    mse = ((img - image) ** 2).flatten(1).mean(1)
    ce = F.cross_entropy(logits, labels_index, reduction="none").flatten(1).mean(1)
    loss = mse + seg_weight * ce
    return loss.mean() if reduction == "mean" else loss


def latent_search(vae: PairVAE, image: torch.Tensor, labels_index: torch.Tensor, steps: int = 40,
                  lr: float = 0.05, tol: float = 1e-3, seg_weight: float = 1.0) -> tuple[torch.Tensor, int]:
    """Surrogate labels (N, s, s) (0 background, k+1 structure k) and the iterations used.

    ``seg_weight`` balances staying near the given labels against fitting the image.
    All slices are optimised together; the search stops once no slice's loss improved by
    more than ``tol`` (relative) in an iteration.
    """
    onehot = F.one_hot(labels_index, vae.k + 1).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        z0, _ = vae.encode(torch.cat([image, onehot], 1))
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    prev, it = None, 0
    for it in range(1, steps + 1):
        loss = pair_loss(vae.decode(z), image, labels_index, reduction="none", seg_weight=seg_weight)
        z.grad, = torch.autograd.grad(loss.sum(), z)  # no gradients for the weights
        opt.step()
        cur = loss.detach()
        if prev is not None and bool(((prev - cur) / prev.clamp(min=1e-6) < tol).all()):
            break
        prev = cur
    with torch.no_grad():
        return channel_argmax(vae.decode(z)[1]), it

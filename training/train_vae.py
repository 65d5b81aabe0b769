"""Train the manifold VAE (Wang et al. 2020) on good (image, segmentation) pairs only.

    python training/train_vae.py [--steps 3000] [--latent 32] [--beta 0.01] [--out training/runs/vae]

Good pairs: slices of the QC set whose segmentation is the manual one (slice Dice 1) or a
second rater's jitter of it (mean Dice >= 0.9), on a 96-pixel ROI at 2 mm. Validation: the
slice-Dice MAE of the latent-search estimate on mixed-quality validation slices.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from loop import fit, training_args
from qcset import VALUES, to_index
from train_slice import load, sample_rois

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from SegmentationQCLib.manifold import PairVAE, latent_search, pair_loss  # noqa: E402

SIZE, PIXEL_MM = 96, 2.0


def dice_by_class(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B, K) Dice of index maps, 1 where both are empty."""
    out = []
    for k in range(1, len(VALUES) + 1):
        i = ((a == k) & (b == k)).flatten(1).sum(1).float()
        s = (a == k).flatten(1).sum(1).float() + (b == k).flatten(1).sum(1).float()
        out.append(torch.where(s > 0, 2 * i / s.clamp(min=1), torch.ones_like(s)))
    return torch.stack(out, 1)


def main() -> None:
    ap = training_args(__doc__, "vae", steps=3000, batch=32, lr=2e-3)
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--beta", type=float, default=0.01)
    a = ap.parse_args()
    tr, va = load(a.data / "train.npz"), load(a.data / "val.npz")
    good = np.flatnonzero(tr["dice"] >= 0.9)
    print(f"{len(good)} good training slices", flush=True)
    vrng = np.random.default_rng(a.seed + 99)
    vidx = vrng.choice(len(va["dice"]), size=min(400, len(va["dice"])), replace=False)
    xi, xs, xg = sample_rois(va, vidx, vrng, False, SIZE, PIXEL_MM)
    val = (xi, to_index(xs), dice_by_class(to_index(xs), to_index(xg)))

    def train_loss(model, rng):
        xi, xs, _ = sample_rois(tr, rng.choice(good, a.batch), rng, True, SIZE, PIXEL_MM)
        idx = to_index(xs)
        x = torch.cat([xi, torch.nn.functional.one_hot(idx, len(VALUES) + 1).permute(0, 3, 1, 2).float()], 1)
        decoded, mu, logvar = model(x)
        kl = -0.5 * torch.mean(torch.sum(1 + logvar - mu ** 2 - logvar.exp(), 1))
        return pair_loss(decoded, xi, idx) + a.beta * kl

    def evaluate(model):
        img, idx, true = val
        with torch.enable_grad():
            sur, _ = latent_search(model, img, idx)
        est = dice_by_class(sur, idx)
        return {"estimate_mae": float((est - true).abs().mean()), "estimate_mae_by_class": (est - true).abs().mean(0).tolist()}

    torch.manual_seed(a.seed)
    model = PairVAE(len(VALUES), a.latent, size=SIZE)
    fit(model, a.out, a.steps, a.lr, a.seed, train_loss, evaluate, "estimate_mae", False, every=500)
    (a.out / "config.json").write_text(json.dumps(vars(a), default=str))


if __name__ == "__main__":
    main()

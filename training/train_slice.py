"""Train the per-slice QC network on the QC set (CPU or CUDA), with checkpoints and a log.

    python training/train_slice.py [--steps 3500] [--batch 48] [--out training/runs/slice] [--seed 0]

Each batch draws (variant, slice) samples balanced over the slice-Dice range, samples the
ROI through the engine's own preprocessing (``roi_theta``/``sample``) with random rotation,
flip, scale and centring, then computes the targets (Dice, MVSF, true area) on the sampled
ROI. Checkpoints, resume and log: ``loop.fit``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from SegmentationQCLib.preprocess import model_input, roi_theta, sample  # noqa: E402
from SegmentationQCLib.slicenet import AREA_UNIT, SliceQCNet  # noqa: E402
from loop import add_phantom_guard, fit, phantom_guard, training_args  # noqa: E402
from qcset import VALUES, WINDOW  # noqa: E402

PIXEL_MM, ROI = 1.5, 128


def load(path: Path) -> dict:
    z = np.load(path)
    return {k: z[k] for k in z.files}


def balanced_p(dice: np.ndarray, bins: int = 10) -> np.ndarray:
    """Sampling probabilities that flatten the Dice histogram (rare bins are floored at 2 % of
    the samples, so that a handful of examples is not drawn over and over)."""
    b = np.clip((dice * bins).astype(int), 0, bins - 1)
    w = 1.0 / np.maximum(np.bincount(b, minlength=bins), 0.02 * len(dice))[b]
    return w / w.sum()


def targets(seg: torch.Tensor, truth: torch.Tensor):
    """(B, K) Dice, MVSF and true area / AREA_UNIT from sampled label ROIs (B, 1, h, w)."""
    z = torch.stack([(seg == v).flatten(1).sum(1) for v in VALUES], 1).float()
    y = torch.stack([(truth == v).flatten(1).sum(1) for v in VALUES], 1).float()
    i = torch.stack([((seg == v) & (truth == v)).flatten(1).sum(1) for v in VALUES], 1).float()
    den = z + y
    dice = torch.where(den > 0, 2 * i / den.clamp(min=1), torch.ones_like(den))
    mvsf = torch.where(den > 0, 2 * (y - z) / den.clamp(min=1), torch.zeros_like(den))
    return dice, mvsf, y / AREA_UNIT, z


def roi_for(centre, rng: np.random.Generator, augment: bool, roi: int = ROI, pixel_mm: float = PIXEL_MM):
    """The ROI sampling matrix for a bank slice centred at ``centre``: random rotation, flip,
    scale and centring when augmenting, the plain inference ROI otherwise."""
    if not augment:
        return roi_theta(centre, (WINDOW, WINDOW), (PIXEL_MM, PIXEL_MM), pixel_mm, roi)
    return roi_theta(centre + rng.normal(0, 4, 2), (WINDOW, WINDOW), (PIXEL_MM, PIXEL_MM), pixel_mm, roi,
                     angle=rng.integers(4) * np.pi / 2 + rng.uniform(-0.35, 0.35),
                     flip=bool(rng.random() < 0.5), scale=float(np.exp(rng.uniform(-0.15, 0.15))))


def sample_rois(d: dict, idx: np.ndarray, rng: np.random.Generator, augment: bool, roi: int = ROI,
                pixel_mm: float = PIXEL_MM, device: str = "cpu"):
    """(image, segmentation, truth) ROIs (B, 1, roi, roi) at ``pixel_mm`` for samples ``idx``,
    augmented or not (the bank's slices have 1.5 mm pixels), sampled on ``device``."""
    n = len(idx)
    use_att = (d["attacked_id"][idx] >= 0) & (rng.random(n) < 0.5) if augment else np.zeros(n, bool)
    img_id = np.where(use_att, d["attacked_id"][idx], d["image_id"][idx])
    img = torch.from_numpy(d["images"][img_id]).to(device)[:, None].float() / 255
    labels = torch.from_numpy(np.stack([d["segs"][d["seg_id"][idx]], d["segs"][d["truth_id"][idx]]], 1))
    theta = torch.stack([roi_for(c, rng, augment, roi, pixel_mm) for c in d["centre"][idx]]).to(device)
    xi = sample(img, theta, roi, "bilinear")
    xs, xg = sample(labels.to(device).float(), theta, roi, "nearest").split(1, 1)
    if augment:
        def draw(values):
            return torch.from_numpy(values).float().to(device)
        g = draw(np.exp(rng.normal(0, 0.25, (n, 1, 1, 1))))
        xi = (xi.clamp(0, 1) ** g) * draw(rng.uniform(0.85, 1.15, (n, 1, 1, 1)))
        xi = (xi + torch.randn_like(xi) * draw(rng.uniform(0, 0.04, (n, 1, 1, 1)))).clamp(0, 1)
    return xi, xs, xg


def make_batch(d: dict, idx: np.ndarray, rng: np.random.Generator, augment: bool, device: str = "cpu"):
    xi, xs, xg = sample_rois(d, idx, rng, augment, device=device)
    return model_input(xi, xs, VALUES), targets(xs, xg)


def loss_fn(pred, tgt):
    d, m, a = pred
    td, tm, ta, z = tgt
    lm = (F.smooth_l1_loss(m, tm, reduction="none", beta=0.1) * (z > 0)).mean()
    return F.smooth_l1_loss(d, td, beta=0.02) + 0.25 * lm + 0.5 * F.smooth_l1_loss(a, ta, beta=0.05)


def evaluate(model, batches) -> dict:
    err, errm = [], []
    for x, (td, tm, ta, z) in batches:
        d, m, a = model(x)
        err.append((d - td).abs())
        errm.append(((m - tm).abs() * (z > 0)))
    e = torch.cat(err)
    return {"slice_mae": e.mean(0).tolist(), "slice_mae_mean": float(e.mean()), "mvsf_mae": torch.cat(errm).mean(0).tolist()}


def main() -> None:
    ap = training_args(__doc__, "slice", steps=3500, batch=48, lr=2e-3)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--val-samples", type=int, default=3000)
    add_phantom_guard(ap)
    a = ap.parse_args()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    tr, va = load(a.data / "train.npz"), load(a.data / "val.npz")
    p = balanced_p(tr["dice"])
    vrng = np.random.default_rng(a.seed + 99)
    vidx = vrng.choice(len(va["dice"]), size=min(a.val_samples, len(va["dice"])), replace=False, p=balanced_p(va["dice"]))
    val = [make_batch(va, vidx[i:i + 200], vrng, False, dev) for i in range(0, len(vidx), 200)]

    def train_loss(model, rng):
        x, tgt = make_batch(tr, rng.choice(len(p), a.batch, p=p), rng, True, dev)
        return loss_fn(model(x), tgt)

    torch.manual_seed(a.seed)
    model = SliceQCNet(n_classes=len(VALUES), width=a.width).to(dev)
    fit(model, a.out, a.steps, a.lr, a.seed, train_loss, lambda m: evaluate(m, val), "slice_mae_mean", False, init=a.init,
        guard=phantom_guard(a, "slice"))
    (a.out / "config.json").write_text(json.dumps(vars(a), default=str))


if __name__ == "__main__":
    main()

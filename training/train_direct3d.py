"""Train the direct 3D Dice regressor (Robinson et al. 2018 baseline) on the QC set's volumes.

    python training/train_direct3d.py [--steps 400] [--base 16] [--out training/runs/direct3d]

Each step takes whole variants (every slice of one graded segmentation), samples their
128-pixel ROIs through one shared random transform, and regresses the volume Dice of each
structure from (image, background, structures). The ResNet-50 keeps its depth (3, 4, 6, 3
bottlenecks) at a reduced width (``--base``; Robinson's is 64) so that it trains on a CPU; at
~3 s a step here (2 cores) the default 400 steps are what the CPU budget allowed, so this
baseline is under-trained; give it more steps on a GPU.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from loop import fit, training_args
from qcset import VALUES
from train_slice import ROI, balanced_p, load, roi_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from SegmentationQCLib.direct3d import ResNet50_3D  # noqa: E402
from SegmentationQCLib.preprocess import model_input, sample  # noqa: E402


def variants(d: dict) -> list[np.ndarray]:
    """Row indices of each variant (its slices, in order)."""
    order = np.argsort(d["variant"], kind="stable")
    return np.split(order, np.flatnonzero(np.diff(d["variant"][order])) + 1)


def volume_input(d: dict, rows: np.ndarray, rng, augment: bool):
    """(1, 5, S, ROI, ROI) input and (K,) true volume Dice of one variant."""
    theta = roi_for(d["centre"][rows[0]], rng, augment).expand(len(rows), 2, 3)
    att = d["attacked_id"][rows]
    ids = att if augment and (att >= 0).all() and rng.random() < 0.5 else d["image_id"][rows]
    img = sample(torch.from_numpy(d["images"][ids].astype(np.float32) / 255)[:, None], theta, ROI, "bilinear")
    seg = sample(torch.from_numpy(d["segs"][d["seg_id"][rows]].astype(np.float32))[:, None], theta, ROI, "nearest")
    gt = sample(torch.from_numpy(d["segs"][d["truth_id"][rows]].astype(np.float32))[:, None], theta, ROI, "nearest")
    x = model_input(img, seg, VALUES)
    x = torch.cat([x[:, :1], 1 - x[:, 1:].sum(1, keepdim=True), x[:, 1:]], 1)  # add background
    dice = []
    for v in VALUES:
        i = ((seg == v) & (gt == v)).sum().float()
        s = (seg == v).sum().float() + (gt == v).sum().float()
        dice.append(2 * i / s if s > 0 else torch.tensor(1.0))
    return x.permute(1, 0, 2, 3)[None], torch.stack(dice)


def main() -> None:
    ap = training_args(__doc__, "direct3d", steps=400, batch=4, lr=1e-3)
    ap.add_argument("--base", type=int, default=16)
    a = ap.parse_args()
    tr, va = load(a.data / "train.npz"), load(a.data / "val.npz")
    tv, vv = variants(tr), variants(va)
    vol_dice = np.array([tr["dice"][r].mean() for r in tv])  # balance variants over their mean slice Dice
    p = balanced_p(vol_dice)
    vrng = np.random.default_rng(a.seed + 99)
    val = [volume_input(va, vv[i], vrng, False) for i in vrng.choice(len(vv), min(150, len(vv)), replace=False)]

    def train_loss(model, rng):
        loss = 0
        for i in rng.choice(len(tv), a.batch, p=p):
            x, t = volume_input(tr, tv[i], rng, True)
            loss = loss + F.smooth_l1_loss(model(x)[0], t, beta=0.02) / a.batch
        return loss

    def evaluate(model):
        err = torch.stack([(model(x)[0] - t).abs() for x, t in val])
        return {"vol_mae": float(err.mean()), "vol_mae_by_class": err.mean(0).tolist()}

    torch.manual_seed(a.seed)
    model = ResNet50_3D(in_channels=2 + len(VALUES), n_outputs=len(VALUES), base=a.base)
    fit(model, a.out, a.steps, a.lr, a.seed, train_loss, evaluate, "vol_mae", False)
    (a.out / "config.json").write_text(json.dumps(vars(a), default=str))


if __name__ == "__main__":
    main()

"""Train the voxel error-map network (Zhang & Chung 2019) on the QC set.

    python training/train_errormap.py [--steps 3000] [--batch 16] [--out training/runs/errormap]
        [--init W.pt] [--distil TEACHER.pt] [--perturb P]

Same samples, balancing and ROI augmentation as the slice network. The network predicts the
manual label of every pixel from (image, segmentation) with cross-entropy + soft Dice; the error
map is 1 - P(manual label = given label). (A first run with a single "wrong" logit and BCE +
Dice on the error map collapsed to marking the whole foreground 0.68 wrong on good and bad
slices alike.) Validation: error-map Dice on failing slices (true mean Dice < 0.7), the same on
acceptable ones (their mean picks the checkpoint), and the Pearson r of 1 - QI (mean predicted error in the ROI) with the true
pixel accuracy in the ROI.

``--distil``: the network also learns (KL divergence) the label distribution that the network in
TEACHER.pt (of any ``--base``) gives averaged over the ROI and its left-right mirror image, so that
one pass, or a narrower network, can stand in for the pack's two (the card's ``models.errormap.flips``).

``--perturb P``: a share P of the training segmentations has one structure's border redrawn
(``perturb_borders``), the manual labels still the target (tried for pack 1.8.0; not shipped).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from loop import add_phantom_guard, fit, phantom_guard, training_args
from qcset import VALUES, to_index
from train_slice import balanced_p, load, sample_rois

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from SegmentationQCLib.errornet import ErrorNet  # noqa: E402
from SegmentationQCLib.inference import flip_mean  # noqa: E402
from SegmentationQCLib.preprocess import model_input  # noqa: E402


def batch(d, idx, rng, augment, device="cpu", perturb=0.0):
    xi, xs, xg = sample_rois(d, idx, rng, augment, device=device)
    if perturb:
        xs = perturb_borders(xs, rng, perturb)
    return model_input(xi, xs, VALUES), to_index(xg), (xs != xg).float()


def perturb_borders(xs: torch.Tensor, rng: np.random.Generator, p: float) -> torch.Tensor:
    """``xs`` with, in a share ``p`` of the samples, one structure (the RV in half of them) redrawn
    as another segmenter might: cut along a random line (10-50 % of it dropped) or grown 2-6
    pixels in a random direction over background."""
    xs = xs.clone()
    for b in np.flatnonzero(rng.random(len(xs)) < p):
        lab = xs[b, 0]
        present = [v for v in VALUES if bool((lab == v).any())]
        if not present:
            continue
        v = 1 if 1 in present and rng.random() < 0.5 else present[rng.integers(len(present))]
        m = lab == v
        angle = rng.uniform(0, 2 * np.pi)
        if rng.random() < 0.5:
            yy, xx = torch.nonzero(m, as_tuple=True)
            proj = yy.float() * np.sin(angle) + xx.float() * np.cos(angle)
            cut = proj > torch.quantile(proj, 1 - rng.uniform(0.1, 0.5))
            lab[yy[cut], xx[cut]] = 0
        else:
            grown = m.clone()
            for k in range(1, int(rng.integers(2, 7)) + 1):
                grown |= torch.roll(m, (round(k * np.sin(angle)), round(k * np.cos(angle))), (0, 1))
            lab[grown & (lab == 0)] = v
    return xs


def loss_fn(logits, truth):
    p = torch.softmax(logits, 1)
    onehot = F.one_hot(truth, logits.shape[1]).permute(0, 3, 1, 2).float()
    dice = (2 * (p * onehot).sum((0, 2, 3)) + 1) / (p.sum((0, 2, 3)) + onehot.sum((0, 2, 3)) + 1)
    return F.cross_entropy(logits, truth) + (1 - dice[1:]).mean()


def evaluate(model, batches) -> dict:
    dices, good, qi, acc = [], [], [], []
    for x, _, err, failing in batches:
        p = model.predict(x)[0]
        hard = (p > 0.5).float()
        inter = (hard * err).sum((1, 2, 3))
        den = hard.sum((1, 2, 3)) + err.sum((1, 2, 3))
        d = torch.where(den > 0, 2 * inter / den.clamp(min=1), torch.ones_like(den))
        dices += d[failing].tolist()
        good += d[~failing].tolist()
        qi += p.mean((1, 2, 3)).tolist()
        acc += (1 - err.mean((1, 2, 3))).tolist()
    return {"errormap_dice_failing": float(np.mean(dices)), "errormap_dice_acceptable": float(np.mean(good)),
            "errormap_dice_balanced": float(np.mean(dices) + np.mean(good)) / 2,
            "qi_accuracy_r": float(np.corrcoef(1 - np.array(qi), acc)[0, 1])}


def main() -> None:
    ap = training_args(__doc__, "errormap", steps=3000, batch=16, lr=2e-3)
    ap.add_argument("--base", type=int, default=8)
    ap.add_argument("--perturb", type=float, default=0.0, help="share of training samples whose segmentation "
                                                                   "is redrawn at one structure's border")
    ap.add_argument("--distil", type=Path, help="weights of a teacher network (any width) whose mirror-averaged "
                                                  "label distribution the network also learns")
    add_phantom_guard(ap)
    a = ap.parse_args()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    tr, va = load(a.data / "train.npz"), load(a.data / "val.npz")
    p = balanced_p(tr["dice"])
    vrng = np.random.default_rng(a.seed + 99)
    vidx = vrng.choice(len(va["dice"]), size=min(1500, len(va["dice"])), replace=False, p=balanced_p(va["dice"]))
    val = []
    for i in range(0, len(vidx), 100):
        j = vidx[i:i + 100]
        x, truth, err = batch(va, j, vrng, False, dev)
        val.append((x, truth, err, torch.from_numpy(va["dice"][j] < 0.7).to(dev)))

    teacher = None
    if a.distil:
        state = torch.load(a.distil, map_location=dev, weights_only=True)
        teacher = ErrorNet(len(VALUES), base=state["head.weight"].shape[1]).to(dev).eval()
        teacher.load_state_dict(state)

    def train_loss(model, rng):
        x, truth, _ = batch(tr, rng.choice(len(p), a.batch, p=p), rng, True, dev, a.perturb)
        logits = model(x)
        loss = loss_fn(logits, truth)
        if teacher is not None:
            with torch.no_grad():
                q = flip_mean(lambda t: torch.softmax(teacher(t), 1), x, [(3,)], maps=True)
            loss = loss + F.kl_div(F.log_softmax(logits, 1), q, reduction="none").sum(1).mean()
        return loss

    torch.manual_seed(a.seed)
    model = ErrorNet(len(VALUES), base=a.base).to(dev)
    fit(model, a.out, a.steps, a.lr, a.seed, train_loss, lambda m: evaluate(m, val), "errormap_dice_balanced", True,
        init=a.init, guard=phantom_guard(a, "errormap"))
    (a.out / "config.json").write_text(json.dumps(vars(a), default=str))


if __name__ == "__main__":
    main()

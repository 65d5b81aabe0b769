"""Dice estimators besides the slice network, and their fusion.

- ``errormap``: soft Dice between the segmentation and the error-map network's distribution of
  the manual label (the network behind the voxel error map).
- ``manifold``: Dice between the segmentation and the surrogate found by latent search.
- ``direct3d``: the direct volume regressor (volume level only).
- ``fused``: per structure, a convex combination of the methods' estimates (weights fitted on
  validation, stored in the card).
Voxels labelled outside the ROI are false positives for every method, as in the rebuild.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import presence
from .calibration import apply as calibrate
from .inference import channel_argmax
from .metrics import dice_from_counts
from .preprocess import roi_theta, sample, to_native


def _volume(tp, fp, fn, z_out_roi):
    """(K,) volume Dice from per-slice soft counts (S, K) plus out-of-ROI false positives."""
    return dice_from_counts(tp.sum(0), (tp + fp).sum(0) + z_out_roi.sum(0), (tp + fn).sum(0))


def _slice(tp, fp, fn, z_out_roi):
    return dice_from_counts(tp, tp + fp + z_out_roi, tp + fn)


def errormap_estimates(truth_prob: np.ndarray, onehot: np.ndarray, z_out_roi: np.ndarray):
    """(S, K) slice and (K,) volume soft Dice from the predicted manual-label probabilities of the
    structures (S, K, h, w) and the segmentation's ROI channels (S, K, h, w);
    ``z_out_roi``: out-of-ROI voxels in ROI pixels. Where the segmentation has none of a
    structure, the answer is yes/no (``presence.absent_dice``)."""
    tp = (onehot * truth_prob).sum((2, 3))
    fp = onehot.sum((2, 3)) - tp
    fn = truth_prob.sum((2, 3)) - tp
    return _slice(tp, fp, fn, z_out_roi), _volume(tp, fp, fn, z_out_roi)


@torch.no_grad()
def encode_labels(labels: torch.Tensor, values) -> torch.Tensor:
    """(N, 1, h, w) label values -> (N, h, w) class index (0 background, c + 1 for values[c])."""
    idx = torch.zeros(labels.shape[0], *labels.shape[2:], dtype=torch.long, device=labels.device)
    for c, v in enumerate(values):
        idx[labels[:, 0] == v] = c + 1
    return idx


def manifold_estimates(vae, cfg: dict, image: torch.Tensor, labels: torch.Tensor, values, centre, spacing_rc,
                       z_out: np.ndarray, device: str):
    """(slice (S, K), volume (K,), surrogate (S, H, W) class index, iterations) by latent search.

    ``image``/``labels``: (S, 1, H, W) normalised image and label values on the case grid."""
    from .manifold import latent_search

    s, _, h, w = image.shape
    size, px = cfg["size"], cfg["pixel_mm"]
    theta = roi_theta(centre, (h, w), spacing_rc, px, size).expand(s, 2, 3)
    img = sample(image, theta, size, "bilinear").to(device)
    idx = encode_labels(sample(labels, theta, size, "nearest"), values).to(device)
    sur, iters = latent_search(vae, img, idx, **cfg.get("search", {}))
    k = len(values)
    seg1 = F.one_hot(idx, k + 1)[..., 1:].permute(0, 3, 1, 2).float()
    sur1 = F.one_hot(sur, k + 1)[..., 1:].permute(0, 3, 1, 2).float()
    tp = (seg1 * sur1).sum((2, 3)).double().cpu().numpy()
    fp = (seg1 * (1 - sur1)).sum((2, 3)).double().cpu().numpy()
    fn = ((1 - seg1) * sur1).sum((2, 3)).double().cpu().numpy()
    z_out_roi = z_out * spacing_rc[0] * spacing_rc[1] / px ** 2
    probs = F.one_hot(sur, k + 1).permute(0, 3, 1, 2).float().cpu()
    native = to_native(probs, theta, (h, w))
    native[:, 0] += native.sum(1) < 0.5  # outside the ROI: background
    return _slice(tp, fp, fn, z_out_roi), _volume(tp, fp, fn, z_out_roi), channel_argmax(native).numpy(), iters


@torch.no_grad()
def direct3d_estimate(model, x: torch.Tensor, device: str) -> np.ndarray:
    """(K,) volume Dice from the slice ROIs (S, 1+K, h, w), background channel added."""
    x = torch.cat([x[:, :1], 1 - x[:, 1:].sum(1, keepdim=True).clamp(max=1), x[:, 1:]], 1)
    return model(x.permute(1, 0, 2, 3)[None].to(device))[0].double().cpu().numpy()


def fuse(estimates: dict, weights: dict, classes) -> np.ndarray:
    """Per structure, sum of weights[method][structure] x estimate; estimates: method -> (..., K)."""
    out = None
    for m, est in estimates.items():
        wv = np.array([weights[m][c] for c in classes])
        out = est * wv if out is None else out + est * wv
    return out


def finish(est: dict, card: dict, classes, seg_area: np.ndarray, fused: bool = True) -> tuple[dict, np.ndarray]:
    """The card's steps after scoring, in the engine's order: each method's recalibration, the
    ``fused`` estimate (when asked for and the card has a fusion), then the structures known to be
    missing set to Dice 0. ``est``: method -> (slice (S, K) or None, volume (K,)); ``seg_area``:
    (S, K) segmented voxels. Returns the estimates and the (K,) known-absent structures."""
    est = dict(est)
    for k, (sl, vo) in est.items():
        cal = card.get("calibration", {}).get(k)
        if cal:
            est[k] = (calibrate(sl, cal["slice"], classes) if sl is not None and "slice" in cal else sl,
                      calibrate(vo, cal["volume"], classes) if "volume" in cal else vo)
    if fused and "fusion" in card:
        fusion = card["fusion"]
        est["fused"] = tuple(
            fuse({k: est[k][i] for k in fusion["methods"] if est[k][i] is not None}, fusion[level], classes)
            for i, level in enumerate(("slice_weights", "volume_weights")))
    absent = presence.known_absent(seg_area, classes, card.get("always_present"))
    return presence.known_absent_estimates(est, absent, seg_area), absent

"""The QC pipeline: a Case and a ModelPack in, a QCResult out.

The slice network predicts, inside the ROI, each slice's Dice, MVSF and true area per
structure. Segmentation voxels outside the ROI are counted as false positives, and the
volume Dice is rebuilt from the slices (Fournel et al. 2021).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from . import metrics
from .case import Case
from .errors import InputError
from .pack import ModelPack, load_pack
from .preprocess import inside_roi, model_input, normalise, roi_centre, roi_theta, sample
from .slicenet import AREA_UNIT


@dataclass
class Prepared:
    """Network input for one case plus the native per-slice counts the rebuild needs."""

    x: torch.Tensor  # (S, 1+K, size, size)
    z_in: np.ndarray  # (S, K) segmentation voxels inside the ROI
    z_out: np.ndarray  # (S, K) segmentation voxels outside the ROI
    area_ratio: float  # ROI pixel area / native pixel area
    centre: np.ndarray


@dataclass
class QCResult:
    case: str
    classes: list[str]
    slice_dice: np.ndarray  # (S, K) predicted Dice
    volume_dice: np.ndarray  # (K,)
    seg_area: np.ndarray  # (S, K) segmentation voxels
    truth_area: np.ndarray  # (S, K) estimated true voxels
    spacing: tuple[float, float, float]
    verdict: str
    flags: np.ndarray  # (S, K) bool
    slice_low: np.ndarray | None = None
    slice_high: np.ndarray | None = None
    volume_low: np.ndarray | None = None
    volume_high: np.ndarray | None = None
    error_map: np.ndarray | None = None  # (S, H, W) P(voxel mislabelled), when the pack has an error-map model
    surrogate: np.ndarray | None = None  # (S, H, W) nearest plausible labels, when the pack has a manifold model
    model: dict = field(default_factory=dict)
    slice_axis: int = 0
    timings_ms: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _labels_for(case: Case, pack: ModelPack) -> list[int]:
    missing = [c for c in pack.classes if c not in case.class_values]
    if missing:
        raise InputError(f"the label mapping has no value for {', '.join(missing)} "
                         f"(model pack {pack.name} needs {', '.join(pack.classes)}; use --labels)")
    return [case.class_values[c] for c in pack.classes]


def prepare(case: Case, pack: ModelPack) -> Prepared:
    pp = pack.preprocessing
    values = _labels_for(case, pack)
    s, h, w = case.labels.shape
    lab = np.where(np.isin(case.labels, values), case.labels, 0)
    centre = roi_centre(lab)
    if centre is None:
        centre = np.array([(h - 1) / 2, (w - 1) / 2])
    spacing_rc = case.spacing[1:]
    theta = roi_theta(centre, (h, w), spacing_rc, pp["pixel_mm"], pp["roi_size"]).expand(s, 2, 3)
    img = torch.from_numpy(normalise(case.image, pp["upper_percentile"]))[:, None]
    xi = sample(img, theta, pp["roi_size"], "bilinear")
    xl = sample(torch.from_numpy(lab.astype(np.float32))[:, None], theta, pp["roi_size"], "nearest")
    inside = inside_roi((h, w), centre, spacing_rc, pp["pixel_mm"], pp["roi_size"])
    z_all = np.stack([(lab == v).reshape(s, -1).sum(1) for v in values], 1)
    z_in = np.stack([((lab == v) & inside).reshape(s, -1).sum(1) for v in values], 1)
    return Prepared(model_input(xi, xl, values), z_in, z_all - z_in,
                    pp["pixel_mm"] ** 2 / (spacing_rc[0] * spacing_rc[1]), centre)


def rebuild(d, m, a, prep: Prepared):
    """Slice Dice over the whole slice, truth areas and volume Dice from in-ROI predictions."""
    y_hat = np.where(prep.z_in > 0, metrics.truth_area_from_mvsf(prep.z_in, m), a * AREA_UNIT * prep.area_ratio)
    inter = 0.5 * d * (y_hat + prep.z_in)
    z = prep.z_in + prep.z_out
    slice_d = np.where(prep.z_out > 0, metrics.dice_from_counts(inter, z, y_hat), d)
    vol = metrics.dice_from_counts(inter.sum(0), z.sum(0), y_hat.sum(0))
    vol = np.where(z.sum(0) == 0, d.min(0), vol)  # structure absent from the segmentation
    return slice_d, y_hat, vol


class QCEngine:
    """Loads a pack's models once; ``check`` scores one case."""

    def __init__(self, pack: ModelPack | str | None = None, device: str | None = None):
        self.pack = pack if isinstance(pack, ModelPack) else load_pack(pack)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.slice_model = self.pack.load_slice_model(self.device)

    @torch.no_grad()
    def predict_slices(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(S, K) Dice, MVSF and area (in AREA_UNIT ROI pixels), averaged over flips if the pack says so."""
        x = x.to(self.device)
        flips = [(), (2,), (3,), (2, 3)] if self.pack.card.get("tta", False) else [()]
        outs = [self.slice_model(torch.flip(x, f) if f else x) for f in flips]
        return tuple(torch.stack([o[i] for o in outs]).mean(0).double().cpu().numpy() for i in range(3))

    def check(self, case: Case) -> QCResult:
        t0 = time.perf_counter()
        prep = prepare(case, self.pack)
        t1 = time.perf_counter()
        d, m, a = self.predict_slices(prep.x)
        t2 = time.perf_counter()
        slice_d, y_hat, vol = rebuild(d, m, a, prep)
        card = self.pack.card
        res = QCResult(case=case.name, classes=self.pack.classes, slice_dice=slice_d, volume_dice=vol,
                       seg_area=prep.z_in + prep.z_out, truth_area=y_hat, spacing=case.spacing,
                       verdict=verdict(vol, card["thresholds"]),
                       flags=slice_d < np.array([card["thresholds"]["slice_flag"][c] for c in self.pack.classes]),
                       model={"name": self.pack.name, "version": self.pack.version},
                       slice_axis=case.slice_axis, warnings=list(case.warnings))
        _add_intervals(res, card.get("intervals"))
        t3 = time.perf_counter()
        res.timings_ms = {"preprocess": 1e3 * (t1 - t0), "model": 1e3 * (t2 - t1), "total": 1e3 * (t3 - t0)}
        return res


def verdict(volume_dice: np.ndarray, thresholds: dict) -> str:
    """fail below ``fail`` for any structure, review below ``review``, else pass."""
    worst = float(np.min(volume_dice))
    return "fail" if worst < thresholds["fail"] else "review" if worst < thresholds["review"] else "pass"


def _add_intervals(res: QCResult, intervals: dict | None) -> None:
    """Conformal bounds from the card: per structure, residual quantiles in bins of predicted Dice."""
    if not intervals:
        return
    for level, pred in (("slice", res.slice_dice), ("volume", res.volume_dice)):
        spec = intervals[level]
        edges = np.asarray(spec["edges"])
        lo, hi = np.empty_like(pred), np.empty_like(pred)
        for k, c in enumerate(res.classes):
            b = np.clip(np.searchsorted(edges, pred[..., k], side="right") - 1, 0, len(edges) - 2)
            lo[..., k] = pred[..., k] - np.asarray(spec["below"][c])[b]
            hi[..., k] = pred[..., k] + np.asarray(spec["above"][c])[b]
        setattr(res, f"{level}_low", np.clip(lo, 0, 1))
        setattr(res, f"{level}_high", np.clip(hi, 0, 1))

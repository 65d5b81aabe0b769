"""The QC pipeline: a Case and a ModelPack in, a QCResult out.

The slice network predicts, inside the ROI, each slice's Dice, MVSF and true area per
structure. Segmentation voxels outside the ROI are counted as false positives, and the
volume Dice is rebuilt from the slices (Fournel et al. 2021).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from . import labelcheck, metrics, presence
from .case import Case
from .errornet import error_probability
from .errors import InputError
from .inference import BFloat16, channel_argmax, channels_last, flip_mean, native_bfloat16, optimise
from .intervals import bounds, scale
from .methods import direct3d_estimate, errormap_estimates, finish, manifold_estimates
from .pack import ModelPack, load_pack, method_list
from .preprocess import inside_roi, model_input, normalise, roi_centre, roi_theta, sample, to_native
from .quantized import INT8_TORCH, native_int8
from .slicenet import AREA_UNIT


@dataclass
class Prepared:
    """Network input for one case plus the native per-slice counts the rebuild needs."""

    x: torch.Tensor  # (S, 1+K, size, size)
    z_in: np.ndarray  # (S, K) segmentation voxels inside the ROI
    z_out: np.ndarray  # (S, K) segmentation voxels outside the ROI
    area_ratio: float  # ROI pixel area / native pixel area
    centre: np.ndarray
    theta: torch.Tensor | None = None  # (S, 2, 3) ROI -> slice sampling matrices
    outside: np.ndarray | None = None  # (H, W) bool, slice pixels outside the ROI
    image: torch.Tensor | None = None  # (S, 1, H, W) normalised image on the case grid
    labels: torch.Tensor | None = None  # (S, 1, H, W) the pack's structures' label values


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
    error_map: np.ndarray | None = None  # (S, H, W) P(voxel mislabelled), when asked for (check(error_map=True))
    quality_index: float | None = None  # mean predicted error in the ROI (Zhang & Chung's QI)
    slice_error_fraction: np.ndarray | None = None  # (S,) predicted wrong / (segmented ∪ predicted wrong)
    errormap_area_mm2: np.ndarray | None = None  # (S, K) manual-label area the error-map network expects in the ROI
    surrogate: np.ndarray | None = None  # (S, H, W) nearest plausible labels, when the pack has a manifold model
    method: str = "slice"  # the estimator behind slice_dice and volume_dice
    estimates: dict = field(default_factory=dict)  # method -> (slice (S, K) or None, volume (K,))
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


def input_notes(case: Case, pack: ModelPack) -> list[str]:
    """Warnings about the input the pack cannot judge: structures the label mapping names that the
    pack does not score, pixels more than four times larger or smaller than the pack's (a header
    in other units than mm, or another kind of image), or else slices narrower than half the pack's
    ROI (a tight crop)."""
    notes = []
    other = {c: v for c, v in case.class_values.items() if c not in pack.classes}
    if other:
        notes.append(f"the label mapping names {', '.join(other)}, which model pack {pack.name} does not score (it "
                     f"scores {', '.join(pack.classes)}): label values {sorted(other.values())} are ignored")
    pixel, target = np.asarray(case.spacing[1:], float), pack.preprocessing["pixel_mm"]
    ratio = max(pixel.max() / target, target / pixel.min())
    if ratio > 4:
        size = "larger" if pixel.max() > target else "smaller"
        notes.append(f"the image's pixels ({pixel[0]:g} x {pixel[1]:g} mm) are {ratio:.0f} times {size} than the "
                     f"{target:g} mm model pack {pack.name} works at: check that the header gives mm; the estimates "
                     "may be meaningless")
        return notes
    extent, roi_mm = np.asarray(case.labels.shape[1:]) * pixel, pack.preprocessing["roi_size"] * target
    if extent.min() < roi_mm / 2:
        notes.append(f"the image's slices cover only {extent[0]:.0f} x {extent[1]:.0f} mm; model pack {pack.name} reads a "
                     f"{roi_mm:.0f} mm square around the structures and needs at least {roi_mm / 2:.0f} mm of it: a crop "
                     "this tight may cut the structures off, and the estimates may be meaningless")
    return notes


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
    labels = torch.from_numpy(lab.astype(np.float32))[:, None]
    xi = sample(img, theta, pp["roi_size"], "bilinear")
    xl = sample(labels, theta, pp["roi_size"], "nearest")
    inside = inside_roi((h, w), centre, spacing_rc, pp["pixel_mm"], pp["roi_size"])
    z_all = metrics.slice_areas(lab, values)
    z_in = np.stack([((lab == v) & inside).reshape(s, -1).sum(1) for v in values], 1)
    return Prepared(model_input(xi, xl, values), z_in, z_all - z_in,
                    pp["pixel_mm"] ** 2 / (spacing_rc[0] * spacing_rc[1]), centre, theta, ~inside, img, labels)


def rebuild(d, m, a, prep: Prepared):
    """Slice Dice over the whole slice, truth areas and volume Dice from in-ROI predictions."""
    y_hat = np.where(prep.z_in > 0, metrics.truth_area_from_mvsf(prep.z_in, m), a * AREA_UNIT * prep.area_ratio)
    inter = 0.5 * d * (y_hat + prep.z_in)
    z = prep.z_in + prep.z_out
    slice_d = np.where(prep.z_out > 0, metrics.dice_from_counts(inter, z, y_hat), d)
    vol = metrics.dice_from_counts(inter.sum(0), z.sum(0), y_hat.sum(0))
    vol = np.where(z.sum(0) == 0, d.min(0), vol)  # structure absent from the segmentation
    return slice_d, y_hat, vol


PRECISIONS = ("float32", "bfloat16", "int8")


def native_precisions(device: str) -> list[str]:
    """The precisions ``QCEngine`` offers on ``device``: float32, and those it runs natively."""
    return ["float32"] + [p for p, native in (("bfloat16", native_bfloat16), ("int8", native_int8)) if native(device)]


class QCEngine:
    """Loads a pack's models once; ``check`` scores one case.

    ``methods``: the estimators to run, a list or a comma-separated string, the first one giving
    the reported Dice (default: the card's ``default_methods``). ``slice`` always runs: its
    per-slice values drive the rebuild and, for methods without slice-level estimates, the flags.
    ``precision``: ``"bfloat16"`` runs the slice and error-map networks in bfloat16, on a CPU or
    CUDA GPU with native bfloat16 arithmetic only; ``"int8"`` runs the pack's int8 forms of them
    (``quantized.py``), on x86 CPUs with torch 2.4 or later. Both are faster on a CPU
    (docs/benchmark.md), their volume Dice within about 0.02 of float32's, which stays the default so
    that every machine gives the same answers. The manifold search and the 3D baseline stay in float32.
    """

    def __init__(self, pack: ModelPack | str | None = None, device: str | None = None, methods=None,
                 precision: str = "float32"):
        self.pack = pack if isinstance(pack, ModelPack) else load_pack(pack)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if not re.fullmatch(r"cpu|cuda(:\d+)?", str(self.device)):
            raise InputError(f"device {self.device!r} is not cpu, cuda or cuda:N")
        if str(self.device).startswith("cuda") and not torch.cuda.is_available():
            raise InputError(f"device {self.device} was asked for, but this machine's torch sees no CUDA GPU "
                             f"(torch {torch.__version__}); use --device cpu")
        if precision not in PRECISIONS:
            raise InputError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
        if precision == "bfloat16" and not native_bfloat16(self.device):
            raise InputError(f"bfloat16 precision needs native bfloat16 arithmetic, which device {self.device} lacks "
                             "(a CPU with AVX512-BF16 or AMX, or a CUDA GPU of compute capability 8.0 or later); "
                             "use float32")
        if precision == "int8" and not native_int8(self.device):
            raise InputError(f"int8 precision runs on x86 CPUs only, with PyTorch {INT8_TORCH} or later (its x86 "
                             f"int8 kernels), not on device {self.device} with torch {torch.__version__}; use float32")
        self.precision = precision
        card = self.pack.card
        self.available = ["slice"] + [m for m in ("errormap", "manifold", "direct3d") if self.pack.has(m)]
        if "fusion" in card and all(m in self.available for m in card["fusion"]["methods"]):
            self.available.append("fused")
        self.methods = method_list(methods) or list(card.get("default_methods", ["slice"]))
        bad = [m for m in self.methods if m not in self.available]
        if bad:
            raise InputError(f"method {', '.join(bad)} is not available with model pack {self.pack.name} "
                             f"(available: {', '.join(self.available)})")
        if precision == "int8":  # quantisation folds batch normalisation itself
            def load(network):
                return network(self.device, int8=True)
        else:
            fast = BFloat16 if precision == "bfloat16" else (lambda m: m)

            def load(network):
                return fast(optimise(network(self.device)))
        self.slice_model = load(self.pack.load_slice_model)
        self.error_model = load(self.pack.load_error_model) if self.pack.has("errormap") else None
        self.vae = self.pack.load_manifold_model(self.device) if self.pack.has("manifold") else None
        self.direct3d = self.pack.load_direct3d_model(self.device) if "direct3d" in self.needed() else None

    def needed(self) -> set:
        """The methods a check runs: those chosen and, for ``fused``, the ones it fuses."""
        need = set(self.methods)
        if "fused" in need:
            need |= set(self.pack.card["fusion"]["methods"])
        return need

    @torch.inference_mode()
    def predict_slices(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(S, K) Dice, MVSF and area (in AREA_UNIT ROI pixels), averaged over flips if the pack says so."""
        x = channels_last(x.to(self.device))
        flips = [(2,), (3,), (2, 3)] if self.pack.card.get("tta", False) else []
        return tuple(t.double().cpu().numpy() for t in flip_mean(self.slice_model, x, flips))

    def _manual_labels(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1+K, h, w) the error-map network's distribution of the manual label, averaged over the
        card's ``flips`` of the input (flipped back)."""
        return flip_mean(lambda t: torch.softmax(self.error_model(t), 1), x,
                         self.pack.card["models"]["errormap"].get("flips", []), maps=True)

    @torch.inference_mode()
    def expected_areas(self, case: Case, slices) -> np.ndarray:
        """(len(slices), K) area (pixels of the case) of each structure on those slices that the
        error-map network expects from the image and the case's segmentation (inside the ROI)."""
        prep = prepare(case, self.pack)
        q = self._manual_labels(channels_last(prep.x[list(slices)].to(self.device)))
        return q[:, 1:].sum((2, 3)).double().cpu().numpy() * prep.area_ratio

    @torch.inference_mode()
    def error_map(self, case: Case, prep: Prepared, native: bool = True):
        """(S, H, W) P(label wrong) on the case grid (None unless ``native``), the QI, per-slice error
        fractions and the error-map Dice estimates (slice, volume), and the (S, K) manual-label area
        (mm²) it expects.

        The network's label distribution is averaged over the card's ``flips`` of the input (flipped
        back). Labelled voxels outside the ROI are wrong with probability 1 (as in the Dice rebuild)."""
        x = channels_last(prep.x.to(self.device))
        p_roi, q = (t.float().cpu().contiguous() for t in error_probability(x, self._manual_labels(x)))
        p = self._native_error_map(case, prep, p_roi) if native else None
        seg = prep.x[:, 1:].sum(1, keepdim=True) > 0
        union = torch.maximum(seg.float(), p_roi).sum((1, 2, 3)).numpy()
        frac = np.where(union > 0, p_roi.sum((1, 2, 3)).numpy() / np.maximum(union, 1e-6), 0.0)
        area_mm2 = q[:, 1:].sum((2, 3)).numpy() * self.pack.preprocessing["pixel_mm"] ** 2
        seg_area = prep.z_in + prep.z_out
        # the most probable manual label has the structure somewhere on the slice, or the pack's presence model
        present = (channel_argmax(q, keepdim=True) == torch.arange(1, q.shape[1])[:, None, None]).any(3).any(2).numpy()
        model = self.pack.card["models"]["errormap"].get("presence")
        if model:
            present = presence.predict(seg_area, area_mm2, model, self.pack.classes, present)
        est = presence.absent_dice(*errormap_estimates(q[:, 1:].numpy(), prep.x[:, 1:].numpy(),
                                                       prep.z_out / prep.area_ratio), seg_area, present)
        return p, float(p_roi.mean()), frac, est, area_mm2

    def _native_error_map(self, case: Case, prep: Prepared, p_roi: torch.Tensor) -> np.ndarray:
        """The ROI's (S, 1, size, size) P(label wrong) mapped onto the case grid (labelled voxels
        outside the ROI: 1)."""
        p = to_native(p_roi, prep.theta, case.labels.shape[1:])[:, 0].numpy()
        fg = np.isin(case.labels, [case.class_values[c] for c in self.pack.classes])
        return np.where(prep.outside[None] & fg, 1.0, p).astype(np.float32)

    def surrogate(self, case: Case, prep: Prepared | None = None):
        """Manifold estimates (slice, volume) and the surrogate labels (S, H, W) in the case's values."""
        if self.vae is None:
            raise InputError(f"model pack {self.pack.name} has no manifold model; a surrogate needs one")
        prep = prep or prepare(case, self.pack)
        values = [case.class_values[c] for c in self.pack.classes]
        sl, vol, idx, _ = manifold_estimates(self.vae, self.pack.card["models"]["manifold"], prep.image, prep.labels,
                                             values, prep.centre, case.spacing[1:], prep.z_out, self.device)
        return sl, vol, np.array([0] + values, dtype=case.labels.dtype)[idx]

    def check(self, case: Case, flag_on: str = "dice", exclude_ends: int = 0, progress=None,
              error_map: bool = False, surrogate: bool = False) -> QCResult:
        """Score a case. Slices are flagged where the reported Dice (``flag_on="dice"``) or its
        interval's upper bound (``"upper"``) is below the card's per-structure threshold, or more
        than the card's ``slice_dip`` below both neighbouring slices, within the structure's
        segmented extent (``slice_flags``); ``exclude_ends`` slices at each end of the segmented
        stack are never flagged.
        ``error_map``/``surrogate`` ask for those outputs (the error map on the case grid; a method that
        needs the error-map network runs it anyway, for its estimates, QI and error fractions).
        ``progress(fraction, stage)`` is called between stages; it may raise to cancel."""
        if not isinstance(case, Case):
            raise InputError(f"check takes a Case (from read_case or case_from_arrays), not {type(case).__name__}")
        check_flagging(flag_on, exclude_ends)  # before any network runs
        report = progress or (lambda fraction, stage: None)
        need = self.needed()
        t0 = time.perf_counter()
        report(0.0, "preprocessing")
        blank = blank_slices(case.image, case.name)
        prep = prepare(case, self.pack)
        timings = {"preprocess": 1e3 * (time.perf_counter() - t0)}
        report(0.1, "slice model")
        t = time.perf_counter()
        d, m, a = self.predict_slices(prep.x)
        slice_d, y_hat, vol = rebuild(d, m, a, prep)
        timings["slice"] = 1e3 * (time.perf_counter() - t)
        est = {"slice": (slice_d, vol)}
        extra = {}
        if self.error_model is not None and ("errormap" in need or error_map):
            report(0.3, "error map")
            t = time.perf_counter()
            emap, qi, frac, est["errormap"], area = self.error_map(case, prep, native=error_map)
            extra.update(error_map=emap, quality_index=qi, slice_error_fraction=frac, errormap_area_mm2=area)
            timings["errormap"] = 1e3 * (time.perf_counter() - t)
        if self.vae is not None and ("manifold" in need or surrogate):
            report(0.5, "manifold search")
            t = time.perf_counter()
            sl, mv, extra["surrogate"] = self.surrogate(case, prep)
            est["manifold"] = (sl, mv)
            timings["manifold"] = 1e3 * (time.perf_counter() - t)
        if "direct3d" in need:
            report(0.8, "direct 3D")
            t = time.perf_counter()
            est["direct3d"] = (None, direct3d_estimate(self.direct3d, prep.x, self.device))
            timings["direct3d"] = 1e3 * (time.perf_counter() - t)
        seg_area = prep.z_in + prep.z_out
        est, absent = finish(est, self.pack.card, self.pack.classes, seg_area, fused="fused" in need)
        notes = [f"{c} is segmented on no slice, but every training volume of model pack {self.pack.name} has it: "
                 f"its volume Dice is 0" for c in np.array(self.pack.classes)[absent]]
        blank &= seg_area.sum(1) > 0
        if blank.any():
            notes.append(f"image slices {np.flatnonzero(blank).tolist()} are blank (one value in every voxel) where the "
                         "segmentation has labels: their Dice cannot be judged from the image")
        notes += input_notes(case, self.pack)
        notes += labelcheck.swap_warnings(case.labels, {c: case.class_values[c] for c in self.pack.classes},
                                          self.pack.card.get("concentric"), case.spacing[1:], self.pack.name)
        main = self.methods[0]
        main_slice = est[main][0] if est[main][0] is not None else slice_d
        card = self.pack.card
        res = QCResult(case=case.name, classes=self.pack.classes, slice_dice=np.clip(main_slice, 0, 1),
                       volume_dice=np.clip(est[main][1], 0, 1), seg_area=seg_area, truth_area=y_hat,
                       spacing=case.spacing, verdict=verdict(np.clip(est[main][1], 0, 1), card["thresholds"]),
                       flags=np.zeros(slice_d.shape, bool), method=main,
                       estimates={k: v for k, v in est.items() if k in need},
                       model={"name": self.pack.name, "version": self.pack.version, "precision": self.precision},
                       slice_axis=case.slice_axis, warnings=list(case.warnings) + notes, **extra)
        _add_intervals(res, card.get("intervals", {}).get(main), absent)
        res.flags = flag_slices(res, card["thresholds"]["slice_flag"], flag_on, exclude_ends,
                                card["thresholds"].get("slice_dip"))
        timings["total"] = 1e3 * (time.perf_counter() - t0)
        res.timings_ms = timings
        report(1.0, "done")
        return res


def blank_slices(image: np.ndarray, name: str) -> np.ndarray:
    """(S,) slices of an (S, H, W) image that hold one value; an image that holds one value
    everywhere is refused: there is nothing to check the segmentation against."""
    flat = image.reshape(len(image), -1)
    blank = flat.min(1) == flat.max(1)
    if blank.all():
        raise InputError(f"case {name}: the image holds one value ({float(flat[0, 0]):g}) in every voxel; there is "
                         "nothing to check the segmentation against")
    return blank


def verdict(volume_dice: np.ndarray, thresholds: dict) -> str:
    """fail below ``fail`` for any structure, review below ``review``, else pass."""
    worst = float(np.min(volume_dice))
    return "fail" if worst < thresholds["fail"] else "review" if worst < thresholds["review"] else "pass"


def check_flagging(flag_on: str, exclude_ends: int) -> None:
    """One sentence for flagging settings ``flag_slices`` cannot use."""
    if flag_on not in ("dice", "upper"):
        raise InputError(f"flag_on must be 'dice' or 'upper', not {flag_on!r}")
    if isinstance(exclude_ends, bool) or not isinstance(exclude_ends, (int, np.integer)) or exclude_ends < 0:
        raise InputError(f"exclude_ends must be a whole number of slices, 0 or more, not {exclude_ends!r}")


def flag_slices(res: QCResult, thresholds: dict, flag_on: str = "dice", exclude_ends: int = 0,
                dip: float | None = None) -> np.ndarray:
    """(S, K) flags of a result (``slice_flags``) on its Dice or, ``flag_on="upper"``, on the
    upper bounds of its intervals; ``thresholds`` per structure name."""
    check_flagging(flag_on, exclude_ends)
    score = res.slice_high if flag_on == "upper" and res.slice_high is not None else res.slice_dice
    return slice_flags(score, res.seg_area, np.array([thresholds[c] for c in res.classes]), exclude_ends, dip)


def slice_flags(score: np.ndarray, seg_area: np.ndarray, thresholds: np.ndarray, exclude_ends: int = 0,
                dip: float | None = None) -> np.ndarray:
    """(S, K) flags: ``score`` below each structure's threshold or, with ``dip``, more than ``dip``
    below the scores of both neighbouring slices (a slice much worse than its neighbours is
    what a repair from them can fix); only within each structure's segmented extent (repair
    could only copy the end slice beyond it) and away from the ``exclude_ends`` end slices."""
    inside = metrics.within_extent(seg_area)
    flags = score < thresholds
    if dip is not None:
        flags[1:-1] |= (score[1:-1] < np.minimum(score[:-2], score[2:]) - dip) & inside[:-2] & inside[2:]
    flags &= inside
    flags[metrics.end_slices(seg_area, exclude_ends)] = False
    return flags


def _add_intervals(res: QCResult, intervals: dict | None, absent: np.ndarray) -> None:
    """Conformal bounds from the card (see ``intervals.bounds``); a structure known to be missing
    (``absent``, (K,)) has volume Dice 0 and bounds 0."""
    if intervals:
        res.slice_low, res.slice_high = bounds(res.slice_dice, intervals["slice"], res.classes,
                                               scale(intervals["slice"], res.estimates, 0))
        res.volume_low, res.volume_high = (np.where(absent, 0.0, b) for b in bounds(
            res.volume_dice, intervals["volume"], res.classes, scale(intervals["volume"], res.estimates, 1)))

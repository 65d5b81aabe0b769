"""``segqc demo``: a synthetic short-axis stack with a damaged segmentation, checked end to end."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .case import read_case
from .errors import InputError
from .metrics import slice_dice
from .phantom import damage_for_demo, short_axis_stack
from .qc import QCEngine, QCResult
from .report import check_output_folder, summary, to_report, write_json


FILES = ("image.nii.gz", "segmentation.nii.gz", "truth.nii.gz", "report.json", "slice_dice.png")


def write_volume(array: np.ndarray, spacing_zyx, path: Path) -> Path:
    img = sitk.GetImageFromArray(array)
    img.SetSpacing(tuple(float(s) for s in reversed(spacing_zyx)))
    sitk.WriteImage(img, str(path))
    return path


def plot_slices(res: QCResult, true: np.ndarray | None, thresholds: dict, path: Path, damaged=None) -> Path:
    """Per-slice predicted Dice per structure (with its interval), the truth if known, the flag line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = np.arange(res.slice_dice.shape[0])
    fig, axes = plt.subplots(1, len(res.classes), figsize=(4 * len(res.classes), 3.2), sharey=True)
    for k, (ax, c) in enumerate(zip(np.atleast_1d(axes), res.classes)):
        if res.slice_low is not None:
            ax.fill_between(s, res.slice_low[:, k], res.slice_high[:, k], alpha=0.2, label="interval")
        ax.plot(s, res.slice_dice[:, k], "o-", label="predicted")
        if true is not None:
            ax.plot(s, true[:, k], "k+--", label="true")
        ax.axhline(thresholds["slice_flag"][c], color="r", lw=0.8, ls=":", label="flag threshold")
        for i in (damaged or {}):
            ax.axvline(i, color="0.8", lw=6, zorder=0)
        ax.set_title(f"{c}: volume Dice {res.volume_dice[k]:.2f}")
        ax.set_xlabel("slice index")
        ax.set_ylim(-0.02, 1.02)
    np.atleast_1d(axes)[0].set_ylabel("Dice")
    np.atleast_1d(axes)[-1].legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _check_folder(out: Path) -> None:
    """Refuse a folder holding files the demo would write over, unless an earlier demo wrote them."""
    check_output_folder(out)
    taken = [n for n in FILES if (out / n).exists()]
    try:
        earlier = json.loads((out / "report.json").read_text()).get("case") == "demo"
    except (OSError, ValueError, AttributeError):
        earlier = False
    if taken and not earlier:
        raise InputError(f"{out} already holds {', '.join(taken)}, not written by an earlier demo; choose another "
                         "folder (-o)")


def run_demo(out: Path, pack=None, device=None, flag_on: str = "dice", exclude_ends: int = 0, methods=None,
             precision: str = "float32") -> int:
    _check_folder(out)
    engine = QCEngine(pack, device, methods, precision)  # a wrong option ends here, before any file is written
    out.mkdir(parents=True, exist_ok=True)
    image, truth, spacing = short_axis_stack(seed=3)
    seg, damaged = damage_for_demo(truth)
    paths = {n: write_volume(a, spacing, out / f"{n}.nii.gz")
             for n, a in (("image", image), ("segmentation", seg), ("truth", truth))}
    print(f"example case written to {out}/ (image, segmentation with damaged slices {sorted(damaged)}, truth)")
    case = read_case(paths["image"], paths["segmentation"], name="demo")
    res = engine.check(case, flag_on, exclude_ends)
    rep = to_report(res, paths["image"], paths["segmentation"])
    write_json(rep, out / "report.json")
    values = [case.class_values[c] for c in res.classes]
    true = slice_dice(case.labels, read_case(paths["image"], paths["truth"]).labels, values)
    plot_slices(res, true, engine.pack.card["thresholds"], out / "slice_dice.png", damaged)
    print(f"\n{'slice':>5}  " + "  ".join(f"{c + ' pred':>9} {c + ' true':>9}" for c in res.classes) + "  damage")
    for i in range(res.slice_dice.shape[0]):
        cells = "  ".join(f"{res.slice_dice[i, k]:9.3f} {true[i, k]:9.3f}" for k in range(len(res.classes)))
        print(f"{i:5d}  {cells}  {damaged.get(i, '')}{'  <- flagged' if res.flags[i].any() else ''}")
    print("\n" + summary(rep))
    print(f"report: {out / 'report.json'}\nfigure: {out / 'slice_dice.png'}\n"
          f"time: {res.timings_ms['total']:.0f} ms on {engine.device}", file=sys.stdout)
    return 0

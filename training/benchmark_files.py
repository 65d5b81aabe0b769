"""The accuracy check run the way a user runs it: files on disk, the `segqc batch` command, results.csv.

    python training/benchmark_files.py [--preds dil_all_it1200] [--out training/runs/files_check] [--permute]

Each validation volume is written as NIfTI (int16 image, uint8 segmentation from the zoo's
predictions ``--preds``, clean images; the manual labels as the manifest's reference) with its
in-plane pixel size (``acdc.Volume.pixel_mm``) and 10 mm slices, as a scanner's file carries
them; `segqc batch` scores the manifest with the default pack, and the table compares
results.csv's predicted Dice and bounds with its true Dice. The default segmentations are the
unseen segmenter family's (a dilated FCN never used to build the training set). ``--permute``
also writes every file with its axes permuted and flipped (the same voxels in space, another
storage order, as another scanner or converter may store them) and prints how far the results
move.
"""
from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

import acdc
import valcases

HERE = Path(__file__).resolve().parent


def write_cases(preds: list[str], zoo: Path, out: Path, permute: bool = False) -> Path:
    """NIfTI files of every validation volume with a clean-image prediction; returns the manifest."""
    seg = {}
    for stem in preds:
        z = np.load(zoo / "preds" / f"{stem}.npz")
        seg.update({f"{k.split('|')[0]}|{stem}": z[k] for k in z.files if k.endswith("|clean")})
    out.mkdir(parents=True, exist_ok=True)
    rows = [("case", "image", "segmentation", "reference")]
    for p in acdc.split()[1]:
        for v in acdc.load_patient(p):
            for stem in preds:
                if f"{v.key}|{stem}" not in seg:
                    continue
                name = f"{v.key}_{stem}"
                arrays = {"image": (v.image * 1000).astype(np.int16), "seg": seg[f"{v.key}|{stem}"].astype(np.uint8),
                          "ref": v.label}
                for kind, arr in arrays.items():
                    im = sitk.GetImageFromArray(arr)
                    im.SetSpacing((v.pixel_mm, v.pixel_mm, valcases.SLICE_MM))
                    if permute:  # slice axis first on disk, two axes reversed: the same voxels in space
                        im = sitk.Flip(sitk.PermuteAxes(im, [2, 0, 1]), [True, False, True])
                    sitk.WriteImage(im, str(out / f"{name}_{kind}.nii.gz"))
                rows.append((name, *(str(out / f"{name}_{k}.nii.gz") for k in arrays)))
    manifest = out / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preds", default="dil_all_it1200", help="comma-separated zoo prediction files (runs/zoo/preds)")
    ap.add_argument("--zoo", type=Path, default=HERE / "runs" / "zoo")
    ap.add_argument("--out", type=Path, default=HERE / "runs" / "files_check")
    ap.add_argument("--permute", action="store_true", help="also score the files stored with permuted, flipped axes")
    a = ap.parse_args()
    a.out = a.out.resolve()  # `segqc batch` runs from the repository root
    scored = {}
    for permute in (False, True) if a.permute else (False,):
        tag = "_permuted" if permute else ""
        manifest = write_cases(a.preds.split(","), a.zoo, a.out / f"cases{tag}", permute)
        shutil.rmtree(a.out / f"results{tag}", ignore_errors=True)  # this script's own earlier output
        if subprocess.run([sys.executable, "-m", "SegmentationQCLib.cli", "batch", str(manifest), "-o",
                           str(a.out / f"results{tag}")], cwd=HERE.parent).returncode:
            sys.exit(f"benchmark_files.py: segqc batch failed on {manifest} (its message is above)")
        rows = list(csv.DictReader(open(a.out / f"results{tag}" / "results.csv")))
        ok = [r for r in rows if r["status"] == "ok"]
        scored[permute] = {r["case"]: r for r in ok}
        print(f"\n{len(ok)} of {len(rows)} cases scored ({a.preds}{', axes permuted and flipped' if permute else ''}); "
              "nominal 90 % bounds\n")
        print_table(ok)
    if a.permute:
        same = [c for c in scored[False] if c in scored[True]]
        diff = {c: np.mean([abs(float(scored[False][k][f"dice_{c}"]) - float(scored[True][k][f"dice_{c}"])) for k in same])
                for c in valcases.CLASSES}
        flags = np.mean([scored[False][k]["flagged_slices"] != scored[True][k]["flagged_slices"] for k in same])
        print(f"\nPermuted against as written ({len(same)} cases): mean |difference| of the predicted volume Dice "
              + " / ".join(f"{c} {d:.3f}" for c, d in diff.items()) + f"; number of flagged slices differs in "
              f"{100 * flags:.0f} % of the cases")


def print_table(ok: list[dict]) -> None:
    print("| structure | volume-Dice MAE | Pearson r | bounds cover the true Dice | accuracy at 0.7 |")
    print("|---|---|---|---|---|")
    for c in valcases.CLASSES:
        pred, true = (np.array([float(r[f"{k}_{c}"]) for r in ok]) for k in ("dice", "true_dice"))
        low, high = (np.array([float(r[f"{k}_{c}"]) for r in ok]) for k in ("low", "high"))
        print(f"| {c} | {np.abs(pred - true).mean():.3f} | {np.corrcoef(pred, true)[0, 1]:.3f} "
              f"| {100 * np.mean((low <= true) & (true <= high)):.1f} % | {100 * np.mean((pred < 0.7) == (true < 0.7)):.1f} % |")


if __name__ == "__main__":
    main()

"""The QC training set: graded segmentations of each ACDC volume, as a slice bank.

    python training/qcset.py [--zoo training/runs/zoo] [--out training/runs/qcset] [--seed 0] [--splits val,train]

For every volume: the manual labels, mildly jittered labels (a second rater), structural
failures of both, every zoo segmentation of it (made by segmenters that never trained on
its patient, clean and under attack) and structural failures of those. Slices are cropped
to a WINDOW around the heart and de-duplicated. One file per split (train / val):
``<split>.npz`` with the slice bank and, per (variant, slice) sample, indices into it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import acdc
import attacks
import failures
from build_zoo import HELDOUT

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from SegmentationQCLib.preprocess import normalise, roi_centre  # noqa: E402
from SegmentationQCLib import metrics  # noqa: E402
from SegmentationQCLib.methods import encode_labels  # noqa: E402

WINDOW = 224
VALUES = (3, 2, 1)  # LV, MYO, RV in ACDC labels: the pack's class order


def to_index(labels):
    """(B, 1, h, w) label-value tensor -> (B, h, w) class index in the pack's order."""
    return encode_labels(labels, VALUES)


class Bank:
    """De-duplicated (WINDOW, WINDOW) uint8 slices."""

    def __init__(self):
        self.items, self.index = [], {}

    def add(self, a: np.ndarray) -> int:
        key = hash(a.tobytes())
        if key not in self.index:
            self.index[key] = len(self.items)
            self.items.append(a)
        return self.index[key]


def _window(vol: np.ndarray, centre) -> np.ndarray:
    """Crop (S, H, W) to (S, WINDOW, WINDOW) around centre, zero padding."""
    half = WINDOW // 2
    pad = np.pad(vol, ((0, 0), (half, half), (half, half)))
    r, c = int(round(centre[0])) + half, int(round(centre[1])) + half
    return pad[:, r - half:r + half, c - half:c + half]


def _zoo_for(zoo: Path) -> dict[str, list[tuple[str, str, np.ndarray]]]:
    """volume key -> [(source tag, attack name, labels)] over every zoo prediction file."""
    out = defaultdict(list)
    for f in sorted((zoo / "preds").glob("*.npz")):
        if f.stem.split("_")[0] in HELDOUT:  # held-out families: benchmark only
            continue
        z = np.load(f)
        meta = json.loads(f.with_suffix(".json").read_text())
        for k in z.files:
            vkey, att = k.split("|")
            out[vkey].append((f.stem, att, z[k], meta[k]["params"]))
    return out


def build_split(patients, zoo_preds, rng) -> dict:
    segs, imgs = Bank(), Bank()
    rows = []  # per sample: seg id, truth id, clean image id, attacked image id (or -1), centre r, c, variant, dice
    variants = []
    for p in patients:
        for v in acdc.load_patient(p):
            gt = v.label
            centre_gt = roi_centre(gt)
            img = normalise(v.image)
            win = lambda a: _window(a, centre_gt)  # noqa: E731
            clean_ids = [imgs.add(s) for s in (win(img) * 255).round().astype(np.uint8)]
            gt_ids = [segs.add(s) for s in win(gt)]
            sources = [("truth", gt, None)]
            sources += [("jitter", failures.jitter(gt, rng), None) for _ in range(3)]
            for tag, att, lab, params in zoo_preds.get(v.key, []):
                att_ids = None
                if att != "clean":
                    a_img = normalise(attacks.apply(v.image, att, params))
                    att_ids = [imgs.add(s) for s in (win(a_img) * 255).round().astype(np.uint8)]
                sources.append((f"{tag}:{att}", lab, att_ids))
            damaged = []
            for tag, lab, att_ids in sources:
                n = 10 if tag == "truth" else 1
                for _ in range(n):
                    d, names = failures.damage(lab, rng)
                    damaged.append((f"{tag}+{'+'.join(names)}", d, att_ids))
            for tag, lab, att_ids in sources + damaged:
                c = roi_centre(lab)
                c = (np.array(lab.shape[1:]) - 1) / 2 if c is None else c
                c = c - centre_gt + WINDOW // 2  # into window coordinates
                wl = win(lab)
                dice = metrics.slice_dice(wl, win(gt), VALUES).mean(1)
                vid = len(variants)
                variants.append(f"{v.key}|{tag}")
                for s in range(lab.shape[0]):
                    rows.append((segs.add(wl[s]), gt_ids[s], clean_ids[s], -1 if att_ids is None else att_ids[s],
                                 c[0], c[1], vid, dice[s]))
        print(f"  patient {p}: {len(rows)} samples, {len(segs.items)} seg slices, {len(imgs.items)} image slices",
              flush=True)
    r = np.array(rows, dtype=np.float64)
    return {"segs": np.stack(segs.items), "images": np.stack(imgs.items),
            "seg_id": r[:, 0].astype(np.int32), "truth_id": r[:, 1].astype(np.int32),
            "image_id": r[:, 2].astype(np.int32), "attacked_id": r[:, 3].astype(np.int32),
            "centre": r[:, 4:6].astype(np.float32), "variant": r[:, 6].astype(np.int32),
            "dice": r[:, 7].astype(np.float32), "variant_names": np.array(variants)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = Path(__file__).parent
    ap.add_argument("--zoo", type=Path, default=here / "runs" / "zoo")
    ap.add_argument("--out", type=Path, default=here / "runs" / "qcset")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--splits", default="val,train", help="which splits to build (two processes can build one each)")
    a = ap.parse_args()
    splits = a.splits.split(",")
    if not splits or set(splits) - {"val", "train"}:
        ap.error(f"--splits takes val, train or both, not {a.splits!r}")
    a.out.mkdir(parents=True, exist_ok=True)
    train_p, val_p = acdc.split(seed=a.seed)
    zoo = _zoo_for(a.zoo)
    for name, patients, seed in (("val", val_p, a.seed + 7), ("train", train_p, a.seed + 11)):
        if name not in splits:
            continue
        t0 = time.time()
        data = build_split(patients, zoo, np.random.default_rng(seed))
        np.savez(a.out / f"{name}.npz", **data)
        hist = np.histogram(data["dice"], bins=10, range=(0, 1))[0]
        print(f"{name}: {len(data['dice'])} samples from {len(data['variant_names'])} variants, "
              f"{len(data['segs'])} unique seg slices, {time.time() - t0:.0f}s; slice-Dice histogram {hist.tolist()}",
              flush=True)


if __name__ == "__main__":
    main()

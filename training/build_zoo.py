"""Train the segmenter zoo (k-fold) and save its segmentations of patients it never trained on.

    python training/build_zoo.py [--out training/runs/zoo] [--seed 0] [--only dil] [--device cuda]

Resumable: a finished (segmenter, fold) is skipped. For each checkpoint, the held-out fold's
volumes and all validation volumes are segmented clean and under one random attack.
Output: ``OUT/preds/<segmenter>_f<fold>_it<iters>.npz`` (label maps keyed ``<volume>|<attack>``)
with a ``.json`` of attack parameters beside it.
"""
from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import torch

import acdc
import attacks
import segmenters

ZOO = {  # training family: capacities, data fractions and training lengths
    "u8": {"family": "unet", "base": 8, "iters": [300, 800, 2000]},
    "u4s": {"family": "unet", "base": 4, "fraction": 0.3, "iters": [400, 1000]},
    "u12": {"family": "unet", "base": 12, "iters": [600, 1500]},
}
ZOO_30 = {  # more training families (2026-11-27), built only when named (--only): no shipped pack used them
    "ed": {"family": "encdec", "width": 16, "iters": [600, 2000]},
    "us": {"family": "unet", "base": 16, "depth": 2, "iters": [500, 1500]},
    "uce": {"family": "unet", "base": 8, "loss": "ce", "iters": [400, 1500]},
}
HELDOUT = {  # a family never used for the QC training set: benchmark only
    "dil": {"family": "dilated", "width": 32, "iters": [400, 1200]},
    "fpn": {"family": "fpn", "width": 16, "iters": [500, 3000]},
}
N_FOLDS = 3


def all_jobs() -> list[tuple[str, dict, int | None]]:
    """(name, spec, fold or None) in build order; a job's seed is its place here, so families
    added later are appended and earlier segmenters keep their seeds."""
    return [(n, s, f) for n, s in ZOO.items() if n != "u12" for f in range(N_FOLDS)] + \
        [(n, s, None) for n, s in HELDOUT.items()] + [("u12", ZOO["u12"], f) for f in range(N_FOLDS)] + \
        [(n, s, f) for n, s in ZOO_30.items() for f in range(N_FOLDS)]


def _device(name: str) -> str:
    """An argparse type: a device torch has here."""
    if name == "cpu" or (re.fullmatch(r"cuda(:\d+)?", name) and torch.cuda.is_available()
                         and int(name.partition(":")[2] or 0) < torch.cuda.device_count()):
        return name
    n = torch.cuda.device_count()
    raise argparse.ArgumentTypeError(f"{name!r} is not cpu or a GPU of this machine (cuda:0 to cuda:{n - 1})" if n
                                     else f"{name!r} is not cpu, and this machine has no GPU")


def _segment(model, vols, rng, with_attack=True):
    out, meta = {}, {}
    for v in vols:
        names = ["clean"] + ([str(rng.choice(attacks.ATTACKS[1:]))] if with_attack else [])
        for name in names:
            params = attacks.draw(name, rng)
            out[f"{v.key}|{name}"] = segmenters.predict(model, attacks.apply(v.image, name, params))
            meta[f"{v.key}|{name}"] = {"attack": name, "params": params}
    return out, meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "runs" / "zoo")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", help="comma-separated segmenters to build (e.g. dil or fpn, the benchmark's unseen families, "
                    "or ed,us,uce, which the whole zoo leaves out); each gets the same seed and output as in the whole zoo")
    ap.add_argument("--device", type=_device, default="cuda" if torch.cuda.is_available() else "cpu",
                    help="cpu, or cuda[:N] (the default where there is a GPU)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    (a.out / "preds").mkdir(parents=True, exist_ok=True)
    train_p, val_p = acdc.split(seed=a.seed)
    fold_lists = acdc.folds(train_p, N_FOLDS, seed=a.seed)
    (a.out / "split.json").write_text(json.dumps({"train": train_p, "val": val_p, "folds": fold_lists}))
    vols = {p: acdc.load_patient(p) for p in train_p + val_p}
    val_vols = [v for p in val_p for v in vols[p]]

    jobs = all_jobs()
    names = {name for name, _, _ in jobs}
    only = set(a.only.split(",")) if a.only else names - set(ZOO_30)  # the packs' zoo (up to 1.8.0)
    if only - names:
        ap.error(f"--only: no segmenter {', '.join(sorted(only - names))} (the zoo's: {', '.join(sorted(names))})")
    for j, (name, spec, fold) in enumerate(jobs):
        tag = f"{name}_f{fold}" if fold is not None else f"{name}_all"
        done = a.out / "preds" / f"{tag}.done"
        if done.exists() or name not in only:
            continue
        seed = a.seed * 1000 + j
        rng = np.random.default_rng(seed)
        if fold is None:
            tr = train_p
            held = []
        else:
            tr = [p for i, fl in enumerate(fold_lists) if i != fold for p in fl]
            held = [v for p in fold_lists[fold] for v in vols[p]]
        if "fraction" in spec:
            tr = sorted(rng.choice(tr, size=max(2, int(len(tr) * spec["fraction"])), replace=False).tolist())
        print(f"[{j + 1}/{len(jobs)}] {tag}: training on {len(tr)} patients", flush=True)
        t0 = time.time()
        states = segmenters.train(spec, [v for p in tr for v in vols[p]], seed, spec["iters"],
                                  log=lambda s: print(s, flush=True), device=a.device)
        model = segmenters.build(spec).to(a.device)
        for it, state in states.items():
            model.load_state_dict(state)
            preds, meta = _segment(model, held, rng)
            # validation volumes: every segmenter checkpoint sees a random third of them
            sub = [v for k, v in enumerate(val_vols) if fold is None or k % N_FOLDS == fold]
            p2, m2 = _segment(model, sub, rng, with_attack=fold is not None)
            preds.update(p2); meta.update(m2)
            np.savez_compressed(a.out / "preds" / f"{tag}_it{it}.npz", **preds)
            (a.out / "preds" / f"{tag}_it{it}.json").write_text(json.dumps(meta))
            torch.save(state, a.out / f"{tag}_it{it}.pt")
        done.write_text(f"{time.time() - t0:.0f}s\n")
        print(f"  done in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()

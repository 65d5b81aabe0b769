"""Preview trained networks on the demo's phantoms before ``make_pack.py`` (about 30 min) takes them.

    python training/phantom_check.py [--slice-run NAME] [--errormap-run NAME] [--seeds 0,1,2]

Training can run the same check at each evaluation (``train_slice.py`` / ``train_errormap.py
--phantom-guard``, ``guard`` below): a checkpoint that fails it never becomes ``best.pt``.

Puts ``training/runs/NAME/best.pt`` in place of the bundled pack's slice or error-map network, in a
temporary copy of the pack (the bundled card's recalibration of a replaced network is dropped; its
thresholds, fusion weights and presence model are kept), and checks the undamaged and the damaged demo phantom of
each seed with the card's default method: the slices it flags, and each replaced network's lowest
raw slice Dice per structure on the undamaged phantom. An undamaged phantom with flags stopped the
candidates of 2026-11-27 (docs/benchmark.md, "The lead did not hold"). ``make_pack.py`` refits the
thresholds, so a clean preview is needed, not enough.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

import make_pack

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from SegmentationQCLib.case import case_from_arrays  # noqa: E402
from SegmentationQCLib.pack import ModelPack, sha256  # noqa: E402
from SegmentationQCLib.phantom import damage_for_demo, short_axis_stack  # noqa: E402
from SegmentationQCLib.qc import QCEngine  # noqa: E402


def with_runs(pack: Path, runs: dict[str, Path], out: Path) -> ModelPack:
    """A copy of ``pack`` in ``out`` with each network named in ``runs`` (model -> run folder) replaced
    by the run's ``best.pt`` and architecture; a replaced network's recalibration is dropped."""
    return with_networks(pack, {m: (run / "best.pt", make_pack.MODELS[m][2](json.loads((run / "config.json").read_text())))
                                for m, run in runs.items()}, out)


def with_networks(pack: Path, nets: dict[str, tuple[Path, dict]], out: Path) -> ModelPack:
    """A copy of ``pack`` in ``out`` with each network named in ``nets`` (model -> (weights, arch))
    replaced; a replaced network's recalibration and int8 form are dropped."""
    shutil.copytree(pack, out)
    card = json.loads((out / "card.json").read_text())
    for model, (weights, arch) in nets.items():
        entry = card["models"][model]
        shutil.copy(weights, out / entry["file"])
        new = sha256(out / entry["file"])
        if new != entry["sha256"]:
            entry.update(sha256=new, arch=arch)
            entry.pop("int8", None)
            card.get("calibration", {}).pop(model, None)
    (out / "card.json").write_text(json.dumps(card, indent=1))
    return ModelPack(out, card)


def preview(pack: ModelPack, replaced: list[str], seeds: list[int]) -> list[dict]:
    """Per seed: the slices (and structures) the default method flags on the undamaged phantom, those
    it flags on the damaged one with the damaged slices, and each replaced network's lowest slice
    Dice per structure on the undamaged phantom."""
    default = pack.card["default_methods"]
    engine = QCEngine(pack, "cpu", default + [m for m in replaced if m not in default])  # one pass: the default reports
    out = []
    for seed in seeds:
        image, truth, spacing = short_axis_stack(seed=seed)
        damaged, where = damage_for_demo(truth)
        good = engine.check(case_from_arrays(image, truth, spacing))
        bad = engine.check(case_from_arrays(image, damaged, spacing))
        out.append({"seed": seed,
                    "undamaged_flags": [(int(s), pack.classes[k]) for s, k in zip(*np.nonzero(good.flags))],
                    "damaged_flagged_slices": sorted({int(s) for s in np.nonzero(bad.flags)[0]}),
                    "damaged_slices": sorted(where),
                    "lowest_slice_dice": {m: dict(zip(pack.classes, good.estimates[m][0].min(0).round(3).tolist()))
                                          for m in replaced}})
    return out


def passed(results: list[dict]) -> bool:
    """What ``test_trained_pack.py`` asks of the bundled pack: no flag on an undamaged phantom, and
    exactly the damaged slices flagged on a damaged one."""
    return all(not r["undamaged_flags"] and r["damaged_flagged_slices"] == r["damaged_slices"] for r in results)


def guard(model: str, config: dict, seeds: tuple[int, ...] = (0, 1, 2)):
    """For ``loop.fit``: a function of a network in training (the pack's ``model``; ``config``: the
    run's options, which give its architecture as in ``with_runs``) that previews it in place of the
    bundled one; ``passed`` says whether it may become ``best.pt``."""
    arch = make_pack.MODELS[model][2](config)

    def check(net) -> dict:
        with tempfile.TemporaryDirectory() as tmp:
            weights = Path(tmp) / "weights.pt"
            torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, weights)
            results = preview(with_networks(make_pack.BUNDLED, {model: (weights, arch)}, Path(tmp) / "pack"),
                              [model], list(seeds))
        return {"passed": passed(results), "undamaged_flags": {r["seed"]: r["undamaged_flags"] for r in results},
                "damaged_flagged_slices": {r["seed"]: r["damaged_flagged_slices"] for r in results}}
    return check


def seeds(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of whole numbers") from None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slice-run", help="the slice network from training/runs/NAME")
    ap.add_argument("--errormap-run", help="the error-map network from training/runs/NAME")
    ap.add_argument("--seeds", default="0,1,2", type=seeds, help="phantom seeds, comma-separated")
    a = ap.parse_args()
    runs = {m: make_pack.RUNS / name for m, name in (("slice", a.slice_run), ("errormap", a.errormap_run)) if name}
    missing = [str(r / f) for r in runs.values() for f in ("best.pt", "config.json") if not (r / f).exists()]
    if missing:
        ap.error(f"not a finished training run: no {', '.join(missing)}")
    with tempfile.TemporaryDirectory() as tmp:
        pack = with_runs(make_pack.BUNDLED, runs, Path(tmp) / make_pack.BUNDLED.name)
        results = preview(pack, list(runs), a.seeds)
        for r in results:
            print(f"seed {r['seed']}: undamaged phantom flags {r['undamaged_flags'] or 'none'}; damaged phantom "
                  f"flags slices {r['damaged_flagged_slices']} (damaged: {r['damaged_slices']}); lowest raw slice "
                  f"Dice on the undamaged one {r['lowest_slice_dice'] or '(no network replaced)'}", flush=True)
        print("passed: no flag on the undamaged phantoms, the damaged slices flagged and no other" if passed(results)
              else "failed: with the bundled thresholds, test_trained_pack.py's phantom test would fail")


if __name__ == "__main__":
    main()

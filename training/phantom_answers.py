"""The engine's answers on the demo's phantoms, to compare machines, PyTorch builds or precisions.

    python training/phantom_answers.py OUT.json [--precisions float32,int8]
    python training/phantom_answers.py OUT.json --against OTHER.json

Scores the six synthetic stacks of ``benchmark_cuda.py`` (every other one damaged) on the CPU in
each precision this machine has, and writes volume Dice, slice Dice and flags with the machine's
PyTorch version. ``--against`` prints the largest differences from another machine's file.
No training data is needed.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmark_cuda import phantoms  # noqa: E402
from SegmentationQCLib.qc import QCEngine, native_precisions  # noqa: E402


def answers(precisions: list[str]) -> dict:
    out = {"torch": torch.__version__, "machine": platform.machine(), "answers": {}}
    cases = phantoms(6)
    for p in precisions:
        engine = QCEngine(None, "cpu", precision=p)
        out["answers"][p] = [{"volume": r.volume_dice.tolist(), "slice": r.slice_dice.tolist(), "flags": r.flags.tolist()}
                             for r in map(engine.check, cases)]
    return out


def differences(a: dict, b: dict) -> str:
    lines = ["| precision | largest volume-Dice difference | largest slice-Dice difference | flags differing |",
             "|---|---|---|---|"]
    for p in sorted(set(a["answers"]) & set(b["answers"])):
        pairs = list(zip(a["answers"][p], b["answers"][p]))
        vol = max(np.abs(np.subtract(x["volume"], y["volume"])).max() for x, y in pairs)
        sl = max(np.abs(np.subtract(x["slice"], y["slice"])).max() for x, y in pairs)
        flags = sum(int(np.sum(np.not_equal(x["flags"], y["flags"]))) for x, y in pairs)
        lines.append(f"| {p} | {vol:.1e} | {sl:.1e} | {flags} |")
    return f"torch {a['torch']} against torch {b['torch']}\n\n" + "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--precisions", default="float32,int8")
    ap.add_argument("--against", type=Path, help="another machine's file: print the differences")
    a = ap.parse_args()
    torch.set_num_threads(2)
    if a.against:
        print(differences(json.loads(a.out.read_text()), json.loads(a.against.read_text())))
        return
    a.out.write_text(json.dumps(answers([p for p in a.precisions.split(",") if p in native_precisions("cpu")])))
    print(f"written {a.out}")


if __name__ == "__main__":
    main()

"""The engine on a CUDA GPU: the same answers as on the CPU, and how fast.

    python training/benchmark_cuda.py [--pack NAME_OR_FOLDER] [--cases 6]

Needs a CUDA machine and no training data: the cases are the demo's synthetic short-axis
stacks (``phantom.py``; every other one damaged as in the demo). Every method of the pack runs
on the CPU and on the GPU, the GPU once with cuDNN's TF32 convolutions (PyTorch's default), once
without and, where the GPU has native bfloat16, once with ``precision="bfloat16"``; the first
table gives the largest difference of each output, the second the
median time of a check per method next to one forward pass of the Robinson-style 3D ResNet-50
(5 x 8 x 224 x 224) on the same GPU, as in ``benchmark.py``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from SegmentationQCLib.case import case_from_arrays  # noqa: E402
from SegmentationQCLib.direct3d import ResNet50_3D  # noqa: E402
from SegmentationQCLib.phantom import damage_for_demo, short_axis_stack  # noqa: E402
from SegmentationQCLib.qc import QCEngine, native_precisions  # noqa: E402
from timing import median_ms  # noqa: E402


def phantoms(n: int) -> list:
    out = []
    for seed in range(n):
        image, truth, spacing = short_axis_stack(n_slices=8 + seed, seed=seed)
        labels = damage_for_demo(truth)[0] if seed % 2 else truth
        out.append(case_from_arrays(image, labels, spacing, name=f"phantom{seed}"))
    return out


def differences(cpu: list, gpu: list, methods: list[str]) -> dict:
    """Largest |CPU - GPU| of every output over the cases (flags and verdicts: how many differ)."""
    d = {}
    for a, b in zip(cpu, gpu):
        for m in methods:
            for level, x, y in zip(("slice", "volume"), a.estimates[m], b.estimates[m]):
                if x is not None:
                    d[f"{m} {level} Dice"] = max(d.get(f"{m} {level} Dice", 0.0), float(np.abs(x - y).max()))
        pairs = {"volume bounds": (np.r_[a.volume_low, a.volume_high], np.r_[b.volume_low, b.volume_high]),
                 "error map": (a.error_map, b.error_map)}
        for k, (x, y) in pairs.items():
            d[k] = max(d.get(k, 0.0), float(np.abs(x - y).max()))
        d["surrogate voxels differing (share)"] = max(d.get("surrogate voxels differing (share)", 0.0),
                                                      float((a.surrogate != b.surrogate).mean()))
        d["flags differing"] = d.get("flags differing", 0) + int((a.flags != b.flags).sum())
        d["verdicts differing"] = d.get("verdicts differing", 0) + int(a.verdict != b.verdict)
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", default=None)
    ap.add_argument("--cases", type=int, default=6)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("benchmark_cuda.py: no CUDA device here (torch.cuda.is_available() is False)")
    cases = phantoms(a.cases)
    default = QCEngine(a.pack, "cpu")
    methods = default.methods + [m for m in default.available if m not in default.methods]
    print(f"# CUDA benchmark: pack {default.pack.name} {default.pack.version}, {torch.cuda.get_device_name(0)}, "
          f"torch {torch.__version__}, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}\n")

    def run(device, precision="float32"):
        e = QCEngine(a.pack, device, methods, precision)
        return [e.check(c, error_map=True, surrogate=True) for c in cases]

    cpu = run("cpu")
    columns = {"TF32 convolutions (default)": (True, "float32"), "without TF32": (False, "float32")}
    if "bfloat16" in native_precisions("cuda"):
        columns["bfloat16 (TF32 on)"] = (True, "bfloat16")
    diffs = []
    for tf32, precision in columns.values():
        torch.backends.cudnn.allow_tf32 = tf32
        diffs.append(differences(cpu, run("cuda", precision), methods))
    torch.backends.cudnn.allow_tf32 = True
    print(f"| largest CPU (float32) / GPU difference over {len(cases)} cases | {' | '.join(columns)} |")
    print("|---" * (len(columns) + 1) + "|")
    for k in diffs[0]:
        fmt = (lambda v: str(v)) if "differing" in k and "share" not in k else (lambda v: f"{v:.1e}")
        print(f"| {k} | {' | '.join(fmt(d[k]) for d in diffs)} |")

    case = cases[min(3, len(cases) - 1)]
    ref = ResNet50_3D().eval().cuda()
    x = torch.randn(1, 5, 8, 224, 224, device="cuda")
    with torch.no_grad():
        rob = median_ms(lambda: ref(x), 20, torch.cuda.synchronize)
    s = case.image.shape
    print(f"\n| on the GPU ({s[0]} slices, {s[1]}x{s[2]}) | median ms | of which preprocessing (CPU) | share of the 3D ResNet-50 |")
    print("|---|---|---|---|")
    runs = [(m, "float32") for m in methods]
    runs += [(default.methods[0], "bfloat16")] if "bfloat16" in native_precisions("cuda") else []
    for m, precision in runs:
        e = QCEngine(a.pack, "cuda", [m], precision)
        t = median_ms(lambda: e.check(case), 20, torch.cuda.synchronize)
        tag = f"check, method {m}" + (" (default)" if (m, precision) == (default.methods[0], "float32") else "")
        tag += ", bfloat16" if precision == "bfloat16" else ""
        print(f"| {tag} | {t:.1f} | {e.check(case).timings_ms['preprocess']:.1f} | {100 * t / rob:.0f} % |")
    print(f"| Robinson-style 3D ResNet-50, one forward pass (5x8x224x224) | {rob:.1f} | | 100 % |")


if __name__ == "__main__":
    main()

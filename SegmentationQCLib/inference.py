"""Inference-time form of a trained network: same outputs, less CPU time.

Batch normalisation is folded into the preceding convolutions (torch.fx) and activations are
kept channels-last, which oneDNN convolutions prefer: the slice network runs about twice as
fast on 2 CPU cores, the error-map U-Net about a fifth faster (``training/benchmark.py``).
On a CPU or GPU with native bfloat16 arithmetic (AVX512-BF16 or AMX; CUDA compute capability 8+)
the networks can run in bfloat16 (``BFloat16``): on this project's CPU the check about 0.7-0.9x
the float32 time, the predicted Dice within a few thousandths.
"""
from __future__ import annotations

import warnings

import torch


def optimise(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` in eval mode with BatchNorm folded and channels-last weights; inputs
    are best given channels-last too (``channels_last``). A network torch.fx cannot trace is
    returned unfused."""
    with warnings.catch_warnings():  # the module imports torch.utils.mkldnn, which warns of torch.jit
        warnings.simplefilter("ignore", DeprecationWarning)
        from torch.fx.experimental.optimization import fuse
    model = model.eval()
    try:
        model = fuse(model)
    except Exception:  # noqa: BLE001 - data-dependent control flow: keep the plain module
        pass
    return model.to(memory_format=torch.channels_last)


class BFloat16(torch.nn.Module):
    """``model`` run under bfloat16 autocast on ``x``'s device type; its outputs (a tensor or a
    tuple) in float32."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            y = self.model(x)
        return tuple(t.float() for t in y) if isinstance(y, tuple) else y.float()


def native_bfloat16(device: str) -> bool:
    """Whether ``device`` has native bfloat16 arithmetic, the only place bfloat16 is offered: a CPU
    with AVX512-BF16 or AMX, or a CUDA GPU of compute capability 8.0 (Ampere) or later."""
    try:
        if str(device).startswith("cuda"):
            return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8
        return str(device) == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


def channel_argmax(t: torch.Tensor, keepdim: bool = False) -> torch.Tensor:
    """Index of the largest channel (dim 1; the first on ties), as ``argmax(1)``, which is many
    times slower on CPU for a channel axis."""
    return t.max(1, keepdim=keepdim).indices


def flip_mean(fn, x: torch.Tensor, flips, maps: bool = False):
    """The mean of ``fn`` (a tensor or a tuple of tensors) over ``x`` and its copies flipped along
    each tuple of dims in ``flips``; ``maps``: the outputs are maps of ``x``'s grid, flipped back."""
    outs = []
    for f in [()] + [tuple(f) for f in flips]:
        y = fn(torch.flip(x, f) if f else x)
        outs.append(torch.flip(y, f) if maps and f else y)
    if isinstance(outs[0], tuple):
        return tuple(torch.stack(o).mean(0) for o in zip(*outs))
    return torch.stack(outs).mean(0)

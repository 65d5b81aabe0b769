"""Int8 forms of the slice and error-map networks (post-training static quantisation, x86 CPUs).

The pack builder runs each network on training ROIs to fix the range of every activation
(``calibrate``) and ships the converted weights; the engine rebuilds the same quantised graph
and loads them (``int8_model``). The error-map U-Net's transposed convolutions stay in float32:
quantised, they made its label distribution wrong by up to 1.0 on a validation case, against
0.001 on average with them in float32 (docs/benchmark.md, "int8").
"""
from __future__ import annotations

import warnings

import torch
import torch.nn as nn


def _fx():
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore")
        from torch.ao.quantization import QConfigMapping, get_default_qconfig
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    mapping = QConfigMapping().set_global(get_default_qconfig("x86")).set_object_type(nn.ConvTranspose2d, None)
    return mapping, prepare_fx, convert_fx


INT8_TORCH = "2.4"  # the first PyTorch whose weights-only loader reads quantised tensors


def native_int8(device: str) -> bool:
    """Whether ``device`` is a CPU whose PyTorch has the x86 int8 kernels (FBGEMM/oneDNN), the
    quantisation API these forms use (PyTorch has announced its removal, in favour of torchao) and
    a weights-only loader for them (PyTorch 2.4 and later)."""
    try:
        _fx()
    except ImportError:
        return False
    return (str(device) == "cpu" and "x86" in torch.backends.quantized.supported_engines
            and torch.__version__ >= INT8_TORCH)


def load_int8(path) -> dict:
    """The int8 weights and ranges ``calibrate`` saved (``torch.save`` of its state dict)."""
    with warnings.catch_warnings():  # quantised tensors announce their deprecation as they load
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True)


def _prepared(model: nn.Module, example: torch.Tensor) -> nn.Module:
    mapping, prepare_fx, _ = _fx()
    torch.backends.quantized.engine = "x86"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prepare_fx(model.eval(), mapping, example_inputs=(example,))


def _converted(prepared: nn.Module) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _fx()[2](prepared)


@torch.no_grad()
def calibrate(model: nn.Module, batches) -> nn.Module:
    """``model`` quantised to int8, its activation ranges observed on ``batches`` (inputs)."""
    batches = list(batches)
    prepared = _prepared(model, batches[0][:1])
    for x in batches:
        prepared(x)
    return _converted(prepared)


def int8_model(model: nn.Module, state: dict, example: torch.Tensor) -> nn.Module:
    """The int8 form of ``model`` (its float architecture) with the weights and ranges ``state``
    that ``calibrate`` made; ``example``: an input of the right shape."""
    quantised = _converted(_prepared(model, example))
    quantised.load_state_dict(state)
    return quantised.eval()

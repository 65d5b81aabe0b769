"""Model packs: weights plus a model card (``card.json``) that owns the preprocessing.

A pack is a folder. The default pack ships inside this package (``packs/``); any other
folder with a ``card.json`` can be given by path.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

PACKS_DIR = Path(__file__).parent / "packs"
DEFAULT_PACK = "acdc-cardiac"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class ModelPack:
    path: Path
    card: dict

    @property
    def name(self) -> str:
        return self.card["name"]

    @property
    def version(self) -> str:
        return self.card["version"]

    @property
    def classes(self) -> list[str]:
        return list(self.card["classes"])

    @property
    def preprocessing(self) -> dict:
        return self.card["preprocessing"]

    def has(self, model: str) -> bool:
        return model in self.card.get("models", {})

    def load_slice_model(self, device: str = "cpu", int8: bool = False):
        from .slicenet import SliceQCNet

        return self._load("slice", lambda arch: SliceQCNet(n_classes=len(self.classes), **arch), device, int8)

    def load_error_model(self, device: str = "cpu", int8: bool = False):
        from .errornet import ErrorNet

        return self._load("errormap", lambda arch: ErrorNet(n_classes=len(self.classes), **arch), device, int8)

    def load_manifold_model(self, device: str = "cpu"):
        from .manifold import PairVAE

        return self._load("manifold", lambda arch: PairVAE(n_classes=len(self.classes), **arch), device)

    def load_direct3d_model(self, device: str = "cpu"):
        from .direct3d import ResNet50_3D

        return self._load("direct3d", lambda arch: ResNet50_3D(n_outputs=len(self.classes), **arch), device)

    def _load(self, model: str, build, device: str, int8: bool = False):
        """The network ``model`` built by ``build(arch)``; ``int8``: its int8 form (``quantized.py``)."""
        if not self.has(model):
            raise InputError(f"model pack {self.name} has no '{model}' model")
        entry = self.card["models"][model]
        if int8 and "int8" not in entry:
            raise InputError(f"model pack {self.name} has no int8 weights for its {model} network; use float32")
        weights = entry["int8"] if int8 else entry
        f = self.path / weights["file"]
        if not f.exists():
            raise InputError(f"model pack {self.name} is incomplete: {f.name} is missing")
        if weights.get("sha256") and sha256(f) != weights["sha256"]:
            raise InputError(f"model pack {self.name}: {f.name} does not match the sha256 in its card (corrupted download?)")
        import torch  # here, so that reading a card needs no torch

        net = build(entry.get("arch", {}))
        if int8:
            from .quantized import int8_model, load_int8

            size = self.preprocessing["roi_size"]
            return int8_model(net, load_int8(f), torch.zeros(1, 1 + len(self.classes), size, size))
        with warnings.catch_warnings():  # PyTorch 2.0's weights-only loader warns of its own storage API
            warnings.filterwarnings("ignore", "TypedStorage is deprecated")
            net.load_state_dict(torch.load(f, map_location=device, weights_only=True))
        return net.to(device).eval()


def method_list(methods) -> list[str]:
    """Estimator names from a list or a comma-separated string (``--methods``); empty for None."""
    names = methods.split(",") if isinstance(methods, str) else methods or []
    return [m.strip() for m in names if m.strip()]


def list_packs() -> list[str]:
    return sorted(p.name for p in PACKS_DIR.iterdir() if (p / "card.json").exists()) if PACKS_DIR.exists() else []


def load_pack(name_or_path: str | Path | None = None) -> ModelPack:
    """A bundled pack by name (default ``acdc-cardiac``) or a pack folder by path."""
    p = Path(name_or_path) if name_or_path else PACKS_DIR / DEFAULT_PACK
    if not (p / "card.json").exists() and (PACKS_DIR / str(name_or_path)).exists():
        p = PACKS_DIR / str(name_or_path)
    if not (p / "card.json").exists():
        raise InputError(f"no model pack at {p} (bundled packs: {', '.join(list_packs()) or 'none'})")
    return ModelPack(p, json.loads((p / "card.json").read_text()))

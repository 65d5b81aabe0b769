"""Test-time attacks on a segmenter's input image (noise, contrast, blur, resolution).

Each attack is a pure function of the image and a parameter dict drawn with a seed, so the
attacked image can be regenerated exactly later (the QC set may show it to the QC model).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

ATTACKS = ("clean", "noise", "contrast", "blur", "resolution")


def draw(name: str, rng: np.random.Generator) -> dict:
    """Random parameters for one attack."""
    if name == "noise":
        return {"sigma": float(rng.uniform(0.03, 0.18)), "seed": int(rng.integers(2**31))}
    if name == "contrast":
        return {"gamma": float(np.exp(rng.uniform(np.log(0.35), np.log(2.8)))), "gain": float(rng.uniform(0.6, 1.4))}
    if name == "blur":
        return {"sigma": float(rng.uniform(0.8, 2.8))}
    if name == "resolution":
        return {"factor": float(rng.uniform(1.8, 4.0))}
    return {}


def apply(image: np.ndarray, name: str, params: dict) -> np.ndarray:
    """Attack a float (S, H, W) image in [0, 1] in-plane; returns float32 in [0, 1]."""
    x = image.astype(np.float32)
    if name == "noise":
        r = np.random.default_rng(params["seed"])
        s = params["sigma"]
        x = np.sqrt((x + r.normal(0, s, x.shape)) ** 2 + r.normal(0, s, x.shape) ** 2)  # Rician
    elif name == "contrast":
        x = params["gain"] * x ** params["gamma"]
    elif name == "blur":
        x = ndimage.gaussian_filter(x, sigma=(0, params["sigma"], params["sigma"]))
    elif name == "resolution":
        f = params["factor"]
        small = ndimage.zoom(x, (1, 1 / f, 1 / f), order=1)
        x = ndimage.zoom(small, (1, x.shape[1] / small.shape[1], x.shape[2] / small.shape[2]), order=1)
    return np.clip(x, 0, 1).astype(np.float32)

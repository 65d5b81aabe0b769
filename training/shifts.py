"""Domain shifts never used in training, for the shifted validation split.

Each returns (image, labels, pixel_mm): the image changed the way another scanner or site
would change it, the manual labels moved with it when the grid changes.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

SHIFTS = ("bias_field", "ghosting", "gibbs", "pixel_size", "vendor_curve")


def bias_field(img, lab, px, rng):
    """A strong smooth coil sensitivity (0.4-1.6x) across the field of view."""
    s, h, w = img.shape
    yy, xx = np.mgrid[:h, :w] / max(h, w)
    a, b, c = rng.uniform(-1, 1, 3)
    field = np.exp(0.6 * (a * (yy - 0.5) + b * (xx - 0.5)) + 0.5 * c * ((yy - 0.5) ** 2 + (xx - 0.5) ** 2))
    return img * field[None], lab, px


def ghosting(img, lab, px, rng):
    """Motion ghosts: faint copies shifted along the phase-encoding axis."""
    axis = int(rng.integers(1, 3))
    out = img.copy()
    for k in (1, 2):
        out += rng.uniform(0.08, 0.2) / k * np.roll(img, k * img.shape[axis] // 4, axis=axis)
    return out, lab, px


def gibbs(img, lab, px, rng):
    """Ringing from a truncated k-space (keep 30-50 % of the frequencies)."""
    keep = rng.uniform(0.3, 0.5)
    f = np.fft.fftshift(np.fft.fft2(img), axes=(1, 2))
    h, w = img.shape[1:]
    mask = np.zeros((h, w))
    mask[int(h * (1 - keep) / 2):int(h * (1 + keep) / 2), int(w * (1 - keep) / 2):int(w * (1 + keep) / 2)] = 1
    return np.abs(np.fft.ifft2(np.fft.ifftshift(f * mask, axes=(1, 2)))), lab, px


def pixel_size(img, lab, px, rng):
    """Another in-plane resolution (1.0-1.2 or 1.9-2.2 mm), image and labels resampled."""
    new = rng.choice([rng.uniform(1.0, 1.2), rng.uniform(1.9, 2.2)])
    z = px / new
    return (ndimage.zoom(img, (1, z, z), order=1), ndimage.zoom(lab, (1, z, z), order=0), float(new))


def vendor_curve(img, lab, px, rng):
    """Another intensity response: a square-root-like curve over a noise floor."""
    return np.sqrt(np.clip(img, 0, None) + rng.uniform(0.02, 0.08)), lab, px


def apply_random(img, lab, px, rng, n=2):
    """Two different shifts in a row; returns (image in [0, 1], labels, pixel_mm, names)."""
    names = [str(x) for x in rng.choice(SHIFTS, size=n, replace=False)]
    for name in names:
        img, lab, px = globals()[name](img, lab, px, rng)
    img = np.clip(img / np.percentile(img, 99), 0, 1).astype(np.float32)
    return img, lab, px, names

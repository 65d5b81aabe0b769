"""ACDC loading and the patient-level split used by every training script.

The data stays in ``../shared/data/acdc`` (one HDF5 file per patient and frame);
nothing from it is ever written into the repository.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_ROOT = Path(os.environ.get("ACDC_ROOT", Path(__file__).resolve().parents[2] / "shared" / "data" / "acdc"))
PIXEL_MM = 1.5  # ACDC in-plane spacing is 1.37-1.68 mm and is not stored: treated as 1.5 mm
WIDE_GRID, FOV_MM = 320, 360.0  # wider grids (patients 38, 57) have finer pixels: their hearts look twice the size


@dataclass
class Volume:
    patient: int
    frame: int
    phase: str  # "ED" or "ES"
    image: np.ndarray  # float32 (S, H, W) in [0, 1]
    label: np.ndarray  # uint8 (S, H, W): 0 bg, 1 RV, 2 MYO, 3 LV

    @property
    def key(self) -> str:
        return f"p{self.patient:03d}_{self.phase}"

    @property
    def pixel_mm(self) -> float:
        """Estimated in-plane spacing: 1.5 mm, or a 360 mm field of view over a grid wider than 320 pixels."""
        n = max(self.image.shape[1:])
        return FOV_MM / n if n > WIDE_GRID else PIXEL_MM


def list_files(root: Path = DEFAULT_ROOT) -> dict[int, list[Path]]:
    """Patient number -> its two files, sorted by frame (ED first)."""
    out: dict[int, list[Path]] = {}
    for f in sorted(Path(root).glob("patient*_frame*.h5")):
        m = re.match(r"patient(\d+)_frame(\d+)\.h5", f.name)
        out.setdefault(int(m.group(1)), []).append(f)
    if not out:
        raise SystemExit(f"no ACDC files in {root} (set ACDC_ROOT)")
    return {p: sorted(fs, key=lambda f: int(re.search(r"frame(\d+)", f.name).group(1))) for p, fs in out.items()}


def load_patient(patient: int, root: Path = DEFAULT_ROOT) -> list[Volume]:
    import h5py

    vols = []
    for phase, f in zip(("ED", "ES"), list_files(root)[patient]):
        with h5py.File(f, "r") as h:
            vols.append(Volume(patient, int(re.search(r"frame(\d+)", f.name).group(1)), phase,
                               h["image"][:].astype(np.float32), h["label"][:].astype(np.uint8)))
    return vols


GROUPS = ("DCM", "HCM", "MINF", "NOR", "ARV")  # pathology groups of patients 1-20, 21-40, ... (ARV: abnormal RV)


def group(patient: int) -> str:
    return GROUPS[(patient - 1) // 20]


def patient_of(name: str) -> int:
    """The patient number of a case named after ``Volume.key`` (``p009_ED|...``)."""
    return int(name[1:4])


def split(root: Path = DEFAULT_ROOT, seed: int = 0) -> tuple[list[int], list[int]]:
    """(train, validation) patients: 4 validation patients per pathology group of 20.

    The validation patients are never seen by a segmenter or a QC model in training.
    """
    rng = np.random.default_rng(seed)
    patients = sorted(list_files(root))
    val = []
    for g in GROUPS:
        members = [p for p in patients if group(p) == g]
        val += sorted(rng.choice(members, size=min(4, len(members)), replace=False).tolist())
    train = [p for p in patients if p not in val]
    return train, sorted(val)


def folds(train: list[int], n: int, seed: int = 0) -> list[list[int]]:
    """Split the training patients into n disjoint folds, stratified by pathology group."""
    rng = np.random.default_rng(seed + 1)
    out: list[list[int]] = [[] for _ in range(n)]
    for g in GROUPS:
        members = [p for p in train if group(p) == g]
        rng.shuffle(members)
        for i, p in enumerate(members):
            out[i % n].append(int(p))
    return [sorted(f) for f in out]

"""Cases: an image and its segmentation on one grid, slice axis first, geometry kept.

``read_case`` turns two files into a ``Case``; every problem a user can fix becomes one
``InputError`` sentence naming the file. Outputs are written back in the input image's frame
with ``Case.to_image``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import InputError
from .files import FrameNote, read_file, read_image, unit_spacing_note
from .structures import DEFAULT_LABELS, guess_mapping, header_segments

# the in-plane layout slices are put in (LPS): rows run towards posterior, columns towards the
# patient's left, as an axial image is shown radiologically
_ROW_LPS, _COL_LPS = np.array([0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0])


@dataclass
class Case:
    """One image and its segmentation, resampled to a common grid, slice axis first.

    ``labels`` keeps the user's label values; ``class_values`` maps class names to them.
    ``spacing`` is (slice, row, column) in mm. ``reference`` is the input image (SimpleITK)
    whose grid every output is written on; ``axes`` maps the array axes back to its array
    axes (``GetArrayFromImage`` order) and ``flips`` says which in-plane axes (row, column)
    were reversed after that transposition (``inplane_layout``).
    """

    image: np.ndarray
    labels: np.ndarray
    spacing: tuple[float, float, float]
    class_values: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_LABELS))
    name: str = "case"
    reference: sitk.Image | None = None
    axes: tuple[int, int, int] = (0, 1, 2)
    warnings: list[str] = field(default_factory=list)
    flips: tuple[bool, bool] = (False, False)

    @property
    def slice_axis(self) -> int:
        """The slice axis as an index of the input's ``GetArrayFromImage`` array."""
        return self.axes[0]

    def to_input_order(self, array: np.ndarray) -> np.ndarray:
        """An (S, H, W) array in the input's array axis order (``GetArrayFromImage``, KJI)."""
        return np.transpose(_flipped(np.asarray(array), self.flips), np.argsort(self.axes))

    def from_input_order(self, array: np.ndarray) -> np.ndarray:
        """An array in the input's array axis order (KJI) laid out as the case's (S, H, W)."""
        return _laid_out(np.asarray(array), self.axes, self.flips)

    def to_image(self, array: np.ndarray) -> sitk.Image:
        """Put an (S, H, W) array back on the input image's grid and geometry."""
        if self.reference is None:
            raise ValueError("this case was not read from a file: it has no geometry to write into")
        back = self.to_input_order(array)
        if self.reference.GetDimension() == 2:
            back = back[0]
        out = sitk.GetImageFromArray(np.ascontiguousarray(back))
        out.CopyInformation(self.reference)
        return out


def parse_labels(text: str | None) -> dict[str, int] | None:
    """``"LV=3,MYO=2,RV=1"`` -> {"LV": 3, ...}; None (no ``--labels``) stays None: each file's
    own (``file_labels``)."""
    if not text:
        return None
    out = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            value = int(value)
        except ValueError:
            raise InputError(f"--labels expects NAME=VALUE pairs such as LV=3,MYO=2,RV=1, got {text!r}") from None
        if name.strip() in out:
            raise InputError(f"--labels names {name.strip()} twice: {text!r}")
        out[name.strip()] = value
    return _checked_values(out, text)


def label_map(labels) -> dict[str, int] | None:
    """The structures' label values from the Python API: a dict, a ``"LV=3,MYO=2,RV=1"`` string
    (as ``--labels``) or None (each file's own)."""
    if labels is None or isinstance(labels, str):
        return parse_labels(labels)
    if not isinstance(labels, Mapping):
        raise InputError(f"labels are a dict such as {{'LV': 3, 'MYO': 2, 'RV': 1}} or a string such as "
                         f"'LV=3,MYO=2,RV=1', not {type(labels).__name__}")
    labels = dict(labels)
    return _checked_values(labels, labels)


def _checked_values(values: dict, given) -> dict[str, int]:
    """``values`` as ints, refused in one sentence unless they are distinct whole numbers of 1 or
    more (``given``: what the user wrote)."""
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in values.values()):
        raise InputError(f"label values are whole numbers of 1 or more (0 is the background), as in "
                         f"LV=3,MYO=2,RV=1; got {given!r}")
    if len(set(values.values())) != len(values):
        raise InputError(f"two structures have the same label value: {given!r}")
    return {k: int(v) for k, v in values.items()}


def file_labels(seg: sitk.Image, path: Path) -> tuple[dict[str, int], list[str]]:
    """Label values of a segmentation file given without ``--labels``: a Slicer segmentation file
    (.seg.nrrd) names its segments, and the names and terminology say which is which structure
    (``structures.guess_mapping``; a structure none names is missing); other files, and those whose
    names name no structure, get the ACDC default. Returns (values, notes for the report)."""
    segments = header_segments({k: seg.GetMetaData(k) for k in seg.GetMetaDataKeys()})
    found = {c: v for c, v in guess_mapping(segments, DEFAULT_LABELS).items() if v is not None}
    if not found:
        names = ", ".join(repr(name) for _, name, _ in segments)
        notes = [f"{path.name}: no segment name ({names}) says which structure it is; "
                 "read with the default label values (see --labels)"] if segments else []
        return dict(DEFAULT_LABELS), notes
    notes = [f"{path.name}: label values read from its segment names: "
             + ", ".join(f"{c}={v}" for c, v in sorted(found.items(), key=lambda cv: cv[1]))]
    spare = max(v for v, _, _ in segments) + 1  # a value no segment has: the structure is absent
    for c in DEFAULT_LABELS:
        if c not in found:
            found[c], spare = spare, spare + 1
            notes.append(f"no segment of {path.name} is named as {c}: {c} is scored as missing from the segmentation")
    return found, notes


def _squeeze(img: sitk.Image, path: Path) -> sitk.Image:
    """Check a scalar 2D or 3D image (a 4D one with a single frame is squeezed)."""
    if img.GetNumberOfComponentsPerPixel() != 1 and img.HasMetaDataKey("Segment0_Layer"):
        raise InputError(f"{path.name} is a Slicer segmentation with {img.GetNumberOfComponentsPerPixel()} layers "
                         "(overlapping segments); export the structures to a label map (one layer) first")
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"{path.name} has {img.GetNumberOfComponentsPerPixel()} components per voxel; "
                         "give a single-channel (scalar) volume")
    if img.GetDimension() == 4:
        if img.GetSize()[3] != 1:
            raise InputError(f"{path.name} is 4D with {img.GetSize()[3]} frames; give one frame (e.g. ED or ES) as a 3D volume")
        img = img[:, :, :, 0]
    if img.GetDimension() not in (2, 3):
        raise InputError(f"{path.name} is {img.GetDimension()}D; a 2D or 3D image is needed")
    return img


def _as_3d(img: sitk.Image) -> sitk.Image:
    return sitk.JoinSeries(img) if img.GetDimension() == 2 else img


def _same_grid(a: sitk.Image, b: sitk.Image) -> bool:
    return (a.GetSize() == b.GetSize()
            and np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=1e-3)
            and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-2 * min(a.GetSpacing()))
            and np.allclose(a.GetDirection(), b.GetDirection(), atol=1e-3))


def _label_values(arr: np.ndarray, name: str) -> np.ndarray:
    """A segmentation's array (of file or array ``name``) as uint16 labels; refused where it is not
    a label map."""
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise InputError(f"segmentation {name} contains NaN or infinite values")
        r = np.rint(arr)
        if np.abs(arr - r).max() > 1e-3:
            raise InputError(f"segmentation {name} holds non-integer values (e.g. {arr[np.abs(arr - r) > 1e-3].flat[0]:.3g}); "
                             "give a label map, not probabilities")
        arr = r
    elif not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        raise InputError(f"segmentation {name} is not numeric ({arr.dtype})")
    if arr.min() < 0 or arr.max() > 65535:
        raise InputError(f"segmentation {name} has label values outside 0-65535")
    return arr.astype(np.uint16)


def _flipped(array: np.ndarray, flips: tuple[bool, bool]) -> np.ndarray:
    """(S, H, W) array with its rows and/or columns reversed (its own inverse)."""
    return array[:, ::-1 if flips[0] else 1, ::-1 if flips[1] else 1]


def inplane_layout(directions: np.ndarray, slice_axis: int) -> tuple[tuple[int, int, int], tuple[bool, bool]]:
    """Array axes (slice axis first) and in-plane flips that lay the slices out closest to rows
    towards posterior and columns towards the patient's left, so that the same voxels in space
    give the same arrays whatever order a file stores them in (except for axes exactly between
    two layouts). ``directions``: (3, 3) unit LPS direction of each array axis (KJI order), one
    per row."""
    a, b = (i for i in range(3) if i != slice_axis)
    best = (-np.inf, (slice_axis, a, b), (False, False))
    for r, c in ((a, b), (b, a)):
        for fr in (False, True):
            for fc in (False, True):
                score = (-1 if fr else 1) * directions[r] @ _ROW_LPS + (-1 if fc else 1) * directions[c] @ _COL_LPS
                if score > best[0] + 1e-6:
                    best = (score, (slice_axis, r, c), (fr, fc))
    return best[1], best[2]


def _laid_out(array: np.ndarray, axes, flips) -> np.ndarray:
    return np.ascontiguousarray(_flipped(np.transpose(array, axes), flips))


def find_slice_axis(spacing_zyx, shape_zyx) -> int:
    """Array axis with the largest spacing; ties go to the axis with the fewest voxels."""
    sp = np.asarray(spacing_zyx, dtype=float)
    tied = [i for i in range(3) if sp[i] >= sp.max() * 0.99]
    return min(tied, key=lambda i: (shape_zyx[i], i))


def _refuse_swapped(image: np.ndarray, image_path: Path, seg_path: Path) -> None:
    """One sentence where the segmentation looks like an image (called when it does) and the image
    like a label map: the two given the wrong way round."""
    values = np.unique(image)
    if len(values) <= 16 and values.min() >= 0 and np.array_equal(values, np.round(values)):
        raise InputError(f"{image_path.name} holds {len(values)} whole values, as a label map does, and "
                         f"{seg_path.name} looks like an image: were they given the wrong way round? Give the image "
                         "first, then the segmentation")


def case_from_images(img: sitk.Image, seg: sitk.Image, image_path: Path, seg_path: Path,
                     class_values: dict[str, int], name: str, warnings: list[str]) -> Case:
    """Build a Case from two SimpleITK images (resampling the segmentation onto the image)."""
    reference, seg = _squeeze(img, image_path), _squeeze(seg, seg_path)
    if seg.GetDimension() != reference.GetDimension():
        raise InputError(f"{seg_path.name} is {seg.GetDimension()}D but {image_path.name} is {reference.GetDimension()}D")
    img, seg = _as_3d(reference), _as_3d(seg)
    if not _same_grid(img, seg):
        seg = _onto(seg, img, image_path, seg_path)
        warnings.append(f"{seg_path.name} is on a different grid from {image_path.name}; "
                        "it was resampled onto the image grid (nearest neighbour)")
    arr = sitk.GetArrayFromImage(img).astype(np.float32)
    if not np.all(np.isfinite(arr)):
        warnings.append(f"{image_path.name}: NaN or infinite voxels were set to 0")
        arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    try:
        lab = _label_values(sitk.GetArrayFromImage(seg), seg_path.name)
    except InputError:
        _refuse_swapped(arr, image_path, seg_path)
        raise
    present = {int(v) for v in np.unique(lab)} - {0}
    unknown = sorted(present - set(class_values.values()))
    if len(unknown) > 255:
        _refuse_swapped(arr, image_path, seg_path)
    if unknown:
        listed = str(unknown) if len(unknown) <= 10 else f"[{', '.join(map(str, unknown[:10]))}, …] ({len(unknown)} values)"
        warnings.append(f"{seg_path.name}: label values {listed} are not mapped to a structure and are ignored "
                        "(see --labels)" + ("; so many values suggest an image rather than a label map"
                                            if len(unknown) > 255 else ""))
        lab = np.where(np.isin(lab, unknown), 0, lab)
    if not present & set(class_values.values()):
        warnings.append(f"{seg_path.name} contains none of the structures {class_values}; "
                        "it is scored as an empty segmentation")
    spacing_zyx = tuple(reversed(img.GetSpacing()))
    ax = 0 if reference.GetDimension() == 2 else find_slice_axis(spacing_zyx, arr.shape)
    direction = np.array(img.GetDirection()).reshape(3, 3)  # columns: index axes I, J, K
    axes, flips = inplane_layout(direction[:, ::-1].T, ax)  # rows: array axes K, J, I
    return Case(image=_laid_out(arr, axes, flips), labels=_laid_out(lab, axes, flips),
                spacing=tuple(float(spacing_zyx[i]) for i in axes), class_values=dict(class_values), name=name,
                reference=reference, axes=axes, warnings=warnings, flips=flips)


def case_from_arrays(image: np.ndarray, labels: np.ndarray, spacing, class_values: dict[str, int] | None = None,
                     name: str = "case", warnings: list[str] | None = None, directions: np.ndarray | None = None) -> Case:
    """A Case from (K, J, I) arrays and their (K, J, I) spacing, e.g. from Slicer nodes.

    The slice axis is found as for files; with ``directions`` ((3, 3) unit LPS direction of
    each array axis, e.g. a volume node's) the slices are laid out as for files
    (``inplane_layout``), else kept as stored. ``Case.to_input_order`` maps results back.
    """
    image, labels, class_values = np.asarray(image), np.asarray(labels), label_map(class_values)
    if image.shape != labels.shape:
        raise InputError(f"image {image.shape} and segmentation {labels.shape} arrays differ in shape")
    labels = _label_values(labels, "array")
    try:
        spacing = tuple(float(v) for v in spacing)
    except (TypeError, ValueError):
        spacing = ()
    if image.ndim not in (2, 3) or len(spacing) != image.ndim or not all(np.isfinite(spacing)) or min(spacing) <= 0:
        raise InputError(f"case_from_arrays takes 2D or 3D arrays and one positive spacing (mm) per axis; got "
                         f"{image.ndim}D arrays and spacing {spacing or 'that is not numbers'}")
    flat = image.ndim == 2
    if flat:
        image, labels, spacing = image[None], labels[None], (1.0,) + spacing
    ax = 0 if flat else find_slice_axis(spacing, image.shape)
    if directions is None:  # no geometry: keep the stored in-plane order
        axes, flips = (ax,) + tuple(i for i in range(3) if i != ax), (False, False)
    else:
        axes, flips = inplane_layout(np.asarray(directions, float), ax)
    return Case(image=_laid_out(image, axes, flips).astype(np.float32, copy=False),
                labels=_laid_out(labels, axes, flips),
                spacing=tuple(float(spacing[i]) for i in axes), class_values=dict(class_values or DEFAULT_LABELS),
                name=name, axes=axes, warnings=list(warnings or []), flips=flips)


def _onto(seg: sitk.Image, img: sitk.Image, image_path: Path, seg_path: Path) -> sitk.Image:
    """Resample a segmentation onto the image grid; refuse when they do not overlap."""
    def corners(im):
        size = np.array(im.GetSize()) - 1
        idx = [(i, j, k) for i in (0, size[0]) for j in (0, size[1]) for k in (0, size[2])]
        return np.array([im.TransformContinuousIndexToPhysicalPoint([float(c) for c in p]) for p in idx])

    a, b = corners(img), corners(seg)
    lo, hi = np.maximum(a.min(0), b.min(0)), np.minimum(a.max(0), b.max(0))
    if np.any(hi < lo - max(img.GetSpacing())):
        raise InputError(f"{seg_path.name} does not overlap {image_path.name} in physical space; "
                         "are they from the same scan?")
    return sitk.Resample(seg, img, sitk.Transform(), sitk.sitkNearestNeighbor, 0, seg.GetPixelID())


def read_case(image_path, seg_path, class_values: dict[str, int] | None = None, name: str | None = None,
              frame: int | None = None, files: dict | None = None) -> Case:
    """Read an image and its segmentation from disk into a ``Case``; without ``class_values``
    the segmentation file's own (``file_labels``). ``frame``: the frame to check where the image
    or the segmentation is a cine series (4D, or a DICOM folder of repeated slice positions);
    a 3D file is that frame already. ``files``: the files read so far, kept for the next frame
    (``files._once``)."""
    image_path, seg_path, class_values = Path(image_path), Path(seg_path), label_map(class_values)
    img, w1 = read_image(image_path, "image", frame, files)
    w1 += unit_spacing_note(img, image_path)
    seg, w2 = read_image(seg_path, "segmentation", frame, files)
    w3 = []
    if class_values is None:
        class_values, w3 = file_labels(seg, seg_path)
    if frame is not None and not any(isinstance(w, FrameNote) for w in w1 + w2):
        w3.append(f"frame {frame} was asked for, but neither input is a cine series: both were read as they are")
    return case_from_images(img, seg, image_path, seg_path, class_values, name or _stem(seg_path), w1 + w2 + w3)


def cine_phases(seg_path, class_values: dict[str, int] | None = None, structure: str = "LV",
                files: dict | None = None) -> tuple[int, int]:
    """(ED, ES) frames of a 4D segmentation file: of the frames it labels, those where ``structure``
    is largest and smallest (its label value from ``class_values``, else the file's own).
    ``files``: as for ``read_case``."""
    seg_path = Path(seg_path)
    if not seg_path.exists():
        raise InputError(f"segmentation file not found: {seg_path}")
    seg = None if seg_path.is_dir() else read_file(seg_path, "segmentation", files)[0]
    if seg is None:
        raise InputError(f"ED and ES are found in a 4D segmentation file; for the cine series in {seg_path.name} "
                         "give --ed-frame and --es-frame")
    if seg.GetDimension() != 4 or seg.GetSize()[3] < 2:
        raise InputError(f"{seg_path.name} is not a cine (4D) segmentation, so it holds no ED and ES to find: "
                         "give the ES image and segmentation too (segqc ef ED_IMAGE ED_SEG ES_IMAGE ES_SEG)")
    values = label_map(class_values) or file_labels(seg, seg_path)[0]
    if structure not in values:
        raise InputError(f"the labels ({values}) give no value for {structure}, which finds ED and ES")
    arr = sitk.GetArrayFromImage(seg)  # (T, K, J, I)
    labelled = np.flatnonzero(arr.reshape(len(arr), -1).any(1))
    if len(labelled) < 2:
        raise InputError(f"{seg_path.name} labels {len(labelled)} of its {len(arr)} frames; ED and ES need two "
                         "(or give --ed-frame and --es-frame)")
    volume = (arr[labelled] == values[structure]).reshape(len(labelled), -1).sum(1)
    return int(labelled[np.argmax(volume)]), int(labelled[np.argmin(volume)])


def _stem(path: Path) -> str:
    name = path.name
    for ext in (".nii.gz", ".nii", ".seg.nrrd", ".nrrd", ".mha", ".mhd", ".nhdr"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return path.stem

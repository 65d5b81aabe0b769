"""Reading image files and DICOM folders into SimpleITK images.

Any file SimpleITK reads (a NIfTI whose direction cosines ITK refuses is orthonormalised), or a
folder of one DICOM series; one frame of a cine series (4D file, or DICOM positions repeated over
the cycle). Every problem a user can fix becomes one ``InputError`` sentence naming the file.
"""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import InputError

_MAX_SHEAR_DEG = 5.0  # direction cosines further than this from orthonormal are refused


def _read_nifti_permissive(path: Path, img) -> sitk.Image:
    """Read a NIfTI whose direction cosines ITK refuses (``img``: ``_nifti_header``), orthonormalising
    them."""
    data = np.asanyarray(img.dataobj)
    aff = img.affine[:3, :3]
    spacing = np.linalg.norm(aff, axis=0)
    if np.any(spacing == 0):
        raise InputError(f"{path.name}: its header gives a zero voxel size")
    cos = aff / spacing
    u, _, vt = np.linalg.svd(cos)
    ortho = u @ vt
    shear = np.degrees(np.arccos(np.clip(np.sum(cos * ortho, axis=0), -1, 1))).max()
    if shear > _MAX_SHEAR_DEG:
        raise InputError(f"{path.name}: its header's axes are sheared by {shear:.1f} degrees, "
                         f"more than the {_MAX_SHEAR_DEG:g} this tool corrects; resample it to an orthogonal grid first")
    lps = np.diag([-1.0, -1.0, 1.0])
    out = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(data, tuple(reversed(range(data.ndim))))))
    n = min(out.GetDimension(), 3)
    out.SetSpacing(tuple(spacing[:n]) + (1.0,) * (out.GetDimension() - n))
    out.SetOrigin(tuple((lps @ img.affine[:3, 3])[:n]) + (0.0,) * (out.GetDimension() - n))
    if out.GetDimension() in (3, 4):
        direction = np.eye(out.GetDimension())
        direction[:3, :3] = lps @ ortho
        out.SetDirection(tuple(direction.ravel()))
    return out


class FrameNote(str):
    """A report note saying which frame of a cine series was read."""


def read_dicom_series(path: Path, what: str = "image", frame: int | None = None,
                      files: dict | None = None) -> tuple[sitk.Image, list[str]]:
    """A folder holding one DICOM series: one volume (one image per slice position), or, with
    ``frame``, that frame of a cine series (the same positions repeated over the cardiac cycle;
    each position's images in trigger-time order, else instance-number order). Returns (image,
    notes for the report). ``files``: see ``_once`` (the folder's headers are read once)."""
    files_in, by_position = _once(files, path, lambda: _scan_series(path, what))
    counts, notes = sorted({len(v) for v in by_position.values()}), []
    if counts != [1]:
        where = f"{what} folder {path.name} holds {len(files_in)} DICOM images at {len(by_position)} slice positions"
        if len(counts) > 1 and frame is not None:
            raise InputError(f"{where}, not the same number of frames at each: give one frame as a volume")
        frame = _chosen_frame(frame, counts[-1], f"{where} (a cine series)", f"the cine series in {path.name}")
        files_in = [f for *_, f, _ in sorted((sorted(v)[frame] for v in by_position.values()), key=lambda t: t[-1])]
        notes = [FrameNote(f"{what}: frame {frame} of the {counts[0]}-frame cine series in {path.name}")]
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files_in)
    return reader.Execute(), notes


def _scan_series(path: Path, what: str) -> tuple[list[str], dict[str, list]]:
    """A DICOM folder's files and, by slice position, (trigger time, instance number, file order,
    file, depth) of each, from their headers; or one sentence saying why it is not one series."""
    shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)  # ITK's own line for an empty folder
    try:
        ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(path))
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)
    if len(ids) != 1:
        raise InputError(f"{what} folder {path.name} holds {len(ids) or 'no'} DICOM series; give an image file "
                         "or a folder of one DICOM series")
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(path), ids[0])
    by_position: dict[str, list] = {}  # position -> (trigger time, instance number, file order, file, depth)
    for i, f in enumerate(files):
        position, trigger, instance, orientation, modality = _dicom_tags(
            f, ("0020|0032", "0018|1060", "0020|0013", "0020|0037", "0008|0060"))
        _refuse_dicom_object(f"{path.name}/{Path(f).name}", modality, what)
        by_position.setdefault(position or f, []).append(
            (_number(trigger), _number(instance), i, f, _along_normal(position, orientation)))
    return list(files), by_position


def _chosen_frame(frame: int | None, n: int, described: str, name: str) -> int:
    """``frame`` of a cine series of ``n`` frames, checked; ``described``: what the input holds,
    ``name``: the series, for the messages."""
    if frame is None:
        raise InputError(f"{described}: choose the frame to check, 0 to {n - 1} (--frame N, or a manifest's frame "
                         "column), or give one frame (e.g. ED or ES) as a 3D volume")
    if not 0 <= frame < n:
        raise InputError(f"frame {frame} is outside the {n} frames of {name} (0 to {n - 1})")
    return frame


def _dicom_tags(file: str, tags) -> list[str | None]:
    header = sitk.ImageFileReader()
    header.SetFileName(file)
    header.ReadImageInformation()
    return [header.GetMetaData(t).strip() if header.HasMetaDataKey(t) else None for t in tags]


def _number(text: str | None) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("inf")  # missing: after the numbered ones, then in file order


def _along_normal(position: str | None, orientation: str | None) -> float:
    """A DICOM slice's position along its plane's normal, from its image position and orientation."""
    try:
        p = np.array(position.split("\\"), float)
        o = np.array(orientation.split("\\"), float)
        return float(p @ np.cross(o[:3], o[3:]))
    except (AttributeError, ValueError):
        return 0.0


def read_image(path: str | Path, what: str = "image", frame: int | None = None,
               files: dict | None = None) -> tuple[sitk.Image, list[str]]:
    """Read any file SimpleITK reads, or a folder of one DICOM series (``frame``: of a cine
    series); returns (image, warnings). ``files``: see ``_once``."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} file not found: {path}")
    if path.is_dir():
        return read_dicom_series(path, what, frame, files)
    img, notes = read_file(path, what, files)
    if img.GetDimension() == 4 and img.GetSize()[3] > 1:
        n = img.GetSize()[3]
        img = img[:, :, :, _chosen_frame(frame, n, f"{path.name} is 4D with {n} frames", path.name)]
        notes.append(FrameNote(f"{what}: frame {frame} of the {n} frames of {path.name}"))
    return img, notes


def _once(files: dict | None, path: Path, read):
    """``read()``, or what it gave for ``path`` before: ``files`` holds what was read so far (filled
    in; None: read), so that several frames of a cine file or folder cost one reading."""
    if files is None:
        return read()
    key = path.resolve()
    if key not in files:
        files[key] = read()
    return files[key]


def read_file(path: Path, what: str, files: dict | None = None) -> tuple[sitk.Image, list[str]]:
    """One image file as SimpleITK reads it (a NIfTI whose axes are not quite orthonormal:
    orthonormalised, with a note), or one sentence saying why it cannot be read. ``files``: see
    ``_once``."""
    img, notes = _once(files, path, lambda: _read_one(path, what))
    return img, list(notes)  # the caller's to add to


def _read_one(path: Path, what: str) -> tuple[sitk.Image, list[str]]:
    nii = _nifti_header(path) if path.name.lower().endswith((".nii", ".nii.gz")) else None
    if nii is not None:
        _check_nifti_complete(path, nii, what)
    try:
        img = (_read_nifti_float(path, nii) if nii is not None else None) or sitk.ReadImage(str(path))
    except RuntimeError as e:
        msg = str(e)
        _refuse_dicom_object(path.name, "RTSTRUCT" if _is_rtstruct(path) else None, what)
        if "orthonormal" not in msg or nii is None:
            first = next((ln.strip() for ln in msg.splitlines() if "ERROR" in ln or "error" in ln), msg.splitlines()[-1])
            raise InputError(f"cannot read {what} {path.name}: {first.split('ERROR:')[-1].strip()}") from None
        return _read_nifti_permissive(path, nii), [f"{path.name}: direction cosines were not orthonormal; they were orthonormalised"]
    if img.HasMetaDataKey("0008|0060"):
        _refuse_dicom_object(path.name, img.GetMetaData("0008|0060"), what)
    return img, []


_DICOM_OBJECTS = {"SEG": "a DICOM Segmentation object (SEG)", "RTSTRUCT": "a DICOM RT Structure Set (contours, not voxels)"}


def _refuse_dicom_object(name: str, modality: str | None, what: str) -> None:
    """One sentence for a DICOM object that holds structures but is not a label image (ITK reads a
    SEG's binary frames as a stack of 0/255 images, and no RT Structure Set at all)."""
    kind = _DICOM_OBJECTS.get((modality or "").strip().upper())
    if kind:
        raise InputError(f"{what} {name} is {kind}, which this tool does not read: convert it to a label image "
                         "(NIfTI or NRRD), e.g. in 3D Slicer, which loads it with its DICOM extensions "
                         "(QuantitativeReporting for SEG, SlicerRT for RT structures), or use the Slicer module")


def _is_rtstruct(path: Path) -> bool:
    """Whether a file ITK cannot read is a DICOM file whose header names an RT Structure Set."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return head[128:132] == b"DICM" and b"RTSTRUCT" in head


def _nifti_header(path: Path):
    """The file as nibabel opens it (header read, voxels not), or None where nibabel cannot: then
    SimpleITK reads it or says why."""
    import nibabel as nib

    try:
        return nib.load(str(path))
    except Exception:  # noqa: BLE001 - not a NIfTI nibabel reads
        return None


def _read_nifti_float(path: Path, nii) -> sitk.Image | None:
    """A float NIfTI's voxels as nibabel reads them (``nii``: ``_nifti_header``), on the grid ITK reads
    from its header; None for other NIfTIs (ITK reads them). ITK would read NaN and infinite voxels
    as 0, silently; kept, they are reported (an image) or refused (a segmentation) as in any other
    format."""
    if not np.issubdtype(nii.get_data_dtype(), np.floating):
        return None
    header = sitk.ImageFileReader()
    header.SetFileName(str(path))
    header.ReadImageInformation()  # raises what sitk.ReadImage would on a bad header
    if header.GetNumberOfComponents() != 1 or int(np.prod(header.GetSize())) != int(np.prod(nii.shape)):
        return None
    dtype = np.float64 if header.GetPixelID() == sitk.sitkFloat64 else np.float32
    try:
        data = np.asanyarray(nii.dataobj).astype(dtype, copy=False)
    except Exception:  # noqa: BLE001 - damaged data: ITK reads it, or says why it cannot
        return None
    img = sitk.GetImageFromArray(np.transpose(data, tuple(reversed(range(data.ndim)))).reshape(header.GetSize()[::-1]),
                                 isVector=False)
    img.SetSpacing(header.GetSpacing())
    img.SetOrigin(header.GetOrigin())
    img.SetDirection(header.GetDirection())
    return img


def _check_nifti_complete(path: Path, nii, what: str) -> None:
    """Refuse a NIfTI file (``nii``: ``_nifti_header``) holding less voxel data than its header
    describes (a cut-off copy or download), which ITK would read with the missing voxels set to 0. A
    .nii.gz's gzip trailer gives its length; only where that disagrees (several gzip members, or a
    cut) is it decompressed."""
    data = nii.dataobj
    need = int(data.offset) + int(np.prod(data.shape)) * data.dtype.itemsize
    if path.name.lower().endswith(".gz"):
        with open(path, "rb") as f:
            f.seek(-4, os.SEEK_END)
            if int.from_bytes(f.read(4), "little") == need % 2 ** 32:
                return
        have = 0
        try:
            with gzip.open(path, "rb") as f:
                while have < need and (chunk := f.read(1 << 16)):
                    have += len(chunk)
        except (EOFError, OSError, zlib.error):
            pass  # cut off inside the stream: ``have`` is what could be read
    else:
        have = path.stat().st_size
    if have < need:
        raise InputError(f"cannot read {what} {path.name}: the file is cut short (its header describes {need} bytes, "
                         f"it holds {have}); copy or download it again")


PICTURES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")  # may store no pixel size: read as 1 mm


def unit_spacing_note(img: sitk.Image, path: Path) -> list[str]:
    """A warning where the image's pixel size is most likely not its own: a picture file giving
    none (read as 1 mm), or a 3D header giving exactly 1 x 1 x 1 mm, as one without voxel sizes does."""
    unit = np.isclose(img.GetSpacing(), 1.0, rtol=0, atol=1e-6)  # a TIFF's 1 mm reads back as 1.00000002
    if path.suffix.lower() in PICTURES and unit[:2].all():
        return [f"{path.name} gives no pixel size, so it was read as 1 x 1 mm, and the estimates depend on it; "
                "if that is not the image's, give a NIfTI, NRRD, MHA or DICOM file with its pixel size"]
    if img.GetDimension() >= 3 and unit[:3].all():
        return [f"{path.name} gives every voxel as exactly 1 x 1 x 1 mm, as a header without voxel sizes does, and "
                "the estimates depend on the pixel size; if these are not the image's, fix the header"]
    return []

"""Reading cases: round trips, geometry, and each messy-file problem handled or refused clearly."""
import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from SegmentationQCLib import files as files_module
from SegmentationQCLib.case import find_slice_axis, parse_labels, read_case
from SegmentationQCLib.errors import InputError
from SegmentationQCLib.files import read_image
from conftest import dicom_series, slicer_file, write


@pytest.mark.parametrize("ext", [".nii.gz", ".nrrd", ".mha"])
def test_round_trip_formats(tmp_path, stack, ext):
    image, truth, spacing = stack
    img = write(image, tmp_path / f"i{ext}", tuple(reversed(spacing)), origin=(10, -5, 3))
    seg = write(truth, tmp_path / f"s{ext}", tuple(reversed(spacing)), origin=(10, -5, 3))
    case = read_case(img, seg)
    assert case.image.shape == image.shape and case.spacing == pytest.approx(spacing)
    np.testing.assert_array_equal(case.labels, truth)
    back = case.to_image(case.labels.astype(np.uint8))
    ref = sitk.ReadImage(str(img))
    assert back.GetOrigin() == pytest.approx(ref.GetOrigin()) and back.GetSpacing() == pytest.approx(ref.GetSpacing())
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), truth)


def test_slice_axis_found_when_it_is_not_z(tmp_path, stack):
    image, truth, _ = stack
    # slices along the last array axis (x), 8 mm apart
    img = write(np.moveaxis(image, 0, -1), tmp_path / "i.nrrd", (8.0, 1.4, 1.4))
    seg = write(np.moveaxis(truth, 0, -1), tmp_path / "s.nrrd", (8.0, 1.4, 1.4))
    case = read_case(img, seg)
    assert case.slice_axis == 2 and case.labels.shape == truth.shape
    # rows were along z, columns along y: laid out with rows along y (posterior), columns along z
    np.testing.assert_array_equal(case.labels, truth.transpose(0, 2, 1))
    back = sitk.GetArrayFromImage(case.to_image(case.labels))
    np.testing.assert_array_equal(back, np.moveaxis(truth, 0, -1))
    assert find_slice_axis((1.0, 1.0, 1.0), (50, 8, 50)) == 1


def test_the_same_voxels_stored_in_another_order_read_the_same(tmp_path, stack):
    """Rows and columns swapped on disk and one of them reversed, the header saying so: the same
    voxels in space give the same case, and outputs go back in the file's own order."""
    image, truth, spacing = stack
    sx, sy, sz = reversed(spacing)
    ref = read_case(write(image, tmp_path / "i.nrrd", (sx, sy, sz)), write(truth, tmp_path / "s.nrrd", (sx, sy, sz)))

    def stored_otherwise(a, path):  # c[k, jc, ic] = a[k, J - 1 - ic, jc]
        img = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(a, (0, 2, 1))[:, :, ::-1]))
        img.SetSpacing((sy, sx, sz))
        img.SetOrigin((0.0, (a.shape[1] - 1) * sy, 0.0))
        img.SetDirection((0, 1, 0, -1, 0, 0, 0, 0, 1))
        sitk.WriteImage(img, str(path))
        return path, sitk.GetArrayFromImage(img)

    (img, _), (seg, stored) = stored_otherwise(image, tmp_path / "i2.nrrd"), stored_otherwise(truth, tmp_path / "s2.nrrd")
    case = read_case(img, seg)
    assert case.spacing == pytest.approx(ref.spacing)
    np.testing.assert_array_equal(case.image, ref.image)
    np.testing.assert_array_equal(case.labels, ref.labels)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(case.to_image(case.labels)), stored)


def _nifti(path, data, shear):
    aff = np.diag([1.4, 1.4, 8.0, 1.0])
    aff[0, 1] = shear
    img = nib.Nifti1Image(data, aff)
    img.set_qform(None, code=0)
    img.set_sform(aff, code=1)
    nib.save(img, str(path))
    return path


def test_slightly_non_orthonormal_nifti_is_read_with_a_warning(tmp_path, stack, monkeypatch):
    image, truth, _ = stack
    xyz = lambda a: np.transpose(a, (2, 1, 0))  # noqa: E731
    img = _nifti(tmp_path / "i.nii.gz", xyz(image), 0.02)
    seg = _nifti(tmp_path / "s.nii.gz", xyz(truth), 0.02)
    with pytest.raises(RuntimeError):
        sitk.ReadImage(str(img))  # what ITK alone does
    opened = []
    monkeypatch.setattr(nib, "load", lambda p, _load=nib.load: opened.append(p) or _load(p))
    case = read_case(img, seg)
    assert sorted(opened) == sorted([str(img), str(seg)])  # nibabel opens each file once
    # a RAS+ affine: rows run anterior and columns to the right, so both are reversed
    np.testing.assert_array_equal(case.labels, truth[:, ::-1, ::-1])
    np.testing.assert_array_equal(case.to_input_order(case.labels), truth)
    assert any("orthonormal" in w for w in case.warnings)


def test_strongly_sheared_nifti_is_refused(tmp_path, stack):
    image, _, _ = stack
    img = _nifti(tmp_path / "i.nii.gz", np.transpose(image, (2, 1, 0)), 0.6)
    with pytest.raises(InputError, match="i.nii.gz.*sheared"):
        read_case(img, img)


def test_segmentation_on_another_grid_is_resampled(tmp_path, stack):
    image, truth, spacing = stack
    img = write(image, tmp_path / "i.nii.gz", tuple(reversed(spacing)))
    # the same labels at half the in-plane resolution, same physical extent
    small = truth[:, ::2, ::2]
    seg = write(small, tmp_path / "s.nii.gz", (2.8, 2.8, 8.0), origin=(0.7, 0.7, 0))
    case = read_case(img, seg)
    assert case.labels.shape == truth.shape
    assert any("resampled" in w for w in case.warnings)
    agree = (case.labels == truth).mean()
    assert agree > 0.98


def test_non_overlapping_segmentation_is_refused(tmp_path, stack):
    image, truth, spacing = stack
    img = write(image, tmp_path / "i.nii.gz", tuple(reversed(spacing)))
    seg = write(truth, tmp_path / "s.nii.gz", tuple(reversed(spacing)), origin=(5000, 0, 0))
    with pytest.raises(InputError, match="does not overlap"):
        read_case(img, seg)


def test_float_labels(tmp_path, stack):
    image, truth, spacing = stack
    img = write(image, tmp_path / "i.nii.gz", tuple(reversed(spacing)))
    ok = write(truth.astype(np.float32) + 1e-5, tmp_path / "f.nii.gz", tuple(reversed(spacing)))
    np.testing.assert_array_equal(read_case(img, ok).labels, truth)
    prob = write(truth.astype(np.float32) * 0.3, tmp_path / "p.nii.gz", tuple(reversed(spacing)))
    with pytest.raises(InputError, match="p.nii.gz.*non-integer"):
        read_case(img, prob)


def test_empty_and_unmapped_labels_warn(tmp_path, stack):
    image, truth, spacing = stack
    img = write(image, tmp_path / "i.nii.gz", tuple(reversed(spacing)))
    empty = write(np.zeros_like(truth), tmp_path / "e.nii.gz", tuple(reversed(spacing)))
    assert any("none of the structures" in w for w in read_case(img, empty).warnings)
    extra = truth.copy()
    extra[0, :3, :3] = 7
    case = read_case(img, write(extra, tmp_path / "x.nii.gz", tuple(reversed(spacing))))
    assert any("[7]" in w for w in case.warnings) and not (case.labels == 7).any()


@pytest.mark.parametrize("ext", [".nrrd", ".nii.gz", ".nii"])  # ITK reads a NIfTI's NaN and inf as 0, silently
def test_non_finite_image_voxels_are_set_to_zero_with_a_warning(tmp_path, stack, ext):
    image, truth, spacing = stack
    broken = image.astype(np.float32)
    broken[0, :2, :4] = [[np.nan, np.inf, -np.inf, 5.0]] * 2
    img = write(broken, tmp_path / f"i{ext}", tuple(reversed(spacing)))
    case = read_case(img, write(truth, tmp_path / "s.nrrd", tuple(reversed(spacing))))
    assert case.warnings == [f"i{ext}: NaN or infinite voxels were set to 0"]
    np.testing.assert_array_equal(case.to_input_order(case.image)[0, :2, :4], [[0, 0, 0, 5.0]] * 2)
    np.testing.assert_array_equal(case.to_input_order(case.image)[1:], image[1:])


@pytest.mark.parametrize("ext", [".nrrd", ".nii.gz"])
def test_a_float_segmentation_with_nan_is_refused(tmp_path, stack, ext):
    image, truth, spacing = stack
    labels = truth.astype(np.float32)
    labels[2, 5, 5] = np.nan
    seg = write(labels, tmp_path / f"s{ext}", tuple(reversed(spacing)))
    with pytest.raises(InputError, match=f"segmentation s{ext} contains NaN or infinite values"):
        read_case(write(image, tmp_path / "i.nii.gz", tuple(reversed(spacing))), seg)


def test_single_slice_and_4d(tmp_path, stack):
    image, truth, _ = stack
    one = read_case(write(image[4], tmp_path / "i.nrrd", (1.4, 1.4)), write(truth[4], tmp_path / "s.nrrd", (1.4, 1.4)))
    assert one.labels.shape == (1,) + truth.shape[1:]
    four = sitk.JoinSeries([sitk.GetImageFromArray(image)] * 2)
    sitk.WriteImage(four, str(tmp_path / "cine.nii.gz"))
    with pytest.raises(InputError, match="4D with 2 frames"):
        read_case(tmp_path / "cine.nii.gz", tmp_path / "cine.nii.gz")


def test_a_frame_of_a_cine_series(tmp_path, stack):
    image, truth, spacing = stack
    frames = np.stack([image + 100 * t for t in range(3)])  # each frame told apart by its intensity
    four = sitk.JoinSeries([sitk.GetImageFromArray(f) for f in frames])
    four.SetSpacing(tuple(reversed(spacing)) + (1.0,))
    sitk.WriteImage(four, str(tmp_path / "cine.nii.gz"))
    seg = write(truth, tmp_path / "s.nii.gz", tuple(reversed(spacing)))
    alone = read_case(write(frames[1], tmp_path / "f1.nii.gz", tuple(reversed(spacing))), seg)
    case = read_case(tmp_path / "cine.nii.gz", seg, frame=1)
    np.testing.assert_array_equal(case.image, alone.image)
    assert case.warnings == ["image: frame 1 of the 3 frames of cine.nii.gz"]
    assert case.to_image(case.labels).GetDimension() == 3  # outputs are the frame's volume
    with pytest.raises(InputError, match=r"4D with 3 frames: choose the frame to check, 0 to 2 \(--frame N"):
        read_case(tmp_path / "cine.nii.gz", seg)
    with pytest.raises(InputError, match="frame 3 is outside the 3 frames of cine.nii.gz"):
        read_case(tmp_path / "cine.nii.gz", seg, frame=3)
    segs = sitk.JoinSeries([sitk.GetImageFromArray(t) for t in (np.zeros_like(truth), truth, np.zeros_like(truth))])
    segs.SetSpacing(four.GetSpacing())
    sitk.WriteImage(segs, str(tmp_path / "cine_seg.nii.gz"))
    both = read_case(tmp_path / "cine.nii.gz", tmp_path / "cine_seg.nii.gz", frame=1)
    np.testing.assert_array_equal(both.labels, alone.labels)
    plain = read_case(write(image, tmp_path / "i.nii.gz", tuple(reversed(spacing))), seg, frame=1)
    assert plain.warnings == ["frame 1 was asked for, but neither input is a cine series: both were read as they are"]


def test_a_frame_of_a_dicom_cine_series(tmp_path, stack, monkeypatch):
    image, truth, _ = stack
    frames = np.rint(np.stack([image[:6] + 100 * t for t in range(3)])).astype(np.int16)
    seg = write(truth[:6], tmp_path / "s.nii.gz")
    folder = dicom_series(frames, tmp_path / "cine")
    with pytest.raises(InputError, match=r"18 DICOM images at 6 slice positions \(a cine series\): choose the frame to check, 0 to 2"):
        read_case(folder, seg)
    case = read_case(folder, seg, frame=2)
    np.testing.assert_array_equal(case.image, read_case(write(frames[2], tmp_path / "f2.nii.gz"), seg).image)
    assert case.warnings == ["image: frame 2 of the 3-frame cine series in cine"]
    with pytest.raises(InputError, match="frame 5 is outside the 3 frames of the cine series in cine"):
        read_case(folder, seg, frame=5)
    headers, tags = [], files_module._dicom_tags
    monkeypatch.setattr(files_module, "_dicom_tags", lambda f, t: headers.append(f) or tags(f, t))
    files: dict = {}
    read = [read_case(folder, seg, frame=k, files=files) for k in (2, 0)]  # the folder's headers read once
    assert len(headers) == len(frames) * 6
    np.testing.assert_array_equal(read[0].image, case.image)
    np.testing.assert_array_equal(read[1].image, read_case(write(frames[0], tmp_path / "f0.nii.gz"), seg).image)
    (folder / "000.dcm").unlink()  # slice position 0 loses a frame
    with pytest.raises(InputError, match="17 DICOM images at 6 slice positions, not the same number of frames at each"):
        read_case(folder, seg, frame=0)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(InputError, match="image file not found"):
        read_case(tmp_path / "nope.nii.gz", tmp_path / "nope2.nii.gz")
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputError, match="cannot read image bad.nii.gz"):
        read_case(bad, bad)


def test_parse_labels():
    assert parse_labels("LV=1,MYO=2,RV=3") == {"LV": 1, "MYO": 2, "RV": 3}
    assert parse_labels(None) is None  # each file's own: a Slicer segmentation's names, else ACDC's
    with pytest.raises(InputError, match="NAME=VALUE"):
        parse_labels("LV:1")
    with pytest.raises(InputError, match="same label value"):
        parse_labels("LV=1,RV=1")
    with pytest.raises(InputError, match="0 is the background"):
        parse_labels("LV=0,MYO=2,RV=1")
    with pytest.raises(InputError, match="names LV twice"):
        parse_labels("LV=3,LV=2,MYO=1")


@pytest.mark.parametrize("name", ["cut.nii", "cut.nii.gz"])
def test_a_nifti_cut_short_is_refused_not_read_with_zeros(tmp_path, stack, name):
    image, _, _ = stack
    whole = Path(write(image, tmp_path / name))
    assert read_image(whole)[0].GetSize() == image.shape[::-1]
    data = whole.read_bytes()
    whole.write_bytes(data[: len(data) * 2 // 3])  # ITK alone reads this, the missing voxels 0
    with pytest.raises(InputError, match=f"cannot read image {name}: the file is cut short"):
        read_image(whole)


def test_a_nifti_in_several_gzip_members_is_read(tmp_path, stack):
    image, _, _ = stack
    raw = gzip.decompress(Path(write(image, tmp_path / "one.nii.gz")).read_bytes())
    several = tmp_path / "several.nii.gz"  # its gzip trailer gives the last member's length only
    several.write_bytes(gzip.compress(raw[:1000]) + gzip.compress(raw[1000:]))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(read_image(several)[0]), image)


def test_slicer_segmentation_files_are_read_by_their_segment_names(tmp_path, stack):
    image, truth, _ = stack
    img = write(image, tmp_path / "i.nii.gz")
    acdc = read_case(img, write(truth, tmp_path / "s.nii.gz"))
    # Slicer numbers segments in the order they were made: here LV 1, MYO 2, RV 3 (ACDC has RV 1, LV 3)
    made = np.array([0, 3, 2, 1])[truth]
    seg = slicer_file(made, tmp_path / "heart.seg.nrrd", [("Left ventricle", 1), ("Myocardium", 2), ("RV", 3)])
    case = read_case(img, seg)
    assert case.class_values == {"LV": 1, "MYO": 2, "RV": 3} and case.name == "heart"
    for c in ("LV", "MYO", "RV"):
        np.testing.assert_array_equal(case.labels == case.class_values[c], acdc.labels == acdc.class_values[c])
    assert any("read from its segment names: LV=1, MYO=2, RV=3" in w for w in case.warnings)
    # --labels wins over the names
    assert read_case(img, seg, {"LV": 3, "MYO": 2, "RV": 1}).class_values == {"LV": 3, "MYO": 2, "RV": 1}
    # a structure no segment names is missing, not read from the default value
    no_rv = slicer_file(np.where(made == 3, 0, made), tmp_path / "no_rv.seg.nrrd", [("LV", 1), ("LV myocardium", 2)])
    case = read_case(img, no_rv)
    assert case.class_values["RV"] not in (1, 2) and not (case.labels == case.class_values["RV"]).any()
    assert any("no segment of no_rv.seg.nrrd is named as RV" in w for w in case.warnings)
    # names that say nothing: the ACDC default, said so
    odd = slicer_file(truth, tmp_path / "odd.seg.nrrd", [("a", 1), ("b", 2), ("c", 3)])
    case = read_case(img, odd)
    assert case.class_values == {"LV": 3, "MYO": 2, "RV": 1} and any("no segment name" in w for w in case.warnings)
    with pytest.raises(InputError, match="Slicer segmentation with 2 layers"):
        read_case(img, slicer_file(made, tmp_path / "layers.seg.nrrd", [("LV", 1), ("RV", 1)], layers=2))


def test_a_folder_of_one_dicom_series_is_an_image(tmp_path, stack):
    image, truth, _ = stack
    image = np.rint(image).astype(np.int16)  # what MR DICOM stores
    seg = write(truth, tmp_path / "s.nii.gz")
    case = read_case(dicom_series(image, tmp_path / "series"), seg)
    np.testing.assert_array_equal(case.image, read_case(write(image, tmp_path / "i.nii.gz"), seg).image)
    assert case.spacing == pytest.approx((8.0, 1.4, 1.4)) and not case.warnings  # the segmentation's grid
    with pytest.raises(InputError, match="20 DICOM images at 10 slice positions"):
        read_case(dicom_series(image[:10], tmp_path / "cine", frames=2), seg)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="folder empty holds no DICOM series"):
        read_case(tmp_path / "empty", seg)


def test_a_picture_file_without_a_pixel_size_is_read_with_a_warning(tmp_path, stack):
    image, truth, _ = stack
    picture, labels = (255 * image[3] / image[3].max()).astype(np.uint8), truth[3].astype(np.uint8)
    case = read_case(write(picture, tmp_path / "slice.png", (1.0, 1.0)), write(labels, tmp_path / "labels.png", (1.0, 1.0)))
    assert case.image.shape == (1,) + picture.shape
    assert any("slice.png gives no pixel size, so it was read as 1 x 1 mm" in w for w in case.warnings)
    tiff = read_case(write(picture, tmp_path / "slice.tif", (1.0, 1.0)), write(labels, tmp_path / "labels.tif", (1.0, 1.0)))
    assert any("slice.tif gives no pixel size" in w for w in tiff.warnings)
    stored = read_case(write(picture, tmp_path / "stored.png"), write(labels, tmp_path / "labels.png"))  # 1.4 mm, pHYs
    assert stored.spacing[1:] == pytest.approx((1.4, 1.4)) and not any("pixel size" in w for w in stored.warnings)
    unit = read_case(write(image, tmp_path / "unit.nii.gz", (1.0, 1.0, 1.0)), write(truth, tmp_path / "t.nii.gz", (1.0, 1.0, 1.0)))
    assert any("unit.nii.gz gives every voxel as exactly 1 x 1 x 1 mm" in w for w in unit.warnings)


def test_python_api_labels_a_dict_or_a_string_and_refuses_what_is_not_a_label_value(files):
    from SegmentationQCLib.case import label_map

    assert label_map("LV=3,MYO=2,RV=1") == label_map({"LV": np.uint8(3), "MYO": 2, "RV": 1}) == {"LV": 3, "MYO": 2, "RV": 1}
    assert label_map(None) is None
    for bad, says in [({"LV": "3", "MYO": 2}, "whole numbers of 1 or more"), ({"LV": 0}, "whole numbers of 1 or more"),
                      ({"LV": True}, "whole numbers"), ({"LV": 2.5}, "whole numbers"), ({"LV": 1, "RV": 1}, "same label value")]:
        with pytest.raises(InputError, match=says):
            label_map(bad)
    # "3" would have left the LV empty, scored as missing, without a word
    with pytest.raises(InputError, match="not list"):
        label_map([("LV", 3)])
    with pytest.raises(InputError, match="got {'LV': '3', 'MYO': 2, 'RV': 1}"):
        read_case(files["image"], files["truth"], {"LV": "3", "MYO": 2, "RV": 1})
    assert read_case(files["image"], files["truth"], "LV=3,MYO=2,RV=1").class_values == {"LV": 3, "MYO": 2, "RV": 1}


def test_arrays_that_are_not_a_label_map_are_refused_as_files_are(stack):
    from SegmentationQCLib.case import case_from_arrays

    image, truth, spacing = stack
    with pytest.raises(InputError, match="non-integer values .* not probabilities"):
        case_from_arrays(image, truth * 0.5, spacing)
    with pytest.raises(InputError, match="outside 0-65535"):
        case_from_arrays(image, truth.astype(np.int16) - 1, spacing)
    with pytest.raises(InputError, match="not numeric"):
        case_from_arrays(image, truth.astype(str), spacing)
    assert np.array_equal(case_from_arrays(image, truth.astype(np.float32), spacing).labels,
                          case_from_arrays(image, truth, spacing).labels)


@pytest.mark.parametrize("spacing", [(1.4, 1.4), (-8.0, 1.4, 1.4), (8.0, 0.0, 1.4), (8.0, np.nan, 1.4), "abc", None])
def test_arrays_with_a_spacing_that_does_not_fit_are_refused(stack, spacing):
    from SegmentationQCLib.case import case_from_arrays

    image, truth, _ = stack
    with pytest.raises(InputError, match="one positive spacing"):
        case_from_arrays(image, truth, spacing)
    with pytest.raises(InputError, match="takes 2D or 3D arrays"):
        case_from_arrays(image[None], truth[None], (1.0, 8.0, 1.4, 1.4))
    assert case_from_arrays(image[0], truth[0], (1.4, 1.4)).labels.shape == (1,) + truth.shape[1:]


def test_dicom_segmentation_objects_are_refused_with_what_to_do(tmp_path, stack):
    """ITK reads a DICOM SEG's binary frames as a 0/255 image stack, and no RT Structure Set at all."""
    image, truth, _ = stack
    img = write(image, tmp_path / "i.nii.gz")
    seg_folder = dicom_series(truth, tmp_path / "seg", modality="SEG")
    for seg in (seg_folder, seg_folder / "003.dcm"):
        with pytest.raises(InputError, match="is a DICOM Segmentation object .SEG., which this tool does not read: "
                                             "convert it to a label image"):
            read_case(img, seg)
    rt = tmp_path / "rt.dcm"  # the part of an RT Structure Set's header that tells it apart
    rt.write_bytes(bytes(128) + b"DICM" + b"\x08\x00\x60\x00CS\x08\x00RTSTRUCT")
    with pytest.raises(InputError, match="segmentation rt.dcm is a DICOM RT Structure Set"):
        read_case(img, rt)
    with pytest.raises(InputError, match="image seg/000.dcm is a DICOM Segmentation object"):
        read_case(seg_folder, img)


def test_an_image_given_as_the_segmentation_is_named_as_such(tmp_path, stack):
    image, _, _ = stack
    img = write(image, tmp_path / "i.nii.gz")
    case = read_case(img, write((image * 1000).astype(np.uint16), tmp_path / "s.nii.gz"))
    note = next(w for w in case.warnings if "are not mapped" in w)
    assert "…] (" in note and note.endswith("so many values suggest an image rather than a label map")
    assert len(note) < 300


def test_image_and_segmentation_given_the_wrong_way_round_are_named(tmp_path, stack):
    image, truth, _ = stack
    labels = write(truth, tmp_path / "labels.nii.gz")
    for picture in (write(image.astype(np.float32) + 0.5, tmp_path / "float.nii.gz"),  # refused as not a label map
                    write((image * 1000).astype(np.uint16), tmp_path / "int.nii.gz")):  # too many values
        with pytest.raises(InputError, match=f"labels.nii.gz holds 4 whole values, as a label map does, and "
                                             f"{picture.name} looks like an image: were they given the wrong way round"):
            read_case(labels, picture)
    with pytest.raises(InputError, match="holds non-integer values"):  # an image that is not a label map either
        read_case(write(image.astype(np.float32), tmp_path / "i.nii.gz"), tmp_path / "float.nii.gz")

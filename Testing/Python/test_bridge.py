"""MRML nodes -> Case: geometry, segment mapping, missing structures, inputs untouched.

Real MRML from the slicer-core wheel (fixtures ``mrml`` and ``sax_nodes`` in conftest.py).
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import oblique_matrix


def node_ids(scene):
    return {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}


def snapshot(volume, segmentation):
    """What must not change in the inputs: voxels, geometry, segments and modification times."""
    from SegmentationQCLib.mrml_bridge import ijk_to_ras, labels_on_volume, segments, volume_array

    ids = [s[0] for s in segments(segmentation)]
    return {"voxels": volume_array(volume), "matrix": ijk_to_ras(volume), "segments": segments(segmentation),
            "labels": labels_on_volume(segmentation, volume, ids),
            "mtimes": (volume.GetMTime(), volume.GetImageData().GetMTime(), segmentation.GetMTime(),
                       segmentation.GetSegmentation().GetMTime())}


def assert_unchanged(before, volume, segmentation):
    after = snapshot(volume, segmentation)
    assert np.array_equal(after["voxels"], before["voxels"])
    assert np.array_equal(after["matrix"], before["matrix"])
    assert after["segments"] == before["segments"]
    assert np.array_equal(after["labels"], before["labels"])
    assert after["mtimes"] == before["mtimes"]


def test_case_from_oblique_flipped_nodes(sax_nodes):
    from SegmentationQCLib.mrml_bridge import case_from_nodes

    n = sax_nodes
    case = case_from_nodes(n["volume"], n["segmentation"])
    assert case.axes[0] == 1  # slices run along J here
    assert case.spacing == pytest.approx((8.0, 1.4, 1.4))
    # the slices laid out as a file of this volume would be (case.inplane_layout), then back
    assert case.flips != (False, False)  # the fixture's grid is flipped
    assert np.array_equal(case.image, case.from_input_order(n["image"]).astype(np.float32))
    assert np.array_equal(case.labels, case.from_input_order(n["labels"]))
    assert case.class_values == {"LV": 3, "MYO": 2, "RV": 1}
    assert np.array_equal(case.to_input_order(case.labels), n["labels"])
    assert case.warnings == []


def test_the_same_voxels_stored_in_another_order_give_the_same_case(sax_nodes, mrml):
    """A volume whose I axis is stored reversed (the matrix says so): the same voxels in space."""
    from SegmentationQCLib.mrml_bridge import case_from_nodes, volume_from_array

    n = sax_nodes
    m = n["matrix"].copy()
    m[:3, 3] = (n["matrix"] @ np.array([n["image"].shape[2] - 1, 0, 0, 1.0]))[:3]
    m[:3, 0] *= -1
    volume = volume_from_array(mrml.scene, np.ascontiguousarray(n["image"][:, :, ::-1]), m, "reversed")
    a, b = case_from_nodes(n["volume"], n["segmentation"]), case_from_nodes(volume, n["segmentation"])
    assert a.flips != b.flips
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)


def test_nodes_and_a_file_of_them_give_the_same_case(sax_nodes, tmp_path):
    """The module and `segqc` see the same slices: the fixture's oblique, flipped volume written
    as files (LPS header) reads as the nodes do."""
    import SimpleITK as sitk

    from SegmentationQCLib.case import read_case
    from SegmentationQCLib.mrml_bridge import case_from_nodes

    n = sax_nodes
    m = n["matrix"]
    spacing = np.linalg.norm(m[:3, :3], axis=0)
    lps = np.diag([-1.0, -1.0, 1.0])
    paths = []
    for key in ("image", "labels"):
        img = sitk.GetImageFromArray(n[key])
        img.SetSpacing(tuple(spacing))
        img.SetOrigin(tuple(lps @ m[:3, 3]))
        img.SetDirection(tuple((lps @ (m[:3, :3] / spacing)).ravel()))
        paths.append(tmp_path / f"{key}.nrrd")
        sitk.WriteImage(img, str(paths[-1]))
    from_file, from_nodes = read_case(*paths), case_from_nodes(n["volume"], n["segmentation"])
    assert from_file.axes == from_nodes.axes and from_file.flips == from_nodes.flips
    assert np.array_equal(from_file.image, from_nodes.image) and np.array_equal(from_file.labels, from_nodes.labels)


def test_inputs_untouched_and_no_leftover_nodes(sax_nodes):
    from SegmentationQCLib.mrml_bridge import case_from_nodes

    n = sax_nodes
    before, ids = snapshot(n["volume"], n["segmentation"]), node_ids(n["scene"])
    case_from_nodes(n["volume"], n["segmentation"])
    assert_unchanged(before, n["volume"], n["segmentation"])
    assert node_ids(n["scene"]) == ids


def test_segments_mapped_by_clinical_names_and_terminology(sax_nodes):
    from SegmentationQCLib.mrml_bridge import guess_segment_mapping, segments
    from SegmentationQCLib.structures import terminology_string

    seg = sax_nodes["segmentation"]
    by_name = {name: sid for sid, name, _ in segments(seg)}
    mapping = guess_segment_mapping(seg)
    assert mapping == {"LV": by_name["Left ventricle"], "MYO": by_name["Myocardium"], "RV": by_name["RV blood pool"]}
    # a terminology code wins over an unhelpful name
    rv = seg.GetSegmentation().GetSegment(by_name["RV blood pool"])
    rv.SetName("Segment_7")
    rv.SetTag(rv.GetTerminologyEntryTagName(), terminology_string("RV"))
    assert guess_segment_mapping(seg)["RV"] == by_name["RV blood pool"]


def test_missing_structure_scored_as_absent(sax_nodes):
    from SegmentationQCLib.mrml_bridge import case_from_nodes, guess_segment_mapping

    n = sax_nodes
    mapping = guess_segment_mapping(n["segmentation"])
    mapping["RV"] = None
    case = case_from_nodes(n["volume"], n["segmentation"], mapping)
    assert not (case.labels == 1).any()
    assert np.array_equal(case.labels == 3, case.from_input_order(n["labels"]) == 3)
    assert len(case.warnings) == 1 and "RV" in case.warnings[0]


def test_unknown_segment_id_is_refused(sax_nodes):
    from SegmentationQCLib.mrml_bridge import case_from_nodes

    with pytest.raises(ValueError, match="not in"):
        case_from_nodes(sax_nodes["volume"], sax_nodes["segmentation"], {"LV": "nope", "MYO": None, "RV": None})


def test_nodes_of_the_wrong_kind_are_refused_in_one_sentence(sax_nodes, random_pack):
    from SegmentationQCLib.mrml_bridge import case_from_nodes
    from SegmentationQCLib.qc import QCEngine
    from SegmentationQCLib.review import run_review

    n, engine = sax_nodes, QCEngine(str(random_pack), "cpu", ["slice"])
    empty = n["scene"].AddNewNodeByClass("vtkMRMLScalarVolumeNode", "novoxels")
    for args, message in [((None, n["segmentation"]), "the image must be a scalar volume node, not None"),
                          ((n["segmentation"], n["segmentation"]), "not vtkMRMLSegmentationNode seg"),
                          ((n["volume"], None), "the segmentation must be a segmentation node, not None"),
                          ((n["volume"], n["volume"]), "not vtkMRMLScalarVolumeNode cine"),
                          ((empty, n["segmentation"]), "volume novoxels has no voxels"),
                          ((n["volume"], n["segmentation"], "LV=3"), "the mapping is a dict")]:
        with pytest.raises(ValueError, match=message):
            run_review(*args[:2], engine, *args[2:])
        with pytest.raises(ValueError, match=message):
            case_from_nodes(*args)


def test_segmentation_on_another_grid_is_resampled_onto_the_volume(mrml):
    """A segmentation cropped to the heart (other origin and extent) lands on the volume's voxels."""
    import slicer

    from SegmentationQCLib.mrml_bridge import case_from_nodes, volume_from_array
    from SegmentationQCLib.phantom import short_axis_stack

    image, labels, spacing = short_axis_stack(n_slices=5, size=80, seed=5)
    m = oblique_matrix(spacing, angle=-0.8)
    volume = volume_from_array(mrml.scene, image, m, "cine")
    crop = m.copy()
    crop[:3, 3] = (m @ np.array([7, 11, 1, 1.0]))[:3]  # origin at voxel (i=7, j=11, k=1)
    cropped = volume_from_array(mrml.scene, labels[1:4, 11:70, 7:75], crop, "crop", "vtkMRMLLabelMapVolumeNode")
    segmentation = mrml.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "cropped seg")
    slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(cropped, segmentation)
    case = case_from_nodes(volume, segmentation)  # names Label_1..3: ACDC label values
    expected = np.zeros_like(labels)
    expected[1:4, 11:70, 7:75] = labels[1:4, 11:70, 7:75]
    assert np.array_equal(case.to_input_order(case.labels), expected)


def test_closed_surface_only_segmentation_is_converted_in_a_copy(sax_nodes):
    import slicer

    from SegmentationQCLib.mrml_bridge import case_from_nodes

    n = sax_nodes
    seg = n["segmentation"].GetSegmentation()
    surface = slicer.vtkSegmentationConverter.GetClosedSurfaceRepresentationName()
    labelmap = slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName()
    assert seg.CreateRepresentation(surface)
    seg.SetSourceRepresentationName(surface)
    seg.RemoveRepresentation(labelmap)
    mtime, ids = seg.GetMTime(), node_ids(n["scene"])
    case = case_from_nodes(n["volume"], n["segmentation"])
    assert not seg.ContainsRepresentation(labelmap) and seg.GetMTime() == mtime
    assert node_ids(n["scene"]) == ids
    for value in (1, 2, 3):  # surface -> labelmap is close to the original labels
        a, b = case.to_input_order(case.labels) == value, n["labels"] == value
        assert 2 * (a & b).sum() / (a.sum() + b.sum()) > 0.9


def test_volume_under_a_transform_keeps_it_on_outputs(sax_nodes):
    import vtk

    from SegmentationQCLib.mrml_bridge import slice_plane, case_from_nodes, volume_like, world_ijk_to_ras

    n = sax_nodes
    transform = n["scene"].AddNewNodeByClass("vtkMRMLLinearTransformNode", "moved")
    shift = vtk.vtkMatrix4x4()
    shift.SetElement(0, 3, 25.0)
    transform.SetMatrixTransformToParent(shift)
    for node in (n["volume"], n["segmentation"]):
        node.SetAndObserveTransformNodeID(transform.GetID())
    case = case_from_nodes(n["volume"], n["segmentation"])
    assert np.array_equal(case.to_input_order(case.labels), n["labels"])
    out = volume_like(n["scene"], n["volume"], n["image"], "copy")
    assert out.GetTransformNodeID() == transform.GetID()
    centre, _, _ = slice_plane(n["volume"], case, 0)
    assert np.allclose(world_ijk_to_ras(n["volume"])[:3, 3], n["matrix"][:3, 3] + (25, 0, 0))
    assert np.allclose(centre, (world_ijk_to_ras(n["volume"]) @ np.array([47.5, 0, 47.5, 1]))[:3])

"""MRML nodes <-> engine: volume and segmentation nodes in, a ``Case`` out, label arrays back.

Imports only MRML classes from ``slicer`` (no Qt, no ``slicer.app``, no ``slicer.util``), so it
runs in Slicer and under the ``slicer-core`` wheel. Arrays are in KJI order, as
``slicer.util.arrayFromVolume`` gives them; any IJK-to-RAS matrix (oblique, flipped) is kept by
copying it to every output, so outputs lie voxel for voxel on the input volume. Input nodes are
only read: temporary nodes are removed before returning.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from .case import Case, case_from_arrays
from .structures import DEFAULT_LABELS, DISPLAY, guess_mapping, terminology_string


def _scalars(node):
    """A volume node's image data and its voxel array (VTK), or one sentence where it has none."""
    image = node.GetImageData()
    if image is None or image.GetPointData().GetScalars() is None:
        raise ValueError(f"volume {node.GetName()} has no voxels")
    return image, image.GetPointData().GetScalars()


def volume_array(node) -> np.ndarray:
    """A copy of a volume node's voxels, (K, J, I)."""
    image, scalars = _scalars(node)
    if scalars.GetNumberOfComponents() != 1:
        raise ValueError(f"volume {node.GetName()} has {scalars.GetNumberOfComponents()} components per voxel; "
                         "a scalar volume is needed")
    return numpy_support.vtk_to_numpy(scalars).reshape(tuple(reversed(image.GetDimensions()))).copy()


def ijk_to_ras(node) -> np.ndarray:
    m = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(m)
    return np.array([[m.GetElement(i, j) for j in range(4)] for i in range(4)])


def _vtk_matrix(a: np.ndarray) -> vtk.vtkMatrix4x4:
    m = vtk.vtkMatrix4x4()
    for i in range(4):
        for j in range(4):
            m.SetElement(i, j, float(a[i, j]))
    return m


def volume_from_array(scene, array: np.ndarray, ijk_to_ras_matrix, name: str,
                      class_name: str = "vtkMRMLScalarVolumeNode", node=None):
    """A volume node holding ``array`` (K, J, I) with the given 4x4 IJK-to-RAS matrix.

    Reuses ``node`` when given (its voxels and geometry are replaced), else adds a new node.
    """
    array = np.ascontiguousarray(array)
    if array.ndim != 3:
        raise ValueError(f"a (K, J, I) array is needed, got shape {array.shape}")
    if node is None:
        node = scene.AddNewNodeByClass(class_name, scene.GenerateUniqueName(name))
    image = vtk.vtkImageData()
    image.SetDimensions(tuple(reversed(array.shape)))
    vtk_type = numpy_support.get_vtk_array_type(array.dtype)
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(array.ravel(), deep=True, array_type=vtk_type))
    node.SetIJKToRASMatrix(_vtk_matrix(np.asarray(ijk_to_ras_matrix, float)))
    node.SetAndObserveImageData(image)
    return node


def volume_like(scene, reference, array: np.ndarray, name: str, class_name: str = "vtkMRMLScalarVolumeNode",
                node=None):
    """A volume node holding ``array`` (K, J, I) on ``reference``'s grid, geometry and parent transform."""
    if np.shape(array) != tuple(reversed(reference.GetImageData().GetDimensions())):
        raise ValueError(f"array {np.shape(array)} does not match volume {reference.GetName()}")
    node = volume_from_array(scene, array, ijk_to_ras(reference), name, class_name, node)
    node.SetAndObserveTransformNodeID(reference.GetTransformNodeID())
    return node


def remove_node(scene, node) -> None:
    """Remove a node with its display and storage nodes, and a colour table made just for it."""
    extra = []
    for i in range(node.GetNumberOfDisplayNodes()):
        display = node.GetNthDisplayNode(i)
        color = display.GetColorNode() if hasattr(display, "GetColorNode") else None
        extra += [display] + ([color] if color is not None and not color.GetSingletonTag() else [])
    if node.GetStorageNode() is not None:
        extra.append(node.GetStorageNode())
    scene.RemoveNode(node)
    for n in extra:
        scene.RemoveNode(n)


def segments(segmentation_node) -> list[tuple[str, str, str]]:
    """[(segment id, name, terminology entry)] in the segmentation's order."""
    seg = segmentation_node.GetSegmentation()
    out = []
    for i in range(seg.GetNumberOfSegments()):
        s = seg.GetNthSegment(i)
        term = vtk.reference("")
        s.GetTag(s.GetTerminologyEntryTagName(), term)
        out.append((seg.GetNthSegmentID(i), s.GetName() or "", str(term)))
    return out


def guess_segment_mapping(segmentation_node, classes=tuple(DEFAULT_LABELS)) -> dict[str, str | None]:
    """{structure: segment id or None} guessed from segment names and terminology."""
    return guess_mapping(segments(segmentation_node), classes)


def class_values_for(classes) -> dict[str, int]:
    """Label values used for ``classes`` in cases built from nodes: ACDC's when they fit, else 1..K."""
    classes = list(classes)
    if all(c in DEFAULT_LABELS for c in classes):
        return {c: DEFAULT_LABELS[c] for c in classes}
    return {c: i + 1 for i, c in enumerate(classes)}


def labels_on_volume(segmentation_node, volume_node, segment_ids) -> np.ndarray:
    """(K, J, I) uint16 on ``volume_node``'s grid: segment ``segment_ids[n]`` has value n + 1.

    Segments are resampled onto the volume (any geometry). Where segments overlap, the later one
    wins. The segmentation node is not changed: a segmentation without a binary labelmap
    (e.g. closed surfaces only) is converted in a temporary copy.
    """
    shape = tuple(reversed(volume_node.GetImageData().GetDimensions()))
    if not segment_ids:
        return np.zeros(shape, np.uint16)
    scene = volume_node.GetScene()
    labelmap_name = slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName()
    temporary = []
    try:
        source = segmentation_node
        if not segmentation_node.GetSegmentation().ContainsRepresentation(labelmap_name):
            source = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "SegmentationQC temporary")
            temporary.append(source)
            source.GetSegmentation().DeepCopy(segmentation_node.GetSegmentation())
            source.SetAndObserveTransformNodeID(segmentation_node.GetTransformNodeID())
            source.GetSegmentation().CreateRepresentation(labelmap_name)
        labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "SegmentationQC temporary")
        temporary.append(labelmap)
        ids = vtk.vtkStringArray()
        for sid in segment_ids:
            ids.InsertNextValue(sid)
        ok = slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
            source, ids, labelmap, volume_node, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY)
        if not ok:
            raise ValueError(f"segments of {segmentation_node.GetName()} could not be resampled onto {volume_node.GetName()}")
        out = volume_array(labelmap).astype(np.uint16)
    finally:
        for node in temporary:
            remove_node(scene, node)
    if out.shape != shape:
        raise ValueError(f"resampled segmentation has shape {out.shape}, volume has {shape}")
    return out


def check_nodes(volume_node, segmentation_node, mapping=None) -> None:
    """Refuse, in one sentence, nodes of the wrong kind, a volume without voxels, or a mapping that is
    not a dict."""
    def what(node):
        return "None" if node is None else f"{node.GetClassName()} {node.GetName()}" if hasattr(node, "GetClassName") \
            else type(node).__name__

    if not (hasattr(volume_node, "IsA") and volume_node.IsA("vtkMRMLScalarVolumeNode")):
        raise ValueError(f"the image must be a scalar volume node, not {what(volume_node)}")
    if not (hasattr(segmentation_node, "IsA") and segmentation_node.IsA("vtkMRMLSegmentationNode")):
        raise ValueError(f"the segmentation must be a segmentation node, not {what(segmentation_node)} "
                         "(the Segmentations module converts a labelmap volume into one)")
    _scalars(volume_node)
    if mapping is not None and not isinstance(mapping, Mapping):
        raise ValueError(f"the mapping is a dict {{structure: segment ID or None}}, not {type(mapping).__name__}")


def case_from_nodes(volume_node, segmentation_node, mapping: dict | None = None, classes=None,
                    name: str | None = None) -> Case:
    """A ``Case`` from a volume node and a segmentation node.

    ``mapping`` is {structure: segment id or None}; by default it is guessed from segment names
    and terminology. A structure with no segment is scored as absent, with a warning.
    """
    check_nodes(volume_node, segmentation_node, mapping)
    classes = list(classes or (mapping.keys() if mapping else DEFAULT_LABELS))
    mapping = dict(mapping) if mapping else guess_segment_mapping(segmentation_node, classes)
    seg = segmentation_node.GetSegmentation()
    warnings = []
    for c in classes:
        sid = mapping.get(c)
        if sid and seg.GetSegment(sid) is None:
            raise ValueError(f"segment {sid!r} chosen for {c} is not in {segmentation_node.GetName()}")
        if not sid:
            warnings.append(f"no segment of {segmentation_node.GetName()} is mapped to {c}: "
                            f"{c} is scored as missing from the segmentation")
    values = class_values_for(classes)
    mapped = [c for c in classes if mapping.get(c)]
    index = labels_on_volume(segmentation_node, volume_node, [mapping[c] for c in mapped])
    lut = np.zeros(len(mapped) + 1, np.uint16)
    lut[1:] = [values[c] for c in mapped]
    spacing_kji = tuple(reversed(volume_node.GetSpacing()))
    return case_from_arrays(volume_array(volume_node).astype(np.float32), lut[index], spacing_kji, values,
                            name or volume_node.GetName(), warnings, directions_lps(volume_node))


def directions_lps(volume_node) -> np.ndarray:
    """(3, 3) unit LPS direction of each array axis (KJI) of a volume node, as a file of it
    would carry (the node's own IJK-to-RAS, without parent transforms)."""
    m = ijk_to_ras(volume_node)[:3, :3]
    d = m / np.linalg.norm(m, axis=0)
    return (np.diag([-1.0, -1.0, 1.0]) @ d)[:, ::-1].T


def _structure_look(structure: str, source_node=None, source_id: str | None = None):
    """(name, colour, terminology) for an output segment: copied from the input segment when mapped."""
    name, color, _ = DISPLAY.get(structure, (structure, (0.5, 0.5, 0.5), None))
    term = terminology_string(structure)
    if source_node is not None and source_id:
        s = source_node.GetSegmentation().GetSegment(source_id)
        if s is not None:
            ref = vtk.reference("")
            s.GetTag(s.GetTerminologyEntryTagName(), ref)
            name, color, term = s.GetName(), s.GetColor(), str(ref) or term
    return name, color, term


def segmentation_like(scene, reference, labels_kji: np.ndarray, class_values: dict, name: str, node=None,
                      source_node=None, mapping: dict | None = None):
    """A segmentation node with one segment per structure from a (K, J, I) label array.

    It lies on ``reference``'s grid (its reference geometry is that volume). Segment names,
    colours and terminology are copied from ``source_node``'s mapped segments when given.
    Reuses ``node`` when given (its segments are replaced).
    """
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", scene.GenerateUniqueName(name))
    node.SetAndObserveTransformNodeID(reference.GetTransformNodeID())
    node.SetReferenceImageGeometryParameterFromVolumeNode(reference)
    seg = node.GetSegmentation()
    seg.RemoveAllSegments()
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    mask_node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "SegmentationQC temporary")
    try:
        for structure, value in class_values.items():
            seg_name, color, term = _structure_look(structure, source_node, (mapping or {}).get(structure))
            sid = seg.AddEmptySegment(structure, seg_name, color)
            if term:
                seg.GetSegment(sid).SetTag(seg.GetSegment(sid).GetTerminologyEntryTagName(), term)
            volume_like(scene, reference, (labels_kji == value).astype(np.uint8), "mask", node=mask_node)
            mask_node.SetAndObserveTransformNodeID(None)  # the mask is in the segmentation's own frame
            image = slicer.vtkSlicerSegmentationsModuleLogic.CreateOrientedImageDataFromVolumeNode(mask_node)
            slicer.vtkSlicerSegmentationsModuleLogic.SetBinaryLabelmapToSegment(
                image, node, sid, slicer.vtkSlicerSegmentationsModuleLogic.MODE_REPLACE)
    finally:
        remove_node(scene, mask_node)
    return node


def world_ijk_to_ras(node) -> np.ndarray:
    """IJK-to-world matrix: the node's IJK-to-RAS under its parent transforms when they are linear."""
    m = ijk_to_ras(node)
    parent = node.GetParentTransformNode()
    if parent is not None:
        if not parent.IsTransformToWorldLinear():
            raise ValueError(f"{node.GetName()} is under a non-linear transform; harden it first")
        to_world = vtk.vtkMatrix4x4()
        parent.GetMatrixTransformToWorld(to_world)
        m = np.array([[to_world.GetElement(i, j) for j in range(4)] for i in range(4)]) @ m
    return m


def slice_plane(volume_node, case: Case, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centre, normal, x direction) in world RAS of slice ``index`` along the case's slice axis.

    x runs along the case's columns and the view's up is towards row 0, so a slice view set
    with them shows the slice as ``case.image[index]`` is laid out (row 0 at the top).
    """
    m = world_ijk_to_ras(volume_node)
    dims = np.array(volume_node.GetImageData().GetDimensions(), float)  # I, J, K
    ijk = (dims - 1) / 2
    ijk[2 - case.axes[0]] = index  # KJI axis a is IJK axis 2 - a
    centre = (m @ np.append(ijk, 1.0))[:3]
    col, row = ((-1 if flip else 1) * m[:3, 2 - a] / np.linalg.norm(m[:3, 2 - a])
                for a, flip in ((case.axes[2], case.flips[1]), (case.axes[1], case.flips[0])))
    normal = np.cross(col, -row)
    return centre, normal / np.linalg.norm(normal), col


def slice_centre_ras(volume_node, case: Case, index: int) -> np.ndarray:
    """World (RAS) position of the centre of slice ``index`` along the case's slice axis."""
    return slice_plane(volume_node, case, index)[0]

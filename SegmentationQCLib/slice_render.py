"""Slice views rendered to RGBA arrays without OpenGL, through MRML's slice logic.

The slice logic blends the background, foreground (e.g. the error map) and label layers the
way Slicer's slice views do. Segmentations are drawn by OpenGL displayable managers, so
``label_map_of`` turns one into a label volume with the segments' colours first. Used for the
README screenshot and to check in tests that outputs land where the input is.
"""
from __future__ import annotations

import numpy as np
import slicer
from vtk.util import numpy_support

from .mrml_bridge import labels_on_volume, segments, volume_like


class SliceRenderer:
    """One off-screen slice view in ``scene`` (``app``: the scene's application logic)."""

    def __init__(self, scene, app, name: str = "SegmentationQCRender"):
        self.scene = scene
        self.logic = slicer.vtkMRMLSliceLogic()
        self.logic.SetMRMLScene(scene)
        self.logic.SetMRMLApplicationLogic(app)
        self.slice_node = self.logic.AddSliceNode(name)
        self.composite = self.logic.GetSliceCompositeNode()

    def render(self, background, plane, label=None, foreground=None, opacity: float = 0.5,
               size: int = 256, fov_mm: float | None = None, outline: bool = True) -> np.ndarray:
        """(size, size, 4) uint8, first row at the top, of ``plane`` = (centre, normal, x direction)
        in RAS (``mrml_bridge.slice_plane``); ``fov_mm`` wide (default: the whole volume)."""
        for node in (background, foreground, label):
            if node is not None and node.GetDisplayNode() is None:
                node.CreateDefaultDisplayNodes()
        self.composite.SetBackgroundVolumeID(background.GetID())
        self.composite.SetForegroundVolumeID(foreground.GetID() if foreground else None)
        self.composite.SetForegroundOpacity(opacity)
        self.composite.SetLabelVolumeID(label.GetID() if label else None)
        self.composite.SetLabelOpacity(1.0)
        self.slice_node.SetUseLabelOutline(outline)
        self.slice_node.SetDimensions(size, size, 1)
        centre, normal, x = (np.asarray(v, float) for v in plane)
        self.slice_node.SetSliceToRASByNTP(*normal, *x, *centre, 0)
        self.logic.FitSliceToVolume(background, size, size)
        if fov_mm:
            self.slice_node.SetFieldOfView(fov_mm, fov_mm, self.slice_node.GetFieldOfView()[2])
        self.slice_node.JumpSliceByCentering(*centre)
        producer = self.logic.GetImageDataConnection().GetProducer()
        producer.Update()
        image = producer.GetOutputDataObject(0)
        w, h, _ = image.GetDimensions()
        rgba = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(h, w, -1)
        return np.ascontiguousarray(rgba[::-1])


def label_map_of(scene, segmentation_node, volume_node, name: str = "label map"):
    """A label volume of all segments on ``volume_node``'s grid, coloured like the segments."""
    segs = segments(segmentation_node)
    labels = labels_on_volume(segmentation_node, volume_node, [s[0] for s in segs])
    colors = slicer.vtkMRMLColorTableNode()
    colors.SetTypeToUser()
    colors.SetNumberOfColors(len(segs) + 1)
    colors.SetColor(0, "background", 0, 0, 0, 0)
    for i, (sid, seg_name, _) in enumerate(segs, 1):
        colors.SetColor(i, seg_name, *segmentation_node.GetSegmentation().GetSegment(sid).GetColor(), 1.0)
    scene.AddNode(colors)
    node = volume_like(scene, volume_node, labels.astype(np.int16), name, "vtkMRMLLabelMapVolumeNode")
    node.CreateDefaultDisplayNodes()
    node.GetDisplayNode().SetAndObserveColorNodeID(colors.GetID())
    return node

"""A ``QCResult`` as MRML nodes: tables, a plot, the error-map overlay, and slice-view settings.

Like ``mrml_bridge`` it imports only MRML classes, so it runs under the ``slicer-core`` wheel.
Every function takes an optional existing node to refill, so a second run updates the same
nodes instead of adding new ones.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import slicer
import vtk

from .mrml_bridge import slice_centre_ras, volume_like

if TYPE_CHECKING:
    from .case import Case
    from .qc import QCResult

HEAT_COLOR_NODE = "vtkMRMLPETProceduralColorNodePET-Heat"
ERROR_MAP_SHOWN_FROM = 0.1  # error probabilities below this are transparent in the overlay
_SERIES_COLORS = {"LV": (0.85, 0.2, 0.2), "MYO": (0.75, 0.6, 0.1), "RV": (0.2, 0.4, 0.85)}


def status(dice: float, thresholds: dict) -> str:
    """pass / review / fail for one predicted Dice, by the pack's volume thresholds."""
    return "fail" if dice < thresholds["fail"] else "review" if dice < thresholds["review"] else "pass"


def _column(name: str, values, kind: str = "double"):
    arr = vtk.vtkStringArray() if kind == "string" else vtk.vtkIntArray() if kind == "int" else vtk.vtkDoubleArray()
    arr.SetName(name)
    for v in values:
        arr.InsertNextValue(str(v) if kind == "string" else v)
    return arr


def _table_node(scene, columns, name: str, node=None):
    table = vtk.vtkTable()
    for col in columns:
        table.AddColumn(col)
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    node.SetAndObserveTable(table)
    if hasattr(node, "SetUseColumnTitleAsColumnHeader"):  # column names as headers, not a first row
        node.SetUseColumnTitleAsColumnHeader(True)
    else:
        node.SetUseColumnNameAsColumnHeader(True)
    node.SetLocked(True)
    return node


def structure_table(scene, result: QCResult, thresholds: dict, name: str = "QC structures", node=None):
    """One row per structure: predicted volume Dice (by ``result.method``), its interval,
    pass/review/fail, flagged slices, then the volume Dice of each other method run
    ("Dice (<method>)")."""
    k = len(result.classes)
    low = result.volume_low if result.volume_low is not None else np.full(k, np.nan)
    high = result.volume_high if result.volume_high is not None else np.full(k, np.nan)
    flagged = [", ".join(str(i) for i in np.flatnonzero(result.flags[:, j])) for j in range(k)]
    return _table_node(scene, [
        _column("Structure", result.classes, "string"),
        _column("Predicted Dice", [float(v) for v in result.volume_dice]),
        _column("Low", [float(v) for v in low]),
        _column("High", [float(v) for v in high]),
        _column("Status", [status(float(v), thresholds) for v in result.volume_dice], "string"),
        _column("Flagged slices", flagged, "string"),
    ] + [_column(f"Dice ({m})", [float(v) for v in volume])
         for m, (_, volume) in result.estimates.items() if m != result.method], name, node)


def slice_table(scene, result: QCResult, name: str = "QC slices", node=None):
    """One row per slice: index, predicted Dice per structure (and interval), the predicted error
    fraction when there is an error map, flagged structures."""
    s = result.slice_dice.shape[0]
    cols = [_column("Slice", range(s), "int")]
    for k, c in enumerate(result.classes):
        cols.append(_column(c, [float(v) for v in result.slice_dice[:, k]]))
    if result.slice_low is not None:
        for k, c in enumerate(result.classes):
            cols.append(_column(f"{c} low", [float(v) for v in result.slice_low[:, k]]))
            cols.append(_column(f"{c} high", [float(v) for v in result.slice_high[:, k]]))
    if result.slice_error_fraction is not None:
        cols.append(_column("Error fraction", [float(v) for v in result.slice_error_fraction]))
    cols.append(_column("Flagged", [", ".join(c for k, c in enumerate(result.classes) if result.flags[i, k])
                                    for i in range(s)], "string"))
    return _table_node(scene, cols, name, node)


def _series(scene, name: str, table_node, x: str, y: str, color, node=None, dashed: bool = False):
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", scene.GenerateUniqueName(name))
    node.SetAndObserveTableNodeID(table_node.GetID())
    node.SetXColumnName(x)
    node.SetYColumnName(y)
    node.SetPlotType(slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter)
    node.SetColor(*color)
    if dashed:
        node.SetLineStyle(slicer.vtkMRMLPlotSeriesNode.LineStyleDash)
        node.SetMarkerStyle(slicer.vtkMRMLPlotSeriesNode.MarkerStyleNone)
    else:
        node.SetMarkerStyle(slicer.vtkMRMLPlotSeriesNode.MarkerStyleCircle)
    return node


def slice_plot(scene, result: QCResult, slices_table, thresholds: dict, name: str = "QC slice Dice", chart=None):
    """A chart of predicted Dice per slice, one series per structure, and the flag threshold line(s).

    The threshold lines come from a small table node (x: first and last slice). Refilling
    ``chart`` reuses its series and threshold table.
    """
    if chart is None:
        chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", scene.GenerateUniqueName(name))
    old = [chart.GetNthPlotSeriesNode(i) for i in range(chart.GetNumberOfPlotSeriesNodes())]
    old = {s.GetYColumnName(): s for s in old if s is not None}
    line_table = next((s.GetTableNode() for s in old.values() if s.GetTableNode() not in (None, slices_table)), None)
    chart.RemoveAllPlotSeriesNodeIDs()
    for c in result.classes:
        series = _series(scene, f"{name} {c}", slices_table, "Slice", c, _SERIES_COLORS.get(c, (0.3, 0.3, 0.3)),
                         old.pop(c, None))
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
    last = max(result.slice_dice.shape[0] - 1, 1)
    levels = sorted({float(v) for v in thresholds["slice_flag"].values()})
    line = _table_node(scene, [_column("Slice", [0, last])] + [_column(f"flag {v:g}", [v, v]) for v in levels],
                       f"{name} threshold", line_table)
    for v in levels:
        key = f"flag {v:g}"
        series = _series(scene, f"{name} flag threshold {v:g}", line, "Slice", key, (0.4, 0.4, 0.4),
                         old.pop(key, None), dashed=True)
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
    for leftover in old.values():
        scene.RemoveNode(leftover)
    chart.SetTitle("Predicted Dice per slice")
    chart.SetXAxisTitle("slice")
    chart.SetYAxisTitle("predicted Dice")
    chart.SetYAxisRangeAuto(False)
    chart.SetYAxisRange(0.0, 1.02)
    return chart


def error_map_volume(scene, volume_node, case: Case, result: QCResult, name: str | None = None, node=None):
    """The error map (P(voxel mislabelled)) as a scalar volume on the input volume's geometry, or
    None when the result has no error map. Displayed with a heat colour map, 0-1, transparent
    below ``ERROR_MAP_SHOWN_FROM``."""
    if result.error_map is None:
        return None
    array = case.to_input_order(np.asarray(result.error_map, np.float32))
    node = volume_like(scene, volume_node, array, name or f"{volume_node.GetName()} error map", node=node)
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    display.SetAndObserveColorNodeID(HEAT_COLOR_NODE)
    display.AutoWindowLevelOff()
    display.SetWindowLevelMinMax(0.0, 1.0)
    display.SetThreshold(ERROR_MAP_SHOWN_FROM, 1.0)
    display.ApplyThresholdOn()
    return node


def measurements_table(scene, measurements: dict, name: str = "QC measurements", node=None):
    """Before/after measurements of a correction: name, unit, measured, corrected, change."""
    names = list(measurements)
    m = [measurements[n] for n in names]
    return _table_node(scene, [
        _column("Measurement", names, "string"),
        _column("Unit", [v["unit"] for v in m], "string"),
        _column("Measured", [float(v["measured"]) for v in m]),
        _column("Corrected", [float(v["corrected"]) for v in m]),
        _column("Change", [float(v["corrected"]) - float(v["measured"]) for v in m]),
    ], name, node)


def show_in_slice_views(scene, background, foreground=None, opacity: float = 0.5, label=None) -> None:
    """Every slice view: ``background`` below, ``foreground`` (e.g. the error map) over it at
    ``opacity``, ``label`` as label layer; views turned to ``background``'s slice planes."""
    for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode")):
        comp = scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode")
        comp.SetBackgroundVolumeID(background.GetID() if background else None)
        comp.SetForegroundVolumeID(foreground.GetID() if foreground else None)
        comp.SetForegroundOpacity(opacity)
        comp.SetLabelVolumeID(label.GetID() if label else None)
    if background is not None:
        for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceNode")):
            scene.GetNthNodeByClass(i, "vtkMRMLSliceNode").RotateToVolumePlane(background)


def set_overlay_opacity(scene, opacity: float) -> None:
    for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode")):
        scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode").SetForegroundOpacity(opacity)


def jump_to_slice(scene, volume_node, case: Case, index: int) -> np.ndarray:
    """Move every slice view to the centre of slice ``index``; returns that point (RAS)."""
    r, a, s = slice_centre_ras(volume_node, case, index)
    slicer.vtkMRMLSliceNode.JumpAllSlices(scene, r, a, s, slicer.vtkMRMLSliceNode.CenteredJumpSlice)
    return np.array([r, a, s])

"""QCResult -> MRML nodes: tables, plot, error-map overlay, surrogate and corrected segmentations.

The engine is a random-weight pack (``tiny_engine``); error map and surrogate, which later
packs provide, are added by a wrapper so that their display path is tested now.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from test_bridge import assert_unchanged, node_ids, snapshot


class WithMaps:
    """The tiny engine, plus an error map (where the labels differ from the truth) and a
    surrogate (the truth), as packs with error-map and manifold models will give."""

    def __init__(self, engine, truth_kji):
        self.engine, self.pack, self.truth = engine, engine.pack, truth_kji

    def check(self, case, *options, **keywords):
        res = self.engine.check(case, *options, **keywords)
        truth = case.from_input_order(self.truth)
        res.error_map = (case.labels != truth).astype(np.float32)
        res.surrogate = truth
        return res


@pytest.fixture
def review(sax_nodes, tiny_engine):
    from SegmentationQCLib.review import run_review

    n = sax_nodes
    n["before"] = snapshot(n["volume"], n["segmentation"])
    return run_review(n["volume"], n["segmentation"], WithMaps(tiny_engine, n["truth"]))


def column(table_node, name):
    t = table_node.GetTable()
    col = t.GetColumnByName(name)
    return [col.GetValue(i) for i in range(t.GetNumberOfRows())]


def test_tables_and_plot(review):
    res = review.result
    structures, slices, chart = review.nodes["structures"], review.nodes["slices"], review.nodes["plot"]
    t = structures.GetTable()
    assert [t.GetColumnName(i) for i in range(t.GetNumberOfColumns())] == [
        "Structure", "Predicted Dice", "Low", "High", "Status", "Flagged slices"]  # one method: no extra column
    assert column(structures, "Structure") == ["LV", "MYO", "RV"]
    assert np.allclose(column(structures, "Predicted Dice"), res.volume_dice)
    assert set(column(structures, "Status")) <= {"pass", "review", "fail"}
    assert column(slices, "Slice") == list(range(6))
    for k, c in enumerate(res.classes):
        assert np.allclose(column(slices, c), res.slice_dice[:, k])
    flagged = column(slices, "Flagged")
    assert [bool(f) for f in flagged] == list(res.flags.any(axis=1))
    series = [chart.GetNthPlotSeriesNode(i) for i in range(chart.GetNumberOfPlotSeriesNodes())]
    assert [s.GetYColumnName() for s in series[:3]] == ["LV", "MYO", "RV"]
    assert all(s.GetTableNode() is slices for s in series[:3])
    line = series[3].GetTableNode()  # the flag threshold
    assert column(line, series[3].GetYColumnName()) == [0.7, 0.7]
    assert column(line, "Slice") == [0, 5]


def test_error_map_overlay_aligned_with_the_input(review, sax_nodes):
    from SegmentationQCLib.mrml_bridge import ijk_to_ras, volume_array
    from SegmentationQCLib.mrml_outputs import HEAT_COLOR_NODE

    n, overlay = sax_nodes, review.nodes["errorMap"]
    assert np.array_equal(ijk_to_ras(overlay), ijk_to_ras(n["volume"]))
    assert np.allclose(ijk_to_ras(overlay), n["matrix"], atol=1e-9)
    assert np.array_equal(volume_array(overlay), (n["labels"] != n["truth"]).astype(np.float32))
    display = overlay.GetDisplayNode()
    assert display.GetColorNodeID() == HEAT_COLOR_NODE and display.GetApplyThreshold()
    assert_unchanged(n["before"], n["volume"], n["segmentation"])


def test_overlay_renders_where_the_input_segmentation_is(review, sax_nodes):
    """World-space check through slice rendering: the error-map overlay and a label map of the
    input segmentation cover the same screen pixels on the damaged (shifted) slice."""
    from SegmentationQCLib.mrml_bridge import slice_plane, volume_like
    from SegmentationQCLib.slice_render import SliceRenderer

    n = sax_nodes
    shifted = next(i for i, what in n["damaged"].items() if "shifted" in what)
    wrong = volume_like(n["scene"], n["volume"], (n["labels"] != n["truth"]).astype(np.int16), "wrong",
                        "vtkMRMLLabelMapVolumeNode")
    renderer = SliceRenderer(n["scene"], n["app"])
    plane = slice_plane(n["volume"], review.case, shifted)
    base = renderer.render(n["volume"], plane, size=128)
    heat = renderer.render(n["volume"], plane, foreground=review.nodes["errorMap"], opacity=1.0, size=128)
    label = renderer.render(n["volume"], plane, label=wrong, outline=False, size=128)
    by_overlay = np.abs(heat[..., :3].astype(int) - base[..., :3]).sum(-1) > 0
    by_label = np.abs(label[..., :3].astype(int) - base[..., :3]).sum(-1) > 0
    assert by_label.sum() > 100
    assert (by_overlay & by_label).sum() / (by_overlay | by_label).sum() > 0.9


def test_surrogate_and_corrected_segmentations_on_the_input_grid(review, sax_nodes):
    from SegmentationQCLib.mrml_bridge import case_from_nodes, segments
    from SegmentationQCLib.review import add_corrected, add_surrogate

    n = sax_nodes
    surrogate = add_surrogate(review)
    assert [s[1] for s in segments(surrogate)] == ["Left ventricle", "Myocardium", "RV blood pool"]
    assert np.array_equal(case_from_nodes(n["volume"], surrogate).labels, review.case.from_input_order(n["truth"]))

    review.result.flags[:] = False
    review.result.flags[list(n["damaged"]), :] = True  # flag what damage_for_demo broke
    review.result.slice_dice[list(n["damaged"]), :] = 0.0  # scored as wrong: a rebuild scores higher and stands
    corrected, table, rebuilt = add_corrected(review)
    assert {i for i, _ in rebuilt} == set(n["damaged"])
    fixed = case_from_nodes(n["volume"], corrected).labels
    kept = [i for i in range(6) if i not in n["damaged"]]
    assert np.array_equal(fixed[kept], review.case.labels[kept])
    assert not np.array_equal(fixed[list(n["damaged"])], review.case.labels[list(n["damaged"])])
    assert column(table, "Measurement") == ["LV_volume", "LV_mass", "RV_volume"]
    assert np.allclose(np.array(column(table, "Corrected")) - column(table, "Measured"), column(table, "Change"))
    assert corrected.GetNodeReference("referenceImageGeometryRef") is n["volume"]
    assert_unchanged(n["before"], n["volume"], n["segmentation"])


def test_second_run_refills_the_same_nodes(review):
    from SegmentationQCLib.review import publish

    scene = review.scene
    before, ids = dict(review.nodes), node_ids(scene)
    publish(review, review.nodes)
    assert review.nodes == before
    assert node_ids(scene) == ids


def test_no_error_map_no_overlay(sax_nodes, tiny_engine):
    from SegmentationQCLib.review import add_surrogate, run_review

    review = run_review(sax_nodes["volume"], sax_nodes["segmentation"], tiny_engine)
    assert review.result.error_map is None and "errorMap" not in review.nodes
    assert add_surrogate(review) is None


def test_outputs_saved_and_reloaded(review, sax_nodes, tmp_path):
    """Every output node through its storage node: a scene bundle written and read back."""
    from SegmentationQCLib.mrml_bridge import case_from_nodes, ijk_to_ras, volume_array
    from SegmentationQCLib.mrml_scene import headless_scene
    from SegmentationQCLib.review import add_corrected

    add_corrected(review)
    assert review.scene.WriteToMRB(str(tmp_path / "review.mrb"))
    again = headless_scene(str(tmp_path / "cache"))
    assert again.scene.ReadFromMRB(str(tmp_path / "review.mrb"))
    get = again.scene.GetFirstNodeByName
    volume = get("cine")
    assert np.array_equal(volume_array(volume), sax_nodes["image"])
    assert np.allclose(ijk_to_ras(volume), sax_nodes["matrix"])
    overlay = get(review.nodes["errorMap"].GetName())
    assert np.array_equal(volume_array(overlay), volume_array(review.nodes["errorMap"]))
    assert np.allclose(ijk_to_ras(overlay), sax_nodes["matrix"])
    corrected = get(review.nodes["corrected"].GetName())
    assert np.array_equal(case_from_nodes(volume, corrected).labels,
                          case_from_nodes(review.volume_node, review.nodes["corrected"]).labels)
    slices = get(review.nodes["slices"].GetName())
    assert np.allclose(column(slices, "LV"), review.result.slice_dice[:, 0], atol=1e-6)
    chart = get(review.nodes["plot"].GetName())
    assert chart.GetNumberOfPlotSeriesNodes() == 4
    assert chart.GetNthPlotSeriesNode(0).GetTableNode() is slices


def test_export_json_csv_html(review, tmp_path):
    from SegmentationQCLib.review import export

    rep = json.loads(export(review, tmp_path / "r.json").read_text())
    assert rep["schema"] == "segmentationqc/report/v1" and len(rep["slices"]) == 6
    assert rep["segmentation"] == "seg" and rep["image"] == "cine"
    rows = (export(review, tmp_path / "r.csv")).read_text().splitlines()
    assert rows[0] == "slice,dice_LV,dice_MYO,dice_RV,flagged" and len(rows) == 7
    page = export(review, tmp_path / "r.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and rep["verdict"].upper() in page
    assert "below both neighbouring slices" not in page  # the test pack sets no slice_dip
    from SegmentationQCLib.report_html import to_html
    assert "or more than 0.4 below both neighbouring slices" in to_html(rep, review.thresholds["slice_flag"], 0.4)
    with pytest.raises(ValueError, match="use .json"):
        export(review, tmp_path / "r.txt")
    assert "correction" not in rep
    from SegmentationQCLib.review import add_corrected
    corrected, _, rebuilt = add_corrected(review)  # once corrected, the report says what was rebuilt
    section = json.loads(export(review, tmp_path / "r2.json").read_text())["correction"]
    assert section["output"] == corrected.GetName()
    assert sum(len(s["structures"]) for s in section["slices_rebuilt"]) == len(rebuilt)


def test_view_helpers_move_slice_views(review, sax_nodes):
    import slicer

    from SegmentationQCLib import mrml_outputs
    from SegmentationQCLib.mrml_bridge import slice_plane
    from SegmentationQCLib.slice_render import SliceRenderer

    n = sax_nodes
    renderer = SliceRenderer(n["scene"], n["app"], "Red")
    mrml_outputs.show_in_slice_views(n["scene"], n["volume"], review.nodes["errorMap"], 0.3)
    assert renderer.composite.GetForegroundVolumeID() == review.nodes["errorMap"].GetID()
    assert renderer.composite.GetForegroundOpacity() == pytest.approx(0.3)
    mrml_outputs.set_overlay_opacity(n["scene"], 0.8)
    assert renderer.composite.GetForegroundOpacity() == pytest.approx(0.8)
    point = mrml_outputs.jump_to_slice(n["scene"], n["volume"], review.case, 4)
    assert np.allclose(point, slice_plane(n["volume"], review.case, 4)[0])
    xy_to_ras = renderer.slice_node.GetXYToRAS()
    dims = renderer.slice_node.GetDimensions()
    centre = [sum(xy_to_ras.GetElement(r, c) * v for c, v in enumerate((dims[0] / 2, dims[1] / 2, 0, 1)))
              for r in range(3)]
    normal = slice_plane(n["volume"], review.case, 4)[1]
    assert abs(np.dot(np.array(centre) - point, normal)) < 1e-3  # the view's plane goes through the slice
    assert isinstance(renderer.slice_node, slicer.vtkMRMLSliceNode)


def test_error_map_model_of_the_pack_makes_the_overlay(sax_nodes, tiny_pack_with_error_map, tmp_path):
    from SegmentationQCLib.mrml_bridge import ijk_to_ras, volume_array
    from SegmentationQCLib.qc import QCEngine
    from SegmentationQCLib.review import export, run_review

    n = sax_nodes
    review = run_review(n["volume"], n["segmentation"], QCEngine(str(tiny_pack_with_error_map), "cpu"))
    overlay = review.nodes["errorMap"]
    values = volume_array(overlay)
    assert values.shape == n["image"].shape and values.min() >= 0 and values.max() <= 1
    assert np.array_equal(ijk_to_ras(overlay), ijk_to_ras(n["volume"]))
    assert np.allclose(column(review.nodes["slices"], "Error fraction"), review.result.slice_error_fraction)
    again = run_review(n["volume"], n["segmentation"], QCEngine(str(tiny_pack_with_error_map), "cpu"),
                       nodes=review.nodes, error_map=False)
    assert again.nodes["errorMap"] is None and n["scene"].GetNodeByID(overlay.GetID()) is None
    assert "error_fraction" in export(review, tmp_path / "r.csv").read_text().splitlines()[0]


def test_other_methods_get_a_dice_column(sax_nodes, tiny_pack_with_error_map):
    from SegmentationQCLib.qc import QCEngine
    from SegmentationQCLib.review import run_review

    n = sax_nodes
    engine = QCEngine(str(tiny_pack_with_error_map), "cpu", ["errormap", "slice"])
    review = run_review(n["volume"], n["segmentation"], engine)
    res, t = review.result, review.nodes["structures"].GetTable()
    assert res.method == "errormap" and set(res.estimates) == {"errormap", "slice"}
    assert [t.GetColumnName(i) for i in range(t.GetNumberOfColumns())][-2:] == ["Flagged slices", "Dice (slice)"]
    assert np.allclose(column(review.nodes["structures"], "Predicted Dice"), res.volume_dice)
    assert np.allclose(column(review.nodes["structures"], "Dice (slice)"), res.estimates["slice"][1])


def test_flagging_options_reach_the_engine(sax_nodes, tiny_engine):
    from SegmentationQCLib.review import run_review

    n = sax_nodes
    plain = run_review(n["volume"], n["segmentation"], tiny_engine).result.flags
    ends = run_review(n["volume"], n["segmentation"], tiny_engine, exclude_ends=1).result.flags
    assert plain[[0, -1]].any()  # random weights: every slice scores about 0.5, below the 0.7 threshold
    assert not ends[[0, -1]].any() and np.array_equal(ends[1:-1], plain[1:-1])

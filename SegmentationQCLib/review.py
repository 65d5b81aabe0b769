"""One review of a segmentation in a scene: nodes in, engine result, output nodes out.

This is the Slicer module's logic without Qt, so it runs under the ``slicer-core`` wheel too:

    review = run_review(volume_node, segmentation_node, QCEngine())
    review.result.volume_dice, review.nodes["slices"]          # QCResult, output nodes
    add_corrected(review); export(review, "report.html")

The steps are separate (``case_from_nodes`` -> ``engine.check`` -> ``Review`` + ``publish``)
so the panel can run the engine off the main thread and build nodes on it. Input nodes are
only read.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from . import mrml_outputs as out
from .correction import correct
from .mrml_bridge import case_from_nodes, check_nodes, guess_segment_mapping, segmentation_like
from .report import correction_section, to_report, write_json
from .report_html import write_html

# Keys of Review.nodes (and of the module's parameter node output references).
OUTPUT_KEYS = ("structures", "slices", "plot", "errorMap", "surrogate", "corrected", "measurements")


@dataclass
class Review:
    """A result with what it was computed from and the nodes that show it."""

    volume_node: object
    segmentation_node: object
    mapping: dict  # structure -> segment id or None
    case: object  # Case
    result: object  # QCResult
    thresholds: dict  # the pack card's thresholds
    nodes: dict = field(default_factory=dict)  # OUTPUT_KEYS -> node (or None)
    engine: object = None  # the QCEngine that scored it (computes the surrogate on demand)
    correction: object = None  # the last Correction made by add_corrected

    @property
    def scene(self):
        return self.volume_node.GetScene()

    def report(self) -> dict:
        """The report (schema v1); with a ``correction`` section once the slices were corrected."""
        rep = to_report(self.result, self.volume_node.GetName(), self.segmentation_node.GetName())
        if self.correction is not None:
            rep["correction"] = correction_section(self.correction, self.nodes["corrected"].GetName())
        return rep


def publish(review: Review, nodes: dict | None = None, error_map: bool = True) -> dict:
    """Create (or refill ``nodes``) the tables, plot and error-map overlay of ``review``."""
    scene, res, name = review.scene, review.result, review.segmentation_node.GetName()
    nodes = dict(nodes or {})
    nodes["structures"] = out.structure_table(scene, res, review.thresholds, f"{name} QC structures",
                                              nodes.get("structures"))
    nodes["slices"] = out.slice_table(scene, res, f"{name} QC slices", nodes.get("slices"))
    nodes["plot"] = out.slice_plot(scene, res, nodes["slices"], review.thresholds, f"{name} QC slice Dice",
                                   nodes.get("plot"))
    if error_map and res.error_map is not None:
        nodes["errorMap"] = out.error_map_volume(scene, review.volume_node, review.case, res,
                                                 f"{name} QC error map", nodes.get("errorMap"))
    elif nodes.get("errorMap") is not None:
        scene.RemoveNode(nodes["errorMap"])
        nodes["errorMap"] = None
    review.nodes.update(nodes)
    return review.nodes


def run_review(volume_node, segmentation_node, engine, mapping: dict | None = None, nodes: dict | None = None,
               error_map: bool = True, flag_on: str = "dice", exclude_ends: int = 0) -> Review:
    """Score a segmentation node against its volume node and create the output nodes.

    ``flag_on`` and ``exclude_ends`` choose how slices are flagged (``QCEngine.check``).
    """
    check_nodes(volume_node, segmentation_node, mapping)
    mapping = dict(mapping or guess_segment_mapping(segmentation_node, engine.pack.classes))
    case = case_from_nodes(volume_node, segmentation_node, mapping, engine.pack.classes, segmentation_node.GetName())
    result = engine.check(case, flag_on, exclude_ends, error_map=error_map)
    review = Review(volume_node, segmentation_node, mapping, case, result, engine.pack.card["thresholds"], engine=engine)
    publish(review, nodes, error_map)
    return review


def add_surrogate(review: Review, node=None):
    """The surrogate segmentation (nearest plausible one) as a segmentation node, computed on
    demand (the latent search is the slowest step); None when the pack has no manifold model."""
    if review.result.surrogate is None:
        if review.engine is None or getattr(review.engine, "vae", None) is None:
            return None
        review.result.surrogate = review.engine.surrogate(review.case)[2]
    labels = review.case.to_input_order(review.result.surrogate)
    node = segmentation_like(review.scene, review.volume_node, labels, review.case.class_values,
                             f"{review.segmentation_node.GetName()} QC surrogate", node,
                             review.segmentation_node, review.mapping)
    review.nodes["surrogate"] = node
    return node


def add_corrected(review: Review, node=None, table=None):
    """Rebuild the flagged slices into a new segmentation node, with a before/after measurements
    table. Returns (segmentation node, table node, [(slice, structure) rebuilt])."""
    fix = correct(review.case, review.result, engine=review.engine)
    name = review.segmentation_node.GetName()
    node = segmentation_like(review.scene, review.volume_node, review.case.to_input_order(fix.labels),
                             review.case.class_values, f"{name} corrected", node,
                             review.segmentation_node, review.mapping)
    table = out.measurements_table(review.scene, fix.measurements, f"{name} QC measurements", table)
    review.nodes.update(corrected=node, measurements=table)
    review.correction = fix
    return node, table, fix.rebuilt


def export(review: Review, path) -> Path:
    """Write the report by the file's suffix: .json (report schema), .csv (one row per slice),
    .html (a page with tables and a plot)."""
    path = Path(path)
    rep = review.report()
    suffix = path.suffix.lower()
    if suffix == ".json":
        return write_json(rep, path)
    if suffix == ".html" or suffix == ".htm":
        return write_html(rep, path, review.thresholds.get("slice_flag"), review.thresholds.get("slice_dip"))
    if suffix == ".csv":
        return write_slice_csv(rep, path)
    raise ValueError(f"cannot export a report as {path.name}: use .json, .csv or .html")


def write_slice_csv(report: dict, path: Path) -> Path:
    """Per-slice rows: slice, dice_<structure>[, low_/high_<structure>][, error_fraction], flagged."""
    classes = report["classes"]
    first = report["slices"][0] if report["slices"] else {}
    bounds, errors = "low" in first, "error_fraction" in first
    cols = ["slice"] + [f"dice_{c}" for c in classes]
    cols += [f"{b}_{c}" for b in ("low", "high") for c in classes] if bounds else []
    cols += ["error_fraction"] if errors else []
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols + ["flagged"])
        for s in report["slices"]:
            row = [s["index"]] + [s["dice"][c] for c in classes]
            row += [s[b][c] for b in ("low", "high") for c in classes] if bounds else []
            row += [s["error_fraction"]] if errors else []
            w.writerow(row + [" ".join(s["flagged"])])
    return path

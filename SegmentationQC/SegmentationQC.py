"""SegmentationQC: how good is this segmentation, without its ground truth?

The module is thin: the widget wires the panel to the parameter node; the logic calls
``SegmentationQCLib`` (engine + MRML bridge, see ``SegmentationQCLib/review.py``). The engine
needs torch, so ``SegmentationQCLib`` is imported only after ``ensureDependencies``.
Console use and headless batch: see docs/slicer.md.
"""
import json
import logging
import os
import re
import sys
from typing import Annotated, Optional

import qt
import slicer
import vtk
from slicer import (vtkMRMLPlotChartNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode,
                    vtkMRMLTableNode)
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleLogic,
                                           ScriptedLoadableModuleTest, ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin

MODULE_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CLASSES = ["LV", "MYO", "RV"]
MINIMUM_TORCH = "2.0"


def _findLibrary():
    """Put the folder holding ``SegmentationQCLib`` on sys.path: this module's own folder when
    installed, its parent in the source tree (module folder added to additional module paths)."""
    for folder in (MODULE_DIR, os.path.dirname(MODULE_DIR)):
        if os.path.isfile(os.path.join(folder, "SegmentationQCLib", "__init__.py")):
            if folder not in sys.path:
                sys.path.insert(0, folder)
            return folder
    raise ImportError(f"SegmentationQCLib not found beside {MODULE_DIR}")


LIBRARY_ROOT = _findLibrary()
PACKS_DIR = os.path.join(LIBRARY_ROOT, "SegmentationQCLib", "packs")


class SegmentationQC(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "SegmentationQC"
        self.parent.categories = ["Quantification"]
        self.parent.dependencies = []
        self.parent.contributors = ["SegmentationQC developers"]
        self.parent.helpText = """
Estimates the quality of a segmentation without its ground truth: predicted Dice per structure
and per slice (with intervals), flags slices to distrust, shows the error map when the model pack
has one, and rebuilds flagged slices into a corrected segmentation. Input nodes are never changed.
See <a href="https://github.com/SegmentationQC/SegmentationQC/blob/main/docs/slicer.md">the documentation</a>.
"""
        self.parent.acknowledgementText = """
Methods after Fournel et al. 2021 (per-slice Dice regression), Zhang and Chung 2019 (error maps)
and Wang et al. 2020 (surrogate segmentations).
"""


# Parameter node field holding each output of SegmentationQCLib.review (Review.nodes keys).
OUTPUT_PARAMETERS = {
    "structures": "structuresTable", "slices": "slicesTable", "plot": "slicePlot", "errorMap": "errorMapVolume",
    "surrogate": "surrogateSegmentation", "corrected": "correctedSegmentation", "measurements": "measurementsTable",
}


@parameterNodeWrapper
class SegmentationQCParameterNode:
    """
    inputVolume, inputSegmentation: what is checked (never modified).
    segmentMapping: JSON {"segmentation": node ID, "structures": {structure: segment ID or null}},
        edited in the Structures rows.
    modelPack: a bundled pack name or a pack folder; empty for the default pack.
    methods: the estimators, comma-separated, the first giving the reported Dice (slice,
        errormap, manifold, direct3d, fused); empty for the pack's default.
    precision: the networks' arithmetic (float32; bfloat16 where the CPU or GPU has it; int8 on
        x86 CPUs, about twice as fast).
    flagOn, excludeEnds: how slices are flagged: predicted Dice ("dice") or its interval's upper
        bound ("upper") below the pack's threshold (or far below both neighbours' when the pack sets
        a dip); the N end slices of the stack never flagged.
    showErrorMap, errorMapOpacity: the error map overlay, when the pack has an error-map model.
    The remaining fields hold the output nodes, refilled by the next Apply.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    inputSegmentation: vtkMRMLSegmentationNode
    segmentMapping: str = ""
    modelPack: str = ""
    methods: str = ""
    precision: Annotated[str, Choice(["float32", "bfloat16", "int8"])] = "float32"
    flagOn: Annotated[str, Choice(["dice", "upper"])] = "dice"
    excludeEnds: Annotated[int, WithinRange(0, 5)] = 0
    showErrorMap: bool = True
    errorMapOpacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.5
    structuresTable: vtkMRMLTableNode
    slicesTable: vtkMRMLTableNode
    slicePlot: vtkMRMLPlotChartNode
    errorMapVolume: vtkMRMLScalarVolumeNode
    surrogateSegmentation: vtkMRMLSegmentationNode
    correctedSegmentation: vtkMRMLSegmentationNode
    measurementsTable: vtkMRMLTableNode


def packClasses(pack: str = "") -> list:
    """Structures a pack scores, read from its card without importing torch."""
    for folder in (pack, os.path.join(PACKS_DIR, pack or "acdc-cardiac")):
        card = os.path.join(folder, "card.json") if folder else ""
        if card and os.path.isfile(card):
            with open(card) as f:
                return list(json.load(f)["classes"])
    return list(DEFAULT_CLASSES)


def bundledPacks() -> list:
    if not os.path.isdir(PACKS_DIR):
        return []
    return sorted(p for p in os.listdir(PACKS_DIR) if os.path.isfile(os.path.join(PACKS_DIR, p, "card.json")))


#
# Widget
#


class SegmentationQCWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    POLL_MS = 100

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._mappingCombos = {}
        self._review = None
        self._task = None
        self._timer = qt.QTimer()
        self._timer.setInterval(self.POLL_MS)
        self._timer.connect("timeout()", self.onPoll)

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SegmentationQC.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SegmentationQCLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.modelPackComboBox.addItems(bundledPacks())
        self.ui.modelPackComboBox.connect("currentTextChanged(QString)", self.onModelPackChanged)
        self.ui.modelPackBrowseButton.connect("clicked(bool)", self.onBrowseModelPack)
        self.ui.inputSegmentationSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onSegmentationChanged)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancelButton)
        self.ui.slicesTableView.connect("clicked(QModelIndex)", self.onSliceClicked)
        self.ui.showPlotButton.connect("clicked(bool)", self.onShowPlot)
        self.ui.errorMapOpacitySlider.connect("valueChanged(double)", self.onOpacityChanged)
        self.ui.showSurrogateButton.connect("clicked(bool)", self.onShowSurrogate)
        self.ui.correctButton.connect("clicked(bool)", self.onCorrect)
        self.ui.exportButton.connect("clicked(bool)", self.onExport)

        self.ui.progressBar.hide()
        self.ui.cancelButton.hide()
        self.initializeParameterNode()
        self._showReview(None)

    def cleanup(self) -> None:
        self._timer.stop()
        if self._task:
            self._task.cancel()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)

    def onSceneStartClose(self, caller, event) -> None:
        self.onCancelButton()
        self._showReview(None)
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            self._parameterNode.inputVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
        if not self._parameterNode.inputSegmentation:
            self._parameterNode.inputSegmentation = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLSegmentationNode")

    def setParameterNode(self, inputParameterNode: Optional[SegmentationQCParameterNode]) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            self.ui.modelPackComboBox.setCurrentText(self._parameterNode.modelPack)
            self._buildMappingRows()
            self._checkCanApply()

    def _checkCanApply(self, caller=None, event=None) -> None:
        p = self._parameterNode
        ready = bool(p and p.inputVolume and p.inputSegmentation) and self._task is None
        self.ui.applyButton.enabled = ready
        self.ui.applyButton.toolTip = "Score the segmentation" if ready else "Select a volume and a segmentation"

    # Structures: one row per structure of the pack, choosing the segment that holds it.

    def _buildMappingRows(self) -> None:
        layout = self.ui.mappingWidget.layout()
        while layout.rowCount() > 0:
            layout.removeRow(0)
        self._mappingCombos = {}
        for structure in packClasses(self._parameterNode.modelPack if self._parameterNode else ""):
            combo = qt.QComboBox()
            combo.toolTip = f"The segment that holds {structure}; '(none)' scores {structure} as missing"
            combo.connect("currentIndexChanged(int)", self._storeMapping)
            layout.addRow(f"{structure}:", combo)
            self._mappingCombos[structure] = combo
        self._fillMappingRows()

    def _fillMappingRows(self) -> None:
        p = self._parameterNode
        segmentation = p.inputSegmentation if p else None
        stored = json.loads(p.segmentMapping) if p and p.segmentMapping else {}
        if not segmentation or stored.get("segmentation") != segmentation.GetID():
            stored = {}
        stored = stored.get("structures", {})
        guessed = {}
        if segmentation:
            try:
                guessed = self.logic.guessMapping(segmentation, list(self._mappingCombos))
            except ImportError:  # the engine's packages are not installed yet: Apply guesses again
                logging.info("SegmentationQC: segment names are matched once dependencies are installed")
        segmentIds = []
        if segmentation:
            seg = segmentation.GetSegmentation()
            segmentIds = [seg.GetNthSegmentID(i) for i in range(seg.GetNumberOfSegments())]
        for structure, combo in self._mappingCombos.items():
            wasBlocked = combo.blockSignals(True)
            combo.clear()
            combo.addItem("(none)", "")
            for sid in segmentIds:
                combo.addItem(segmentation.GetSegmentation().GetSegment(sid).GetName(), sid)
            chosen = stored.get(structure) if stored.get(structure) in segmentIds else guessed.get(structure)
            combo.setCurrentIndex(max(combo.findData(chosen or ""), 0))
            combo.blockSignals(wasBlocked)
        self._storeMapping()

    def _storeMapping(self, *args) -> None:
        if self._parameterNode:
            segmentation = self._parameterNode.inputSegmentation
            self._parameterNode.segmentMapping = json.dumps(
                {"segmentation": segmentation.GetID() if segmentation else None, "structures": self.currentMapping()})

    def currentMapping(self) -> dict:
        return {s: (combo.currentData or None) for s, combo in self._mappingCombos.items()}

    def onSegmentationChanged(self, node) -> None:
        if self._parameterNode:
            self._fillMappingRows()

    def onModelPackChanged(self, text) -> None:
        if self._parameterNode and self._parameterNode.modelPack != text:
            self._parameterNode.modelPack = text
            self._buildMappingRows()

    def onBrowseModelPack(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(slicer.util.mainWindow(), "Model pack folder (with card.json)")
        if folder:
            self.ui.modelPackComboBox.setCurrentText(folder)

    # Apply: the engine runs in a background thread; a QTimer polls it.

    def onApplyButton(self) -> None:
        p = self._parameterNode
        try:
            self.logic.ensureDependencies(askConfirmation=True)
            if not any(self.currentMapping().values()):
                self._fillMappingRows()
            self._task = self.logic.startProcess(p.inputVolume, p.inputSegmentation, self.currentMapping(),
                                                 p.modelPack or None, flagOn=p.flagOn, excludeEnds=p.excludeEnds,
                                                 methods=p.methods, precision=p.precision)
        except Exception as e:
            slicer.util.errorDisplay(f"SegmentationQC could not start: {e}")
            logging.exception("SegmentationQC")
            self._task = None
            return
        self.ui.progressBar.setValue(0)
        self.ui.progressBar.show()
        self.ui.cancelButton.show()
        self.ui.statusLabel.text = "Scoring…"
        self._checkCanApply()
        self._timer.start()

    def onCancelButton(self) -> None:
        if self._task:
            self._task.cancel()

    def onPoll(self) -> None:
        task = self._task
        if task is None:
            self._timer.stop()
            return
        self.ui.progressBar.setValue(int(100 * task.fraction))
        self.ui.statusLabel.text = task.message
        if not task.done:
            return
        self._timer.stop()
        self._task = None
        self.ui.progressBar.hide()
        self.ui.cancelButton.hide()
        self._checkCanApply()
        if task.error is not None:
            self.ui.statusLabel.text = "Failed"
            slicer.util.errorDisplay(f"SegmentationQC failed: {task.error}")
            return
        if task.result is None:
            self.ui.statusLabel.text = "Cancelled"
            return
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("SegmentationQC could not show the results.", waitCursor=True):
            review = self.logic.finishProcess(task, self.outputNodes(), p.showErrorMap)
            self.storeOutputNodes(review.nodes)
            self._showReview(review)

    def outputNodes(self) -> dict:
        p = self._parameterNode
        return {key: getattr(p, name) for key, name in OUTPUT_PARAMETERS.items()}

    def storeOutputNodes(self, nodes: dict) -> None:
        for key, node in nodes.items():
            setattr(self._parameterNode, OUTPUT_PARAMETERS[key], node)

    # Results

    def _showReview(self, review) -> None:
        self._review = review
        has = review is not None
        self.ui.resultsCollapsibleButton.enabled = has
        self.ui.structuresTableView.setMRMLTableNode(review.nodes["structures"] if has else None)
        self.ui.slicesTableView.setMRMLTableNode(review.nodes["slices"] if has else None)
        self.ui.measurementsTableView.setMRMLTableNode(review.nodes.get("measurements") if has else None)
        self.ui.measurementsTableView.visible = bool(has and review.nodes.get("measurements"))
        errorMap = review.nodes.get("errorMap") if has else None
        self.ui.errorMapOpacitySlider.enabled = errorMap is not None
        self.ui.errorMapOpacityLabel.enabled = errorMap is not None
        self.ui.showSurrogateButton.enabled = bool(has and getattr(review.engine, "vae", None) is not None)
        self.ui.showSurrogateButton.toolTip = ("Show the nearest plausible segmentation" if self.ui.showSurrogateButton.enabled
                                               else "This model pack has no surrogate model")
        self.ui.correctButton.enabled = bool(has and review.result.flags.any())
        if not has:
            self.ui.verdictLabel.text = ""
            self.ui.statusLabel.text = ""
            return
        verdict = review.result.verdict
        color = {"pass": "#2e7d32", "review": "#ef6c00", "fail": "#c62828"}[verdict]
        flagged = int(review.result.flags.any(axis=1).sum())
        qi = review.result.quality_index
        self.ui.verdictLabel.text = (f"<b style='color:{color}'>{verdict.upper()}</b> — {flagged} flagged slice(s) "
                                     f"of {review.result.flags.shape[0]}; Dice by {review.result.method}"
                                     + (f"; mean predicted error {qi:.3f}" if qi is not None else ""))
        self.ui.statusLabel.text = "; ".join(review.result.warnings) or f"Done in {review.result.timings_ms['total']:.0f} ms"
        self.logic.showReview(review, self._parameterNode.errorMapOpacity)
        self.onShowPlot()

    def onSliceClicked(self, index) -> None:
        if self._review is not None and index.isValid():
            self.logic.jumpToSlice(self._review, index.row())

    def onShowPlot(self) -> None:
        if self._review is not None:
            slicer.modules.plots.logic().ShowChartInLayout(self._review.nodes["plot"])

    def onOpacityChanged(self, value) -> None:
        if self._review is not None and self._review.nodes.get("errorMap") is not None:
            self.logic.setOverlayOpacity(value)

    def onShowSurrogate(self) -> None:
        with slicer.util.tryWithErrorDisplay("Could not create the surrogate segmentation.", waitCursor=True):
            node = self.logic.showSurrogate(self._review, self._parameterNode.surrogateSegmentation)
            self._parameterNode.surrogateSegmentation = node

    def onCorrect(self) -> None:
        from SegmentationQCLib.correction import outcome_notes

        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Could not correct the flagged slices.", waitCursor=True):
            node, table, rebuilt = self.logic.correct(self._review, p.correctedSegmentation, p.measurementsTable)
            p.correctedSegmentation, p.measurementsTable = node, table
            self.ui.measurementsTableView.setMRMLTableNode(table)
            self.ui.measurementsTableView.visible = True
            self.ui.statusLabel.text = "; ".join([f"Rebuilt {len(rebuilt)} structure slice(s) into {node.GetName()}"]
                                                 + outcome_notes(self._review.correction))

    def onExport(self) -> None:
        path = qt.QFileDialog.getSaveFileName(slicer.util.mainWindow(), "Export the QC report",
                                              f"{self._review.segmentation_node.GetName()}_qc.html",
                                              "HTML page (*.html);;JSON report (*.json);;CSV, one row per slice (*.csv)")
        if path:
            with slicer.util.tryWithErrorDisplay("Could not export the report.", waitCursor=True):
                self.ui.statusLabel.text = f"Report written to {self.logic.export(self._review, path)}"


#
# Logic
#


class SegmentationQCLogic(ScriptedLoadableModuleLogic):
    """Everything the panel does, callable from the Python console and scripts (docs/slicer.md).

    ``process`` scores a segmentation node and creates the output nodes; ``correct``,
    ``showSurrogate`` and ``export`` act on the returned review; ``processFiles`` runs a manifest
    like ``segqc batch``.
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self._engines = {}

    def getParameterNode(self):
        return SegmentationQCParameterNode(super().getParameterNode())

    def ensureDependencies(self, askConfirmation: bool = True) -> None:
        """torch through the PyTorch extension, the rest from Resources/requirements.txt.
        Asks before installing anything; installs nothing in testing mode."""
        self._ensureTorch(askConfirmation)
        requirements = os.path.join(MODULE_DIR, "Resources", "requirements.txt")
        pydeps = _pydeps()
        if pydeps is not None:  # Slicer >= 5.11
            pydeps.pip_ensure(pydeps.load_requirements(requirements), prompt_install=askConfirmation,
                              requester="SegmentationQC")
            return
        missing = _missingRequirements(requirements)
        if not missing:
            return
        if slicer.app.testingEnabled():
            raise RuntimeError(f"missing Python packages {missing}; tests do not install packages")
        if askConfirmation and not slicer.util.confirmOkCancelDisplay(
                "SegmentationQC needs these Python packages, which will be installed now:\n" + "\n".join(missing),
                "SegmentationQC - install Python packages"):
            raise RuntimeError("installation of required Python packages was declined")
        slicer.util.pip_install(missing)

    @staticmethod
    def _ensureTorch(askConfirmation: bool) -> None:
        try:
            import PyTorchUtils
        except ModuleNotFoundError:
            try:
                import torch  # noqa: F401  (installed some other way)
                return
            except ModuleNotFoundError:
                raise RuntimeError("SegmentationQC needs the PyTorch extension: install it from the Extensions Manager") from None
        torchLogic = PyTorchUtils.PyTorchUtilsLogic()
        if torchLogic.torchInstalled():
            return
        if slicer.app.testingEnabled():
            raise RuntimeError("PyTorch is not installed; tests do not install packages")
        # PyTorchUtils picks the CUDA build matching the GPU driver, or the CPU build.
        if torchLogic.installTorch(askConfirmation=askConfirmation, torchVersionRequirement=f">={MINIMUM_TORCH}") is None:
            raise RuntimeError("PyTorch was not installed; SegmentationQC cannot run without it")

    def engine(self, pack: Optional[str] = None, device: Optional[str] = None, methods=None,
               precision: str = "float32"):
        """The engine for a pack (bundled name or folder; None: default), its estimators
        (``methods``: a list or a comma-separated string, the first giving the reported Dice;
        None or empty: the pack's default) and ``precision`` (``QCEngine``), loaded once and kept.
        A method the pack lacks, or a precision the device lacks, raises ``InputError``."""
        from SegmentationQCLib.pack import method_list
        from SegmentationQCLib.qc import QCEngine

        key = (pack or "", device or "", tuple(method_list(methods)), precision)
        if key not in self._engines:
            self._engines[key] = QCEngine(pack, device, list(key[2]) or None, precision)
        return self._engines[key]

    @staticmethod
    def guessMapping(segmentationNode, classes=None) -> dict:
        """{structure: segment ID or None} guessed from segment names and terminology."""
        from SegmentationQCLib.structures import guess_mapping
        from SegmentationQCLib.mrml_bridge import segments

        return guess_mapping(segments(segmentationNode), classes or DEFAULT_CLASSES)

    def process(self, volumeNode, segmentationNode, mapping: Optional[dict] = None, pack: Optional[str] = None,
                device: Optional[str] = None, errorMap: bool = True, nodes: Optional[dict] = None,
                flagOn: str = "dice", excludeEnds: int = 0, methods=None, precision: str = "float32"):
        """Score ``segmentationNode`` against ``volumeNode`` and create the output nodes.

        :param mapping: {structure: segment ID or None}; guessed from segment names when omitted.
        :param pack: model pack name or folder; None for the default pack.
        :param errorMap: create the error-map overlay volume when the pack provides one.
        :param nodes: output nodes of an earlier review to refill (``review.nodes``).
        :param flagOn: flag a slice when its predicted Dice ("dice") or the upper bound of its
            interval ("upper") is below the pack's threshold, or far below both neighbouring slices'
            (the pack's ``slice_dip``).
        :param excludeEnds: never flag this many slices at each end of the segmented stack.
        :param methods: estimators (list or comma-separated string: slice, errormap, manifold,
            direct3d, fused), the first giving the reported Dice; None for the pack's default.
        :param precision: float32, bfloat16 or int8 (``QCEngine``).
        :return: a ``SegmentationQCLib.review.Review``: ``.result`` (QCResult), ``.nodes``, ``.report()``.
        """
        from SegmentationQCLib.review import run_review

        return run_review(volumeNode, segmentationNode, self.engine(pack, device, methods, precision), mapping, nodes,
                          errorMap, flagOn, excludeEnds)

    def startProcess(self, volumeNode, segmentationNode, mapping: Optional[dict] = None,
                     pack: Optional[str] = None, device: Optional[str] = None, flagOn: str = "dice",
                     excludeEnds: int = 0, methods=None, precision: str = "float32"):
        """``process`` split for the panel: reads the nodes now, runs the engine in a background
        thread, returns the ``BackgroundTask``; call ``finishProcess`` once it is done."""
        from SegmentationQCLib.background import BackgroundTask
        from SegmentationQCLib.mrml_bridge import case_from_nodes

        classes = packClasses(pack or "")
        mapping = dict(mapping or self.guessMapping(segmentationNode, classes))
        case = case_from_nodes(volumeNode, segmentationNode, mapping, classes, segmentationNode.GetName())

        def work(progress):
            progress(0.1, "Loading the model pack…")
            engine = self.engine(pack, device, methods, precision)
            stages = lambda fraction, stage: progress(0.4 + 0.6 * fraction, f"Scoring: {stage}…")  # noqa: E731
            return engine, engine.check(case, flagOn, excludeEnds, progress=stages, error_map=True)

        task = BackgroundTask(work)
        task.inputs = (volumeNode, segmentationNode, mapping, case)
        return task.start()

    @staticmethod
    def finishProcess(task, nodes: Optional[dict] = None, errorMap: bool = True):
        """The Review of a finished ``startProcess`` task, with its output nodes created."""
        from SegmentationQCLib.review import Review, publish

        volumeNode, segmentationNode, mapping, case = task.inputs
        engine, result = task.result
        review = Review(volumeNode, segmentationNode, mapping, case, result, engine.pack.card["thresholds"],
                        engine=engine)
        publish(review, {k: v for k, v in (nodes or {}).items() if v is not None}, errorMap)
        return review

    @staticmethod
    def showReview(review, opacity: float = 0.5) -> None:
        """Input volume in every slice view with the error map over it; the Red view turned to the
        short-axis plane through the worst slice."""
        from SegmentationQCLib import mrml_outputs

        scene = review.volume_node.GetScene()
        mrml_outputs.show_in_slice_views(scene, review.volume_node, review.nodes.get("errorMap"), opacity)
        slicer.util.resetSliceViews()
        SegmentationQCLogic.jumpToSlice(review, int(review.result.slice_dice.min(axis=1).argmin()))

    @staticmethod
    def jumpToSlice(review, index: int) -> None:
        """Red view on slice ``index`` in its own plane; the other views through its centre."""
        from SegmentationQCLib import mrml_bridge, mrml_outputs

        centre, normal, x = mrml_bridge.slice_plane(review.volume_node, review.case, index)
        red = slicer.app.layoutManager().sliceWidget("Red").mrmlSliceNode() if slicer.app.layoutManager() else None
        if red is not None:
            red.SetSliceToRASByNTP(*normal, *x, *centre, 0)
        mrml_outputs.jump_to_slice(review.volume_node.GetScene(), review.volume_node, review.case, index)

    @staticmethod
    def setOverlayOpacity(opacity: float) -> None:
        from SegmentationQCLib import mrml_outputs

        mrml_outputs.set_overlay_opacity(slicer.mrmlScene, opacity)

    @staticmethod
    def showSurrogate(review, node=None):
        """The surrogate segmentation node (created or refilled); None when the pack has none."""
        from SegmentationQCLib.review import add_surrogate

        return add_surrogate(review, node)

    @staticmethod
    def correct(review, node=None, table=None):
        """Rebuild flagged slices into a new segmentation node; returns (node, measurements table,
        [(slice, structure) rebuilt])."""
        from SegmentationQCLib.review import add_corrected

        return add_corrected(review, node, table)

    @staticmethod
    def export(review, path):
        """Write the report as .json, .csv (one row per slice) or .html, by the file's suffix."""
        from SegmentationQCLib.review import export

        return export(review, path)

    @staticmethod
    def processFiles(manifest, outDir, labels: Optional[str] = None, pack: Optional[str] = None,
                     device: Optional[str] = None, flagOn: str = "dice", excludeEnds: int = 0, methods=None,
                     precision: str = "float32", resume: bool = False) -> int:
        """Score every case of a manifest CSV (case,image,segmentation[,reference][,frame]) into
        outDir: results.csv and cases/<case>.json, exactly as ``segqc batch`` (``methods``: a list;
        ``resume``: as ``--resume``)."""
        from pathlib import Path

        from SegmentationQCLib.batch import run_batch

        return run_batch(Path(manifest), Path(outDir), labels, pack, device, flagOn, excludeEnds, methods,
                         precision=precision, resume=resume)


def _pydeps():
    for name in ("slicer.packaging", "slicer.pydeps"):
        try:
            module = __import__(name, fromlist=["pip_ensure"])
        except ImportError:
            continue
        if hasattr(module, "pip_ensure"):
            return module
    return None


def _missingRequirements(path) -> list:
    """Requirement lines of ``path`` whose distribution is not installed (version not checked)."""
    from importlib.metadata import PackageNotFoundError, version

    missing = []
    with open(path) as f:
        for line in f:
            req = line.split("#")[0].strip()
            if not req:
                continue
            try:
                version(re.split(r"[<>=!~;\[ ]", req)[0])
            except PackageNotFoundError:
                missing.append(req)
    return missing


#
# Test
#


class SegmentationQCTest(ScriptedLoadableModuleTest):
    """In-Slicer tests on the project's synthetic short-axis stack (SegmentationQCLib.phantom)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_process_creates_aligned_outputs()
        self.setUp()
        self.test_correct_surrogate_export()
        self.setUp()
        self.test_widget_apply()

    def _example(self):
        """Volume and damaged segmentation nodes (segments named the clinical way) on an oblique grid."""
        import numpy as np

        from SegmentationQCLib.mrml_bridge import segmentation_like, volume_from_array
        from SegmentationQCLib.phantom import damage_for_demo, short_axis_stack

        image, truth, spacing = short_axis_stack(n_slices=8, size=128, seed=2)
        damaged, where = damage_for_demo(truth)
        c, s = np.cos(0.5), np.sin(0.5)
        m = np.eye(4)
        m[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.diag([-spacing[2], spacing[1], -spacing[0]])
        m[:3, 3] = (10, -20, 30)
        volume = volume_from_array(slicer.mrmlScene, image, m, "SegmentationQC example")
        volume.CreateDefaultDisplayNodes()
        segmentation = segmentation_like(slicer.mrmlScene, volume, damaged, {"LV": 3, "MYO": 2, "RV": 1},
                                         "SegmentationQC example segmentation")
        for sid, name in (("LV", "LV blood pool"), ("MYO", "Myocardium"), ("RV", "Right ventricle")):
            segmentation.GetSegmentation().GetSegment(sid).SetName(name)
        return volume, segmentation, where

    def test_process_creates_aligned_outputs(self):
        import numpy as np

        from SegmentationQCLib.mrml_bridge import ijk_to_ras, volume_array

        self.delayDisplay("Scoring the example case")
        logic = SegmentationQCLogic()
        logic.ensureDependencies(askConfirmation=False)
        volume, segmentation, _ = self._example()
        before = volume_array(volume), ijk_to_ras(volume), segmentation.GetSegmentation().GetNumberOfSegments()
        review = logic.process(volume, segmentation)
        result = review.result
        self.assertEqual(result.slice_dice.shape, (8, 3))
        self.assertIn(result.verdict, ("pass", "review", "fail"))
        self.assertEqual(set(review.mapping), {"LV", "MYO", "RV"})
        self.assertTrue(all(review.mapping.values()))
        self.assertEqual(review.nodes["slices"].GetNumberOfRows(), 8)
        self.assertEqual(review.nodes["structures"].GetNumberOfRows(), 3)
        self.assertGreaterEqual(review.nodes["plot"].GetNumberOfPlotSeriesNodes(), 4)
        if result.error_map is not None:
            self.assertTrue(np.allclose(ijk_to_ras(review.nodes["errorMap"]), ijk_to_ras(volume)))
        self.assertTrue(np.array_equal(volume_array(volume), before[0]))
        self.assertTrue(np.allclose(ijk_to_ras(volume), before[1]))
        self.assertEqual(segmentation.GetSegmentation().GetNumberOfSegments(), before[2])
        self.delayDisplay("Test passed")

    def test_correct_surrogate_export(self):
        import tempfile

        self.delayDisplay("Correcting and exporting")
        logic = SegmentationQCLogic()
        logic.ensureDependencies(askConfirmation=False)
        volume, segmentation, _ = self._example()
        review = logic.process(volume, segmentation)
        corrected, table, rebuilt = logic.correct(review)
        self.assertEqual(corrected.GetSegmentation().GetNumberOfSegments(), 3)
        self.assertGreater(table.GetNumberOfRows(), 0)
        surrogate = logic.showSurrogate(review)
        self.assertEqual(surrogate is None, review.result.surrogate is None)
        folder = tempfile.mkdtemp()
        for suffix in ("json", "csv", "html"):
            path = logic.export(review, os.path.join(folder, f"report.{suffix}"))
            self.assertGreater(os.path.getsize(path), 0)
        self.delayDisplay("Test passed")

    def test_widget_apply(self):
        self.delayDisplay("Running the panel")
        volume, segmentation, _ = self._example()
        slicer.util.selectModule("SegmentationQC")
        widget = slicer.modules.SegmentationQCWidget
        widget._parameterNode.inputVolume = volume
        widget._parameterNode.inputSegmentation = segmentation
        self.assertEqual(set(v for v in widget.currentMapping().values() if v), {"LV", "MYO", "RV"})
        widget.onApplyButton()
        while widget._task is not None:
            slicer.app.processEvents()
        self.assertIsNotNone(widget._review)
        self.assertIsNotNone(widget._parameterNode.slicesTable)
        widget.onSliceClicked(widget.ui.slicesTableView.model().index(2, 0))
        self.delayDisplay("Test passed")

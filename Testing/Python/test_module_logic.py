"""The module's logic and its in-Slicer tests, run on the slicer-core wheel.

SegmentationQC.py is imported with stand-ins for what only the Slicer application has (qt, the
scripted-module base classes, the parameter node wrapper, ``slicer.app``); ``slicer.mrmlScene``
is a headless scene and the bundled model pack is a random-weight one. The widget needs Qt and is
covered by the in-Slicer test ``test_widget_apply`` only.
"""
from __future__ import annotations

import importlib.util
import shutil
import sys
import types
import unittest
from pathlib import Path

import numpy as np
import pytest

MODULE = Path(__file__).resolve().parents[2] / "SegmentationQC" / "SegmentationQC.py"


class _Timer:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


class _App:
    @staticmethod
    def testingEnabled():
        return True

    @staticmethod
    def layoutManager():
        return None


def _stand_ins():
    qt = types.ModuleType("qt")
    qt.QTimer = _Timer
    scripted = types.ModuleType("slicer.ScriptedLoadableModule")

    class ScriptedLoadableModule:
        def __init__(self, parent):
            self.parent = parent

    class ScriptedLoadableModuleLogic:
        def __init__(self):
            pass

    class ScriptedLoadableModuleTest(unittest.TestCase):
        def delayDisplay(self, message, msec=None):
            pass

    scripted.ScriptedLoadableModule = ScriptedLoadableModule
    scripted.ScriptedLoadableModuleLogic = ScriptedLoadableModuleLogic
    scripted.ScriptedLoadableModuleWidget = type("ScriptedLoadableModuleWidget", (), {})
    scripted.ScriptedLoadableModuleTest = ScriptedLoadableModuleTest
    wrapper = types.ModuleType("slicer.parameterNodeWrapper")
    wrapper.parameterNodeWrapper = lambda cls: cls
    wrapper.Choice = wrapper.WithinRange = lambda *args: ("annotation", args)
    return {"qt": qt, "slicer.ScriptedLoadableModule": scripted, "slicer.parameterNodeWrapper": wrapper}


@pytest.fixture
def module(mrml, tiny_pack, tmp_path, monkeypatch):
    """SegmentationQC.py imported against stand-ins, with ``tiny_pack`` as the bundled default pack."""
    import slicer

    import SegmentationQCLib.pack as pack

    for name, stand_in in _stand_ins().items():
        monkeypatch.setitem(sys.modules, name, stand_in)
    monkeypatch.setattr(slicer, "mrmlScene", mrml.scene, raising=False)
    monkeypatch.setattr(slicer, "app", _App(), raising=False)
    monkeypatch.setattr(slicer.util, "resetSliceViews", lambda: None)
    shutil.copytree(tiny_pack, tmp_path / "packs" / pack.DEFAULT_PACK)
    monkeypatch.setattr(pack, "PACKS_DIR", tmp_path / "packs")
    spec = importlib.util.spec_from_file_location("SegmentationQC", MODULE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "PACKS_DIR", str(tmp_path / "packs"))
    return mod


def test_library_found_from_the_source_tree(module):
    assert Path(module.LIBRARY_ROOT) == MODULE.parents[1]
    assert module.bundledPacks() == ["acdc-cardiac"] and module.packClasses() == ["LV", "MYO", "RV"]


def test_dependencies_present_nothing_installed(module):
    module.SegmentationQCLogic().ensureDependencies(askConfirmation=False)
    assert module._missingRequirements(MODULE.parent / "Resources" / "requirements.txt") == []


def test_background_process_equals_process(module, sax_nodes):
    logic = module.SegmentationQCLogic()
    n = sax_nodes
    direct = logic.process(n["volume"], n["segmentation"], excludeEnds=1)
    task = logic.startProcess(n["volume"], n["segmentation"], excludeEnds=1)
    assert task.wait(120) and task.error is None
    review = logic.finishProcess(task)
    assert np.array_equal(review.result.slice_dice, direct.result.slice_dice)
    assert np.array_equal(review.result.flags, direct.result.flags) and not review.result.flags[[0, -1]].any()
    assert review.mapping == direct.mapping == logic.guessMapping(n["segmentation"])
    logic.showReview(review, 0.4)
    logic.jumpToSlice(review, 2)
    logic.setOverlayOpacity(0.7)


def test_methods_reach_the_engine(module, sax_nodes):
    from SegmentationQCLib.errors import InputError

    logic, n = module.SegmentationQCLogic(), sax_nodes
    review = logic.process(n["volume"], n["segmentation"], methods=["slice"])
    assert review.result.method == review.report()["method"] == "slice"
    assert logic.engine(methods="slice") is logic.engine(methods=[" slice "]) is not logic.engine()
    with pytest.raises(InputError, match="method manifold is not available with model pack tiny"):
        logic.process(n["volume"], n["segmentation"], methods=["manifold"])
    task = logic.startProcess(n["volume"], n["segmentation"], methods="manifold")  # the panel's string
    assert task.wait(120) and isinstance(task.error, InputError) and "available: slice" in str(task.error)


def test_precision_reaches_the_engine(module, sax_nodes, files, tmp_path):
    from SegmentationQCLib.errors import InputError

    logic, n = module.SegmentationQCLogic(), sax_nodes
    assert logic.process(n["volume"], n["segmentation"]).result.model["precision"] == "float32"
    task = logic.startProcess(n["volume"], n["segmentation"], precision="int8")  # the random test pack has no int8 form
    assert task.wait(120) and isinstance(task.error, InputError) and "no int8 weights" in str(task.error)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"case,image,segmentation\none,{files['image']},{files['damaged']}\n")
    with pytest.raises(InputError, match="no int8 weights"):
        logic.processFiles(manifest, tmp_path / "out", precision="int8")


def test_process_files_is_segqc_batch(module, files, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"case,image,segmentation\none,{files['image']},{files['damaged']}\n")
    assert module.SegmentationQCLogic().processFiles(manifest, tmp_path / "out") == 0
    assert (tmp_path / "out" / "results.csv").is_file() and (tmp_path / "out" / "cases" / "one.json").is_file()


@pytest.mark.parametrize("name", ["test_process_creates_aligned_outputs", "test_correct_surrogate_export"])
def test_in_slicer_tests(module, name):
    case = module.SegmentationQCTest(name)
    case.setUp()
    getattr(case, name)()

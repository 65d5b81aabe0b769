"""The Slicer module's files agree with each other (read as text; no Slicer, no Qt).

Every ``self.ui.<name>`` the module uses is a widget of the .ui file; every widget bound with
``SlicerParameterName`` names a field of the parameter node, through a widget that can show its
type; the code only uses parameter node fields that exist; the build files list existing files.
"""
from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "SegmentationQC" / "SegmentationQC.py"
UI = ROOT / "SegmentationQC" / "Resources" / "UI" / "SegmentationQC.ui"
WRAPPER_METHODS = {"connectGui", "disconnectGui", "isCached", "default", "dataType", "parameterNode",
                   "StartModify", "EndModify", "setValue", "getValue"}


def ui_widgets() -> dict:
    """{widget name: (class, SlicerParameterName or None, {property: text})}."""
    out = {}
    for w in ET.parse(UI).getroot().iter("widget"):
        props = {}
        for p in w.findall("property"):
            child = next(iter(p), None)
            props[p.get("name")] = ([s.text for s in child.findall("string")] if child is not None and child.tag == "stringlist"
                                    else (child.text if child is not None else None))
        out[w.get("name")] = (w.get("class"), props.get("SlicerParameterName"), props)
    return out


def module_tree() -> ast.Module:
    return ast.parse(MODULE.read_text())


def parameter_fields() -> dict:
    """{field: annotation source} of the class decorated with parameterNodeWrapper."""
    for node in ast.walk(module_tree()):
        if isinstance(node, ast.ClassDef) and any(getattr(d, "id", None) == "parameterNodeWrapper" for d in node.decorator_list):
            return {s.target.id: ast.unparse(s.annotation) for s in node.body if isinstance(s, ast.AnnAssign)}
    raise AssertionError("no @parameterNodeWrapper class in SegmentationQC.py")


def test_every_ui_reference_is_a_widget_of_the_ui_file():
    used = set(re.findall(r"self\.ui\.(\w+)", MODULE.read_text()))
    missing = used - set(ui_widgets())
    assert used and not missing, f"SegmentationQC.py uses widgets the .ui file lacks: {sorted(missing)}"


@pytest.mark.parametrize("name, widget", sorted((n, w) for n, w in ui_widgets().items() if w[1]))
def test_bound_widget_matches_its_parameter(name, widget):
    cls, parameter, props = widget
    fields = parameter_fields()
    assert parameter in fields, f"{name} is bound to {parameter!r}, which the parameter node lacks"
    annotation = fields[parameter]
    base = re.match(r"(?:Annotated\[)?(\w+)", annotation).group(1)
    bounded = "WithinRange" in annotation
    if base.startswith("vtkMRML"):
        assert cls == "qMRMLNodeComboBox" and props.get("nodeTypes") == [annotation]
    elif base == "bool":
        assert cls in ("QCheckBox", "QPushButton")
    elif base == "float":
        assert cls in ("ctkSliderWidget", "QDoubleSpinBox")
        assert cls != "ctkSliderWidget" or bounded, "a slider needs a bounded float"
    elif base == "int":
        assert cls in ("QSpinBox", "QSlider")
        assert cls != "QSlider" or bounded, "a slider needs a bounded int"
    elif base == "str":
        assert cls == ("QComboBox" if "Choice" in annotation else "QLineEdit"), "a combo box needs Choice"
    else:
        pytest.fail(f"no check for {annotation}")


def test_code_uses_only_parameter_node_fields():
    fields = set(parameter_fields())
    used = set()
    for node in ast.walk(module_tree()):
        if isinstance(node, ast.Attribute):
            owner = node.value
            if (isinstance(owner, ast.Attribute) and owner.attr == "_parameterNode") or \
                    (isinstance(owner, ast.Name) and owner.id == "p"):
                used.add(node.attr)
    unknown = used - fields - WRAPPER_METHODS
    assert not unknown, f"parameter node fields used but not declared: {sorted(unknown)}"
    source = MODULE.read_text()
    outputs = ast.literal_eval(re.search(r"OUTPUT_PARAMETERS = (\{.*?\})", source, re.S).group(1))
    assert set(outputs.values()) <= fields
    review = (ROOT / "SegmentationQCLib" / "review.py").read_text()  # read, not imported: it needs slicer
    keys = ast.literal_eval(re.search(r"^OUTPUT_KEYS = (\(.*?\))", review, re.S | re.M).group(1))
    assert set(outputs) == set(keys)


def test_ui_file_is_complete():
    widgets = ui_widgets()
    root = ET.parse(UI).getroot()
    assert root.find("widget").get("class") == "qMRMLWidget"
    declared = {c.findtext("class") for c in root.iter("customwidget")}
    custom = {cls for cls, _, _ in widgets.values() if cls.startswith(("q", "ctk"))}
    assert custom <= declared
    scene_fed = {c.findtext("receiver") for c in root.iter("connection") if c.findtext("slot") == "setMRMLScene(vtkMRMLScene*)"}
    mrml_widgets = {n for n, (cls, _, _) in widgets.items() if cls.startswith("qMRML") and cls != "qMRMLWidget"}
    assert mrml_widgets == scene_fed, "every MRML widget must get the scene from the top widget"


def test_build_files_list_existing_files():
    text = (ROOT / "SegmentationQC" / "CMakeLists.txt").read_text()
    listed = re.findall(r"^\s+((?:\$\{MODULE_NAME\}|Resources|Scripts)[\w/.${}]*)\s*$", text, re.M)
    assert listed
    for item in listed:
        assert (ROOT / "SegmentationQC" / item.replace("${MODULE_NAME}", "SegmentationQC")).is_file(), item
    top = (ROOT / "CMakeLists.txt").read_text()
    assert "add_subdirectory(SegmentationQC)" in top and 'set(EXTENSION_DEPENDS "PyTorch")' in top
    for var in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS"):
        assert f"set(EXTENSION_{var} " in top

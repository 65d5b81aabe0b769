"""Segment names and terminology -> structures (pure Python, no Slicer)."""
from __future__ import annotations

import pytest

from SegmentationQCLib.structures import guess_mapping, guess_structure, header_segments, terminology_string


@pytest.mark.parametrize("name, structure", [
    ("Left ventricle", "LV"), ("LV blood pool", "LV"), ("LV", "LV"), ("lv_cavity", "LV"), ("LeftVentricle", "LV"),
    ("Ventricle, left", "LV"), ("LV endocardium", "LV"),
    ("Myocardium", "MYO"), ("MYO", "MYO"), ("LV myocardium", "MYO"), ("Left ventricular myocardium", "MYO"),
    ("LVMyo", "MYO"), ("lv wall", "MYO"),
    ("Right ventricle", "RV"), ("RV blood pool", "RV"), ("right_ventricular_cavity", "RV"), ("RV", "RV"),
    ("Segment_1", "RV"), ("Label 2", "MYO"), ("3", "LV"),  # numbers follow ACDC label values
    ("RV myocardium", None), ("LV epicardium", None), ("Left atrium", None), ("RVOT", None),
    ("Myocardial scar", None), ("Liver", None), ("Heart", None), ("Segment_9", None),
])
def test_names(name, structure):
    assert guess_structure(name) == structure


def test_terminology_codes_and_meanings():
    assert guess_structure("Segment_5", terminology_string("MYO")) == "MYO"
    generic = "Segmentation category and type - 3D Slicer General Anatomy list~SCT^85756007^Tissue~SCT^85756007^Tissue~^^~~^^~^^"
    assert guess_structure("Right ventricle", generic) == "RV"  # a generic entry does not hide the name
    modifier = "ctx~SCT^123037004^Anatomical Structure~SCT^21814001^Ventricle~SCT^7771000^Left~~^^~^^"
    assert guess_structure("Segment_9", modifier) == "LV"


def test_mapping_first_match_wins_and_missing_is_none():
    segments = [("a", "LV cavity", ""), ("b", "Left ventricle", ""), ("c", "Myocardium", ""), ("d", "Aorta", "")]
    assert guess_mapping(segments, ["LV", "MYO", "RV"]) == {"LV": "a", "MYO": "c", "RV": None}


def test_header_segments_in_segment_order():
    meta = {"Segment10_LabelValue": "4", "Segment10_Name": "Scar", "Segment2_LabelValue": "3", "Segment2_Name": "RV",
            "Segment2_Terminology": terminology_string("RV"), "Segment0_LabelValue": "1", "Segment0_Name": "LV",
            "Segment1_Name": "no value", "NRRD_space": "left-posterior-superior"}
    assert header_segments(meta) == [(1, "LV", ""), (3, "RV", terminology_string("RV")), (4, "Scar", "")]
    assert header_segments({"NRRD_space": "left-posterior-superior"}) == []

"""The benchmark's case sources and summary tables (training/valcases.py, training/benchmark.py), on
made-up rows and an empty zoo: no ACDC data needed."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
import acdc  # noqa: E402
import benchmark  # noqa: E402
import valcases  # noqa: E402


@pytest.mark.parametrize("stem, source", [("u8_f0_it300", "zoo"), ("u4s_f1_it1000", "zoo"),
                                          ("dil_all_it400", "heldout"), ("fpn_all_it3000", "heldout2")])
def test_each_zoo_file_belongs_to_exactly_one_source(stem, source):
    assert [s for s in ("zoo", *valcases.UNSEEN) if valcases.from_source(s, stem)] == [source]


def test_pathology_groups_and_patients_from_case_names():
    assert [acdc.group(p) for p in (1, 20, 21, 60, 61, 100)] == ["DCM", "DCM", "HCM", "MINF", "NOR", "ARV"]
    assert acdc.patient_of("p093_ES|fpn_all_it500|clean") == 93


def _row(name, pred, true):
    return {"name": name, "pred_vol": np.array(pred), "true_vol": np.array(true)}


def test_group_and_band_tables_average_the_right_cases():
    rows = {"heldout2": [_row("p009_ED|x", [0.9, 0.8, 0.7], [0.95, 0.8, 0.6]),  # DCM
                         _row("p012_ES|x", [0.9, 0.8, 0.7], [0.85, 0.8, 0.9]),  # DCM
                         _row("p093_ES|x", [0.5, 0.8, 1.0], [0.4, 0.8, 1.0])]}  # ARV
    groups = benchmark.group_table(rows).splitlines()
    assert groups[2] == "| second unseen family (FPN) | 0.050 / 0.000 / 0.150 |  |  |  | 0.100 / 0.000 / 0.000 |"
    bands = benchmark.band_table(rows).splitlines()
    assert bands[0] == "| validation cases | structure | 0.0–0.5 | 0.5–0.7 | 0.7–0.8 | 0.8–0.9 | 0.9–1.0 |"
    assert bands[2] == "| second unseen family (FPN) | LV | 0.100 (1) |  |  | 0.050 (1) | 0.050 (1) |"
    assert bands[4] == "| second unseen family (FPN) | RV |  | 0.100 (1) |  |  | 0.100 (2) |"  # 1.0 is in the top band


def test_a_zoo_without_the_source_s_segmentations_gives_no_cases_and_no_speed_table(tmp_path):
    (tmp_path / "preds").mkdir()
    assert list(valcases.cases("heldout2", tmp_path)) == []
    assert benchmark.speed([], tmp_path) == (f"(no speed table: no training-family segmentation in {tmp_path}; "
                                             "training/README.md, step 1)")

"""The segqc command: report contract, batch resilience, one-line errors."""
import csv
import json
import os
import shutil

import numpy as np
import pytest

from SegmentationQCLib.cli import main
from conftest import slicer_file, write


def test_check_writes_a_v1_report(files, random_pack, capsys):
    out = files["dir"] / "r.json"
    assert main(["check", str(files["image"]), str(files["damaged"]), "-o", str(out), "--pack", str(random_pack)]) == 0
    rep = json.loads(out.read_text())
    assert rep["schema"] == "segmentationqc/report/v1" and rep["classes"] == ["LV", "MYO", "RV"]
    assert rep["slice_axis_spacing_mm"] == pytest.approx(8.0)
    assert [s["index"] for s in rep["slices"]] == list(range(10))
    assert all(set(s["dice"]) == {"LV", "MYO", "RV"} and isinstance(s["flag"], bool) for s in rep["slices"])
    assert set(rep["volume"]["LV"]) >= {"dice", "low", "high"} and rep["verdict"] in ("pass", "review", "fail")
    assert "total" in rep["timings_ms"]
    assert "damaged" in capsys.readouterr().err  # the one-line summary


def test_check_writes_the_error_map_on_the_image_grid(files, tiny_pack_with_error_map):
    import SimpleITK as sitk

    out = files["dir"] / "e.nii.gz"
    assert main(["check", str(files["image"]), str(files["damaged"]), "-o", str(files["dir"] / "r.json"),
                 "--pack", str(tiny_pack_with_error_map), "--error-map", str(out)]) == 0
    emap, image = sitk.ReadImage(str(out)), sitk.ReadImage(str(files["image"]))
    assert emap.GetSize() == image.GetSize() and emap.GetSpacing() == pytest.approx(image.GetSpacing())
    assert emap.GetPixelID() == sitk.sitkFloat32
    values = sitk.GetArrayFromImage(emap)
    assert values.min() >= 0 and values.max() <= 1 and values.max() > 0


def test_check_prints_json_without_output(files, random_pack, capsys):
    assert main(["check", str(files["image"]), str(files["truth"]), "--pack", str(random_pack)]) == 0
    assert json.loads(capsys.readouterr().out)["case"] == "truth"


def test_other_label_convention(files, random_pack, capsys):
    truth = np.asarray(__import__("SimpleITK").GetArrayFromImage(__import__("SimpleITK").ReadImage(str(files["truth"]))))
    mmwm = np.choose(truth, [0, 3, 2, 1]).astype(np.uint8)  # LV=1, MYO=2, RV=3 (M&Ms)
    other = write(mmwm, files["dir"] / "mm.nii.gz", (1.4, 1.4, 8.0))
    main(["check", str(files["image"]), str(files["truth"]), "--pack", str(random_pack)])
    a = json.loads(capsys.readouterr().out)
    main(["check", str(files["image"]), str(other), "--labels", "LV=1,MYO=2,RV=3", "--pack", str(random_pack)])
    b = json.loads(capsys.readouterr().out)
    assert a["volume"] == b["volume"]


@pytest.mark.parametrize("args, message", [
    (["check", "missing.nii.gz", "missing.nii.gz"], "image file not found"),
    (["check", "{image}", "{truth}", "--labels", "LV3"], "NAME=VALUE"),
    (["check", "{image}", "{truth}", "--labels", "LV=3,MYO=2"], "no value for RV"),
    (["check", "{image}", "{truth}", "-o", "{truth}"], "is one of the inputs"),
    (["check", "{image}", "{truth}", "--pack", "nowhere"], "no model pack"),
    (["check", "{image}", "{truth}", "--methods", "slice,magic"], "method magic is not available"),
    (["check", "{image}", "{truth}", "--error-map", "{dir}/e.nii.gz"], "no error-map model"),
    (["check", "{image}", "{truth}", "--surrogate", "{dir}/s.nii.gz"], "no manifold model"),
    (["check", "{image}", "{truth}", "--labels", "LV=0,MYO=2,RV=1"], "0 is the background"),
    (["check", "{image}", "{truth}", "-o", "{dir}"], "is a folder; give a file name"),
    (["check", "{image}", "{truth}", "-o", "{truth}/r.json"], "truth.nii.gz is a file, not a folder"),
    (["check", "{image}", "{truth}", "--error-map", "{dir}/e.txt"], "SimpleITK writes no image format"),
    (["correct", "{image}", "{truth}", "-o", "{dir}/fixed"], "SimpleITK writes no image format"),
    (["ef", "{image}", "{truth}", "{image}", "{truth}", "-o", "{dir}"], "is a folder; give a file name"),
    (["batch", "{dir}/m.csv", "-o", "{image}"], "is a file; give a folder"),
    (["batch", "{image}", "-o", "{dir}/o"], "is not a text (UTF-8) CSV file"),
    (["batch", "{dir}", "-o", "{dir}/o"], "is a folder; give a CSV file"),
])
def test_bad_input_is_one_line_and_exit_2(files, random_pack, capsys, args, message):
    args = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    if "--pack" not in args:
        args += ["--pack", str(random_pack)]
    before = files["truth"].read_bytes()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("segqc: error:") and message in err and "\n" not in err
    assert files["truth"].read_bytes() == before  # nothing the user gave is touched


def test_batch_survives_bad_cases(files, random_pack, capsys):
    d = files["dir"]
    shutil.copy(files["image"], d / "sub_image.nii.gz")
    manifest = d / "m.csv"
    manifest.write_text("case,image,segmentation,reference,site\n"
                        f"good,{files['image']},{files['damaged']},{files['truth']},A\n"
                        "missing,nope.nii.gz,nope.nii.gz,,B\n"
                        f"rel,sub_image.nii.gz,{files['truth'].name},,C\n")
    out = d / "out"
    assert main(["batch", str(manifest), "-o", str(out), "--pack", str(random_pack)]) == 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["case"] for r in rows] == ["good", "rel", "missing"]  # rel shares good's truth file: checked next
    assert [r["status"] for r in rows] == ["ok", "ok", "error"]
    assert "not found" in rows[2]["message"]
    assert float(rows[0]["true_dice_LV"]) < 1.0 and rows[1]["true_dice_LV"] == ""
    for c in ("LV", "MYO", "RV"):
        assert 0 <= float(rows[0][f"dice_{c}"]) <= 1
    rep = json.loads((out / "cases" / "good.json").read_text())
    assert rep["reference"]["dice"]["LV"] == pytest.approx(float(rows[0]["true_dice_LV"]), abs=1e-4)
    assert not (out / "cases" / "missing.json").exists()
    assert "1 error" in capsys.readouterr().err


def test_batch_resumes_keeping_what_the_previous_run_scored(files, random_pack, capsys, monkeypatch):
    from SegmentationQCLib.qc import QCEngine

    d, pack = files["dir"], ["--pack", str(random_pack)]
    manifest = d / "m.csv"
    manifest.write_text("case,image,segmentation,reference\n"
                        f"good,{files['image']},{files['damaged']},{files['truth']}\n"
                        f"perfect,{files['image']},{files['truth']},\n"
                        "missing,nope.nii.gz,nope.nii.gz,\n")
    checked, check = [], QCEngine.check
    monkeypatch.setattr(QCEngine, "check", lambda self, case, **kw: checked.append(case.name) or check(self, case, **kw))

    def batch(*extra):
        checked.clear()
        assert main(["batch", str(manifest), "-o", str(d / "out"), *pack, *extra]) == 0
        return list(csv.DictReader(open(d / "out" / "results.csv"))), capsys.readouterr().err

    first, _ = batch()
    assert [r["status"] for r in first] == ["ok", "ok", "error"]
    before = (d / "out" / "results.csv").read_bytes()
    assert main(["batch", str(manifest), "-o", str(d / "out"), *pack]) == 2  # a second run would replace results.csv
    assert "already holds a batch's results.csv; give --resume" in capsys.readouterr().err
    assert (d / "out" / "results.csv").read_bytes() == before
    again, err = batch("--resume")
    assert checked == [] and "kept 2 of 3 cases" in err  # the error is tried again
    assert [r["case"] for r in again] == ["good", "perfect", "missing"]
    assert again[:2] == first[:2]
    os.utime(files["damaged"], ns=(0, 0))  # an input changed: that case alone is scored again
    _, err = batch("--resume")
    assert checked == ["good"] and "kept 1 of 3 cases" in err
    _, err = batch("--resume", "--exclude-ends", "1")
    assert checked == ["good", "perfect"] and "other settings (exclude_ends 0 -> 1)" in err
    (d / "out" / "cases" / "perfect.json").unlink()  # its report is gone: scored again
    rows, _ = batch("--resume", "--exclude-ends", "1")
    assert checked == ["perfect"] and rows[0]["case"] == "good"
    lines = (d / "out" / "results.csv").read_text().splitlines()
    (d / "out" / "results.csv").write_text("\n".join([lines[0], lines[1][:20]]))  # a run stopped writing good's row
    batch("--resume", "--exclude-ends", "1")
    assert checked == ["good", "perfect"]  # perfect: not in the cut results.csv
    assert main(["batch", str(manifest), "-o", str(d / "new"), *pack, "--resume"]) == 0
    assert "nothing to resume" in capsys.readouterr().err


def test_batch_progress_says_the_time_left_at_the_pace_so_far():
    from SegmentationQCLib.batch import _time_left

    assert _time_left(5, 5, 100) == ""  # no pace yet
    assert _time_left(20, 10, 100) == "  (about 3 min 00 s left)"
    assert _time_left(100, 10, 10_000) == "  (about 27 h 45 min left)"
    assert _time_left(70, 5, 100) == "  (about 22 min 10 s left)"  # a minute gone: five cases make a pace
    assert _time_left(10, 10, 10) == ""  # done


def test_batch_reads_each_file_with_its_own_labels(files, random_pack, stack):
    """A Slicer segmentation file as reference (LV 1, RV 3) scores like the ACDC-coded one."""
    d, (_, truth, spacing) = files["dir"], stack
    named = slicer_file(np.array([0, 3, 2, 1])[truth], d / "truth.seg.nrrd", [("LV", 1), ("Myocardium", 2), ("RV", 3)],
                        tuple(reversed(spacing)))
    manifest = d / "m.csv"
    manifest.write_text("case,image,segmentation,reference\n"
                        f"acdc,{files['image']},{files['damaged']},{files['truth']}\n"
                        f"slicer,{files['image']},{files['damaged']},{named}\n")
    assert main(["batch", str(manifest), "-o", str(d / "out"), "--pack", str(random_pack)]) == 0
    acdc, slicer = csv.DictReader(open(d / "out" / "results.csv"))
    for c in ("LV", "MYO", "RV"):
        assert float(acdc[f"true_dice_{c}"]) < 1 and acdc[f"true_dice_{c}"] == slicer[f"true_dice_{c}"]


def test_batch_manifest_without_columns(files, random_pack, capsys):
    m = files["dir"] / "bad.csv"
    for text, message in [("name,img\nx,y\n", "needs the columns case,image,segmentation"),
                          ("case,image,segmentation\n", "lists no cases"), ("", "is empty"), ("\n\n", "is empty"),
                          ("case,image,segmentation\na/b,i,s\nA_b,i,s\n", "the case names 'a/b', 'A_b' give one file name")]:
        m.write_text(text)
        assert main(["batch", str(m), "-o", str(files["dir"] / "o"), "--pack", str(random_pack)]) == 2
        assert message in capsys.readouterr().err


def test_batch_reads_spreadsheet_csv_and_reports_rows_missing_cells(files, random_pack):
    """A byte-order mark and semicolons, as spreadsheets save CSV, blank lines above the header; a row
    without a case name or a file."""
    m = files["dir"] / "sheet.csv"
    m.write_bytes("\ufeff\n \ncase;image;segmentation\n"
                  f"a;{files['image']};{files['damaged']}\n"
                  f";{files['image']};{files['truth']}\n"
                  f"c;{files['image']};\n".encode("utf-8"))
    out = files["dir"] / "out"
    assert main(["batch", str(m), "-o", str(out), "--pack", str(random_pack)]) == 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [(r["case"], r["status"]) for r in rows] == [("a", "ok"), ("row2", "ok"), ("c", "error")]
    assert rows[2]["message"] == "the manifest row gives no segmentation"


def test_usage_errors_are_one_line_and_exit_2(files, capsys):
    for args in (["check", str(files["image"]), str(files["truth"]), "--frame", "-1"],
                 ["check", str(files["image"]), str(files["truth"]), "--exclude-ends", "x"],
                 ["check", str(files["image"])]):
        with pytest.raises(SystemExit) as e:
            main(args)
        err = capsys.readouterr().err.strip()
        assert e.value.code == 2 and err.startswith("segqc check: error:") and "\n" not in err
    assert main([]) == 2 and "usage: segqc" in capsys.readouterr().out  # no command: the help
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("segqc 0.")


def test_cuda_asked_for_where_there_is_none(files, random_pack, capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert main(["check", str(files["image"]), str(files["truth"]), "--device", "cuda", "--pack", str(random_pack)]) == 2
    assert "this machine's torch sees no CUDA GPU" in capsys.readouterr().err


def test_correct_writes_a_new_file_and_a_correction_section(files, random_pack, capsys):
    out, rep = files["dir"] / "fixed.nii.gz", files["dir"] / "fixed.json"
    before = files["damaged"].read_bytes()
    assert main(["correct", str(files["image"]), str(files["damaged"]), "-o", str(out), "--report", str(rep),
                 "--pack", str(random_pack)]) == 0
    assert files["damaged"].read_bytes() == before and out.exists()
    section = json.loads(rep.read_text())["correction"]
    assert {"slices_rebuilt", "slices_not_rebuilt", "slices_kept", "slices_put_back"} <= set(section)
    assert set(section["measurements"]) == {"LV_volume", "LV_mass", "RV_volume"}
    assert all(set(m) == {"measured", "corrected", "neighbour_mean", "unit"} for m in section["measurements"].values())
    assert main(["correct", str(files["image"]), str(files["damaged"]), "-o", str(files["damaged"]),
                 "--pack", str(random_pack)]) == 2


def test_ejection_fraction_from_ed_and_es(files, random_pack, capsys):
    import SimpleITK as sitk

    from SegmentationQCLib.metrics import volume_ml

    assert main(["ef", str(files["image"]), str(files["truth"]), str(files["image"]), str(files["damaged"]),
                 "--pack", str(random_pack)]) == 0
    out = json.loads(capsys.readouterr().out)
    ed = sitk.GetArrayFromImage(sitk.ReadImage(str(files["truth"])))
    es = sitk.GetArrayFromImage(sitk.ReadImage(str(files["damaged"])))
    edv, esv = volume_ml(ed, 3, (8.0, 1.4, 1.4)), volume_ml(es, 3, (8.0, 1.4, 1.4))
    assert out["ED"]["LV_volume"]["measured"] == pytest.approx(edv)
    assert out["function"]["LV_ejection_fraction"]["measured"] == pytest.approx(100 * (edv - esv) / edv)
    # each phase's check: its verdict and Dice, and its warnings named by phase
    assert out["quality"]["ED"]["verdict"] in ("pass", "review", "fail") and set(out["quality"]["ES"]["dice"]) == \
        {"LV", "MYO", "RV"}
    assert out["warnings"] == []
    unmapped = files["dir"] / "lv7.nii.gz"
    sitk.WriteImage(sitk.ChangeLabel(sitk.ReadImage(str(files["truth"])), {3: 7}), str(unmapped))
    assert main(["ef", str(files["image"]), str(files["truth"]), str(files["image"]), str(unmapped),
                 "--pack", str(random_pack)]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["warnings"][0] == "ES: lv7.nii.gz: label values [7] are not mapped to a structure and are ignored (see --labels)"
    assert f"ES lv7: {out['quality']['ES']['verdict'].upper()}" in captured.err
    assert main(["ef", str(files["image"]), str(files["truth"]), str(files["image"]), str(files["truth"]),
                 "--pack", str(random_pack)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["warnings"] == ["ED and ES are the same image, segmentation and frame: the stroke "
                                                    "volume is 0"]
    assert "warning: ED and ES are the same image" in captured.err


def _cine(files, stack):
    """A 2-frame cine pair: the image twice, the segmentation as the truth then damaged (test_case
    checks that the image's frames are told apart)."""
    import SimpleITK as sitk

    image, truth, spacing = stack
    damaged = sitk.GetArrayFromImage(sitk.ReadImage(str(files["damaged"])))
    out = {}
    for name, frames in (("image", (image, image)), ("seg", (truth, damaged))):
        four = sitk.JoinSeries([sitk.GetImageFromArray(f) for f in frames])
        four.SetSpacing(tuple(reversed(spacing)) + (1.0,))
        out[name] = files["dir"] / f"cine_{name}.nii.gz"
        sitk.WriteImage(four, str(out[name]))
    return out


def test_check_and_batch_take_one_frame_of_a_cine_series(files, stack, random_pack, capsys, monkeypatch):
    from SegmentationQCLib import files as files_module

    cine, pack = _cine(files, stack), ["--pack", str(random_pack)]
    assert main(["check", str(cine["image"]), str(cine["seg"]), *pack]) == 2
    assert "4D with 2 frames: choose the frame to check, 0 to 1 (--frame N" in capsys.readouterr().err
    assert main(["check", str(cine["image"]), str(cine["seg"]), "--frame", "0", *pack]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["warnings"] == ["image: frame 0 of the 2 frames of cine_image.nii.gz",
                               "segmentation: frame 0 of the 2 frames of cine_seg.nii.gz"]
    assert main(["check", str(files["image"]), str(files["truth"]), *pack]) == 0
    assert json.loads(capsys.readouterr().out)["volume"] == rep["volume"]  # frame 0 is the truth on the image
    manifest = files["dir"] / "m.csv"
    manifest.write_text("case,image,segmentation,reference,frame\n"
                        f"ed,{cine['image']},{cine['seg']},{cine['seg']},0\n"
                        f"plain,{files['image']},{files['damaged']},{files['truth']},\n"
                        f"es,{cine['image']},{cine['seg']},{cine['seg']},1\n"
                        f"odd,{cine['image']},{cine['seg']},,one\n")
    reads, read = [], files_module._read_one
    monkeypatch.setattr(files_module, "_read_one", lambda path, *a: reads.append(path.name) or read(path, *a))
    assert main(["batch", str(manifest), "-o", str(files["dir"] / "out"), *pack]) == 0
    names = ["cine_image.nii.gz", "cine_seg.nii.gz", *(files[k].name for k in ("image", "damaged", "truth"))]
    assert reads == names  # the cine files read once for their three rows, though not next to each other
    ed, es, odd, plain = csv.DictReader(open(files["dir"] / "out" / "results.csv"))  # the cine's rows together
    assert (ed["status"], es["status"], odd["status"], plain["status"]) == ("ok", "ok", "error", "ok")
    assert all(ed[f"true_dice_{c}"] == "1.0" for c in ("LV", "MYO", "RV"))
    assert "the frame column holds 'one'" in odd["message"]
    assert all(es[f"true_dice_{c}"] == "1.0" for c in ("LV", "MYO", "RV"))  # frame 1 against itself
    assert all(es[f"dice_{c}"] == plain[f"dice_{c}"] for c in ("LV", "MYO", "RV"))  # the damaged frame


def test_ejection_fraction_from_two_frames_of_a_cine_series(files, stack, random_pack, capsys, monkeypatch):
    from SegmentationQCLib import files as files_module

    cine, pack = _cine(files, stack), ["--pack", str(random_pack)]

    reads, read = [], files_module._read_one
    monkeypatch.setattr(files_module, "_read_one", lambda path, *a: reads.append(path.name) or read(path, *a))
    assert main(["ef", str(files["image"]), str(files["truth"]), str(files["image"]), str(files["damaged"]), *pack]) == 0
    apart = json.loads(capsys.readouterr().out)
    assert main(["ef", *[str(cine[k]) for k in ("image", "seg", "image", "seg")], "--ed-frame", "0", "--es-frame", "1",
                 *pack]) == 0
    together = json.loads(capsys.readouterr().out)
    assert together["ED"]["LV_volume"] == apart["ED"]["LV_volume"]
    assert together["function"]["LV_ejection_fraction"]["measured"] == apart["function"]["LV_ejection_fraction"]["measured"]
    reads.clear()
    assert main(["ef", str(cine["image"]), str(cine["seg"]), *pack]) == 0  # one cine pair: ED and ES found
    found = json.loads(capsys.readouterr().out)
    assert reads == ["cine_seg.nii.gz", "cine_image.nii.gz"]  # each file read once for the phases, ED and ES
    lv = [float(apart[p]["LV_volume"]["measured"]) for p in ("ED", "ES")]  # frame 0 (truth), frame 1 (damaged)
    ed, es = int(np.argmax(lv)), int(np.argmin(lv))
    assert (found["frames"]["ED"], found["frames"]["ES"]) == (ed, es)
    assert found["ED"] == (apart["ED"] if ed == 0 else apart["ES"])
    assert main(["ef", str(cine["image"]), str(cine["seg"]), str(files["image"]), *pack]) == 2
    assert "together, or neither" in capsys.readouterr().err
    assert main(["ef", str(files["image"]), str(files["truth"]), *pack]) == 2
    assert "not a cine (4D) segmentation, so it holds no ED and ES to find: give the ES image" in capsys.readouterr().err
    assert main(["ef", str(files["image"]), str(files["truth"]), "--ed-frame", "0", *pack]) == 2  # frames don't help
    assert "give the ES image and segmentation too" in capsys.readouterr().err
    os.mkdir(files["dir"] / "dicom_seg")  # a series in a folder: its frames must be named
    assert main(["ef", str(files["image"]), str(files["dir"] / "dicom_seg"), *pack]) == 2
    assert "for the cine series in dicom_seg give --ed-frame and --es-frame" in capsys.readouterr().err


def test_cine_phases_are_the_labelled_frames_with_the_largest_and_smallest_lv(tmp_path, stack):
    import SimpleITK as sitk

    from SegmentationQCLib.case import cine_phases
    from SegmentationQCLib.errors import InputError

    truth = stack[1]
    smaller = np.where((truth == 3) & (np.arange(len(truth)) == 5)[:, None, None], 2, truth)  # LV -> MYO on one slice
    empty = np.zeros_like(truth)
    frames = [empty, smaller, empty, truth, empty]
    sitk.WriteImage(sitk.JoinSeries([sitk.GetImageFromArray(f) for f in frames]), str(tmp_path / "s.nii.gz"))
    assert cine_phases(tmp_path / "s.nii.gz") == (3, 1)
    assert cine_phases(tmp_path / "s.nii.gz", structure="MYO") == (1, 3)  # the structure asked for: more MYO on frame 1
    assert cine_phases(tmp_path / "s.nii.gz", {"LV": 2, "MYO": 3, "RV": 1}) == (1, 3)  # LV read as label 2
    assert cine_phases(tmp_path / "s.nii.gz", "LV=2,MYO=3,RV=1") == (1, 3)  # as --labels writes it
    sitk.WriteImage(sitk.JoinSeries([sitk.GetImageFromArray(f) for f in frames[2:4]]), str(tmp_path / "one.nii.gz"))
    with pytest.raises(InputError, match="labels 1 of its 2 frames"):
        cine_phases(tmp_path / "one.nii.gz")
    (tmp_path / "bad.nii.gz").write_bytes(b"not an image")
    with pytest.raises(InputError, match="cannot read segmentation bad.nii.gz"):
        cine_phases(tmp_path / "bad.nii.gz")


def test_demo_writes_its_case_report_and_figure_and_never_a_users_file(tmp_path, random_pack, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--pack", str(random_pack)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(["image.nii.gz", "segmentation.nii.gz", "truth.nii.gz",
                                                           "report.json", "slice_dice.png"])
    assert json.loads((out / "report.json").read_text())["case"] == "demo" and "figure:" in capsys.readouterr().out
    assert main(["demo", "-o", str(out), "--pack", str(random_pack)]) == 0  # again over its own files
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "image.nii.gz").write_bytes(b"a user's image")
    assert main(["demo", "-o", str(mine), "--pack", str(random_pack)]) == 2
    assert "already holds image.nii.gz" in capsys.readouterr().err
    assert (mine / "image.nii.gz").read_bytes() == b"a user's image"
    assert main(["demo", "-o", str(mine / "image.nii.gz"), "--pack", str(random_pack)]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err
    assert main(["demo", "-o", str(tmp_path / "new"), "--pack", str(random_pack), "--methods", "magic"]) == 2
    assert not (tmp_path / "new").exists()  # a wrong option leaves nothing behind

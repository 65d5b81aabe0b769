"""Fixtures: every test makes its own data (phantoms, perturbed masks); no ACDC here."""
from __future__ import annotations

import locale

import numpy as np
import pytest
import SimpleITK as sitk

from SegmentationQCLib.phantom import damage_for_demo, short_axis_stack


def write(array, path, spacing_xyz=(1.4, 1.4, 8.0), origin=(0.0, 0.0, 0.0), direction=None):
    img = sitk.GetImageFromArray(array)
    img.SetSpacing(spacing_xyz)
    img.SetOrigin(origin)
    if direction is not None:
        img.SetDirection(direction)
    sitk.WriteImage(img, str(path))
    return path


def slicer_file(labels, path, segments, spacing_xyz=(1.4, 1.4, 8.0), layers=1):
    """A segmentation file as Slicer writes it (.seg.nrrd): segment names and values in the header;
    ``layers`` > 1 stacks copies as the layers of overlapping segments."""
    img = sitk.GetImageFromArray(labels.astype(np.uint8))
    if layers > 1:
        img = sitk.Compose([img] * layers)
    img.SetSpacing(spacing_xyz)
    for k, (name, value) in enumerate(segments):
        for key, v in (("ID", f"Segment_{k + 1}"), ("Name", name), ("LabelValue", str(value)), ("Layer", "0")):
            img.SetMetaData(f"Segment{k}_{key}", v)
    sitk.WriteImage(img, str(path))
    return path



def dicom_series(array, folder, spacing_xyz=(1.4, 1.4, 8.0), frames=1, modality="MR"):
    """One DICOM file per slice (and per frame: a cine series repeats the slice positions; a 4D
    ``array`` gives each frame its own volume), numbered slice by slice with each slice's frames in
    turn, each with its trigger time and ``modality``. GDCM's writer sets the C locale (Python's default encoding
    becomes ASCII): it is put back."""
    saved = locale.setlocale(locale.LC_ALL)
    folder.mkdir()
    volumes = list(array) if np.ndim(array) == 4 else [array] * frames
    n = 0
    for k in range(len(volumes[0])):
        for t, volume in enumerate(volumes):
            sl = sitk.GetImageFromArray(volume[k].astype(np.int16))
            for tag, v in (("0008|0060", modality), ("0020|000e", "1.2.826.0.1.3680043.2.1125.1"),
                           ("0020|0037", "1\\0\\0\\0\\1\\0"), ("0020|0032", f"0\\0\\{k * spacing_xyz[2]}"),
                           ("0020|0013", str(n)), ("0018|1060", str(40 * t)), ("0018|0050", str(spacing_xyz[2]))):
                sl.SetMetaData(tag, v)
            sl.SetSpacing(spacing_xyz[:2])
            writer = sitk.ImageFileWriter()
            writer.KeepOriginalImageUIDOn()
            writer.SetFileName(str(folder / f"{n:03d}.dcm"))
            writer.Execute(sl)
            n += 1
    locale.setlocale(locale.LC_ALL, saved)
    return folder

@pytest.fixture(scope="session")
def stack():
    return short_axis_stack(seed=1)


@pytest.fixture
def files(tmp_path, stack):
    image, truth, spacing = stack
    damaged, where = damage_for_demo(truth)
    xyz = tuple(reversed(spacing))
    return {"image": write(image, tmp_path / "image.nii.gz", xyz),
            "truth": write(truth, tmp_path / "truth.nii.gz", xyz),
            "damaged": write(damaged, tmp_path / "damaged.nii.gz", xyz),
            "where": where, "dir": tmp_path}


@pytest.fixture(scope="session")
def random_pack(tmp_path_factory):
    """A pack with untrained weights: for tests of mechanics, not of accuracy."""
    import json

    import torch

    from SegmentationQCLib.pack import sha256
    from SegmentationQCLib.slicenet import SliceQCNet

    p = tmp_path_factory.mktemp("pack")
    torch.manual_seed(0)
    torch.save(SliceQCNet(width=8).state_dict(), p / "slice_qc.pt")
    card = {"name": "random", "version": "0", "classes": ["LV", "MYO", "RV"],
            "label_values": {"LV": 3, "MYO": 2, "RV": 1},
            "preprocessing": {"pixel_mm": 1.5, "roi_size": 128, "upper_percentile": 99.0},
            "models": {"slice": {"file": "slice_qc.pt", "sha256": sha256(p / "slice_qc.pt"), "arch": {"width": 8}}},
            "thresholds": {"fail": 0.7, "review": 0.8, "slice_flag": {"LV": 0.7, "MYO": 0.7, "RV": 0.7}}}
    (p / "card.json").write_text(json.dumps(card))
    return p


# --- Slicer module and MRML bridge (slicer-core wheel) -------------------------------------

SLICE_FLAG = 0.7


def make_tiny_pack(folder, error_map: bool = False):
    """A model pack with random weights (tests never rely on a trained pack's accuracy)."""
    import hashlib
    import json

    import torch

    from SegmentationQCLib.errornet import ErrorNet
    from SegmentationQCLib.slicenet import SliceQCNet

    torch.manual_seed(0)
    nets = {"slice": ("slice_qc.pt", SliceQCNet(width=16), {"width": 16})}
    if error_map:
        nets["errormap"] = ("error_map.pt", ErrorNet(base=4), {"base": 4})
    models = {}
    for key, (file, net, arch) in nets.items():
        torch.save(net.state_dict(), folder / file)
        models[key] = {"file": file, "sha256": hashlib.sha256((folder / file).read_bytes()).hexdigest(), "arch": arch}
    card = {"name": "tiny", "version": "0", "classes": ["LV", "MYO", "RV"],
            "label_values": {"LV": 3, "MYO": 2, "RV": 1},
            "preprocessing": {"pixel_mm": 1.5, "roi_size": 128, "upper_percentile": 99.0}, "models": models,
            "thresholds": {"fail": 0.7, "review": 0.8, "slice_flag": {c: SLICE_FLAG for c in ("LV", "MYO", "RV")}}}
    (folder / "card.json").write_text(json.dumps(card, indent=1))
    return folder


@pytest.fixture(scope="session")
def tiny_pack(tmp_path_factory):
    return make_tiny_pack(tmp_path_factory.mktemp("tiny-pack"))


@pytest.fixture(scope="session")
def tiny_pack_with_error_map(tmp_path_factory):
    return make_tiny_pack(tmp_path_factory.mktemp("tiny-pack-errormap"), error_map=True)


@pytest.fixture(scope="session")
def tiny_engine(tiny_pack):
    from SegmentationQCLib.qc import QCEngine

    return QCEngine(str(tiny_pack), "cpu")


@pytest.fixture
def mrml():
    """A Slicer scene without the application (slicer-core wheel, Python >= 3.10)."""
    import importlib
    import sys

    if sys.version_info < (3, 10):
        pytest.importorskip("slicer")
    importlib.import_module("slicer")
    from SegmentationQCLib.mrml_scene import headless_scene

    return headless_scene()


def oblique_matrix(spacing_kji, angle=0.5, origin=(10.0, -20.0, 30.0)):
    """An IJK-to-RAS matrix that is oblique (rotated about two axes) and flips two axes."""
    a, b = np.cos(angle), np.sin(angle)
    rz = np.array([[a, -b, 0], [b, a, 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(0.3), -np.sin(0.3)], [0, np.sin(0.3), np.cos(0.3)]])
    m = np.eye(4)
    m[:3, :3] = rz @ rx @ np.diag([-spacing_kji[2], spacing_kji[1], -spacing_kji[0]])
    m[:3, 3] = origin
    return m


@pytest.fixture
def sax_nodes(mrml):
    """A damaged short-axis stack as volume + segmentation nodes on an oblique, flipped grid with
    the slices along J, segments named the clinical way. A dict of the nodes, the (K, J, I)
    arrays ("image", "labels", "truth") and the (S, H, W) ones ("image_shw", "labels_shw")."""
    import slicer

    from SegmentationQCLib.mrml_bridge import remove_node, volume_from_array

    image_shw, truth_shw, (s, h, w) = short_axis_stack(n_slices=6, size=96, seed=4)
    labels_shw, where = damage_for_demo(truth_shw)
    image, labels, truth = (np.ascontiguousarray(np.transpose(a, (1, 0, 2))) for a in (image_shw, labels_shw, truth_shw))
    spacing = (h, s, w)  # K, J, I
    m = oblique_matrix(spacing)
    volume = volume_from_array(mrml.scene, image, m, "cine")
    labelmap = volume_from_array(mrml.scene, labels, m, "labels", "vtkMRMLLabelMapVolumeNode")
    segmentation = mrml.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "seg")
    assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmap, segmentation)
    remove_node(mrml.scene, labelmap)
    names = {"Label_3": "Left ventricle", "Label_2": "Myocardium", "Label_1": "RV blood pool"}
    for i in range(segmentation.GetSegmentation().GetNumberOfSegments()):
        segment = segmentation.GetSegmentation().GetNthSegment(i)
        segment.SetName(names[segment.GetName()])
    return {"scene": mrml.scene, "app": mrml.app, "volume": volume, "segmentation": segmentation,
            "image": image, "labels": labels, "truth": truth, "image_shw": image_shw, "labels_shw": labels_shw,
            "spacing": spacing, "matrix": m, "damaged": where}

"""A Slicer scene without the Slicer application, for the MRML bridge outside Slicer.

Inside Slicer use ``slicer.mrmlScene``. Elsewhere (tests, scripts, the ``slicer-core`` wheel)
``headless_scene`` builds a scene whose application logic has the Colors, Volumes,
Segmentations, Tables and Plots logics registered: what the bridge and slice rendering need.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field

import slicer

_LOGICS = (("Segmentations", "vtkSlicerSegmentationsModuleLogic"), ("Volumes", "vtkSlicerVolumesLogic"),
           ("Tables", "vtkSlicerTablesLogic"), ("Plots", "vtkSlicerPlotsLogic"))


@dataclass
class HeadlessScene:
    """The scene and the logics that must stay alive with it (the application logic and the scene
    hold them weakly)."""

    scene: object
    app: object
    logics: dict = field(default_factory=dict)


def headless_scene(cache_dir: str | None = None) -> HeadlessScene:
    """A new scene; ``cache_dir`` (default: a new temporary folder) is where scene bundles
    (.mrb) are unpacked when read."""
    scene = slicer.vtkMRMLScene()
    cache = slicer.vtkCacheManager()
    cache.SetRemoteCacheDirectory(cache_dir or tempfile.mkdtemp(prefix="segqc-mrml-"))
    io = slicer.vtkDataIOManager()
    io.SetCacheManager(cache)
    scene.SetCacheManager(cache)
    scene.SetDataIOManager(io)
    app = slicer.vtkSlicerApplicationLogic()
    app.SetMRMLScene(scene)
    app.GetColorLogic().SetMRMLScene(scene)
    app.GetColorLogic().AddDefaultColorNodes()
    out = HeadlessScene(scene, app, {"DataIO": io, "Cache": cache})
    for name, cls in _LOGICS:
        logic = getattr(slicer, cls)()
        logic.SetMRMLScene(scene)
        logic.SetMRMLApplicationLogic(app)
        app.SetModuleLogic(name, logic)
        out.logics[name] = logic
    slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene)
    return out

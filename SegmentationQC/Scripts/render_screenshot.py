"""Render the review screenshot (Resources/Screenshots/review.png) headless, from MRML.

    python SegmentationQC/Scripts/render_screenshot.py [--pack NAME_OR_FOLDER] [-o PNG]

Needs the ``slicer-core`` wheel and matplotlib, no OpenGL. The example case is the project's
synthetic short-axis stack with three damaged slices (``segqc demo``'s case). The review runs
through the MRML bridge as in Slicer; slice logic renders each panel: image, error map (when the
pack has one) and segmentation outlines above, the corrected segmentation (or the surrogate,
when the pack has one and nothing was corrected) below, next to the per-slice Dice plot.
"""
from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)


def example_nodes(scene):
    """The demo case as volume and segmentation nodes (segments named the clinical way)."""
    import numpy as np

    from SegmentationQCLib.mrml_bridge import segmentation_like, volume_from_array
    from SegmentationQCLib.phantom import damage_for_demo, short_axis_stack

    image, truth, spacing = short_axis_stack(seed=3)
    damaged, where = damage_for_demo(truth)
    ijk_to_ras = np.diag([-spacing[2], -spacing[1], spacing[0], 1.0])
    volume = volume_from_array(scene, image, ijk_to_ras, "cine SAX")
    segmentation = segmentation_like(scene, volume, damaged, {"LV": 3, "MYO": 2, "RV": 1}, "segmentation")
    for sid, name in (("LV", "LV blood pool"), ("MYO", "Myocardium"), ("RV", "Right ventricle")):
        segmentation.GetSegmentation().GetSegment(sid).SetName(name)
    return volume, segmentation, where


def render(pack: str | None, out: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from SegmentationQCLib.mrml_bridge import slice_plane, world_ijk_to_ras
    from SegmentationQCLib.mrml_scene import headless_scene
    from SegmentationQCLib.qc import QCEngine
    from SegmentationQCLib.review import add_corrected, add_surrogate, run_review
    from SegmentationQCLib.slice_render import SliceRenderer, label_map_of

    h = headless_scene()
    volume, segmentation, damaged = example_nodes(h.scene)
    review = run_review(volume, segmentation, QCEngine(pack))
    res = review.result
    corrected, _, rebuilt = add_corrected(review)
    below, below_title = corrected, "corrected"
    if not rebuilt and add_surrogate(review) is not None:
        below, below_title = review.nodes["surrogate"], "surrogate"
    labels = {"input": label_map_of(h.scene, segmentation, volume, "input labels"),
              below_title: label_map_of(h.scene, below, volume, f"{below_title} labels")}
    flagged = np.flatnonzero(res.flags.any(axis=1))
    shown = list(flagged[:4]) if len(flagged) else list(np.argsort(res.slice_dice.min(axis=1))[:3])
    renderer = SliceRenderer(h.scene, h.app)
    heart = np.argwhere(review.case.to_input_order(review.case.labels) > 0).mean(axis=0)  # K, J, I
    centre = (world_ijk_to_ras(volume) @ np.append(heart[::-1], 1.0))[:3]
    rebuilt_slices = {i for i, _ in rebuilt}

    fig = plt.figure(figsize=(3.1 * len(shown) + 5.2, 6.4), facecolor="#202428")
    grid = fig.add_gridspec(2, len(shown) + 2, width_ratios=[1] * len(shown) + [0.08, 1.6])
    for col, i in enumerate(shown):
        _, normal, x = slice_plane(volume, review.case, int(i))
        on_slice = centre + normal * np.dot(slice_plane(volume, review.case, int(i))[0] - centre, normal)
        plane = (on_slice, normal, x)
        for row, (title, label) in enumerate(labels.items()):
            ax = fig.add_subplot(grid[row, col])
            rgba = renderer.render(volume, plane, label=label, foreground=review.nodes.get("errorMap") if row == 0 else None,
                                   size=300, fov_mm=160.0)
            ax.imshow(rgba)
            ax.set_axis_off()
            dice = " ".join(f"{c} {res.slice_dice[i, k]:.2f}" for k, c in enumerate(res.classes))
            done = title != "corrected" or i in rebuilt_slices
            text = f"slice {i}: {dice}" if row == 0 else f"slice {i}: {title if done else 'not rebuilt'}"
            ax.set_title(text, color="#ff8a80" if row == 0 and res.flags[i].any() else "white", fontsize=8)
    ax = fig.add_subplot(grid[:, -1])
    for k, c in enumerate(res.classes):
        ax.plot(res.slice_dice[:, k], "o-", label=c)
    for v in sorted(set(review.thresholds["slice_flag"].values())):
        ax.axhline(v, color="0.6", ls="--", lw=1)
    for i in flagged:
        ax.axvspan(i - 0.5, i + 0.5, color="#ff8a80", alpha=0.25, lw=0)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("slice", color="white")
    ax.set_ylabel("predicted Dice", color="white")
    ax.set_title(f"verdict {res.verdict.upper()} (model pack {res.model.get('name')} {res.model.get('version')})", color="white",
                 fontsize=9)
    ax.tick_params(colors="white")
    ax.set_facecolor("#2b3035")
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=100, facecolor=fig.get_facecolor())
    plt.close(fig)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", help="model pack: a bundled name or a folder (default: the bundled pack)")
    ap.add_argument("-o", "--output", default=os.path.join(ROOT, "Resources", "Screenshots", "review.png"))
    a = ap.parse_args(argv)
    print(render(a.pack, a.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How often the label-mapping check (SegmentationQCLib/labelcheck.py) warns, on validation cases.

    python training/benchmark_labelcheck.py [--pack acdc-cardiac] [--zoo training/runs/zoo]

Each case is read with the right mapping (ACDC: LV 3, MYO 2, RV 1; a warning is a false alarm)
and with the mappings a file in another convention would be read with (a warning is a
detection). Sources: the validation patients' manual labels and the segmenters' outputs of
``valcases.py`` (training family, unseen family, shifted domain). Prints one markdown table.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import valcases
from benchmark import SOURCES

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from SegmentationQCLib.labelcheck import swap_warnings  # noqa: E402
from SegmentationQCLib.metrics import volume_dice  # noqa: E402
from SegmentationQCLib.pack import load_pack  # noqa: E402

RIGHT = "right (LV 3, MYO 2, RV 1)"
MAPPINGS = {RIGHT: {"LV": 3, "MYO": 2, "RV": 1},
            "LV and RV swapped (M&Ms: LV 1, RV 3)": {"LV": 1, "MYO": 2, "RV": 3},
            "MYO and RV swapped": {"LV": 3, "MYO": 1, "RV": 2},
            "LV and MYO swapped": {"LV": 2, "MYO": 3, "RV": 1}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", default=None)
    ap.add_argument("--zoo", type=Path, default=Path(__file__).parent / "runs" / "zoo")
    a = ap.parse_args()
    pack = load_pack(a.pack)
    pairs = pack.card.get("concentric")
    print(f"# Label-mapping check, pack {pack.name} {pack.version}, concentric pairs {pairs}\n")
    print("| cases | n | every structure segmented | " + " | ".join(MAPPINGS) + " |\n|---|---|---|" + "---|" * len(MAPPINGS))
    manual, alarms = {}, []
    for source in ("zoo", "heldout", "shifted"):
        counts, n, complete = dict.fromkeys(MAPPINGS, 0), 0, 0
        for name, case, truth in valcases.cases(source, a.zoo):
            n += 1
            complete += all((case.labels == v).any() for v in valcases.VALUES)
            manual.setdefault(name.split("|")[0], (truth, case.spacing[1:]))
            warned = {m: bool(swap_warnings(case.labels, v, pairs, case.spacing[1:])) for m, v in MAPPINGS.items()}
            counts = {m: counts[m] + warned[m] for m in MAPPINGS}
            if warned[RIGHT]:
                alarms.append((name, volume_dice(case.labels, truth, valcases.VALUES)))
        print(f"| {SOURCES[source]} | {n} | {complete} | " + " | ".join(f"{c} ({100 * c / n:.0f} %)" for c in counts.values()) + " |")
    counts = {m: sum(bool(swap_warnings(t, v, pairs, sp)) for t, sp in manual.values()) for m, v in MAPPINGS.items()}
    print(f"| manual labels | {len(manual)} | {len(manual)} | " + " | ".join(f"{c} ({100 * c / len(manual):.0f} %)" for c in counts.values())
          + " |")
    print("\nA warning with the right mapping is a false alarm; with a wrong one, a detection. The check compares "
          "where LV, MYO and RV lie: a case missing one of them gives it nothing to go on.")
    print("\nFalse alarms (true volume Dice LV / MYO / RV): " + "; ".join(
        f"{n} ({' / '.join(f'{x:.2f}' for x in d)})" for n, d in alarms))


if __name__ == "__main__":
    main()

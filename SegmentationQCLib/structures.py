"""Which segment is which structure: guesses from segment names and terminology.

Pure Python, no Slicer: the MRML bridge and the module panel use it for segmentation nodes,
``read_case`` for the segments a Slicer segmentation file (.seg.nrrd) lists in its header, and
users may give the mapping themselves. A guess is only a default; the panel lets the user change it.
"""
from __future__ import annotations

import re

DEFAULT_LABELS = {"LV": 3, "MYO": 2, "RV": 1}  # ACDC convention
# What output segments are called and coloured (Slicer terminology colours for these codes).
DISPLAY = {
    "LV": ("Left ventricle", (0.80, 0.36, 0.36), ("SCT", "87878005", "Left ventricle")),
    "MYO": ("Myocardium", (0.71, 0.58, 0.35), ("SCT", "74281007", "Myocardium")),
    "RV": ("Right ventricle", (0.37, 0.56, 0.80), ("SCT", "53085002", "Right ventricle")),
}
_CODES = {code: name for name, (_, _, (_, code, _)) in DISPLAY.items()}
_NUMBERED = re.compile(r"^(?:label|segment|class)?\s*(\d+)$")
_HEADER_VALUE = re.compile(r"^Segment(\d+)_LabelValue$")


def _words(text: str) -> str:
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)  # "LeftVentricle" -> "Left Ventricle"
    return " " + re.sub(r"[^a-z0-9]+", " ", text.lower()).strip() + " "


def _from_words(w: str) -> str | None:
    if re.search(r"scar|infarct|edema| atri|outflow|epicard", w):
        return None
    sides = [short.upper() for side, short in (("left", "lv"), ("right", "rv"))
             if re.search(rf" {side} ventric| ventric\w* {side} | {short}(bp|c|cav)? | {short}(myo|wall)", w)]
    if re.search(r" (lv ?)?myo\w*| lv ?wall | heart muscle | left ventricular wall ", w):
        return "MYO" if sides in ([], ["LV"]) else None
    return sides[0] if len(sides) == 1 else None


def guess_structure(name: str, terminology: str = "") -> str | None:
    """"LV", "MYO", "RV" or None for a segment name (and its terminology string, if any).

    Terminology codes win; then words: myocardium before ventricles, so "LV myocardium" is MYO.
    Names that are only a number ("Segment_3", "Label 2") follow the ACDC label values.
    """
    fields = terminology.split("~") if terminology else []
    for f in fields[2:4]:  # category~type~type modifier: "SCT^87878005^Left ventricle"
        parts = f.split("^")
        if len(parts) > 1 and parts[1] in _CODES:
            return _CODES[parts[1]]
    meanings = " ".join(f.split("^")[-1] for f in fields[2:4])
    for text in (name, meanings):
        found = _from_words(_words(text))
        if found:
            return found
    m = _NUMBERED.match(name.strip().lower().replace("_", " "))
    if m:
        by_value = {v: k for k, v in DEFAULT_LABELS.items()}
        return by_value.get(int(m.group(1)))
    return None


def guess_mapping(segments, classes) -> dict[str, str | None]:
    """{structure: segment id or None} from [(segment id, name, terminology), ...].

    The first segment guessed as a structure gets it; a structure no segment matches is None.
    """
    mapping: dict[str, str | None] = {c: None for c in classes}
    for seg_id, name, terminology in segments:
        s = guess_structure(name, terminology)
        if s in mapping and mapping[s] is None:
            mapping[s] = seg_id
    return mapping


def terminology_string(structure: str) -> str:
    """A Slicer terminology entry for an output segment of ``structure`` ('' if unknown)."""
    if structure not in DISPLAY:
        return ""
    scheme, code, meaning = DISPLAY[structure][2]
    return ("Segmentation category and type - DICOM master list~SCT^123037004^Anatomical Structure~"
            f"{scheme}^{code}^{meaning}~^^~Anatomic codes - DICOM master list~^^~^^")


def header_segments(meta: dict[str, str]) -> list[tuple[int, str, str]]:
    """[(label value, name, terminology)] of the segments a Slicer segmentation file (.seg.nrrd)
    lists in its header (``Segment<k>_LabelValue``, ``_Name``, ``_Terminology``); [] for other files."""
    numbers = sorted(int(m.group(1)) for m in map(_HEADER_VALUE.match, meta) if m)
    return [(int(meta[f"Segment{k}_LabelValue"]), meta.get(f"Segment{k}_Name", ""), meta.get(f"Segment{k}_Terminology", ""))
            for k in numbers if meta[f"Segment{k}_LabelValue"].strip().isdigit()]

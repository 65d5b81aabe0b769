"""The engine and the Slicer module stay within Python 3.9 (Slicer 5.8's), checked without a 3.9."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*(ROOT / "SegmentationQCLib").glob("*.py"), *(ROOT / "SegmentationQC").rglob("*.py")])


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python39_grammar_and_postponed_annotations(path):
    tree = ast.parse(path.read_text(), feature_version=(3, 9))  # no match statements, parenthesised withs, ...
    future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" and any(a.name == "annotations" for a in n.names)
                 for n in tree.body)
    annotations = [a for n in ast.walk(tree) for a in (
        [n.annotation] if isinstance(n, (ast.arg, ast.AnnAssign)) else [n.returns] if isinstance(n, ast.FunctionDef) else [])
        if a is not None]
    union = [a.lineno for a in annotations if any(isinstance(b, ast.BinOp) and isinstance(b.op, ast.BitOr) for b in ast.walk(a))]
    assert future or not union, f"X | Y annotations (lines {union}) need 'from __future__ import annotations' on 3.9"

"""Code limits (issue 20): outside the tests, no function is over 60 lines (``ast``: from its
``def`` to its last line) and none is above cyclomatic complexity 15 (radon's ``cc_visit``),
in mec_env, ucms_marl, experiments and benchmarks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

radon_complexity = pytest.importorskip("radon.complexity", reason="radon not installed (dev extra)")

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mec_env", "ucms_marl", "experiments", "benchmarks")
MAX_LINES = 60
MAX_COMPLEXITY = 15


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _blocks(blocks):
    """Every function and method radon found (``cc_visit`` lists methods beside their
    class), and their closures."""
    for block in blocks:
        if not hasattr(block, "methods"):  # a function or method, not a class
            yield block
            yield from _blocks(block.closures)


def test_sources_found():
    assert len(_sources()) > 50


def test_no_function_over_60_lines():
    long = []
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    assert not long, f"functions over {MAX_LINES} lines: {long}"


def test_no_function_above_complexity_15():
    complex_ = []
    for path in _sources():
        blocks = radon_complexity.cc_visit(path.read_text(encoding="utf-8"))
        for block in _blocks(blocks):
            if block.complexity > MAX_COMPLEXITY:
                complex_.append(
                    f"{path.relative_to(ROOT)}:{block.lineno} {block.fullname} ({block.complexity})"
                )
    assert not complex_, f"functions above complexity {MAX_COMPLEXITY}: {complex_}"

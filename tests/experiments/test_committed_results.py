"""The committed docs/results.md is exactly what `report` generates from the committed results.

Nothing on that page may be typed by hand: if this fails, someone edited docs/results.md or
changed experiments/report.py without regenerating. Fix: `python -m experiments report
--profile medium` (no training needed) and commit the page.
"""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path

from experiments.records import FigureResult
from experiments.report import write_report

REPO = Path(__file__).resolve().parents[2]


def test_docs_results_md_is_generated_from_the_committed_results(tmp_path):
    results = REPO / "experiments" / "results"
    assert (results / "medium").is_dir() and any((results / "medium").glob("fig*.json"))
    # same layout as the repository, so the page's relative links come out the same
    shutil.copytree(results, tmp_path / "experiments" / "results")
    out = tmp_path / "docs" / "results.md"
    write_report("medium", tmp_path / "experiments" / "results", out, runs_root=tmp_path / "runs")
    committed = (REPO / "docs" / "results.md").read_text()
    generated = out.read_text()
    diff = "".join(
        list(difflib.unified_diff(committed.splitlines(True), generated.splitlines(True),
                                  "docs/results.md (committed)", "generated"))[:60]
    )  # fmt: skip
    assert committed == generated, (
        "docs/results.md is not what `python -m experiments report --profile medium` writes "
        f"from experiments/results/medium:\n{diff}"
    )


def test_committed_results_load_as_records_and_write_back_unchanged():
    """Every committed result JSON loads as a FigureResult; the current ones (medium) come back
    byte for byte from FigureResult.as_dict, so the typed records change nothing on disk."""
    results = REPO / "experiments" / "results"
    paths = sorted(results.glob("*/fig*_*.json"))
    assert paths
    for path in paths:
        text = path.read_text()
        record = FigureResult.from_dict(json.loads(text))
        assert record.figure and record.algorithms, path
        if path.parent.name == "medium":
            assert json.dumps(record.as_dict(), indent=1) + "\n" == text, path

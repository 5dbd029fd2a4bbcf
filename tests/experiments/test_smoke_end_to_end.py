"""The `smoke` profile of Fig. 5 end to end: a real joblib multirun of ucms_marl.train on the
`small` preset (tiny budget), then aggregation, the PNG/CSV/JSON, and the report page."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiments", *args], cwd=REPO, capture_output=True, text=True,
        timeout=240, check=False,
    )  # fmt: skip


def test_fig5_smoke_end_to_end(tmp_path):
    runs, results = tmp_path / "runs", tmp_path / "results"
    common = ["--profile", "smoke", "--runs-dir", str(runs), "--results-dir", str(results)]
    ran = _cli("run", "fig5", *common)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    sweep = runs / "smoke" / "main-paper_kb"
    assert (sweep / "launches.jsonl").exists()
    assert (sweep / "maddpg" / "seed_1" / "metrics.jsonl").exists()
    assert not list(sweep.rglob("checkpoint.pt"))  # pruned once each run finished

    again = _cli("run", "fig5", *common)  # every run complete: nothing is launched
    assert again.returncode == 0 and "nothing to launch" in again.stdout

    plotted = _cli("plot", "fig5", *common)
    assert plotted.returncode == 0, plotted.stdout + plotted.stderr
    out = results / "smoke"
    res = json.loads((out / "fig5_paper_kb.json").read_text())
    assert res["preset"] == "small"
    assert res["algorithms"]["maddpg"]["final"]["n"] == 2
    assert [row[0] for row in res["algorithms"]["maddpg"]["curve"]] == [2, 4]
    assert {"greedy", "all_local", "all_offload", "oracle"} <= set(res["references"])
    assert (out / "fig5_paper_kb.png").stat().st_size > 5_000
    assert (out / "fig5_paper_kb.csv").read_text().startswith("series,algo,x,")

    page = tmp_path / "results.md"
    reported = _cli("report", *common, "--output", str(page))
    assert reported.returncode == 0, reported.stderr
    text = page.read_text()
    assert "fig5_paper_kb.png" in text and "Not run yet" in text  # fig5 done, others not

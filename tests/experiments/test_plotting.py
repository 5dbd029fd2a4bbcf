"""Figures from synthetic aggregated results: files, colours, bands, reference lines."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments import catalog  # noqa: E402
from experiments.plotting import draw_result, plot_result  # noqa: E402
from experiments.records import FigureResult  # noqa: E402


def _result(kind: str = "curve") -> FigureResult:
    return FigureResult.from_dict(_result_json(kind))


def _result_json(kind: str = "curve") -> dict:
    """A result as its JSON holds it (the fields the figure reads)."""
    algos = {}
    for i, algo in enumerate(catalog.PAPER_ALGORITHMS):
        if kind == "curve":
            curve = [[x, 3, -1.0 + 0.1 * i + 0.01 * x, -1.1 + 0.1 * i, -0.9 + 0.1 * i]
                     for x in (5, 10, 15, 20)]  # fmt: skip
            algos[algo] = {"seeds": [0, 1, 2], "curve": curve}
        else:
            algos[algo] = {
                "seeds": [0, 1, 2],
                "per_n": {
                    str(n): {"mean": n * (1 + i), "low": n * i, "high": n * (2 + i), "n": 3}
                    for n in (12, 30, 48)
                },  # fmt: skip
            }
    refs = {"greedy": {"value": -0.5}, "all_local": {"value": -2.0}}
    if kind == "vs_n":
        refs = {"greedy": {"per_n": {"12": 1.0, "30": 2.0, "48": 3.0}}}
    return {
        "figure": "fig5" if kind == "curve" else "fig6", "title": "test", "profile": "tiny",
        "env": "paper_kb", "preset": "paper_kb", "env_overrides": {}, "n_slots": 10,
        "kind": kind, "ylabel": "Return per episode", "budget": {"seeds": 3, "episodes": 20},
        "algorithms": algos, "references": refs,
    }  # fmt: skip


def test_curve_figure_colours_bands_and_reference_lines(tmp_path):
    result = _result()
    fig = draw_result(result)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    for algo in catalog.PAPER_ALGORITHMS:
        line = lines[f"{catalog.label(algo)} (3 seeds)"]
        assert matplotlib.colors.to_hex(line.get_color()) == catalog.colour(algo)
    greedy = lines[catalog.label("greedy")]
    assert np.allclose(greedy.get_ydata(), -0.5) and greedy.get_linestyle() == "--"
    assert len(ax.collections) == len(catalog.PAPER_ALGORITHMS)  # one CI band each
    assert "Training episode" in ax.get_xlabel() and ax.get_ylabel() == "Return per episode"
    plt.close(fig)
    path = plot_result(result, tmp_path / "sub" / "fig.png")
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 5_000 < path.stat().st_size < 300_000  # small enough to commit


def test_vs_n_figure_has_error_bars_and_n_ticks(tmp_path):
    fig = draw_result(_result("vs_n"))
    ax = fig.axes[0]
    assert list(ax.get_xticks()) == [12, 30, 48]
    assert ax.get_xlabel() == "Number of user devices N"
    plt.close(fig)
    assert plot_result(_result("vs_n"), tmp_path / "f6.png").exists()


def test_colours_unique_and_stable():
    names = catalog.PAPER_ALGORITHMS + catalog.REFERENCE_POLICIES + (catalog.ORACLE,)
    colours = [catalog.colour(a) for a in names]
    assert len(set(colours)) == len(colours)
    assert catalog.colour("my_new_algo") == catalog.colour("my_new_algo")


@pytest.mark.parametrize("missing", [None, 1])
def test_single_seed_curve_draws_without_band(missing):
    result = _result_json()
    for entry in result["algorithms"].values():
        entry["curve"] = [[x, 1, -1.0, missing, missing] for x in (5, 10)]
    plt.close(draw_result(FigureResult.from_dict(result)))

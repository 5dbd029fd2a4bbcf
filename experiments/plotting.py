"""Figures from aggregated results (:func:`experiments.aggregate.aggregate_figure`).

Curves: the mean across seeds with its 95% t-interval as a band; reference policies as
horizontal lines (dashed, their own colours). Fig. 6: the final value against N with error
bars, references as dashed lines over N. Colours and labels come from
:mod:`experiments.catalog`, so an algorithm looks the same in every figure.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from experiments.catalog import colour, label, linestyle  # noqa: E402
from experiments.records import FigureResult  # noqa: E402

FIGSIZE = (8.6, 4.2)  # the legend sits right of the axes
DPI = 100


def _xlabel(result: FigureResult) -> str:
    if result.kind == "vs_n":
        return "Number of user devices N"
    return f"Training episode (T = {result.n_slots} slots each)"


def _subtitle(result: FigureResult) -> str:
    budget = result.budget
    env = result.env
    if result.preset != env or result.env_overrides:
        env = f"{env} -> {result.preset}"
    return (
        f"env {env}, profile {result.profile}: {budget.seeds} seeds x "
        f"{budget.episodes} episodes, mean and 95% CI"
    )


def plot_result(result: FigureResult, path: Path) -> Path:
    """Write the figure of ``result`` as a PNG at ``path``."""
    fig = draw_result(result)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def draw_result(result: FigureResult) -> Any:
    """The matplotlib Figure of ``result`` (the caller closes it)."""
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    if result.kind == "vs_n":
        _plot_vs_n(ax, result)
    else:
        _plot_curves(ax, result)
    ax.set_xlabel(_xlabel(result))
    ax.set_ylabel(result.ylabel, fontsize=8.5)
    ax.set_title(f"{result.title}\n{_subtitle(result)}", fontsize=9)
    ax.grid(alpha=0.3)
    if result.kind != "vs_n":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = ax.get_legend_handles_labels()
    order = [label(a) for a in list(result.algorithms) + list(result.references)]
    rank = {text: i for i, text in enumerate(order)}
    pairs = sorted(
        zip(handles, labels), key=lambda hl: rank.get(hl[1], rank.get(hl[1].split(" (")[0], 99))
    )
    if pairs:
        ax.legend(
            *zip(*pairs), fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0),
            frameon=False,
        )  # fmt: skip
    fig.tight_layout()
    return fig


def _set_ylim(ax: Any, result: FigureResult, centres: list[float], bands: list[float]) -> None:
    """Frame the means and references; bands may be wider (few seeds: t(0.975, 1) = 12.7)
    and are then cut by the axes rather than squeezing the curves flat. Rates stay in 0-100%."""
    centres = [v for v in centres if np.isfinite(v)]
    if not centres:
        return
    lo, hi = min(centres), max(centres)
    span = hi - lo if hi > lo else max(abs(hi) * 0.1, 1e-3)
    finite = [v for v in bands if np.isfinite(v)]
    low = max(min(finite + [lo]), lo - 1.5 * span) - 0.1 * span
    high = min(max(finite + [hi]), hi + 1.5 * span) + 0.1 * span
    if result.unit == "%":
        low, high = max(low, -2.0), min(high, 102.0)
    ax.set_ylim(low, high)


def _plot_curves(ax: Any, result: FigureResult) -> None:
    centres: list[float] = []
    bands: list[float] = []
    for algo, entry in result.algorithms.items():
        points = entry.curve or ()
        if not points:
            continue
        x = np.array([p.x for p in points], float)
        mean = np.array([p.mean for p in points], float)
        low = np.array([p.low for p in points], float)
        high = np.array([p.high for p in points], float)
        centres += mean.tolist()
        bands += low.tolist() + high.tolist()
        c = colour(algo)
        n_seeds = len(entry.seeds)
        ax.plot(x, mean, color=c, lw=1.6, label=f"{label(algo)} ({n_seeds} seeds)")
        ax.fill_between(x, low, high, color=c, alpha=0.2, lw=0)
        if x.size == 1:
            ax.plot(x, mean, "o", color=c)
    for algo, ref in result.references.items():
        if ref.value is None or not math.isfinite(ref.value):
            continue
        centres.append(ref.value)
        ax.axhline(
            ref.value, color=colour(algo), ls=linestyle(algo), lw=1.2,
            label=label(algo),
        )  # fmt: skip
    _set_ylim(ax, result, centres, bands)


def _plot_references_vs_n(ax: Any, result: FigureResult) -> list[float]:
    """The references' lines over N; their values (for the y limits)."""
    centres: list[float] = []
    for algo, ref in result.references.items():
        ref_n = ref.per_n or {}
        if not ref_n:
            continue
        keys = sorted(ref_n, key=int)
        ns = np.array(keys, dtype=float)
        vals = np.array([ref_n[k] for k in keys], float)
        centres += vals.tolist()
        ax.plot(
            ns, vals, color=colour(algo), ls=linestyle(algo), marker="x", ms=4, lw=1.1,
            label=label(algo),
        )  # fmt: skip
    return centres


def _plot_vs_n(ax: Any, result: FigureResult) -> None:
    centres: list[float] = []
    bands: list[float] = []
    algos = list(result.algorithms)
    ns_all = sorted({int(n) for e in result.algorithms.values() for n in e.per_n or {}})
    # dodge the error bars of different algorithms a little (1.5% of the N range each)
    spread = 0.015 * (max(ns_all) - min(ns_all) if len(ns_all) > 1 else 1.0)
    offsets = (np.arange(len(algos)) - (len(algos) - 1) / 2) * spread
    for off, algo in zip(offsets, algos):
        per_n = result.algorithms[algo].per_n or {}
        if not per_n:
            continue
        keys = sorted(per_n, key=int)
        ns = np.array(keys, dtype=float)
        mean = np.array([per_n[k].interval.mean for k in keys], float)
        low = np.array([per_n[k].interval.low for k in keys], float)
        high = np.array([per_n[k].interval.high for k in keys], float)
        centres += mean.tolist()
        bands += low.tolist() + high.tolist()
        err = np.vstack([mean - low, high - mean])
        err = np.where(np.isfinite(err), err, 0.0)
        ax.errorbar(
            ns + off, mean, yerr=err, color=colour(algo), marker="o", ms=4, lw=1.4, capsize=3,
            label=label(algo),
        )  # fmt: skip
    centres += _plot_references_vs_n(ax, result)
    if ns_all:
        ax.set_xticks(ns_all)
    _set_ylim(ax, result, centres, bands)

"""Read the runs' ``metrics.jsonl``, aggregate across seeds, judge the paper's claims.

Statistics, all across seeds (a seed is one independent training run):

* mean with a two-sided 95% Student-t interval, ``mean ± t(0.975, n-1) · s / sqrt(n)`` with
  ``s`` the sample standard deviation (ddof = 1); no interval for one seed;
* training curves (every episode, noisy) are smoothed per seed first: block means
  (``block``) or a Savitzky-Golay filter (``savgol``, ``scipy.signal.savgol_filter``, the
  paper's Fig. 7) then down-sampled, and only then averaged across seeds;
* a run's *final* value: its last evaluation (at the full budget), or for training metrics the
  mean over its last 10% of episodes; only complete runs count;
* claims: Welch's t-test between UCMS's per-seed finals and each rival's (p < 0.05), among
  the paper's five algorithms; the learners beyond the paper (``catalog.BEYOND_PAPER``) are
  compared with UCMS the same way in a separate line (``claim["beyond_paper"]``), so adding
  them never changes a verdict on what the paper claims.

Missing data is never silent: every algorithm without runs, every missing seed and every
incomplete run is reported (``warnings.warn`` and the result's ``messages``), what exists is
used, and a figure without any learner's run raises :class:`NoRunsError`.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import signal, stats

from experiments.catalog import (
    BEYOND_PAPER,
    REFERENCE_POLICIES,
    UCMS,
    FigureSpec,
    SweepRequest,
    algo_config_exists,
    label,
)
from experiments.launch import plan_sweep
from experiments.profiles import Profile

# Final evaluation metrics stored beside every figure's own, to explain it (rates in %).
CONTEXT_METRICS = (
    "return",
    "cost",
    "timeout_rate",
    "offload_rate",
    "participation_rate",
    "below_battery_rate",
)
CONFIDENCE = 0.95
SIGNIFICANCE = 0.05
FINAL_TRAIN_FRACTION = 0.1
METRICS_FILE = "metrics.jsonl"


class NoRunsError(RuntimeError):
    """A figure has no run of any of its algorithms."""


# --------------------------------------------------------------------------- statistics
@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int
    std: float

    def as_dict(self) -> dict[str, float | int | None]:
        return {k: _clean(v) for k, v in self.__dict__.items()}


def t_interval(values: Iterable[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean and two-sided Student-t confidence interval of the finite ``values``."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = x.size
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, math.nan)
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1, math.nan)
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, std)


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test; NaN when either side has fewer than 2 values."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2 or b.size < 2:
        return math.nan
    if a.std(ddof=1) == 0 and b.std(ddof=1) == 0:
        return 0.0 if a.mean() != b.mean() else 1.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def smoothing_window(length: int, every: int, polyorder: int = 2) -> int:
    """Savitzky-Golay window: about two down-sampling intervals, odd, at most ``length``."""
    window = 2 * max(1, every) + 1
    if window > length:
        window = length if length % 2 else length - 1
    return window if window > polyorder else 0


def savgol(y: np.ndarray, window: int, polyorder: int = 2) -> np.ndarray:
    """``scipy.signal.savgol_filter`` or ``y`` itself when the series is too short."""
    y = np.asarray(y, dtype=float)
    if window <= polyorder or window > y.size:
        return y.copy()
    return signal.savgol_filter(y, window, polyorder, mode="interp")


def downsample(x: np.ndarray, y: np.ndarray, every: int) -> tuple[np.ndarray, np.ndarray]:
    """Every ``every``-th point, ending each interval (episodes k, 2k, ... for x = 1..E)."""
    every = max(1, int(every))
    return np.asarray(x)[every - 1 :: every], np.asarray(y)[every - 1 :: every]


def block_means(x: np.ndarray, y: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Means over consecutive blocks of ``block`` points (an incomplete last block dropped),
    placed at each block's last x."""
    block = max(1, int(block))
    n = (len(y) // block) * block
    if n == 0:
        return np.asarray(x)[:0], np.asarray(y, float)[:0]
    means = np.asarray(y[:n], float).reshape(-1, block).mean(axis=1)
    return np.asarray(x)[block - 1 : n : block], means


def across_seeds(series: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[list[float]]:
    """Rows ``[x, n, mean, low, high]`` over the union of x; each x uses the seeds that have it."""
    by_x: dict[float, list[float]] = {}
    for xs, ys in series:
        for x, y in zip(np.asarray(xs).tolist(), np.asarray(ys, float).tolist()):
            if math.isfinite(y):
                by_x.setdefault(x, []).append(y)
    rows = []
    for x in sorted(by_x):
        iv = t_interval(by_x[x])
        rows.append([x, iv.n, iv.mean, iv.low, iv.high])
    return rows


# --------------------------------------------------------------------------- run logs
@dataclass
class RunLog:
    """One training run: its records by phase and episode (the last record wins)."""

    path: Path
    algo: str
    seed: int
    preset: str
    n_uds: int
    n_slots: int
    train: dict[int, dict[str, Any]] = field(default_factory=dict)
    eval: dict[int, dict[str, Any]] = field(default_factory=dict)
    summary: dict[str, Any] | None = None

    @property
    def episodes_done(self) -> int:
        return max(self.train, default=0)

    def series(self, phase: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
        records = self.train if phase == "train" else self.eval
        xs = sorted(records)
        ys = [records[x].get(metric) for x in xs]
        return np.asarray(xs, float), np.asarray([np.nan if y is None else y for y in ys], float)


def read_metrics(path: Path) -> tuple[dict[int, dict], dict[int, dict]]:
    """Train and eval records of a ``metrics.jsonl``; unreadable (cut) lines are skipped and
    a repeated (phase, episode), as a resumed run writes, keeps its last record."""
    train: dict[int, dict] = {}
    evals: dict[int, dict] = {}
    for line in Path(path).read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        target = {"train": train, "eval": evals}.get(rec.get("phase"))
        if target is not None and "episode" in rec:
            target[int(rec["episode"])] = rec
    return train, evals


def _env_shape(config: dict[str, Any]) -> tuple[str, int, int]:
    """(preset, N, T) of a run, from the env kwargs the trainer recorded."""
    kwargs = dict(config.get("env_kwargs") or {})
    preset = kwargs.pop("preset", None) or config.get("env", {}).get("preset", "?")
    try:
        from mec_env.config import make_config

        cfg = make_config(preset, **kwargs)
        return preset, int(cfg.n_uds), int(cfg.n_slots)
    except Exception:  # noqa: BLE001 - fall back on what the config states
        env = config.get("env", {})
        return preset, int(env.get("n_uds") or 0), int(env.get("n_slots") or 0)


def load_run(run_dir: Path) -> RunLog | None:
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.exists():
        return None
    config = json.loads(config_path.read_text())
    preset, n_uds, n_slots = _env_shape(config)
    train, evals = (
        read_metrics(run_dir / METRICS_FILE)
        if (run_dir / METRICS_FILE).exists()
        else (
            {},
            {},
        )
    )
    summary = None
    if (run_dir / "summary.json").exists():
        try:
            summary = json.loads((run_dir / "summary.json").read_text())
        except json.JSONDecodeError:
            summary = None
    return RunLog(
        run_dir, str(config.get("algo")), int(config.get("seed", 0)), preset, n_uds, n_slots,
        train, evals, summary,
    )  # fmt: skip


def load_runs(directory: Path) -> list[RunLog]:
    """Every run under ``directory`` (found by its ``metrics.jsonl``)."""
    directory = Path(directory)
    if not directory.exists():
        return []
    runs = []
    for path in sorted(directory.rglob(METRICS_FILE)):
        run = load_run(path.parent)
        if run is None:
            warnings.warn(f"{path.parent}: no config.json, skipped", stacklevel=2)
        else:
            runs.append(run)
    return runs


# --------------------------------------------------------------------------- figures
def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.floating | np.integer):
        return _clean(v.item())
    return v


def scaled(fig: FigureSpec, run: RunLog, values: np.ndarray) -> np.ndarray:
    if fig.scale == "percent":
        return values * 100.0
    if fig.scale == "total":
        return values * run.n_uds * run.n_slots
    return values


def final_value(fig: FigureSpec, run: RunLog) -> float:
    """The run's final value in plot units (its last evaluation, or the mean of the last 10%
    of training episodes for a training metric)."""
    x, y = run.series(fig.phase, fig.metric)
    if y.size == 0:
        return math.nan
    if fig.phase == "eval":
        return float(scaled(fig, run, y[-1:])[0])
    k = max(1, int(round(FINAL_TRAIN_FRACTION * y.size)))
    return float(np.nanmean(scaled(fig, run, y[-k:])))


def mean_value(fig: FigureSpec, run: RunLog) -> float:
    """Mean over the whole run (a training curve's area per episode: speed and level)."""
    _, y = run.series(fig.phase, fig.metric)
    return float(np.nanmean(scaled(fig, run, y))) if y.size else math.nan


def context_finals(runs: Sequence[RunLog]) -> dict[str, dict[str, Any]]:
    """Final evaluation of the context metrics across ``runs`` (rates in %)."""
    out = {}
    for metric in CONTEXT_METRICS:
        factor = 100.0 if metric.endswith("_rate") else 1.0
        values = []
        for r in runs:
            _, y = r.series("eval", metric)
            if y.size:
                values.append(float(y[-1]) * factor)
        out[metric] = t_interval(values).as_dict()
    return out


def smoothed_series(fig: FigureSpec, run: RunLog, every: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = run.series(fig.phase, fig.metric)
    y = scaled(fig, run, y)
    if fig.phase != "train":
        return x, y
    if fig.smoothing == "savgol":
        return downsample(x, savgol(y, smoothing_window(y.size, every)), every)
    if fig.smoothing == "block":
        return block_means(x, y, every)
    return x, y


def verdict(
    claim_kind: str,
    better: str,
    finals: dict[str, list[float]],
    *,
    rival: str | None = None,
    means: dict[str, list[float]] | None = None,
    margin: float = 0.0,
) -> tuple[str, str]:
    """``held`` / ``not held`` / ``mixed`` / ``not tested`` and a one-line reason."""
    sign = 1.0 if better == "higher" else -1.0
    if not finals.get(UCMS):
        return "not tested", f"no complete {label(UCMS)} run"
    others = [a for a in finals if a != UCMS and finals[a]]
    if claim_kind == "beats":
        others = [rival] if rival in others else []
    if not others:
        return "not tested", "no complete run of any algorithm to compare with"

    def compare(values: dict[str, list[float]], other: str) -> tuple[float, float]:
        diff = sign * (np.mean(values[UCMS]) - np.mean(values[other]))
        return float(diff), welch_p(values[UCMS], values[other])

    rows = {o: compare(finals, o) for o in others}
    text = "; ".join(
        f"vs {label(o)}: {'better' if d > 0 else 'worse' if d < 0 else 'equal'} by "
        f"{abs(d):.4g} (Welch p = {'n/a' if math.isnan(p) else f'{p:.3g}'})"
        for o, (d, p) in rows.items()
    )
    significant = {o: (not math.isnan(p)) and p < SIGNIFICANCE for o, (_, p) in rows.items()}
    if claim_kind == "similar":
        differ = [o for o in others if significant[o] and abs(rows[o][0]) > margin]
        within = f"significantly and by more than {margin:g}" if margin else "significantly"
        if not differ:
            return "held", f"no learner differs from UCMS {within}; {text}"
        return "not held", f"{', '.join(map(label, differ))} differ {within}; {text}"
    if claim_kind == "beats" and means is not None and means.get(rival):
        d_auc, p_auc = compare(means, rival)
        text += (
            f"; mean over training: {'better' if d_auc > 0 else 'worse'} by {abs(d_auc):.4g} "
            f"(Welch p = {'n/a' if math.isnan(p_auc) else f'{p_auc:.3g}'})"
        )
        rows["__auc__"] = (d_auc, p_auc)
        significant["__auc__"] = (not math.isnan(p_auc)) and p_auc < SIGNIFICANCE
    if any(d < 0 and significant[o] for o, (d, _) in rows.items()):
        return "not held", text
    if all(d > 0 and significant[o] for o, (d, _) in rows.items()):
        return "held", text
    return "mixed", text


def split_beyond(finals: dict[str, list[float]]) -> tuple[dict, dict]:
    """``finals`` as (the paper's algorithms, UCMS plus the learners beyond the paper)."""
    paper = {a: v for a, v in finals.items() if a not in BEYOND_PAPER}
    beyond = {a: v for a, v in finals.items() if a in BEYOND_PAPER}
    if beyond and UCMS in finals:
        beyond = {UCMS: finals[UCMS], **beyond}
    return paper, beyond


def beyond_detail(
    better: str, finals: dict[str, list[float]]
) -> tuple[str, str, dict[str, list[str]]]:
    """UCMS against each learner beyond the paper: a short summary (which ones UCMS beats or
    loses to, significantly), the detail text of :func:`verdict`, and the algorithm names by
    outcome (``better than`` / ``worse than`` / ``not separable from``); empty if none."""
    _, beyond = split_beyond(finals)
    if len(beyond) < 2 or not beyond.get(UCMS):
        return "", "", {}
    sign = 1.0 if better == "higher" else -1.0
    groups: dict[str, list[str]] = {"better than": [], "worse than": [], "not separable from": []}
    for algo, values in beyond.items():
        if algo == UCMS or not values:
            continue
        diff = sign * (np.mean(beyond[UCMS]) - np.mean(values))
        p = welch_p(beyond[UCMS], values)
        if math.isnan(p) or p >= SIGNIFICANCE:
            groups["not separable from"].append(algo)
        else:
            groups["better than" if diff > 0 else "worse than"].append(algo)
    short = "; ".join(
        f"{k} {', '.join(label(a).replace(' (beyond the paper)', '') for a in v)}"
        for k, v in groups.items()
        if v
    )
    return f"UCMS_MADDPG {short}", verdict("best", better, beyond)[1], groups


def combine_verdicts(per_n: dict[int, tuple[str, str]]) -> tuple[str, str]:
    verdicts = [v for v, _ in per_n.values()]
    detail = "; ".join(f"N = {n}: {v}" for n, (v, _) in sorted(per_n.items()))
    if not verdicts or all(v == "not tested" for v in verdicts):
        return "not tested", detail or "no data"
    tested = [v for v in verdicts if v != "not tested"]
    if all(v == "held" for v in tested) and len(tested) == len(verdicts):
        return "held", detail
    if any(v == "not held" for v in tested):
        return "not held", detail
    return "mixed", detail


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when inside it (results are committed, so
    they should not carry one machine's absolute paths)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def aggregate_figure(
    fig: FigureSpec,
    profile: Profile,
    env: str,
    runs_root: Path,
    *,
    references: Sequence[str] = REFERENCE_POLICIES,
) -> dict[str, Any]:
    """Everything a figure shows, as a JSON-ready dict (see module docstring)."""
    plan = plan_sweep(
        SweepRequest(fig.sweep, env, list(fig.algorithms)),
        profile,
        runs_root,
        references=references,
        warn=False,
    )
    runs = load_runs(plan.directory)
    messages: list[str] = []
    by_algo: dict[str, list[RunLog]] = {}
    for run in runs:
        by_algo.setdefault(run.algo, []).append(run)
    every = max(1, plan.budget.episodes // max(1, profile.curve_points))
    run_cmd = f"python -m experiments run {fig.key} --profile {profile.name} --env {env}"
    where_runs = display_path(plan.directory)

    def check(algo: str, budget_episodes: int, seeds: int) -> list[RunLog]:
        found = by_algo.get(algo, [])
        if not found:
            if not algo_config_exists(algo):
                messages.append(
                    f"{algo}: not implemented in this checkout (no conf/algo/{algo}.yaml): skipped"
                )
            else:
                messages.append(f"{algo}: no runs under {where_runs}; run `{run_cmd}`")
            return []
        for n in plan.n_values:
            have = sorted(r.seed for r in found if n is None or r.n_uds == n)
            lacking = sorted(set(range(seeds)) - set(have))
            if lacking:
                where = "" if n is None else f" at N = {n}"
                messages.append(
                    f"{algo}{where}: seeds {lacking} missing ({len(have)} of {seeds} found): "
                    "using what exists"
                )
        for r in found:
            if r.episodes_done < budget_episodes:
                messages.append(
                    f"{algo} seed {r.seed}{'' if plan.n_values == [None] else f' N {r.n_uds}'}:"
                    f" {r.episodes_done} of {budget_episodes} episodes (running or interrupted):"
                    " in the curves, not in the final values"
                )
        return found

    def complete(found: list[RunLog], budget_episodes: int) -> list[RunLog]:
        return [r for r in found if r.episodes_done >= budget_episodes]

    result_algos: dict[str, Any] = {}
    finals: dict[str, list[float]] = {}
    means: dict[str, list[float]] = {}
    finals_n: dict[int, dict[str, list[float]]] = {}
    for algo in fig.algorithms:
        found = check(algo, plan.budget.episodes, plan.budget.seeds)
        if not found:
            continue
        done = complete(found, plan.budget.episodes)
        entry: dict[str, Any] = {"seeds": sorted({r.seed for r in found})}
        if fig.kind == "vs_n":
            per_n = {}
            for n in sorted({r.n_uds for r in done}):
                values = [final_value(fig, r) for r in done if r.n_uds == n]
                finals_n.setdefault(n, {})[algo] = values
                per_n[str(n)] = {**t_interval(values).as_dict(), "values": values}
            entry["per_n"] = per_n
        else:
            values = [final_value(fig, r) for r in sorted(done, key=lambda r: r.seed)]
            finals[algo] = values
            entry["final"] = {**t_interval(values).as_dict(), "values": values}
            if fig.phase == "train":
                m = [mean_value(fig, r) for r in sorted(done, key=lambda r: r.seed)]
                means[algo] = m
                entry["mean_over_training"] = {**t_interval(m).as_dict(), "values": m}
            entry["context"] = context_finals(done)
            entry["curve"] = [
                [_clean(v) for v in row]
                for row in across_seeds([smoothed_series(fig, r, every) for r in found])
            ]
        result_algos[algo] = entry

    if not result_algos:
        raise NoRunsError(
            f"{fig.key} ({profile.name}, env {env}): no run of "
            f"{', '.join(fig.algorithms)} under {where_runs}.\n  "
            + "\n  ".join(messages)
            + f"\nTrain them first: {run_cmd}"
        )

    refs: dict[str, Any] = {}
    for algo in plan.references:
        found = [r for r in by_algo.get(algo, []) if r.episodes_done >= 1]
        done = complete(found, plan.reference_budget.episodes)
        if not done:
            messages.append(f"reference {algo}: no complete run: its line is left out")
            continue
        if fig.kind == "vs_n":
            refs[algo] = {
                "per_n": {
                    str(n): _clean(t_interval(
                        [final_value(fig, r) for r in done if r.n_uds == n]
                    ).mean)
                    for n in sorted({r.n_uds for r in done})
                }
            }  # fmt: skip
        else:
            pick = final_value if fig.phase == "eval" else mean_value
            refs[algo] = {
                "value": _clean(t_interval([pick(fig, r) for r in done]).mean),
                "context": context_finals(done),
            }

    if fig.kind == "vs_n":
        per_n_verdicts = {
            n: verdict("best", fig.better, split_beyond(vals)[0])
            for n, vals in sorted(finals_n.items())
        }
        v, detail = combine_verdicts(per_n_verdicts)
        per_n_beyond = {n: beyond_detail(fig.better, vals) for n, vals in sorted(finals_n.items())}
        beyond_short = "; ".join(f"N = {n}: {b[0]}" for n, b in per_n_beyond.items() if b[0])
        beyond = "; ".join(f"N = {n}: {b[1]}" for n, b in per_n_beyond.items() if b[1])
        ucms_worse = sorted({a for b in per_n_beyond.values() for a in b[2].get("worse than", [])})
    else:
        v, detail = verdict(
            fig.claim.kind,
            fig.better,
            split_beyond(finals)[0],
            rival=fig.claim.rival,
            means=means or None,
            margin=fig.claim.margin,
        )
        beyond_short, beyond, groups = beyond_detail(fig.better, finals)
        ucms_worse = groups.get("worse than", [])

    for m in messages:
        warnings.warn(f"{fig.key}: {m}", stacklevel=2)
    sample = next(iter(runs))
    wall = [r.summary.get("wall_time_s", 0.0) for r in runs if r.summary]
    launches = _read_launches(plan.directory)
    return {
        "figure": fig.key,
        "title": fig.title,
        "profile": profile.name,
        "env": env,
        "preset": sample.preset,
        "env_overrides": profile.env_choice(env).overrides,
        "n_slots": sample.n_slots,
        "n_uds": sorted({r.n_uds for r in runs}),
        "metric": fig.metric,
        "phase": fig.phase,
        "kind": fig.kind,
        "ylabel": fig.ylabel,
        "unit": fig.unit,
        "better": fig.better,
        "smoothing": {
            "method": fig.smoothing if fig.phase == "train" else "none",
            "every": every,
            "window": smoothing_window(plan.budget.episodes, every)
            if fig.smoothing == "savgol"
            else None,
            "polyorder": 2 if fig.smoothing == "savgol" else None,
        },
        "budget": plan.budget.__dict__,
        "reference_episodes": plan.reference_budget.episodes,
        "algorithms": result_algos,
        "references": refs,
        "claim": {
            "text": fig.claim.text,
            "kind": fig.claim.kind,
            "verdict": v,
            "detail": detail,
            "beyond_paper": beyond,
            "beyond_paper_summary": beyond_short,
            "ucms_worse_than": ucms_worse,  # beyond-paper learners significantly better
        },
        "messages": messages,
        "runtime": {
            "sweep": plan.directory.name,
            "runs": len(runs),
            "worker_s": round(float(sum(wall)), 1),
            "launch_wall_s": round(sum(rec.get("wall_s", 0.0) for rec in launches), 1),
            "launchers": sorted({rec.get("launcher", "?") for rec in launches}),
        },
        "commands": {
            "run": run_cmd,
            "plot": f"python -m experiments plot {fig.key} --profile {profile.name} --env {env}",
        },
    }


def _read_launches(directory: Path) -> list[dict[str, Any]]:
    path = Path(directory) / "launches.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def result_stem(fig_key: str, env: str) -> str:
    return f"{fig_key}_{env}"


def write_result(result: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """``<fig>_<env>.json`` (everything) and ``<fig>_<env>.csv`` (the plotted numbers)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = result_stem(result["figure"], result["env"])
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(result, indent=1, default=_clean) + "\n")
    csv_path = out_dir / f"{stem}.csv"
    with csv_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["series", "algo", "x", "n_seeds", "mean", "ci95_low", "ci95_high"])
        for algo, entry in result["algorithms"].items():
            for row in entry.get("curve", []):
                w.writerow(["curve", algo, *(_fmt(v) for v in row)])
            if "final" in entry:
                f_ = entry["final"]
                w.writerow(
                    ["final", algo, "", f_["n"], *(_fmt(f_[k]) for k in ("mean", "low", "high"))]
                )
            for n, f_ in entry.get("per_n", {}).items():
                w.writerow(
                    ["final", algo, n, f_["n"], *(_fmt(f_[k]) for k in ("mean", "low", "high"))]
                )
        for algo, entry in result["references"].items():
            if "value" in entry:
                w.writerow(["reference", algo, "", "", _fmt(entry["value"]), "", ""])
            for n, v in entry.get("per_n", {}).items():
                w.writerow(["reference", algo, n, "", _fmt(v), "", ""])
    return json_path, csv_path


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)

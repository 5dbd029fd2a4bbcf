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
  compared with UCMS the same way in a separate line (``ClaimResult.beyond_paper``), so
  adding them never changes a verdict on what the paper claims.

:func:`aggregate_figure` returns a :class:`~experiments.records.FigureResult` (typed records,
written to JSON by :func:`write_result`).

Missing data is never silent: every algorithm without runs, every missing seed and every
incomplete run is reported (``warnings.warn`` and the result's ``messages``), what exists is
used, and a figure without any learner's run raises :class:`NoRunsError`.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
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
    short_label,
)
from experiments.launch import LAUNCHES_FILE, SweepPlan, plan_sweep
from experiments.profiles import Profile
from experiments.records import (
    AlgorithmResult,
    ClaimResult,
    Commands,
    CurvePoint,
    FigureResult,
    Interval,
    ReferenceResult,
    Runtime,
    SeedValues,
    Smoothing,
    clean,
)
from mec_env.config import make_config
from ucms_marl.paths import CONFIG_FILE, METRICS_FILE, SUMMARY_FILE

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
SAVGOL_POLYORDER = 2  # Savitzky-Golay polynomial order (Fig. 7)


class NoRunsError(RuntimeError):
    """A figure has no run of any of its algorithms."""


# --------------------------------------------------------------------------- statistics
def t_interval(values: Iterable[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean and two-sided Student-t confidence interval of the finite ``values``."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = x.size
    if n == 0:
        return Interval(mean=math.nan, low=math.nan, high=math.nan, n=0, std=math.nan)
    mean = float(x.mean())
    if n == 1:
        return Interval(mean=mean, low=math.nan, high=math.nan, n=1, std=math.nan)
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return Interval(mean=mean, low=mean - half, high=mean + half, n=n, std=std)


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test; NaN when either side has fewer than 2 values."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2 or b.size < 2:
        return math.nan
    if a.std(ddof=1) == 0 and b.std(ddof=1) == 0:
        return 0.0 if a.mean() != b.mean() else 1.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def smoothing_window(length: int, every: int, polyorder: int = SAVGOL_POLYORDER) -> int:
    """Savitzky-Golay window: about two down-sampling intervals, odd, at most ``length``."""
    window = 2 * max(1, every) + 1
    if window > length:
        window = length if length % 2 else length - 1
    return window if window > polyorder else 0


def savgol(y: np.ndarray, window: int, polyorder: int = SAVGOL_POLYORDER) -> np.ndarray:
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


def across_seeds(series: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[CurvePoint, ...]:
    """One point per x of the union of x; each x uses the seeds that have it."""
    by_x: dict[float, list[float]] = {}
    for xs, ys in series:
        for x, y in zip(np.asarray(xs).tolist(), np.asarray(ys, float).tolist()):
            if math.isfinite(y):
                by_x.setdefault(x, []).append(y)
    points = []
    for x in sorted(by_x):
        iv = t_interval(by_x[x])
        points.append(CurvePoint(x=x, n_seeds=iv.n, mean=iv.mean, low=iv.low, high=iv.high))
    return tuple(points)


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
        cfg = make_config(preset, **kwargs)
        return preset, int(cfg.n_uds), int(cfg.n_slots)
    except Exception:  # noqa: BLE001 - fall back on what the config states
        env = config.get("env", {})
        return preset, int(env.get("n_uds") or 0), int(env.get("n_slots") or 0)


def load_run(run_dir: Path) -> RunLog | None:
    run_dir = Path(run_dir)
    config_path = run_dir / CONFIG_FILE
    if not config_path.exists():
        return None
    config = json.loads(config_path.read_text())
    preset, n_uds, n_slots = _env_shape(config)
    metrics_path = run_dir / METRICS_FILE
    train, evals = read_metrics(metrics_path) if metrics_path.exists() else ({}, {})
    summary = None
    if (run_dir / SUMMARY_FILE).exists():
        try:
            summary = json.loads((run_dir / SUMMARY_FILE).read_text())
        except json.JSONDecodeError:
            summary = None
    return RunLog(
        path=run_dir, algo=str(config.get("algo")), seed=int(config.get("seed", 0)),
        preset=preset, n_uds=n_uds, n_slots=n_slots, train=train, eval=evals, summary=summary,
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


def context_finals(runs: Sequence[RunLog]) -> dict[str, Interval]:
    """Final evaluation of the context metrics across ``runs`` (rates in %)."""
    out = {}
    for metric in CONTEXT_METRICS:
        factor = 100.0 if metric.endswith("_rate") else 1.0
        values = []
        for r in runs:
            _, y = r.series("eval", metric)
            if y.size:
                values.append(float(y[-1]) * factor)
        out[metric] = t_interval(values)
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


@dataclass(frozen=True)
class Comparison:
    """UCMS against one rival on one measure: the difference of the means across seeds, signed
    so that positive is UCMS better, and Welch's p."""

    rival: str
    diff: float
    p: float

    @property
    def significant(self) -> bool:
        return not math.isnan(self.p) and self.p < SIGNIFICANCE

    def describe(self, what: str) -> str:
        """``<what>: better by 0.012 (Welch p = 0.003)``."""
        word = "better" if self.diff > 0 else "worse" if self.diff < 0 else "equal"
        p = "n/a" if math.isnan(self.p) else f"{self.p:.3g}"
        return f"{what}: {word} by {abs(self.diff):.4g} (Welch p = {p})"


def compare(values: dict[str, list[float]], rival: str, better: str) -> Comparison:
    """UCMS's per-seed ``values`` against ``rival``'s (``better``: higher or lower)."""
    sign = 1.0 if better == "higher" else -1.0
    diff = sign * (np.mean(values[UCMS]) - np.mean(values[rival]))
    return Comparison(rival, float(diff), welch_p(values[UCMS], values[rival]))


def _dominance(rows: list[Comparison], text: str, margin: float) -> tuple[str, str]:
    """``held`` if UCMS is significantly better on every row, ``not held`` if significantly
    worse on one, else ``mixed``."""
    if any(c.diff < 0 and c.significant for c in rows):
        return "not held", text
    if all(c.diff > 0 and c.significant for c in rows):
        return "held", text
    return "mixed", text


def _similarity(rows: list[Comparison], text: str, margin: float) -> tuple[str, str]:
    """``held`` unless a learner differs from UCMS significantly and by more than ``margin``."""
    within = f"significantly and by more than {margin:g}" if margin else "significantly"
    differ = [label(c.rival) for c in rows if c.significant and abs(c.diff) > margin]
    if not differ:
        return "held", f"no learner differs from UCMS {within}; {text}"
    return "not held", f"{', '.join(differ)} differ {within}; {text}"


@dataclass(frozen=True)
class ClaimRule:
    """How :func:`verdict` judges one kind of :class:`~experiments.catalog.Claim`: ``judge``
    turns the comparisons with UCMS (and their text) into a verdict; ``one_rival``: only
    against the claim's rival, on the final value and on the mean over training."""

    judge: Callable[[list[Comparison], str, float], tuple[str, str]]
    one_rival: bool = False


#: the claim kinds (catalog.Claim.kind); any other kind is judged as ``best``
CLAIM_RULES: dict[str, ClaimRule] = {
    "best": ClaimRule(_dominance),
    "best_each_n": ClaimRule(_dominance),  # per N (aggregate.combine_verdicts)
    "beats": ClaimRule(_dominance, one_rival=True),
    "similar": ClaimRule(_similarity),
}


def _rivals(rule: ClaimRule, finals: dict[str, list[float]], rival: str | None) -> list[str]:
    """The algorithms with complete runs that ``rule`` compares UCMS with."""
    others = [a for a in finals if a != UCMS and finals[a]]
    if rule.one_rival:
        return [rival] if rival in others else []
    return others


def verdict(
    claim_kind: str,
    better: str,
    finals: dict[str, list[float]],
    *,
    rival: str | None = None,
    means: dict[str, list[float]] | None = None,
    margin: float = 0.0,
) -> tuple[str, str]:
    """``held`` / ``not held`` / ``mixed`` / ``not tested`` and a one-line reason, by the
    claim kind's rule in :data:`CLAIM_RULES`."""
    rule = CLAIM_RULES.get(claim_kind, CLAIM_RULES["best"])
    if not finals.get(UCMS):
        return "not tested", f"no complete {label(UCMS)} run"
    others = _rivals(rule, finals, rival)
    if not others:
        return "not tested", "no complete run of any algorithm to compare with"
    rows = [compare(finals, o, better) for o in others]
    text = "; ".join(c.describe(f"vs {label(c.rival)}") for c in rows)
    if rule.one_rival and means and means.get(rival):
        rows.append(compare(means, rival, better))
        text += f"; {rows[-1].describe('mean over training')}"
    return rule.judge(rows, text, margin)


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
    groups: dict[str, list[str]] = {"better than": [], "worse than": [], "not separable from": []}
    for algo, values in beyond.items():
        if algo == UCMS or not values:
            continue
        c = compare(beyond, algo, better)
        outcome = ("better than" if c.diff > 0 else "worse than") if c.significant else None
        groups[outcome or "not separable from"].append(algo)
    short = "; ".join(f"{k} {', '.join(short_label(a) for a in v)}" for k, v in groups.items() if v)
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


@dataclass(frozen=True)
class _FigureRuns:
    """One figure's runs, grouped by algorithm, and where its messages collect."""

    fig: FigureSpec
    profile: Profile
    env: str
    plan: SweepPlan
    runs: list[RunLog]
    by_algo: dict[str, list[RunLog]]
    messages: list[str]

    @property
    def every(self) -> int:
        """Down-sampling interval of training curves: about ``curve_points`` points."""
        return max(1, self.plan.budget.episodes // max(1, self.profile.curve_points))

    def command(self, verb: str) -> str:
        """``python -m experiments run|plot`` for this figure, profile and env."""
        fig, profile, env = self.fig.key, self.profile.name, self.env
        return f"python -m experiments {verb} {fig} --profile {profile} --env {env}"

    @property
    def run_cmd(self) -> str:
        return self.command("run")


def _figure_runs(
    fig: FigureSpec, profile: Profile, env: str, runs_root: Path, references: Sequence[str]
) -> _FigureRuns:
    plan = plan_sweep(
        SweepRequest(sweep=fig.sweep, env=env, algorithms=list(fig.algorithms)),
        profile,
        runs_root,
        references=references,
        warn=False,
    )
    runs = load_runs(plan.directory)
    by_algo: dict[str, list[RunLog]] = {}
    for run in runs:
        by_algo.setdefault(run.algo, []).append(run)
    return _FigureRuns(
        fig=fig, profile=profile, env=env, plan=plan, runs=runs, by_algo=by_algo, messages=[]
    )


def _complete(found: list[RunLog], budget_episodes: int) -> list[RunLog]:
    return [r for r in found if r.episodes_done >= budget_episodes]


def _learner_runs(fr: _FigureRuns, algo: str) -> list[RunLog]:
    """``algo``'s runs; what is missing or unfinished goes to ``fr.messages``."""
    found = fr.by_algo.get(algo, [])
    plan = fr.plan
    if not found:
        if not algo_config_exists(algo):
            fr.messages.append(
                f"{algo}: not implemented in this checkout (no conf/algo/{algo}.yaml): skipped"
            )
        else:
            where = display_path(plan.directory)
            fr.messages.append(f"{algo}: no runs under {where}; run `{fr.run_cmd}`")
        return []
    seeds = plan.budget.seeds
    for n in plan.n_values:
        have = sorted(r.seed for r in found if n is None or r.n_uds == n)
        lacking = sorted(set(range(seeds)) - set(have))
        if lacking:
            where = "" if n is None else f" at N = {n}"
            fr.messages.append(
                f"{algo}{where}: seeds {lacking} missing ({len(have)} of {seeds} found): "
                "using what exists"
            )
    episodes = plan.budget.episodes
    for r in found:
        if r.episodes_done < episodes:
            fr.messages.append(
                f"{algo} seed {r.seed}{'' if plan.n_values == [None] else f' N {r.n_uds}'}:"
                f" {r.episodes_done} of {episodes} episodes (running or interrupted):"
                " in the curves, not in the final values"
            )
    return found


def _seed_values(values: list[float]) -> SeedValues:
    return SeedValues(interval=t_interval(values), values=tuple(values))


def _algorithm_result(fr: _FigureRuns, found: list[RunLog]) -> AlgorithmResult:
    """Finals (per N for ``vs_n``), context and curve of one learner's runs."""
    fig = fr.fig
    done = _complete(found, fr.plan.budget.episodes)  # in the order found
    seeds = tuple(sorted({r.seed for r in found}))
    if fig.kind == "vs_n":
        per_n = {
            str(n): _seed_values([final_value(fig, r) for r in done if r.n_uds == n])
            for n in sorted({r.n_uds for r in done})
        }
        return AlgorithmResult(seeds=seeds, per_n=per_n)
    by_seed = sorted(done, key=lambda r: r.seed)
    training = None
    if fig.phase == "train":
        training = _seed_values([mean_value(fig, r) for r in by_seed])
    return AlgorithmResult(
        seeds=seeds,
        final=_seed_values([final_value(fig, r) for r in by_seed]),
        mean_over_training=training,
        context=context_finals(done),
        curve=across_seeds([smoothed_series(fig, r, fr.every) for r in found]),
    )


def _reference_results(fr: _FigureRuns) -> dict[str, ReferenceResult]:
    """The reference policies' lines from their complete runs (the others reported)."""
    fig, refs = fr.fig, {}
    for algo in fr.plan.references:
        found = [r for r in fr.by_algo.get(algo, []) if r.episodes_done >= 1]
        done = _complete(found, fr.plan.reference_budget.episodes)
        if not done:
            fr.messages.append(f"reference {algo}: no complete run: its line is left out")
            continue
        if fig.kind == "vs_n":
            per_n = {
                str(n): t_interval([final_value(fig, r) for r in done if r.n_uds == n]).mean
                for n in sorted({r.n_uds for r in done})
            }
            refs[algo] = ReferenceResult(per_n=per_n)
        else:
            pick = final_value if fig.phase == "eval" else mean_value
            value = t_interval([pick(fig, r) for r in done]).mean
            refs[algo] = ReferenceResult(value=value, context=context_finals(done))
    return refs


def _claim_vs_n(fig: FigureSpec, algorithms: dict[str, AlgorithmResult]) -> ClaimResult:
    """The verdict of a figure over N: 'best' at each N, combined."""
    finals_n: dict[int, dict[str, list[float]]] = {}
    for algo, entry in algorithms.items():
        for n, values in (entry.per_n or {}).items():
            finals_n.setdefault(int(n), {})[algo] = list(values.values)
    finals_n = dict(sorted(finals_n.items()))
    per_n = {n: verdict("best", fig.better, split_beyond(v)[0]) for n, v in finals_n.items()}
    v, detail = combine_verdicts(per_n)
    beyond_n = {n: beyond_detail(fig.better, vals) for n, vals in finals_n.items()}
    return ClaimResult(
        text=fig.claim.text, kind=fig.claim.kind, verdict=v, detail=detail,
        beyond_paper="; ".join(f"N = {n}: {b[1]}" for n, b in beyond_n.items() if b[1]),
        beyond_paper_summary="; ".join(
            f"N = {n}: {b[0]}" for n, b in beyond_n.items() if b[0]
        ),
        ucms_worse_than=tuple(
            sorted({a for b in beyond_n.values() for a in b[2].get("worse than", [])})
        ),
    )  # fmt: skip


def _claim(fig: FigureSpec, algorithms: dict[str, AlgorithmResult]) -> ClaimResult:
    """The verdict on the paper's claim, and UCMS against the learners beyond the paper."""
    if fig.kind == "vs_n":
        return _claim_vs_n(fig, algorithms)
    finals = {a: list(e.final.values) for a, e in algorithms.items() if e.final is not None}
    means = {
        a: list(e.mean_over_training.values)
        for a, e in algorithms.items()
        if e.mean_over_training is not None
    }
    v, detail = verdict(
        fig.claim.kind, fig.better, split_beyond(finals)[0], rival=fig.claim.rival,
        means=means or None, margin=fig.claim.margin,
    )  # fmt: skip
    summary, beyond, groups = beyond_detail(fig.better, finals)
    return ClaimResult(
        text=fig.claim.text, kind=fig.claim.kind, verdict=v, detail=detail,
        beyond_paper=beyond, beyond_paper_summary=summary,
        ucms_worse_than=tuple(groups.get("worse than", [])),
    )  # fmt: skip


def _smoothing(fr: _FigureRuns) -> Smoothing:
    fig, savgol_ = fr.fig, fr.fig.smoothing == "savgol"
    return Smoothing(
        method=fig.smoothing if fig.phase == "train" else "none",
        every=fr.every,
        window=smoothing_window(fr.plan.budget.episodes, fr.every) if savgol_ else None,
        polyorder=SAVGOL_POLYORDER if savgol_ else None,
    )


def _runtime(fr: _FigureRuns) -> Runtime:
    """Worker time from the runs' summaries, wall time from the sweep's launch records."""
    wall = [r.summary.get("wall_time_s", 0.0) for r in fr.runs if r.summary]
    launches = _read_launches(fr.plan.directory)
    return Runtime(
        sweep=fr.plan.directory.name,
        runs=len(fr.runs),
        worker_s=round(float(sum(wall)), 1),
        launch_wall_s=round(sum(rec.get("wall_s", 0.0) for rec in launches), 1),
        launchers=tuple(sorted({rec.get("launcher", "?") for rec in launches})),
    )


def aggregate_figure(
    fig: FigureSpec,
    profile: Profile,
    env: str,
    runs_root: Path,
    *,
    references: Sequence[str] = REFERENCE_POLICIES,
) -> FigureResult:
    """Everything a figure shows, as a :class:`FigureResult` (see module docstring)."""
    fr = _figure_runs(fig, profile, env, runs_root, references)
    algorithms = {}
    for algo in fig.algorithms:
        found = _learner_runs(fr, algo)
        if found:
            algorithms[algo] = _algorithm_result(fr, found)
    if not algorithms:
        raise NoRunsError(
            f"{fig.key} ({profile.name}, env {env}): no run of "
            f"{', '.join(fig.algorithms)} under {display_path(fr.plan.directory)}.\n  "
            + "\n  ".join(fr.messages)
            + f"\nTrain them first: {fr.run_cmd}"
        )
    refs = _reference_results(fr)
    claim = _claim(fig, algorithms)
    for m in fr.messages:
        warnings.warn(f"{fig.key}: {m}", stacklevel=2)
    sample = fr.runs[0]
    return FigureResult(
        figure=fig.key, title=fig.title, profile=profile.name, env=env, preset=sample.preset,
        env_overrides=profile.env_choice(env).overrides, n_slots=sample.n_slots,
        n_uds=tuple(sorted({r.n_uds for r in fr.runs})), metric=fig.metric, phase=fig.phase,
        kind=fig.kind, ylabel=fig.ylabel, unit=fig.unit, better=fig.better,
        smoothing=_smoothing(fr), budget=fr.plan.budget,
        reference_episodes=fr.plan.reference_budget.episodes, algorithms=algorithms,
        references=refs, claim=claim, messages=tuple(fr.messages), runtime=_runtime(fr),
        commands=Commands(run=fr.run_cmd, plot=fr.command("plot")),
    )  # fmt: skip


def _read_launches(directory: Path) -> list[dict[str, Any]]:
    path = Path(directory) / LAUNCHES_FILE
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


def write_result(result: FigureResult, out_dir: Path) -> tuple[Path, Path]:
    """``<fig>_<env>.json`` (everything) and ``<fig>_<env>.csv`` (the plotted numbers)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = result_stem(result.figure, result.env)
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(result.as_dict(), indent=1, default=clean) + "\n")
    csv_path = out_dir / f"{stem}.csv"
    with csv_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["series", "algo", "x", "n_seeds", "mean", "ci95_low", "ci95_high"])
        w.writerows(_csv_rows(result))
    return json_path, csv_path


def _csv_rows(result: FigureResult) -> list[list[Any]]:
    """The plotted numbers: curve points, finals (per N), reference values (per N)."""

    def final(algo: str, x: str, v: SeedValues) -> list[Any]:
        iv = v.interval
        return ["final", algo, x, iv.n, *(_fmt(clean(u)) for u in (iv.mean, iv.low, iv.high))]

    rows: list[list[Any]] = []
    for algo, entry in result.algorithms.items():
        rows += [["curve", algo, *(_fmt(v) for v in p.as_row())] for p in entry.curve or ()]
        if entry.final is not None:
            rows.append(final(algo, "", entry.final))
        rows += [final(algo, n, v) for n, v in (entry.per_n or {}).items()]
    for algo, ref in result.references.items():
        if ref.per_n is None:
            rows.append(["reference", algo, "", "", _fmt(clean(ref.value)), "", ""])
        for n, v in (ref.per_n or {}).items():
            rows.append(["reference", algo, n, "", _fmt(clean(v)), "", ""])
    return rows


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)

"""The end-of-run summary: a learner's evaluation cost next to the reference policies'.

After training, :func:`reference_costs` plays the reference heuristics ``greedy``,
``all_offload`` and ``all_local`` (:mod:`mec_env.policies`) on the run's environment settings
and on the same fixed evaluation seeds as the run's evaluations, and :func:`format_summary`
prints a few lines a person reads at the end of ``ucms-train``: the final cost (the last
policy, ``policy.pt``) and the best evaluation's (``policy_best.pt``) against the
references, the trend over the run's evaluations, and where the files are. A reference
policy that needs other settings says so (``greedy`` admits with ``saving_first`` when the
ESs are not learned agents; that is part of the heuristic), and the summary names them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from ucms_marl.paths import (
    BEST_POLICY_NAME,
    CHECKPOINT_NAME,
    METRICS_FILE,
    POLICY_NAME,
    SUMMARY_FILE,
)

REFERENCES = ("greedy", "all_offload", "all_local")
#: costs closer than this (relative) are "equal to" in the summary's comparisons and trend
RELATIVE_TOLERANCE = 1e-4


def reference_costs(
    env_kwargs: Mapping[str, Any],
    eval_episodes: int,
    eval_seed: int,
    policies: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Mean evaluation cost per UD-slot of each reference policy on ``env_kwargs`` and the
    evaluation seeds ``eval_seed + j``, j < ``eval_episodes``; with the settings each used.
    Default policies: :data:`REFERENCES`, ``drift_plus_penalty`` on a time-coupled preset
    (docs/environment.md, "Time-coupled presets") and ``best_split`` with DNN split tasks."""
    from mec_env.config import make_config
    from mec_env.policies import env_overrides_for

    if policies is None:
        kwargs = {k: v for k, v in env_kwargs.items() if k != "preset"}
        cfg = make_config(env_kwargs.get("preset", "paper_kb"), **kwargs)
        policies = (REFERENCES + (("drift_plus_penalty",) if cfg.queued else ())
                    + (("best_split",) if cfg.split_tasks else ()))  # fmt: skip
    from ucms_marl.learners.heuristic import HeuristicLearner
    from ucms_marl.rollout import evaluate, make_vector_env, mean_metrics

    out: dict[str, dict[str, Any]] = {}
    for name in policies:
        kwargs = {**env_kwargs, **env_overrides_for(name)}
        changed = {k: v for k, v in kwargs.items() if env_kwargs.get(k) != v}
        envs = make_vector_env(kwargs, max(1, min(eval_episodes, 10)))
        cfg = OmegaConf.create({"name": "heuristic", "policy": name})
        learner = HeuristicLearner(cfg, envs.spec, device=None, seed=0)
        metrics = mean_metrics(evaluate(envs, learner, eval_episodes, eval_seed))
        envs.close()
        out[name] = {"cost": metrics["cost"], "timeout_rate": metrics["timeout_rate"],
                     "settings": changed}  # fmt: skip
    return out


def eval_curve(run_dir: str | Path) -> list[tuple[int, float]]:
    """(episode, cost) of every evaluation in the run's ``metrics.jsonl``."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    curve = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record.get("phase") == "eval":
            curve.append((int(record["episode"]), float(record["cost"])))
    return curve


def _same(a: float, b: float) -> bool:
    return bool(np.isclose(a, b, rtol=RELATIVE_TOLERANCE, atol=1e-12))


def _verdict(first: float, last: float, best: float) -> str:
    at_best = _same(first, best)  # e.g. a heuristic, or a learner that starts at the optimum
    if _same(last, first):
        return "stayed at its best from the first evaluation" if at_best else "ended where it began"
    if last < first:
        return "went down"
    return "went up from its best at the first evaluation" if at_best else "went up"


def trend(curve: Sequence[tuple[int, float]]) -> str:
    """A one-line description of an evaluation curve (lower cost is better); costs within
    :data:`RELATIVE_TOLERANCE` of each other count as equal."""
    if not curve:
        return "no evaluation was run"
    costs = np.array([c for _, c in curve])
    first, last, best = costs[0], costs[-1], costs.min()
    best_episode = curve[int(costs.argmin())][0]
    points = ", ".join(f"{c:.4f}" for c in costs[-8:])
    more = "... " if len(costs) > 8 else ""
    if len(costs) == 1:
        return f"one evaluation: {last:.4f}"
    return (
        f"{_verdict(first, last, best)}: {first:.4f} at episode {curve[0][0]} -> {last:.4f} at "
        f"episode {curve[-1][0]} (best {best:.4f} at episode {best_episode}; curve "
        f"{more}{points})"
    )


def comparison(cost: float, references: Mapping[str, Mapping[str, Any]]) -> str:
    """The line under the cost table: which references the run is below, equal to (within
    :data:`RELATIVE_TOLERANCE`) or above."""
    groups: dict[str, list[str]] = {"below": [], "equal to": [], "above": []}
    for name, ref in references.items():
        where = (
            "equal to" if _same(cost, ref["cost"]) else "below" if cost < ref["cost"] else "above"
        )
        groups[where].append(name)
    if not groups["below"] and not groups["equal to"]:
        return "  -> above every reference policy"
    return "  -> " + "; ".join(f"{k} {', '.join(v)}" for k, v in groups.items() if v)


def _run_rows(summary: Mapping[str, Any]) -> list[tuple[str, float, str]]:
    """The run's rows of the cost table: its last evaluation (``policy.pt``) and, when an
    earlier evaluation was better, the best one (``policy_best.pt``)."""
    final, best = summary["eval"], summary.get("best")
    last_episode = summary.get("eval_episode", summary["episodes"])
    policy = best.get("policy") if best else None  # None: a policy that does not learn
    if not policy:
        return [(summary["algo"], final["cost"], "this run")]
    if best["episode"] == last_episode:
        return [(summary["algo"], final["cost"],
                 f"this run, last and best: {POLICY_NAME} (episode {last_episode})")]  # fmt: skip
    return [
        (summary["algo"], final["cost"], f"this run, last: {POLICY_NAME} (episode {last_episode})"),
        ("best", best["cost"], f"this run, best: {policy} (episode {best['episode']})"),
    ]


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory when it lies inside it (shorter to read)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def format_summary(
    summary: Mapping[str, Any],
    references: Mapping[str, Mapping[str, Any]],
    curve: Sequence[tuple[int, float]],
    *,
    tensorboard_root: str | Path | None = None,
) -> str:
    """The human summary printed at the end of ``ucms-train``."""
    run_dir = _shown(Path(summary["run_dir"]))
    lines = [f"== {summary['algo']} on {summary['env']}, seed {summary['seed']}: "
             f"{summary['episodes']} episodes, {summary['updates']} updates, "
             f"{summary['wall_time_s'] / 60:.1f} min"]  # fmt: skip
    final = summary.get("eval")
    if final is not None:
        lines.append(
            f"evaluation cost per UD-slot (lower is better, {summary.get('eval_episodes', '?')} "
            f"episodes on the fixed evaluation seeds):"
        )
        rows = _run_rows(summary)
        for name, ref in references.items():
            note = ", ".join(f"{k}={v}" for k, v in ref.get("settings", {}).items())
            rows.append((name, ref["cost"], f"reference{' (' + note + ')' if note else ''}"))
        width = max(len(r[0]) for r in rows)
        for name, cost, note in sorted(rows, key=lambda r: r[1]):
            lines.append(f"  {name:<{width}}  {cost:.4f}  {note}")
        lines.append(comparison(final["cost"], references))
    lines.append(f"trend: {trend(curve)}")
    lines.append(f"run directory: {run_dir}")
    lines.append(f"  metrics: {run_dir / METRICS_FILE}, summary: {run_dir / SUMMARY_FILE}")
    for name in (CHECKPOINT_NAME, POLICY_NAME, BEST_POLICY_NAME):
        if (run_dir / name).exists():
            size = (run_dir / name).stat().st_size / 2**20
            lines.append(f"  {name}: {run_dir / name} ({size:.1f} MiB)")
    lines.append(f"  TensorBoard: tensorboard --logdir {tensorboard_root or run_dir}")
    return "\n".join(lines)

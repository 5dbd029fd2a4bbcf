"""Markdown table of final evaluation metrics per algorithm, from a sweep's ``summary.json`` files.

    python benchmarks/algorithms_table.py runs/sweeps/2026-01-01_12-00-00
    python benchmarks/algorithms_table.py SWEEP_DIR --metrics cost offload_rate --curve
    python benchmarks/algorithms_table.py SWEEP_DIR --by learner.ud_critic_target

Reads every ``<run>/summary.json`` under the sweep directory (what ``ucms_marl.train`` writes
at the end of a run: the last evaluation's metrics, mean over the fixed evaluation episodes),
groups the runs by algorithm (and by the ``--by`` config keys), and prints one row per
group: the mean over seeds, the standard deviation over seeds, and each seed's value of the
first metric, then the means of the others; with ``--curve``, also the mean over seeds of
the first metric at every evaluation (from ``metrics.jsonl``). ``docs/algorithms.md`` pastes
this output; nothing in it is typed by hand.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

ORDER = [
    "ucms_maddpg", "rd_ucms_maddpg", "maddpg", "offloadcost_maddpg", "deadline_maddpg", "greedy",
]  # fmt: skip


def run_name(summary_path: Path, by: list[str]) -> str:
    """The run's algorithm, plus ``key=value`` for each dotted config key in ``by``."""
    name = json.loads(summary_path.read_text())["algo"]
    if by:
        config = json.loads((summary_path.parent / "config.json").read_text())
        for key in by:
            value = config
            for part in key.split("."):
                value = value[part]
            name += f" {key}={value}"
    return name


def load(sweep: Path, by: list[str] = ()) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(sweep.rglob("summary.json")):
        summary = json.loads(path.read_text())
        if summary.get("eval"):
            runs[run_name(path, by)].append(summary)
    if not runs:
        raise SystemExit(f"no summary.json with an evaluation under {sweep}")
    return runs


def _table_row(algo: str, seeds: list[dict], first: str, rest: list[str]) -> str:
    """One algorithm's row: its seeds' mean, std and values of ``first``, the means of the
    rest."""
    by_seed = sorted(seeds, key=lambda s: s["seed"])
    values = np.array([s["eval"][first] for s in by_seed])
    per_seed = ", ".join(f"{s['seed']}: {v:.4f}" for s, v in zip(by_seed, values, strict=True))
    std = values.std(ddof=1) if len(values) > 1 else 0.0
    row = f"| `{algo}` | {len(values)} | {values.mean():.4f} | {std:.4f} | {per_seed} |"
    for m in rest:
        row += f" {np.mean([s['eval'][m] for s in by_seed]):.3f} |"
    return row


def _table_note(runs: dict[str, list[dict]]) -> str:
    """The line under the table: episodes, envs and wall time per run."""
    episodes = sorted({s["episodes"] for r in runs.values() for s in r})
    return (
        f"Final evaluation after {', '.join(map(str, episodes))} training episodes; "
        f"env {sorted({s['env'] for r in runs.values() for s in r})}; wall time per run "
        f"{min(s['wall_time_s'] for r in runs.values() for s in r) / 60:.1f}-"
        f"{max(s['wall_time_s'] for r in runs.values() for s in r) / 60:.1f} min."
    )


def table(runs: dict[str, list[dict]], metrics: list[str]) -> str:
    first, rest = metrics[0], metrics[1:]
    algos = [a for a in ORDER if a in runs] + sorted(a for a in runs if a not in ORDER)
    head = f"| algorithm | seeds | {first} mean | std over seeds | per seed |"
    head += "".join(f" {m} |" for m in rest)
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for algo in algos:  # an algorithm, or an algorithm plus its --by values
        lines.append(_table_row(algo, runs[algo], first, rest))
    lines.append("")
    lines.append(_table_note(runs))
    return "\n".join(lines)


def curve(sweep: Path, metric: str, by: list[str] = ()) -> str:
    """Mean over seeds of ``metric`` at every evaluation, from each run's ``metrics.jsonl``."""
    points: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(sweep.rglob("summary.json")):
        algo = run_name(path, by)
        for line in (path.parent / "metrics.jsonl").read_text().splitlines():
            record = json.loads(line)
            if record["phase"] == "eval":
                points[algo][record["episode"]].append(record[metric])
    episodes = sorted({e for by_episode in points.values() for e in by_episode})
    algos = [a for a in ORDER if a in points] + sorted(a for a in points if a not in ORDER)
    lines = [f"| algorithm | {' | '.join(f'{metric} @ {e}' for e in episodes)} |"]
    lines.append("|" + "---|" * (len(episodes) + 1))
    for algo in algos:
        cells = [
            f"{np.mean(points[algo][e]):.4f}" if points[algo].get(e) else "–" for e in episodes
        ]
        lines.append(f"| `{algo}` | {' | '.join(cells)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sweep", type=Path, help="a Hydra sweep directory (or any parent)")
    parser.add_argument(
        "--metrics",
        nargs="+",
        default=["cost", "offload_rate", "participation_rate", "timeout_rate", "return"],
        help="evaluation metrics; the first gets mean, std and per-seed values",
    )
    parser.add_argument(
        "--curve", action="store_true", help="also the first metric at every evaluation"
    )
    parser.add_argument(
        "--by", nargs="*", default=[], help="dotted config keys that also name a row, e.g. "
        "learner.ud_critic_target (read from each run's config.json)",
    )  # fmt: skip
    args = parser.parse_args()
    print(table(load(args.sweep, args.by), args.metrics))
    if args.curve:
        print()
        print(curve(args.sweep, args.metrics[0], args.by))


if __name__ == "__main__":
    main()

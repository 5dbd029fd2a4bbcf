"""The V sweep of the drift-plus-penalty reference policy (mec_env.lookahead) beside greedy,
all_offload and all_local on the time-coupled presets, on the trainer's evaluation episodes.

    OMP_NUM_THREADS=1 python benchmarks/dpp_v_sweep.py --out benchmarks/results/dpp_v_sweep.txt
    python benchmarks/dpp_v_sweep.py --presets queue_small --v 0.3 1 3 --episodes 10

Evaluation episode j is reset with ``eval_seed + j`` (``ucms_marl/conf/config.yaml``:
eval_seed 1000000; ``ucms_marl.rollout.eval_seeds``), so the numbers compare with a learner's
evaluation on the same preset (its first 5 episodes by default). Each policy is played in
``mec_env.parallel_env(preset, matcher="max_gain", **env_overrides_for(name))``, the
environment ``ucms-train algo=<name>`` evaluates the heuristics in (``conf/algo/*.yaml``:
matcher max_gain; greedy and all_offload without ES agents and with their admission rule,
drift_plus_penalty with its ES agents). Per episode: the mean over slots and UDs of
``last_step["cost"]`` (drop costs included) and the drop rate, tasks dropped / (tasks served
+ dropped) (the episode's end drops what is still queued, so that is every task that arrived).
Printed: the mean cost per UD-slot with its 95% Student-t interval over the episodes, the
mean drop rate, and per preset the V of least mean cost against greedy.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import mec_env
from mec_env.policies import env_overrides_for, make_policy

ROOT = Path(__file__).resolve().parent.parent
EVAL_SEED = 1_000_000  # ucms_marl/conf/config.yaml eval_seed
PRESETS = ("queue", "queue_heavy", "queue_small", "queue_energy")
REFERENCES = ("greedy", "all_offload", "all_local")
#: V grid (tasks per cost unit): per-task costs are ~0.02-0.3 and a drop costs 1, so V·C
#: against a queue of 1-10 tasks spans "serve at once" (V ≤ 1) to "cost first" (V ≥ 30)
V_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
MATCHER = "max_gain"


def episode(name: str, preset: str, seed: int, **params: float) -> tuple[float, float]:
    """Policy ``name``'s (mean cost per UD-slot, drop rate) in the episode of env seed
    ``seed``; ``params`` go to the policy's class (``v=...``)."""
    env = mec_env.parallel_env(preset, matcher=MATCHER, **env_overrides_for(name))
    policy = make_policy(name, env, seed=0, **params)
    obs, _ = env.reset(seed=seed)
    cost, served, dropped, slots = 0.0, 0, 0, 0
    while env.agents:
        obs, *_ = env.step(policy(obs))
        out = env.unwrapped.last_step
        cost += float(np.mean(out["cost"]))
        served += int(np.sum(out["served"]))
        dropped += int(np.sum(out["dropped"]))
        slots += 1
    return cost / slots, dropped / max(served + dropped, 1)


def t_interval(x: np.ndarray) -> tuple[float, float]:
    """(mean, half width) of the 95% Student-t interval of the mean of ``x``."""
    from scipy.stats import t

    if x.size < 2:
        return float(np.mean(x)), float("nan")
    half = float(t.ppf(0.975, x.size - 1) * np.std(x, ddof=1) / np.sqrt(x.size))
    return float(np.mean(x)), half


def rows(preset: str, seeds: list[int], v_grid: tuple[float, ...]) -> list[tuple]:
    """``(policy, V or None, costs (E,), drop rates (E,))`` for the references and every V."""
    runs: list[tuple[str, float | None]] = [(name, None) for name in REFERENCES]
    runs += [("drift_plus_penalty", v) for v in v_grid]
    out = []
    for name, v in runs:
        params = {} if v is None else {"v": v}
        got = np.array([episode(name, preset, s, **params) for s in seeds])
        out.append((name, v, got[:, 0], got[:, 1]))
    return out


def table(preset: str, seeds: list[int], v_grid: tuple[float, ...]) -> str:
    """One preset's table and its best-V line."""
    start = time.perf_counter()
    results = rows(preset, seeds, v_grid)
    lines = [f"## {preset} ({len(seeds)} episodes, seeds {seeds[0]}..{seeds[-1]})",
             f"| {'policy':<20} | {'V':>6} | {'cost per UD-slot [95% CI]':>28} | "
             f"{'drop rate':>9} |",
             f"|{'-' * 22}|{'-' * 8}|{'-' * 30}|{'-' * 11}|"]  # fmt: skip
    for name, v, cost, drop in results:
        mean, half = t_interval(cost)
        cell = f"{mean:.4f} [{mean - half:.4f}, {mean + half:.4f}]"
        v_cell = "" if v is None else f"{v:g}"
        lines.append(f"| {name:<20} | {v_cell:>6} | {cell:>28} | {np.mean(drop):>9.4f} |")
    greedy = float(np.mean(results[0][2]))
    sweep = {v: float(np.mean(cost)) for _, v, cost, _ in results if v is not None}
    v_best = min(sweep, key=sweep.get)
    mean = sweep[v_best]
    near = ", ".join(f"{v:g}" for v, m in sweep.items() if m <= 1.01 * mean)
    change = 100 * (mean / greedy - 1)
    took = time.perf_counter() - start
    lines.append(f"best V = {v_best:g} (within 1%: V = {near}): {mean:.4f} vs greedy "
                 f"{greedy:.4f} ({change:+.1f}%); {took:.0f} s")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--v", nargs="+", type=float, default=list(V_GRID))
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="also write the tables here")
    args = parser.parse_args(argv)
    seeds = [EVAL_SEED + j for j in range(args.episodes)]
    parts = [
        "drift_plus_penalty V sweep (benchmarks/dpp_v_sweep.py): mean cost per UD-slot "
        f"(drops included), matcher {MATCHER}, evaluation seeds eval_seed + j"
    ]
    for preset in args.presets:
        parts.append(table(preset, seeds, tuple(args.v)))
        print(parts[-1] + "\n", flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n\n".join(parts) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

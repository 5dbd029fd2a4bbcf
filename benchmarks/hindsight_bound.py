"""The hindsight lower bound (mec_env.bounds) beside greedy, all_offload and drift_plus_penalty
on the trainer's evaluation episodes.

    python benchmarks/hindsight_bound.py                      # queue_small, 10 eval seeds
    python benchmarks/hindsight_bound.py --preset queue_heavy --episodes 20

Evaluation episode j is reset with ``eval_seed + j`` (``conf/config.yaml``: eval_seed
1000000, eval_episodes 10; ``ucms_marl.rollout.eval_seeds``), so the numbers compare with
any learner's evaluation on the same preset. Each reference policy is played in
``mec_env.parallel_env(preset, **env_overrides_for(name))`` as ``ucms-eval`` plays it; the
metric is the episode's mean per UD-slot of ``last_step["cost"]``. Prints one row per seed
(``drop``: tasks the bound's optimum leaves undispatched, each costing ``drop_cost``) and the
mean with its 95% t-interval over seeds; ``--out`` also writes the table.
``drift_plus_penalty`` is compared when it is registered in ``mec_env.policies``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import mec_env
from mec_env.bounds import hindsight_bound
from mec_env.policies import POLICIES as REGISTERED
from mec_env.policies import env_overrides_for, make_policy

ROOT = Path(__file__).resolve().parent.parent
EVAL_SEED = 1_000_000  # conf/config.yaml eval_seed
EVAL_EPISODES = 10  # conf/config.yaml eval_episodes
POLICIES = tuple(p for p in ("greedy", "all_offload", "drift_plus_penalty") if p in REGISTERED)


def realised_cost(name: str, preset: str, seed: int) -> float:
    """Policy ``name``'s mean cost per UD-slot in the episode of env seed ``seed``."""
    env = mec_env.parallel_env(preset, **env_overrides_for(name))
    policy = make_policy(name, env, seed=0)
    obs, _ = env.reset(seed=seed)
    costs = []
    while env.agents:
        obs, *_ = env.step(policy(obs))
        costs.append(env.unwrapped.last_step["cost"])
    return float(np.mean(costs))


def t_interval(x: np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high): the 95% Student-t interval of the mean."""
    from scipy.stats import t

    mean = float(np.mean(x))
    half = float(t.ppf(0.975, x.size - 1) * np.std(x, ddof=1) / np.sqrt(x.size))
    return mean, mean - half, mean + half


def table(preset: str, seeds: list[int]) -> str:
    """The per-seed rows and the mean row of the bound and each policy in ``POLICIES``."""
    names = " ".join(f"{p:>{max(11, len(p))}}" for p in POLICIES)
    head = f"{'seed':>8} {'tasks':>5} {'vars':>5} {'drop':>4} {'bound':>8} {names} {'solve s':>7}"
    lines = [head]
    cols: dict[str, list[float]] = {"bound": [], **{p: [] for p in POLICIES}}
    for seed in seeds:
        b = hindsight_bound(preset, seed)
        if not b.optimal:
            raise RuntimeError(f"seed {seed}: HiGHS did not prove optimality: {b.status}")
        cols["bound"].append(b.bound)
        for p in POLICIES:
            cols[p].append(realised_cost(p, preset, seed))
        drop = b.n_dropped + b.n_flushed
        lines.append(f"{seed:>8} {b.n_tasks:>5} {b.n_vars:>5} {drop:>4} {b.bound:>8.4f} "
                     + " ".join(f"{cols[p][-1]:>{max(11, len(p))}.4f}" for p in POLICIES)
                     + f" {b.solve_s:>7.3f}")  # fmt: skip
    lines.append("")
    for name, x in cols.items():
        mean, low, high = t_interval(np.asarray(x))
        lines.append(f"{name:>11}: {mean:.4f} [{low:.4f}, {high:.4f}]")
    for p in POLICIES:
        gap = np.asarray(cols[p]) / np.asarray(cols["bound"])
        lines.append(f"{p} / bound per seed: {gap.min():.2f} .. {gap.max():.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="queue_small")
    parser.add_argument("--episodes", type=int, default=EVAL_EPISODES)
    parser.add_argument("--eval-seed", type=int, default=EVAL_SEED)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/hindsight_bound.txt")
    args = parser.parse_args(argv)
    seeds = [args.eval_seed + j for j in range(args.episodes)]
    title = (f"# hindsight lower bound vs realised cost per UD-slot, {args.preset}, "
             f"eval seeds {seeds[0]}..{seeds[-1]} (mean [95% t-interval] over seeds)")  # fmt: skip
    text = f"{title}\n{table(args.preset, seeds)}\n"
    print(text, end="")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

"""The reference policies on a time-coupled preset: cost, drops, waits and splits.

    python benchmarks/queue_references.py                          # urban_split_queue
    python benchmarks/queue_references.py --rates 0.03 0.15 0.3    # an arrival-rate sweep
    python benchmarks/queue_references.py --preset queue_heavy --episodes 5

Plays each policy on the trainer's evaluation episodes (episode j reset with seed
1,000,000 + j, ``eval_seed``) in the setting ``ucms-eval algo=<policy>`` plays it: the policy's
``env_overrides`` and the ``max_gain`` matching of the heuristics' algo files, so the cost
column is ``ucms-eval``'s. Per policy: the mean cost per UD-slot with its 95 % t-interval over
the episodes, the share of the arrived tasks that were dropped (a full queue, an expired
deadline, the episode's end), the mean wait of a served task, the share of served tasks
offloaded and, with DNN split tasks, the share of the offloaded ones that ran units on the UD
first (0 < s). Written up in docs/environment.md ("Combined: urban_split_queue"); output in
benchmarks/results/urban_split_queue_references.txt.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import mec_env  # noqa: E402
from mec_env.policies import env_overrides_for, make_policy  # noqa: E402

POLICIES = ("all_local", "all_offload", "greedy", "best_split", "drift_plus_penalty")
EVAL_SEED = 1_000_000


def _tally(totals: dict[str, float], s: dict[str, np.ndarray]) -> None:
    """Add one slot's counts (``env.last_step`` ``s``) to ``totals``."""
    served, off = s["served"], s["offloaded"]
    totals["served"] += int(served.sum())
    totals["dropped"] += int(s["dropped"].sum())
    totals["wait_s"] += float(s["wait_s"][served].sum())
    totals["offloaded"] += int(off.sum())
    if "split" in s:
        totals["split"] += int((s["split"][off] > 0).sum())


def play(preset: str, name: str, episodes: int, **overrides) -> dict[str, float]:
    """Policy ``name`` on ``episodes`` evaluation episodes: the columns of the module
    docstring."""
    env = mec_env.parallel_env(preset, matcher="max_gain", **{**overrides,
                               **env_overrides_for(name)})  # fmt: skip
    policy = make_policy(name, env, seed=0)
    totals = dict.fromkeys(("served", "dropped", "wait_s", "offloaded", "split"), 0.0)
    costs = []
    for j in range(episodes):
        obs, _ = env.reset(seed=EVAL_SEED + j)
        slot_costs = []
        while env.agents:
            obs, *_ = env.step(policy(obs))
            slot_costs.append(env.last_step["cost"].mean())
            _tally(totals, env.last_step)
        costs.append(np.mean(slot_costs))
    c = np.asarray(costs)
    half = 0.0
    if c.size > 1:
        from scipy import stats

        half = float(stats.t.ppf(0.975, c.size - 1) * c.std(ddof=1) / np.sqrt(c.size))
    served = max(totals["served"], 1.0)
    return {
        "cost": float(c.mean()),
        "half": half,
        "dropped": totals["dropped"] / max(totals["served"] + totals["dropped"], 1.0),
        "wait_ms": 1000.0 * totals["wait_s"] / served,
        "offloaded": totals["offloaded"] / served,
        "split": totals["split"] / max(totals["offloaded"], 1.0),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="urban_split_queue")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--rates", type=float, nargs="*", default=None,
                        help="arrival rates to play (default: the preset's)")  # fmt: skip
    parser.add_argument("--policies", nargs="+", default=list(POLICIES))
    args = parser.parse_args(argv)
    if not mec_env.parallel_env(args.preset).config.queued:
        parser.error(f"{args.preset} has no queues (queue_capacity 0): use a time-coupled preset")
    print(f"# {args.preset}, {args.episodes} episodes, seeds {EVAL_SEED} + j, max_gain matching")
    print("| arrival rate | policy | cost per UD-slot | tasks dropped | mean wait | offloaded "
          "| of them split after local units |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for rate in args.rates or [None]:
        overrides = {} if rate is None else {"arrival_rate": rate}
        shown = mec_env.parallel_env(args.preset, **overrides).config.arrival_rate
        for name in args.policies:
            r = play(args.preset, name, args.episodes, **overrides)
            cells = (f"{shown:g}", f"`{name}`", f"{r['cost']:.4f} ± {r['half']:.4f}",
                     f"{100 * r['dropped']:.1f} %", f"{r['wait_ms']:.1f} ms",
                     f"{100 * r['offloaded']:.1f} %", f"{100 * r['split']:.1f} %")  # fmt: skip
            print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

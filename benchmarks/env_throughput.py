"""Throughput of the MEC environment against PettingZoo MPE ``simple_spread``, in one run.

Prints env-steps/s and agent-steps/s of ``mec_env.parallel_env`` (preset ``paper_kb``, ES
agents on) for N = 12, 48, 480, 4800 UDs with M = ceil(N/16) servers (so every UD can be
matched, N ≤ M·z_max), for the ``co_selection`` and ``max_gain`` matchers, and of MPE
``simple_spread_v3`` (package ``mpe2``) with N = 48 agents; then the ratios measured in the
same run: the cost per agent-step relative to N = 48, and MEC against MPE at N = 48.

Actions are random, sampled once into a small pool before timing, so the figures time the
environment and not the sampler. ``reset()`` runs inside the timed loop whenever an episode
ends (every T = 10 steps for MEC, 25 for MPE): it draws and matches a slot, like ``step``.
An agent-step is one agent's action executed (N + M agents for MEC with ES agents).

    python benchmarks/env_throughput.py            # ~3 s per configuration
    python benchmarks/env_throughput.py --quick    # ~0.3 s per configuration
    python benchmarks/env_throughput.py --sizes 48 480 --matchers max_gain --no-mpe

This is a script that prints a table, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

SIZES = (12, 48, 480, 4800)
MATCHERS = ("co_selection", "max_gain")
REFERENCE_N = 48
Z_MAX = 16  # paper_kb's ES user capacity


@dataclass
class Result:
    label: str
    n_uds: int
    n_servers: int | None
    n_agents: int
    steps: int
    seconds: float

    @property
    def env_steps_per_s(self) -> float:
        return self.steps / self.seconds

    @property
    def agent_steps_per_s(self) -> float:
        return self.env_steps_per_s * self.n_agents

    @property
    def us_per_agent_step(self) -> float:
        return 1e6 / self.agent_steps_per_s


def _time_loop(
    env: Any, pool: list[dict], seconds: float, min_steps: int, seed: int
) -> tuple[int, float]:
    """Steps ``env`` with the pooled actions for ``seconds`` (at least ``min_steps``),
    resetting when an episode ends; returns (steps, elapsed seconds)."""
    env.reset(seed=seed)
    env.step(pool[0])  # warm-up: first-call allocations, lazy imports
    env.reset(seed=seed)
    steps = 0
    start = time.perf_counter()
    elapsed = 0.0
    while steps < min_steps or elapsed < seconds:
        if not env.agents:
            env.reset()
        env.step(pool[steps % len(pool)])
        steps += 1
        elapsed = time.perf_counter() - start
    return steps, elapsed


def bench_mec(
    n_uds: int, matcher: str, seconds: float, min_steps: int, pool_size: int, seed: int
) -> Result:
    import mec_env

    n_servers = math.ceil(n_uds / Z_MAX)
    env = mec_env.parallel_env(
        "paper_kb", n_uds=n_uds, n_servers=n_servers, matcher=matcher, es_agents=True
    )
    rng = np.random.default_rng(seed)
    pool = []
    for _ in range(pool_size):
        ud = rng.random((n_uds, 3), dtype=np.float32)
        es = rng.integers(0, 2, size=(n_servers, Z_MAX), dtype=np.int8)
        actions = dict(zip(env.ud_agents, ud, strict=True))
        actions.update(zip(env.es_agent_names, es, strict=True))
        pool.append(actions)
    steps, elapsed = _time_loop(env, pool, seconds, min_steps, seed)
    return Result(f"mec {matcher}", n_uds, n_servers, len(env.possible_agents), steps, elapsed)


def bench_mpe(n_agents: int, seconds: float, min_steps: int, pool_size: int, seed: int) -> Result:
    from mpe2 import simple_spread_v3

    env = simple_spread_v3.parallel_env(N=n_agents, max_cycles=25, continuous_actions=False)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    pool = [
        {a: int(rng.integers(env.action_space(a).n)) for a in env.possible_agents}
        for _ in range(pool_size)
    ]
    steps, elapsed = _time_loop(env, pool, seconds, min_steps, seed)
    return Result("mpe simple_spread_v3", n_agents, None, len(env.possible_agents), steps, elapsed)


def _table(results: list[Result]) -> str:
    reference = {r.label: r for r in results if r.n_uds == REFERENCE_N}
    header = (
        "env",
        "N",
        "M",
        "agents",
        "steps",
        "env-steps/s",
        "agent-steps/s",
        "us/agent-step",
        "vs N=48",
    )
    rows = []
    for r in results:
        ref = reference.get(r.label)
        ratio = f"x{r.us_per_agent_step / ref.us_per_agent_step:.2f}" if ref else "-"
        rows.append(
            (
                r.label,
                str(r.n_uds),
                "-" if r.n_servers is None else str(r.n_servers),
                str(r.n_agents),
                str(r.steps),
                f"{r.env_steps_per_s:,.1f}",
                f"{r.agent_steps_per_s:,.0f}",
                f"{r.us_per_agent_step:,.2f}",
                ratio,
            )
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    ]
    lines.append("-" * len(lines[0]))
    for row in rows:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


def _summary(results: list[Result]) -> list[str]:
    lines = []
    by = {(r.label, r.n_uds): r for r in results}
    mpe = by.get(("mpe simple_spread_v3", REFERENCE_N))
    for matcher in MATCHERS:
        mec = by.get((f"mec {matcher}", REFERENCE_N))
        if mec and mpe:
            lines.append(
                f"MEC ({matcher}) vs MPE at N={REFERENCE_N}: "
                f"{mec.env_steps_per_s / mpe.env_steps_per_s:.1f}x the env-steps/s, "
                f"time per agent-step x{mec.us_per_agent_step / mpe.us_per_agent_step:.3f} "
                f"of MPE's"
            )
    co48 = by.get(("mec co_selection", REFERENCE_N))
    if co48:
        lines.append(
            f"target >= 5,000 env-steps/s at N=48, co_selection, ES agents on: "
            f"{co48.env_steps_per_s:,.0f} "
            f"({'met' if co48.env_steps_per_s >= 5000 else 'not met'})"
        )
    for matcher in MATCHERS:
        ref, big = by.get((f"mec {matcher}", REFERENCE_N)), by.get((f"mec {matcher}", 4800))
        if ref and big:
            ratio = big.us_per_agent_step / ref.us_per_agent_step
            lines.append(
                f"target per-agent-step cost N=4800 within 2x of N=48 ({matcher}): "
                f"x{ratio:.2f} ({'met' if ratio <= 2.0 else 'not met'})"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Env-steps/s and agent-steps/s of mec_env vs PettingZoo MPE simple_spread."
    )
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="timed seconds per configuration (default 3.0)"
    )
    parser.add_argument(
        "--min-steps",
        type=int,
        default=3,
        help="at least this many timed steps per configuration (default 3)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke mode: 0.3 s and at least 1 step per configuration",
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=list(SIZES),
        help=f"numbers of UDs (default {' '.join(map(str, SIZES))})",
    )
    parser.add_argument(
        "--matchers",
        nargs="+",
        default=list(MATCHERS),
        choices=MATCHERS,
        help="matchers to time (default both)",
    )
    parser.add_argument("--no-mpe", action="store_true", help="skip the MPE reference")
    parser.add_argument(
        "--pool",
        type=int,
        default=8,
        help="pre-sampled random action dicts cycled through (default 8)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.min_steps = 0.3, 1
    if args.seconds < 0 or args.min_steps < 1 or args.pool < 1 or min(args.sizes) < 1:
        parser.error("--seconds >= 0, --min-steps >= 1, --pool >= 1 and sizes >= 1 please")

    print(
        f"env throughput: python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs, {args.seconds:g} s per configuration (at least "
        f"{args.min_steps} step(s)), random actions from a pool of {args.pool}, "
        f"paper_kb with ES agents, M = ceil(N/{Z_MAX})",
        flush=True,
    )
    results = []
    for matcher in args.matchers:
        for n in args.sizes:
            results.append(
                bench_mec(n, matcher, args.seconds, args.min_steps, args.pool, args.seed)
            )
            print(f"  timed mec {matcher} N={n}", file=sys.stderr, flush=True)
    if not args.no_mpe:
        try:
            results.append(
                bench_mpe(REFERENCE_N, args.seconds, args.min_steps, args.pool, args.seed)
            )
        except ImportError:
            print("(mpe2 not installed: pip install mpe2 to time the MPE reference)")
    print(_table(results))
    print("\n".join(_summary(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Throughput of the MEC environment, batched and single, numpy and compiled, in one run.

Prints four tables, every ratio measured in this run:

1. **Batched core** (``mec_env.vector_env``), B = 256 copies of ``paper_kb`` (N = 48, M = 3),
   ``co_selection``, ES agents on: UD-agent-steps/s with numpy only and with the compiled
   kernels (``pip install "mec-env[fast]"``, numba). Target: >= 1,000,000 with numpy.
2. **Single env** (``mec_env.parallel_env``, per-agent dicts and the full infos), same
   setting: env-steps/s with numpy and with the kernels. Target: >= 5,000 with the kernels.
3. **Scaling**: N = 48, 480, 4800 UDs with M = N/16 servers (every UD can be matched),
   ``co_selection``, ES agents on: µs per UD-step, batched (B·N ≈ 12,288 UDs per call) and
   single, numpy and compiled, and the ratio to N = 48.
4. **TorchRL**: a collector over the native adapter (``mec_env.torchrl_env``, B = 16 copies)
   against a collector over ``PettingZooWrapper(parallel_env)``, env-steps/s (``small`` and
   ``paper_kb``); needs torchrl.
5. **Time-coupled presets** (``queue``, ``queue_heavy``, ``queue_small``, ``queue_energy``:
   per-UD task queues, carried CPU backlogs; the queue model always plays on numpy): batched
   B = 256 and single env, µs per UD-step, ES agents on. Then the batched core's µs per
   UD-step on ``queue`` and ``queue_heavy`` against ``paper_kb`` (numpy), measured
   alternately in this run (three rounds, the median round's ratio). Target: within 1.5x.

6. **The map with reach** (``city``: UMi channel, random waypoint, each UD sees its K = 4
   nearest ESs; N = 48, 480, 4800 with M = N/16 on a 200 m grid, K = min(4, M)): µs per
   UD-step, batched (B·N ≈ 12,288 UDs per call) and single, numpy and with the compiled
   kernels (the column says which backend played), the ratio to N = 48, and the batched
   N = 48 row of ``paper_kb`` (no map) for scale.
   Target (issue 22): N = 4800 within 2x of N = 48.

Optionally (``--mpe``) PettingZoo MPE ``simple_spread_v3`` with 48 agents for reference.
Before and after the tables, two fixed reference workloads (1,000 Python dicts of 22 keys; a
numpy call on 144 floats) say how fast the core was: on a shared virtual machine every
figure moves with it.

Times are CPU seconds of this process (``time.process_time``), so other load on the machine
counts less; run with ``OMP_NUM_THREADS=1`` to keep to one core. Each configuration is timed
in five equal parts and its rate is the median part's, so that a burst of load on a shared
machine moves it less. Actions are random, drawn into a small pool before timing;
auto-resets (every T = 10 slots) are inside the timed loop.
A UD-step is one UD's slot played; an env-step one slot of one copy.

    OMP_NUM_THREADS=1 python benchmarks/env_throughput.py            # ~1-2 minutes
    OMP_NUM_THREADS=1 python benchmarks/env_throughput.py --quick    # smoke run, seconds
    OMP_NUM_THREADS=1 python benchmarks/env_throughput.py --only-queues  # table 5, ~1 minute
    OMP_NUM_THREADS=1 python benchmarks/env_throughput.py --only-map     # table 6, ~1 minute

This is a script that prints tables, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Z_MAX = 16  # paper_kb's ES user capacity
BATCH = 256
SCALING = (48, 480, 4800)
UDS_PER_CALL = BATCH * 48  # batched scaling rows keep about this many UDs per call


@dataclass
class Timing:
    steps: int  # calls timed
    seconds: float  # CPU seconds
    part_rates: tuple[float, ...] = ()  # calls per CPU second in each part of the timed loop

    @property
    def per_s(self) -> float:
        """The median part's rate (the overall rate without parts)."""
        if self.part_rates:
            return statistics.median(self.part_rates)
        return self.steps / self.seconds


def _time(step: Callable[[int], None], seconds: float, min_steps: int, parts: int = 5) -> Timing:
    """Calls ``step(i)`` for ``seconds`` CPU seconds (at least ``min_steps`` calls), in
    ``parts`` equal parts; the rate is the median part's, so that a burst of other load on
    the machine moves it less (each part has whole episodes with their auto-resets when it
    is at least T calls long)."""
    step(0)  # warm-up: first-call allocations, lazy imports, compiled-kernel loading
    i, rates, total = 0, [], 0.0
    for _ in range(parts):
        n, start, elapsed = 0, time.process_time(), 0.0
        while n < max(1, -(-min_steps // parts)) or elapsed < seconds / parts:
            step(i)
            i, n = i + 1, n + 1
            elapsed = time.process_time() - start
        rates.append(n / elapsed)
        total += elapsed
    return Timing(i, total, tuple(rates))


def kernels_available() -> bool:
    from mec_env.sim import fast

    return fast.available()


def _size(preset: str, n_uds: int | None) -> dict:
    """The overrides of a run: N UDs and M = N/16 servers, or the preset's own (None); on
    ``city`` the M sites on a 200 m grid (the area grows with M) and K = min(4, M)."""
    if n_uds is None:
        return {}
    m = max(1, n_uds // Z_MAX)
    size = {"n_uds": n_uds, "n_servers": m}
    if preset == "city":
        rows = max(1, int(np.floor(np.sqrt(m))))  # mec_env.sim.geometry.grid_sites' layout
        cols = int(np.ceil(m / rows))
        size.update(area_m=[200.0 * cols, 200.0 * rows], nearest_servers=min(4, m))
    return size


def make_vector(batch: int, kernels: str, preset: str = "paper_kb", n_uds: int | None = 48):
    """A reset vector env and a pool of four random actions for it."""
    import mec_env

    vec = mec_env.vector_env(batch, preset, kernels=kernels, **_size(preset, n_uds))
    vec.reset(seed=0)
    rng = np.random.default_rng(0)
    pool = [
        {
            "ud": rng.random((batch, vec.n_uds, 3)),
            "es": rng.integers(0, 2, (batch, vec.n_servers, vec.z_cap)),
        }
        for _ in range(4)
    ]
    return vec, pool


def bench_batched(
    n_uds: int | None,
    batch: int,
    kernels: str,
    seconds: float,
    min_steps: int,
    preset: str = "paper_kb",
) -> Timing:
    vec, pool = make_vector(batch, kernels, preset, n_uds)
    return _time(lambda i: vec.step(pool[i % 4]), seconds, min_steps)


def bench_single(
    n_uds: int | None,
    kernels: str,
    seconds: float,
    min_steps: int,
    seed: int = 0,
    preset: str = "paper_kb",
) -> Timing:
    import mec_env

    env = mec_env.parallel_env(preset, kernels=kernels, **_size(preset, n_uds))
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    pool = []
    for _ in range(8):
        actions = dict(
            zip(env.ud_agents, rng.random((env.n_uds, 3), dtype=np.float32), strict=True)
        )
        actions.update(
            zip(
                env.es_agent_names,
                rng.integers(0, 2, (env.n_servers, int(env.config.z_max.max())), dtype=np.int8),
                strict=True,
            )
        )
        pool.append(actions)

    def step(i: int) -> None:
        if not env.agents:
            env.reset()
        env.step(pool[i % 8])

    return _time(step, seconds, min_steps)


def bench_torchrl(native: bool, preset: str, seconds: float, copies: int = 16) -> Timing:
    """Env-steps/s of a TorchRL collector with a random policy."""
    import torch
    from torchrl import collectors
    from torchrl.envs import PettingZooWrapper

    import mec_env
    from mec_env.torchrl_env import MECTorchRLEnv

    torch.set_num_threads(1)
    collector_cls = getattr(collectors, "Collector", None) or collectors.SyncDataCollector
    if native:
        env = MECTorchRLEnv(copies, preset)
        frames = copies * 20
    else:
        env = PettingZooWrapper(env=mec_env.parallel_env(preset), return_state=True)
        frames = 20
    collector = collector_cls(env, None, frames_per_batch=frames, total_frames=-1)
    it = iter(collector)
    next(it)  # warm-up
    n, start = 0, time.process_time()
    while time.process_time() - start < seconds or n < 2:
        next(it)
        n += 1
    elapsed = time.process_time() - start
    collector.shutdown()
    return Timing(n * frames, elapsed)


_KEYS = tuple(f"k{i}" for i in range(22))


def _dicts(values: list[list[float]]) -> list[dict]:
    """1,000 dicts of 22 keys, like a slot's per-agent infos."""
    return [dict(zip(_KEYS, row)) for row in values]


def machine_speed(seconds: float) -> str:
    """Two fixed reference workloads timed now, as a line: µs to build 1,000 dicts of 22 keys
    (Python) and µs per numpy call on 144 floats. On a shared virtual machine whose speed
    moves between minutes, they say how fast the core was while the tables were timed."""
    values = np.random.default_rng(0).random((1000, 22)).tolist()
    small = np.linspace(1.0, 2.0, 144)
    py = _time(lambda i: _dicts(values), seconds / 2, 3)
    npy = _time(lambda i: np.log2(small), seconds / 2, 100)
    return (
        f"machine speed: {1e6 / py.per_s:.0f} µs per 1,000 dicts of 22 keys (Python), "
        f"{1e6 / npy.per_s:.2f} µs per numpy call on 144 floats"
    )


def _rows(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

    def fmt(r: tuple[str, ...]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )

    return "\n".join([fmt(header), "-" * len(fmt(header)), *map(fmt, rows)])


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="CPU seconds per configuration (default 2.0)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 0.2 s each")
    parser.add_argument("--no-scaling", action="store_true", help="skip table 3")
    parser.add_argument("--no-torchrl", action="store_true", help="skip table 4")
    parser.add_argument("--no-queues", action="store_true", help="skip table 5")
    parser.add_argument(
        "--only-queues", action="store_true", help="table 5 only (the time-coupled presets)"
    )
    parser.add_argument("--no-map", action="store_true", help="skip table 6")
    parser.add_argument("--only-map", action="store_true", help="table 6 only (the map)")
    parser.add_argument("--mpe", action="store_true", help="also time MPE simple_spread_v3")
    return parser.parse_args(argv)


def table_batched(modes: list[str], seconds: float) -> dict[str, float]:
    """Table 1; returns UD-agent-steps/s per mode."""
    rows, batched = [], {}
    for mode in modes:
        t = bench_batched(48, BATCH, mode, seconds, 3)
        batched[mode] = t.per_s * BATCH * 48
        rows.append(
            (
                f"vector_env B={BATCH} ({mode})",
                f"{t.per_s * BATCH:,.0f}",
                f"{batched[mode]:,.0f}",
                f"{1e3 / t.per_s:.2f}",
            )
        )
    print("\n1. batched core: paper_kb N=48 M=3, co_selection, ES agents on")
    print(_rows(("", "env-steps/s", "UD-agent-steps/s", "ms per call"), rows))
    line = (
        f"target >= 1,000,000 UD-agent-steps/s with numpy: {batched['numpy']:,.0f} "
        f"({'met' if batched['numpy'] >= 1e6 else 'not met'})"
    )
    if "numba" in batched:
        line += f"; compiled x{batched['numba'] / batched['numpy']:.2f} of numpy"
    print(line, flush=True)
    return batched


def table_single(modes: list[str], seconds: float, batched: dict[str, float]) -> None:
    """Table 2: the single env, numpy and compiled, against the batched core."""
    rows, single = [], {}
    for mode in modes:
        t = bench_single(48, mode, seconds, 3)
        single[mode] = t.per_s
        rows.append(
            (
                f"parallel_env ({mode})",
                f"{t.per_s:,.0f}",
                f"{t.per_s * 51:,.0f}",
                f"{1e6 / t.per_s:.0f}",
            )
        )
    print("\n2. single env, per-agent dicts and full infos: paper_kb, co_selection, ES on")
    print(_rows(("", "env-steps/s", "agent-steps/s", "µs per step"), rows))
    best = single.get("numba", single["numpy"])
    print(
        f"target >= 5,000 env-steps/s with the kernels: {best:,.0f} "
        f"({'met' if 'numba' in single and best >= 5000 else 'not met'}); numpy "
        f"{single['numpy']:,.0f}; single vs batched per UD-step (numpy): "
        f"x{batched['numpy'] / (single['numpy'] * 48):.1f}",
        flush=True,
    )


def table_scaling(modes: list[str], seconds: float) -> None:
    """Table 3: µs per UD-step at N = 48, 480, 4800, batched and single."""
    rows, ref = [], {}
    for n in SCALING:
        for mode in modes:
            b = max(1, UDS_PER_CALL // n)
            tb = bench_batched(n, b, mode, seconds, 2)
            ts = bench_single(n, mode, seconds, 2)
            us_b, us_s = 1e6 / (tb.per_s * b * n), 1e6 / (ts.per_s * n)
            ref.setdefault(mode, (us_b, us_s))
            rows.append(
                (
                    f"N={n} M={max(1, n // Z_MAX)} ({mode})",
                    str(b),
                    f"{us_b:.3f}",
                    f"x{us_b / ref[mode][0]:.2f}",
                    f"{us_s:.3f}",
                    f"x{us_s / ref[mode][1]:.2f}",
                )
            )
            print(f"  timed N={n} {mode}", file=sys.stderr, flush=True)
    print("\n3. scaling, co_selection, ES agents on, M = N/16: µs per UD-step")
    print(_rows(("", "B", "batched µs", "vs N=48", "single µs", "vs N=48"), rows), flush=True)


def table_map(modes: list[str], seconds: float) -> None:
    """Table 6: µs per UD-step on the map with reach (``city``) at N = 48, 480, 4800."""
    import mec_env

    rows, ref = [], {}
    base = bench_batched(48, BATCH, "numpy", seconds, 2)
    base_us = 1e6 / (base.per_s * BATCH * 48)
    for n in SCALING:
        for mode in modes:
            b = max(1, UDS_PER_CALL // n)
            tb = bench_batched(n, b, mode, seconds, 2, preset="city")
            ts = bench_single(n, mode, seconds, 2, preset="city")
            us_b, us_s = 1e6 / (tb.per_s * b * n), 1e6 / (ts.per_s * n)
            ref.setdefault(mode, (us_b, us_s))
            env = mec_env.parallel_env("city", kernels=mode, **_size("city", n))
            played = "numba" if env.unwrapped._core.kernels is not None else "numpy"
            rows.append((f"N={n} M={max(1, n // Z_MAX)} ({mode})", played, str(b),
                         f"{us_b:.3f}", f"x{us_b / ref[mode][0]:.2f}", f"{us_s:.3f}",
                         f"x{us_s / ref[mode][1]:.2f}"))  # fmt: skip
            print(f"  timed city N={n} {mode}", file=sys.stderr, flush=True)
    print("\n6. the map with reach (city, K = min(4, M)), co_selection, ES agents on, M = N/16:"
          " µs per UD-step")  # fmt: skip
    header = ("", "played", "B", "batched µs", "vs N=48", "single µs", "vs N=48")
    print(_rows(header, rows), flush=True)
    print(f"paper_kb N=48 M=3 batched (numpy, no map): {base_us:.3f} µs per UD-step", flush=True)


def table_torchrl(seconds: float) -> None:
    """Table 4: a TorchRL collector over the native adapter and over PettingZooWrapper."""
    try:
        rows = []
        for preset in ("small", "paper_kb"):
            native = bench_torchrl(True, preset, seconds)
            wrapper = bench_torchrl(False, preset, seconds)
            rows.append(
                (
                    preset,
                    f"{native.per_s:,.0f}",
                    f"{wrapper.per_s:,.0f}",
                    f"x{native.per_s / wrapper.per_s:.1f}",
                )
            )
        print("\n4. TorchRL collector, random policy: env-steps/s")
        print(_rows(("preset", "native (B=16)", "PettingZooWrapper", "ratio"), rows))
    except ImportError:
        print("\n4. (torchrl not installed: pip install torchrl to time the collectors)")


QUEUE_PRESETS = ("queue", "queue_heavy", "queue_small", "queue_energy")
QUEUE_TARGET = 1.5  # the batched queue core's µs per UD-step within 1.5x of paper_kb's


def table_queues(seconds: float, rounds: int = 3) -> dict[str, float]:
    """Table 5: the time-coupled presets (numpy), batched and single; then the batched core
    on ``queue`` and ``queue_heavy`` against ``paper_kb``, timed alternately. Returns the
    median round's ratio per preset."""
    from mec_env.config import make_config

    rows = []
    for preset in QUEUE_PRESETS:
        tb = bench_batched(None, BATCH, "numpy", seconds, 3, preset=preset)
        ts = bench_single(None, "numpy", seconds, 3, preset=preset)
        n = make_config(preset).n_uds
        rows.append(
            (
                preset,
                str(n),
                f"{tb.per_s * BATCH * n:,.0f}",
                f"{1e6 / (tb.per_s * BATCH * n):.3f}",
                f"{ts.per_s:,.0f}",
                f"{1e6 / (ts.per_s * n):.3f}",
            )
        )
        print(f"  timed {preset}", file=sys.stderr, flush=True)
    print("\n5. time-coupled presets (numpy), ES agents on: batched B=256 and single env")
    header = ("", "N", "batched UD-steps/s", "batched µs", "single env-steps/s", "single µs")
    print(_rows(header, rows), flush=True)
    # alternate the reference and each queue preset in the same process, round by round
    envs = {p: make_vector(BATCH, "numpy", p, None) for p in ("paper_kb", "queue", "queue_heavy")}
    per_ud = {p: [] for p in envs}
    for _ in range(rounds):
        for preset, (vec, pool) in envs.items():
            t = _time(lambda i, vec=vec, pool=pool: vec.step(pool[i % 4]), seconds, 3)
            per_ud[preset].append(1e6 / (t.per_s * BATCH * vec.n_uds))
    ratios = {}
    ref = per_ud["paper_kb"]
    for preset in ("queue", "queue_heavy"):
        r = sorted(q / p for q, p in zip(per_ud[preset], ref, strict=True))
        ratios[preset] = r[len(r) // 2]
        print(
            f"batched µs per UD-step, {preset} vs paper_kb (numpy, {rounds} alternating rounds): "
            f"{statistics.median(per_ud[preset]):.3f} vs {statistics.median(ref):.3f} µs, "
            f"x{ratios[preset]:.2f} (rounds {', '.join(f'x{x:.2f}' for x in r)}); target "
            f"within {QUEUE_TARGET}x: {'met' if ratios[preset] <= QUEUE_TARGET else 'not met'}",
            flush=True,
        )
    return ratios


def table_mpe(seconds: float) -> None:
    """PettingZoo MPE simple_spread_v3 with 48 agents, for reference."""
    from mpe2 import simple_spread_v3

    env = simple_spread_v3.parallel_env(N=48, max_cycles=25, continuous_actions=False)
    env.reset(seed=0)
    acts = {a: 0 for a in env.possible_agents}

    def step(i: int) -> None:
        if not env.agents:
            env.reset()
        env.step(acts)

    t = _time(step, seconds, 3)
    print(f"\nMPE simple_spread_v3, 48 agents: {t.per_s:,.1f} env-steps/s")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    seconds = 0.2 if args.quick else args.seconds
    warnings.simplefilter("ignore")
    fast = kernels_available()
    modes = ["numpy", "numba"] if fast else ["numpy"]
    print(
        f"env throughput: python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}), "
        f"load average {os.getloadavg()[0]:.1f}, {seconds:g} CPU-s per configuration, "
        f"compiled kernels {'on (numba)' if fast else 'not installed'}",
        flush=True,
    )
    print(machine_speed(seconds), "(at the start)", flush=True)
    if args.only_map:
        table_map(modes, seconds)
        print("\n" + machine_speed(seconds), "(at the end)", flush=True)
        return 0
    if not args.only_queues:
        batched = table_batched(modes, seconds)
        table_single(modes, seconds, batched)
        if not args.no_scaling:
            table_scaling(modes, seconds)
        if not args.no_torchrl:
            table_torchrl(seconds)
    if not args.no_queues:
        table_queues(seconds)
    if not args.no_map and not args.only_queues:
        table_map(modes, seconds)
    if args.mpe:
        table_mpe(seconds)
    print("\n" + machine_speed(seconds), "(at the end)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

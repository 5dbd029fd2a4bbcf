"""Measure what a training episode costs here, and turn a profile into a time estimate.

``python -m experiments time --profile medium`` runs short probes of the real trainer as
joblib multiruns (the same launcher, workers and ``torch_threads`` as the profile, so the
numbers include the contention of parallel jobs): for every algorithm at each sweep's default
N, and for ``maddpg`` at every N of the Fig. 6 axis, runs of a short and a long episode count
without updates, and of the long count with updates. Their ``summary.json`` give

* ``env_s``: seconds per episode without learning (env steps, actions, replay writes), from the
  difference of the two update-free runs,
* ``fixed_s``: what such a run costs beyond its episodes (setup and the checkpoint write),
* ``update_s``: seconds per gradient update (all UD learners, plus ES Q-networks for UCMS),

saved to ``experiments/results/timings.json``. Repeated measurements keep the fastest value
(:func:`merge_entry`) for the update time, the dominant term: rerun ``time`` when the
machine is quiet to tighten the estimate.
``python -m experiments plan`` then estimates each sweep's jobs (episodes x env_s + updates x
update_s + evaluations + checkpoint writes + a fixed overhead per job), schedules them on the
profile's workers in launch order, and sums the sweeps.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments.catalog import SWEEPS, SweepRequest
from experiments.launch import (
    STAMP_FORMAT,
    Job,
    SweepPlan,
    launcher_overrides,
    plan_sweep,
)
from experiments.profiles import Profile
from mec_env.config import make_config
from ucms_marl.paths import CHECKPOINT_NAME, SUMMARY_FILE

TIMINGS_FILE = "timings.json"  # under the results root: what `time` measured
JOB_OVERHEAD_S = 2.0  # per job, outside the run's own clock: Hydra job setup in a warm worker
UNMEASURED_UPDATE_FACTOR = 1.5  # an algorithm not measured yet: maddpg's update time x this
# T -> (short and long probe episodes, learning_starts, updates per episode)
PROBES = {10: (4, 20, 20, 2), 100: (2, 6, 100, 5)}


def _key(env: str, algo: str, n: int) -> str:
    return f"{env}|{algo}|{n}"


def _env_size(plan: SweepPlan) -> tuple[int, int]:
    """(N, T) of the plan's env under its profile."""
    choice = plan.profile.env_choice(plan.env)
    cfg = make_config(choice.preset, **choice.overrides)
    return int(cfg.n_uds), int(cfg.n_slots)


def _default_n(plan: SweepPlan) -> int:
    return _env_size(plan)[0]


def _n_slots(plan: SweepPlan) -> int:
    return _env_size(plan)[1]


def probe_specs(
    plans: Sequence[SweepPlan], only: Sequence[str] = ()
) -> list[tuple[SweepPlan, str, int]]:
    """(plan, algo, N) to measure: every algorithm at the default N, maddpg at every N;
    restricted to the algorithms in ``only`` when given."""
    seen, out = set(), []
    for plan in plans:
        n0 = _default_n(plan)
        wanted = [(a, n0) for a in plan.references + plan.learners]
        if SWEEPS[plan.sweep].vary_n and "maddpg" in plan.learners:
            wanted += [("maddpg", n) for n in plan.n_values if n is not None and n != n0]
        for algo, n in wanted:
            key = _key(plan.env, algo, n)
            if only and algo not in only:
                continue
            if key not in seen:
                seen.add(key)
                out.append((plan, algo, n))
    return out


def merge_entry(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """Combine repeated measurements: the fastest update time (on a shared machine the slow
    ones measure other people's jobs, not ours) and the running mean of the small terms."""
    if not old:
        return new
    merged = dict(new)
    k = int(old.get("samples", 1))
    if new["update_s"] > 0 and old.get("update_s", 0) > 0:
        merged["update_s"] = min(old["update_s"], new["update_s"])
    for key in ("env_s", "fixed_s"):
        if key in old:
            merged[key] = round((old[key] * k + new[key]) / (k + 1), 5)
    merged["samples"] = k + 1
    return merged


def _probe(sweep_dir: Path, algo: str, episodes: int, updates: float) -> dict[str, Any]:
    return json.loads((sweep_dir / algo / f"e{episodes}_u{updates}" / SUMMARY_FILE).read_text())


def _probe_entry(sweep_dir: Path, algo: str, counts: tuple[int, int, float]) -> dict[str, Any]:
    """Seconds per episode, per update and per run of ``algo`` from its three probe runs
    (``counts``: the short and long episode counts and the updates per env-step)."""
    short, long, updates = counts
    w_short = _probe(sweep_dir, algo, short, 0.0)["wall_time_s"]
    w_long = _probe(sweep_dir, algo, long, 0.0)["wall_time_s"]
    learned = _probe(sweep_dir, algo, long, updates)
    env_s = (w_long - w_short) / (long - short)
    if env_s < 0.25 * w_long / long:  # noise swamped the difference: all of it then
        env_s = w_long / long
    fixed_s = max(0.0, w_short - short * env_s)  # setup in the run + the final save
    n_upd = int(learned.get("updates", 0))
    update_s = max(0.0, learned["wall_time_s"] - w_long) / n_upd if n_upd else 0.0
    return {
        "env_s": round(env_s, 5), "update_s": round(update_s, 5), "fixed_s": round(fixed_s, 3),
        "updates": n_upd, "samples": 1,
    }  # fmt: skip


def _probe_group(
    plan: SweepPlan,
    n: int,
    algos: list[str],
    base: Path,
    launcher: str,
    entries: dict[str, Any],
    echo,
) -> None:
    """One multirun of the probes of ``algos`` on ``plan``'s env at N = ``n``; their entries
    merged into ``entries``."""
    t = _n_slots(plan)
    short, long, starts, updates = PROBES[10 if t <= 10 else 100]
    sweep_dir = base / f"{plan.env}-n{n}"
    cmd = [sys.executable, "-m", "ucms_marl.train", "-m", f"algo={','.join(algos)}"]
    cmd += plan.profile.env_choice(plan.env).hydra_overrides() + [f"env.n_uds={n}"]
    cmd += [
        f"episodes={short},{long}", f"learning_starts={starts}",
        f"updates_per_step=0.0,{updates / t}", "eval_every=0", "eval_episodes=0",
        "checkpoint_every=0", "progress_bar=false",
        f"torch_threads={plan.profile.torch_threads}", f"hydra.sweep.dir={sweep_dir}",
        "hydra.sweep.subdir=${hydra:runtime.choices.algo}/e${episodes}_u${updates_per_step}",
    ]  # fmt: skip
    cmd += launcher_overrides(launcher, plan.profile)
    echo(f"timing {plan.env} N={n}: {', '.join(algos)}")
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with (sweep_dir / "launch.log").open("w") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"timing probes failed; see {sweep_dir / 'launch.log'}")
    for algo in algos:
        new = _probe_entry(sweep_dir, algo, (short, long, updates / t))
        new = {"env": plan.env, "algo": algo, "n_uds": n, "n_slots": t, **new}
        key = _key(plan.env, algo, n)
        entries[key] = merge_entry(entries.get(key), new)
        echo(
            f"  {algo:20s} N={n:3d}: {new['env_s']:.3f} s/episode, "
            f"{new['update_s']:.3f} s/update, {new['fixed_s']:.2f} s per run and checkpoint"
        )
    for ckpt in sweep_dir.rglob(CHECKPOINT_NAME):
        ckpt.unlink()


def measure(
    plans: Sequence[SweepPlan],
    work_dir: Path,
    out_path: Path,
    *,
    launcher: str = "local",
    only: Sequence[str] = (),
    echo=print,
) -> dict[str, Any]:
    """Run the probes (one multirun per env and N) and write ``out_path``."""
    stamp = time.strftime(STAMP_FORMAT)
    base = Path(work_dir) / f"timing-{stamp}"
    load_before = os.getloadavg()[0]
    groups: dict[tuple[int, int], list[tuple[SweepPlan, str]]] = {}
    for plan, algo, n in probe_specs(plans, only):
        groups.setdefault((id(plan), n), []).append((plan, algo))
    entries: dict[str, Any] = {}
    if out_path.exists():
        entries = json.loads(out_path.read_text()).get("entries", {})
    for (_, n), items in groups.items():
        _probe_group(items[0][0], n, [a for _, a in items], base, launcher, entries, echo)
    data = {
        "measured": time.strftime("%Y-%m-%d %H:%M"),
        "host": {
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            # 1-minute load average before and after: other processes slow the probes down
            "loadavg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
        "profile": plans[0].profile.name if plans else None,
        "n_jobs": plans[0].profile.n_jobs if plans else None,
        "torch_threads": plans[0].profile.torch_threads if plans else None,
        "entries": entries,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(data, indent=1) + "\n")
    return data


# --------------------------------------------------------------------------- estimate
def _scaled_rates(
    entries: dict[str, Any], plan: SweepPlan, job: Job, n: int, n0: int
) -> tuple[float, float] | None:
    """A job's seconds per episode and per update where it was not measured at its N: its
    rates at the default N scaled by maddpg's (maddpg's x a factor for an algorithm not
    measured); None where nothing was measured."""
    at_n0 = entries.get(_key(plan.env, job.algo, n0))
    ref_n0 = entries.get(_key(plan.env, "maddpg", n0))
    ref_n = entries.get(_key(plan.env, "maddpg", n)) or ref_n0
    if at_n0 is None and ref_n0 is None:
        return None
    if at_n0 is None:  # an algorithm not measured: maddpg x a factor (flagged)
        at_n0 = {
            "env_s": ref_n0["env_s"],
            "update_s": ref_n0["update_s"] * (0 if job.reference else UNMEASURED_UPDATE_FACTOR),
        }
    ratio = at_n0["update_s"] / ref_n0["update_s"] if ref_n0 and ref_n0["update_s"] else 1.0
    env_s = at_n0["env_s"] * n / n0
    upd_s = (ref_n["update_s"] * ratio) if ref_n else at_n0["update_s"]
    return env_s, upd_s


def _budget_cost(
    budget, n_slots: int, env_s: float, upd_s: float, fixed_s: float, *, learning: bool
) -> float:
    """Seconds of a run of ``budget``: its episodes, updates (if learning), evaluations,
    saves and the job's overhead."""
    first = math.ceil(budget.learning_starts / max(1, n_slots))
    n_updates = budget.updates_per_episode * max(0, budget.episodes - max(first, 1) + 1)
    n_evals = (budget.episodes // budget.eval_every if budget.eval_every else 0) + 1
    n_saves = (budget.episodes // budget.checkpoint_every if budget.checkpoint_every else 0) + 1
    return (
        budget.episodes * env_s
        + (n_updates * upd_s if learning else 0.0)
        + n_evals * budget.eval_episodes * env_s
        + n_saves * fixed_s
        + JOB_OVERHEAD_S
    )


def job_cost(
    entries: dict[str, Any], plan: SweepPlan, job: Job, n_slots: int
) -> tuple[float, bool]:
    """Estimated seconds of one job, and whether it rests on a direct measurement."""
    n0 = _default_n(plan)
    n = job.n_uds or n0
    budget = plan.reference_budget if job.reference else plan.budget
    exact = entries.get(_key(plan.env, job.algo, n))
    measured = exact is not None
    if exact is not None:
        env_s, upd_s = exact["env_s"], exact["update_s"]
    else:
        rates = _scaled_rates(entries, plan, job, n, n0)
        if rates is None:
            return math.nan, False
        env_s, upd_s = rates
    fixed_s = (exact or entries.get(_key(plan.env, "maddpg", n)) or {}).get("fixed_s", 2.0)
    cost = _budget_cost(budget, n_slots, env_s, upd_s, fixed_s, learning=not job.reference)
    return cost, measured


def makespan(costs: Sequence[float], workers: int) -> float:
    """Jobs dispatched in order to the first free worker (joblib's behaviour)."""
    free = [0.0] * max(1, workers)
    for c in costs:
        i = free.index(min(free))
        free[i] += c
    return max(free)


def estimate(
    requests: Sequence[SweepRequest],
    profile: Profile,
    runs_root: Path,
    timings: dict[str, Any],
    *,
    workers: int | None = None,
) -> dict[str, Any]:
    """Per sweep: runs, worker-seconds, wall seconds on the profile's workers; and the total.

    A sweep on an env without any timing (``time`` never ran there) costs NaN; it is listed in
    ``unknown`` and left out of the totals."""
    entries = timings.get("entries", {})
    workers = workers or (profile.n_jobs if profile.n_jobs > 0 else (os.cpu_count() or 1))
    rows, total_wall, total_work, unknown = [], 0.0, 0.0, []
    for req in requests:
        plan = plan_sweep(req, profile, runs_root, warn=False, only_available=False)
        t = _n_slots(plan)
        costs, unmeasured = [], set()
        for job in plan.jobs:
            c, _ = job_cost(entries, plan, job, t)
            costs.append(c)
            if _key(plan.env, job.algo, _default_n(plan)) not in entries:
                unmeasured.add(job.algo)
        wall = makespan(costs, workers)
        rows.append(
            {
                "sweep": f"{plan.sweep}-{plan.env}",
                "runs": len(costs),
                "learners": plan.learners,
                "seeds": plan.budget.seeds,
                "episodes": plan.budget.episodes,
                "updates_per_episode": plan.budget.updates_per_episode,
                "worker_s": sum(costs),
                "wall_s": wall,
                "estimated_from_other_measurements": sorted(unmeasured),
            }
        )
        if math.isfinite(wall):
            total_wall += wall
            total_work += sum(costs)
        else:
            unknown.append(rows[-1]["sweep"])
    return {
        "profile": profile.name,
        "workers": workers,
        "sweeps": rows,
        "worker_s": total_work,  # the totals leave out sweeps without timings (`unknown`)
        "wall_s": total_wall,
        "unknown": unknown,
        "timings_measured": timings.get("measured"),
    }

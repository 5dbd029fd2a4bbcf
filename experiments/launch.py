"""Turn (figures, profile, env) into Hydra multiruns of ``ucms_marl.train`` and run them.

Layout of the raw runs (not committed; ``experiments/.gitignore``)::

    <runs_root>/<profile>/<sweep>-<env>/<algo>/seed_<s>/         main and energy sweeps
    <runs_root>/<profile>/<sweep>-<env>/<algo>/n<N>/seed_<s>/     the N sweep (Fig. 6)
    <runs_root>/<profile>/<sweep>-<env>/launches.jsonl            wall time of every launch

Each run directory is what ``ucms_marl.train`` writes (``metrics.jsonl``, ``config.json``,
``summary.json``, ``tb/``...). A run is *complete* when its ``summary.json`` reports the
budget's episodes; ``run`` launches only incomplete runs (``resume=auto``, so an interrupted
run continues from its checkpoint), grouped into as few cartesian multiruns as possible. The
local launcher is joblib (``hydra/launcher=parallel``); ``--launcher slurm`` swaps in submitit.
Checkpoints of complete runs are deleted as soon as a run finishes (``--keep-checkpoints``
keeps them): at N = 48 one is about 0.5 GB and only the logs feed the figures.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from experiments.catalog import (
    REFERENCE_POLICIES,
    SWEEPS,
    SweepRequest,
    available_algorithms,
    references_for,
)
from experiments.profiles import Budget, Profile
from mec_env.config import make_config
from ucms_marl.paths import CHECKPOINT_NAME, SUMMARY_FILE

LAUNCHERS = ("local", "slurm", "slurm_local")
REFERENCE_EPISODES_CAP = 50  # references learn nothing: their training episodes only feed lines
# the sweep's own record of its launches (the run directories' files: ucms_marl.paths)
LAUNCHES_FILE = "launches.jsonl"
STAMP_FORMAT = "%Y%m%d-%H%M%S"  # time.strftime of launch logs and timing probe directories


def sweep_dir(runs_root: Path, profile: str, sweep: str, env: str) -> Path:
    return Path(runs_root) / profile / f"{sweep}-{env}"


def subdir_pattern(vary_n: bool) -> str:
    """``hydra.sweep.subdir``: resolved by Hydra per job."""
    if vary_n:
        return "${hydra:runtime.choices.algo}/n${env.n_uds}/seed_${seed}"
    return "${hydra:runtime.choices.algo}/seed_${seed}"


@dataclass(frozen=True)
class Job:
    algo: str
    seed: int
    n_uds: int | None  # None: the preset's N
    reference: bool

    def relpath(self) -> Path:
        parts = [self.algo] + ([f"n{self.n_uds}"] if self.n_uds is not None else [])
        return Path(*parts, f"seed_{self.seed}")


@dataclass
class SweepPlan:
    """Every job of one sweep on one env under one profile."""

    profile: Profile
    sweep: str
    env: str
    learners: list[str]
    references: list[str]
    budget: Budget
    reference_budget: Budget
    n_values: list[int | None]
    directory: Path

    @property
    def jobs(self) -> list[Job]:
        out = []
        for algos, ref in ((self.references, True), (self.learners, False)):
            budget = self.reference_budget if ref else self.budget
            for algo, n, seed in itertools.product(algos, self.n_values, range(budget.seeds)):
                out.append(Job(algo=algo, seed=seed, n_uds=n, reference=ref))
        return out

    def target_episodes(self, job: Job) -> int:
        return (self.reference_budget if job.reference else self.budget).episodes

    def run_dir(self, job: Job) -> Path:
        return self.directory / job.relpath()

    def is_complete(self, job: Job) -> bool:
        return run_is_complete(self.run_dir(job), self.target_episodes(job))

    def missing(self) -> list[Job]:
        return [j for j in self.jobs if not self.is_complete(j)]


def run_is_complete(run_dir: Path, episodes: int) -> bool:
    summary = Path(run_dir) / SUMMARY_FILE
    if not summary.exists():
        return False
    try:
        return int(json.loads(summary.read_text()).get("episodes", -1)) >= episodes
    except (json.JSONDecodeError, ValueError, TypeError):
        return False


def plan_sweep(
    request: SweepRequest,
    profile: Profile,
    runs_root: Path,
    *,
    references: Sequence[str] = REFERENCE_POLICIES,
    warn: bool = True,
    only_available: bool = True,
) -> SweepPlan:
    """The jobs of ``request`` under ``profile``. Algorithms the trainer does not know yet are
    left out (with a warning) unless ``only_available=False`` (for time estimates)."""
    spec = SWEEPS[request.sweep]
    budget = profile.budget(request.sweep, request.env)
    choice = profile.env_choice(request.env)
    ref_budget = replace(budget, episodes=min(budget.episodes, REFERENCE_EPISODES_CAP))
    if ref_budget.eval_every > ref_budget.episodes:
        ref_budget = replace(ref_budget, eval_every=0)  # evaluate once, at the end
    refs = references_for(choice.preset, references)
    if only_available:
        learners = available_algorithms(request.algorithms, warn=warn)
        refs = available_algorithms(refs, warn=warn)
    else:
        learners = list(request.algorithms)
    return SweepPlan(
        profile=profile,
        sweep=request.sweep,
        env=request.env,
        learners=learners,
        references=refs,
        budget=budget,
        reference_budget=ref_budget,
        n_values=list(profile.n_values) if spec.vary_n else [None],
        directory=sweep_dir(runs_root, profile.name, request.sweep, request.env),
    )


# --------------------------------------------------------------------------- commands
def group_jobs(jobs: Iterable[Job]) -> list[tuple[list[str], list[int], list[int | None], bool]]:
    """Cover ``jobs`` with cartesian products (algos x seeds x Ns), few and exact.

    Per algorithm the missing (N, seed) pairs form a product in the usual cases (fresh sweep,
    or whole runs missing); otherwise that algorithm is split per N. Algorithms with the same
    (seeds, Ns, reference) then share one multirun.
    """
    by_algo: dict[tuple[str, bool], set[tuple[int | None, int]]] = {}
    for j in jobs:
        by_algo.setdefault((j.algo, j.reference), set()).add((j.n_uds, j.seed))
    blocks: dict[tuple, list[str]] = {}
    for (algo, ref), pairs in by_algo.items():
        ns = sorted({n for n, _ in pairs}, key=lambda v: -1 if v is None else v)
        seeds = sorted({s for _, s in pairs})
        if len(pairs) == len(ns) * len(seeds):
            shapes = [(tuple(seeds), tuple(ns))]
        else:
            shapes = [(tuple(sorted(s for m, s in pairs if m == n)), (n,)) for n in ns]
        for seeds_, ns_ in shapes:
            blocks.setdefault((seeds_, ns_, ref), []).append(algo)
    return [
        (algos, list(seeds), list(ns), ref)
        for (seeds, ns, ref), algos in sorted(blocks.items(), key=lambda kv: not kv[0][2])
    ]


def launcher_overrides(launcher: str, profile: Profile) -> list[str]:
    if launcher == "local":
        return [f"hydra.launcher.n_jobs={profile.n_jobs}"]
    if launcher in ("slurm", "slurm_local"):
        return [f"hydra/launcher={launcher}"]
    raise ValueError(f"--launcher must be one of {', '.join(LAUNCHERS)}, got {launcher!r}")


def hydra_command(
    plan: SweepPlan,
    algos: Sequence[str],
    seeds: Sequence[int],
    n_values: Sequence[int | None],
    reference: bool,
    *,
    launcher: str = "local",
    extra: Sequence[str] = (),
) -> list[str]:
    """The ``python -m ucms_marl.train -m ...`` command line of one cartesian block."""
    budget = plan.reference_budget if reference else plan.budget
    choice = plan.profile.env_choice(plan.env)
    cmd = [sys.executable, "-m", "ucms_marl.train", "-m"]
    cmd += [f"algo={','.join(algos)}", f"seed={','.join(map(str, seeds))}"]
    cmd += choice.hydra_overrides()
    if n_values != [None]:
        cmd.append(f"env.n_uds={','.join(str(n) for n in n_values)}")
    cmd += budget.overrides(n_slots=make_config(choice.preset, **choice.overrides).n_slots)
    cmd += [
        "progress_bar=false",
        "references=false",  # the figures run the reference policies as runs of their own
        f"torch_threads={plan.profile.torch_threads}",
        "resume=auto",  # continue an interrupted run, start a new one
        f"hydra.sweep.dir={plan.directory.resolve()}",
        f"hydra.sweep.subdir={subdir_pattern(n_values != [None])}",
    ]
    cmd += launcher_overrides(launcher, plan.profile)
    cmd += list(plan.profile.extra_overrides) + list(extra)
    return cmd


def commands_for(
    plan: SweepPlan, *, launcher: str = "local", extra: Sequence[str] = ()
) -> list[list[str]]:
    return [
        hydra_command(plan, algos, seeds, ns, ref, launcher=launcher, extra=extra)
        for algos, seeds, ns, ref in group_jobs(plan.missing())
    ]


# --------------------------------------------------------------------------- running
class LaunchError(RuntimeError):
    pass


def prune_checkpoints(plan: SweepPlan) -> int:
    """Delete ``checkpoint.pt`` of complete runs; returns how many were deleted."""
    removed = 0
    for job in plan.jobs:
        ckpt = plan.run_dir(job) / CHECKPOINT_NAME
        if ckpt.exists() and plan.is_complete(job):
            ckpt.unlink(missing_ok=True)
            removed += 1
    return removed


def _run_commands(
    plan: SweepPlan,
    launcher: str,
    extra: Sequence[str],
    log_path: Path,
    keep_checkpoints: bool,
    say: Callable[[str], None],
) -> tuple[list[str], float]:
    """Run the plan's multirun commands one after another into ``log_path`` (checkpoints
    pruned every 10 s unless kept); the failed commands and the wall time."""
    stop = threading.Event()

    def pruner() -> None:
        while not stop.wait(10.0):
            prune_checkpoints(plan)

    thread = None
    if not keep_checkpoints:
        thread = threading.Thread(target=pruner, daemon=True)
        thread.start()
    t0 = time.perf_counter()
    failures = []
    try:
        with log_path.open("a") as log:
            for cmd in commands_for(plan, launcher=launcher, extra=extra):
                shown = " ".join(cmd[1:])
                say(f"  $ python {shown}")
                log.write(f"$ {' '.join(cmd)}\n")
                log.flush()
                proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False)
                if proc.returncode != 0:
                    failures.append(shown)
    finally:
        stop.set()
        if thread is not None:
            thread.join()
    return failures, time.perf_counter() - t0


def run_plan(
    plan: SweepPlan,
    *,
    launcher: str = "local",
    extra: Sequence[str] = (),
    keep_checkpoints: bool = False,
    echo: Callable[[str], None] | None = print,
) -> dict:
    """Launch every missing job of ``plan``; returns the launch record (also appended to
    ``launches.jsonl``). Raises :class:`LaunchError` (naming the log) if a multirun fails."""
    say = echo or (lambda _msg: None)
    missing = plan.missing()
    total = len(plan.jobs)
    if not missing:
        say(f"[{plan.sweep}-{plan.env}] all {total} runs complete: nothing to launch")
        return {"sweep": plan.sweep, "env": plan.env, "launched": 0, "wall_s": 0.0}
    say(
        f"[{plan.sweep}-{plan.env}] {len(missing)} of {total} runs to train "
        f"({', '.join(plan.learners + plan.references)}) -> {plan.directory}"
    )
    plan.directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime(STAMP_FORMAT)
    log_path = plan.directory / f"launch-{stamp}.log"
    failures, wall = _run_commands(plan, launcher, extra, log_path, keep_checkpoints, say)
    if not keep_checkpoints:
        prune_checkpoints(plan)
    record = {
        "sweep": plan.sweep,
        "env": plan.env,
        "profile": plan.profile.name,
        "launcher": launcher,
        "n_jobs": plan.profile.n_jobs,
        "launched": len(missing),
        "started": stamp,
        "wall_s": round(wall, 2),
        "failed": len(failures),
    }
    with (plan.directory / LAUNCHES_FILE).open("a") as f:
        f.write(json.dumps(record) + "\n")
    say(f"[{plan.sweep}-{plan.env}] done in {wall / 60:.1f} min; log: {log_path}")
    if failures:
        tail = "\n".join(log_path.read_text().splitlines()[-25:])
        raise LaunchError(
            f"{len(failures)} multirun(s) failed in {plan.directory}; see {log_path}. "
            f"Last lines:\n{tail}"
        )
    return record

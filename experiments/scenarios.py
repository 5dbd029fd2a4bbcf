"""The time-coupled campaign (docs/scenarios.md): learners and references on the presets where
the future matters, 5 training seeds, the same evaluation episodes for everyone.

::

    python -m experiments.scenarios plan                 # the runs, and which are done
    python -m experiments.scenarios run --jobs 2         # train what is missing (ucms-train)
    python -m experiments.scenarios references           # greedy, all_offload, all_local, DPP
    python -m experiments.scenarios bound                # the hindsight bound on queue_small
    python -m experiments.scenarios report               # docs/scenarios.md from the results

A run is ``ucms-train algo=<algo> env=<preset> <budget> <overrides> seed=<s>`` in
``experiments/runs/scenarios/<tag>/`` (git-ignored); ``report`` reads their ``summary.json``
and ``metrics.jsonl`` into ``experiments/results/scenarios/runs.json`` (committed) and writes
the page from that file, ``references.json`` and ``bound.json``. Every learner is evaluated
on the trainer's fixed evaluation seeds (``eval_seed`` + j, j < ``eval_episodes``), the
references and the bound on the same ones.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from experiments.scenarios_report import write_page

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "experiments" / "runs" / "scenarios"
RESULTS = ROOT / "experiments" / "results" / "scenarios"
PAGE = ROOT / "docs" / "scenarios.md"
SEEDS = (0, 1, 2, 3, 4)
EVAL_EPISODES = 10
EVAL_SEED = 1_000_000  # the trainer's default: the same evaluation episodes as every run
#: the references evaluated on every preset; drift_plus_penalty at each V of DPP_V
REFERENCES = ("greedy", "all_offload", "all_local")
DPP_V = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
#: the presets without drift_plus_penalty among the references: the slot-model split presets
#: (every slot stands alone: it is greedy there) and city (N = 4800: minutes a slot)
NO_DPP = ("dnn_split", "dnn_split_small", "city")
#: the presets small enough for the exact per-slot oracle (mec_env.policies "oracle")
ORACLE_PRESETS = ("dnn_split_small",)


@dataclass(frozen=True)
class Job:
    """One group of runs: ``algo`` on ``preset`` with ``overrides`` (Hydra key=value), one run
    per seed; ``tag`` names the group (its folder and its row)."""

    tag: str
    preset: str
    algo: str
    episodes: int
    overrides: tuple[str, ...] = ()
    seeds: tuple[int, ...] = SEEDS
    note: str = ""
    evals: int = 10  # evaluations during training (each on the EVAL_EPISODES episodes)

    def run_root(self) -> Path:
        return RUNS / self.tag

    def run_dir(self, seed: int) -> Path:
        # the trainer names the env folder after the preset and its env overrides, if any
        # (e.g. "paper_energy,admission=saving_first")
        base = self.run_root() / self.algo
        found = sorted(base.glob(f"{self.preset},*/quick/seed_{seed}"))
        plain = base / self.preset / "quick" / f"seed_{seed}"
        return found[0] if found and not plain.exists() else plain

    def command(self, seed: int) -> list[str]:
        every = max(1, self.episodes // self.evals)
        return [
            sys.executable, "-m", "ucms_marl.train", f"algo={self.algo}", f"env={self.preset}",
            f"episodes={self.episodes}", f"eval_every={every}", f"checkpoint_every={every}",
            f"eval_episodes={EVAL_EPISODES}", f"eval_seed={EVAL_SEED}", f"seed={seed}",
            "references=false", "progress_bar=false", "save_replay=false",
            f"run_root={self.run_root()}", *self.overrides,
        ]  # fmt: skip

    def done(self, seed: int) -> bool:
        return (self.run_dir(seed) / "summary.json").exists()


@dataclass
class Plan:
    """The campaign: its jobs, in the order they run."""

    jobs: list[Job] = field(default_factory=list)

    def add(self, *jobs: Job) -> Plan:
        self.jobs.extend(jobs)
        return self


#: the discount factor of the PPO learners on the time-coupled presets, chosen by the sweep of
#: docs/scenarios.md ("How γ was chosen"): γ in {0, 0.5, 0.9, 0.99} x 2 seeds on queue_heavy
GAMMA = "learner.gamma=0.99"
#: the paper's four baselines, run on queue_heavy at UCMS_MADDPG's budget (γ = 0.99, their default)
PAPER_BASELINES = ("rd_ucms_maddpg", "maddpg", "offloadcost_maddpg", "deadline_maddpg")
#: the warm start by imitation of drift_plus_penalty (docs/algorithms.md, "Warm start by
#: imitation"), from the single-seed screening of docs/scenarios.md ("Closing the gap to
#: drift_plus_penalty"): on queue_heavy the screened cloning of 8 teacher episodes (30 passes);
#: on queue_small 8 teacher episodes and 2 DAgger rounds (its clone measured 0.083 against
#: 0.120 without DAgger; the fine-tuning after it was not screened)
IMITATE = ("learner.imitation.policy=drift_plus_penalty",)
IMITATE_HEAVY = (*IMITATE, "learner.imitation.episodes=8", "learner.imitation.epochs=30")
IMITATE_SMALL = (*IMITATE, "learner.imitation.episodes=8", "learner.imitation.epochs=50",
                 "learner.imitation.dagger_rounds=2")  # fmt: skip
#: UCMS_MAPPO with each UD learning from its own reward, as MAPPO (its default is ``share``,
#: which the γ sweep measured 2.4 times dearer for MAPPO on queue_heavy)
OWN = "learner.ud_reward=own"


def default_plan() -> Plan:
    """The committed campaign, in the order it runs. Budgets in episodes of 100 slots: MAPPO,
    IPPO and UCMS_MAPPO at 200 (20,000 env-steps), UCMS_MADDPG at 100 (10,000 env-steps,
    about the CPU time of MAPPO's 200 here); `queue_small` (20 slots, N = 6) at 1500 episodes
    (30,000 env-steps); γ = 0.99 (``GAMMA``) for the PPO learners, and the same MAPPO with
    γ = 0 (the ``gamma0`` rows) for the γ comparison. Five seeds where a target is measured,
    three elsewhere; one longer MAPPO run on `queue_heavy` (600 episodes); the paper's four
    baselines on `queue_heavy` at UCMS_MADDPG's budget; UCMS_MAPPO warm-started by imitation
    of drift_plus_penalty (``IMITATE_HEAVY``, ``IMITATE_SMALL``) on `queue_heavy` and
    `queue_small`, beside the same UCMS_MAPPO without it (own reward, ``OWN``; 5 seeds each),
    and with 2 DAgger rounds on `queue_heavy` (3 seeds: the time left)."""
    three = (0, 1, 2)
    g0 = ("learner.gamma=0.0",)
    return Plan().add(
        Job("queue_heavy-mappo", "queue_heavy", "mappo", 200, (GAMMA,)),
        Job("queue_heavy-mappo-gamma0", "queue_heavy", "mappo", 200, g0),
        Job("paper_energy-mappo", "paper_energy", "mappo", 200, (GAMMA,)),
        Job("queue_energy-mappo", "queue_energy", "mappo", 200, (GAMMA,), seeds=three),
        Job("queue-mappo", "queue", "mappo", 200, (GAMMA,), seeds=three),
        Job("queue_heavy-ippo", "queue_heavy", "ippo", 200, (GAMMA,), seeds=three),
        Job("queue_heavy-ucms_maddpg", "queue_heavy", "ucms_maddpg", 100, seeds=three),
        Job("queue_small-mappo", "queue_small", "mappo", 500, (GAMMA,)),
        Job("queue_small-mappo-gamma0", "queue_small", "mappo", 500, g0),
        Job("queue_small-mappo-1500", "queue_small", "mappo", 1500, (GAMMA,)),
        Job("queue_small-mappo-1500-gamma0", "queue_small", "mappo", 1500, g0),
        Job("queue_heavy-ucms_mappo", "queue_heavy", "ucms_mappo", 200, (GAMMA,), seeds=three),
        Job(
            "queue_heavy-mappo-600",
            "queue_heavy",
            "mappo",
            600,
            (GAMMA,),
            seeds=(0,),
        ),
        *(Job(f"queue_heavy-{a}", "queue_heavy", a, 100, seeds=three) for a in PAPER_BASELINES),
        Job(
            "paper_energy-mappo-500",
            "paper_energy",
            "mappo",
            500,
            seeds=three,
            note="γ = 0.5, MAPPO's default",
        ),
        *warm_start_jobs(),
        *paper_energy_jobs(),
        *beyond_paper_jobs(),
        *coverage_jobs(),
    )


def beyond_paper_jobs() -> tuple[Job, ...]:
    """Learners on the presets beyond the paper's slot model (issue 22).

    * `dnn_split` (10-slot episodes: 3000 episodes are 30,000 env-steps, about 11 CPU-minutes
      a run here): UCMS_MADDPG, whose continuous x^u can choose a split point, and the same
      learner with its ES agents off (``admission=accept_all``, 3 seeds): what learned
      admission adds when requests store activations instead of whole tasks.
    * `dnn_split_small` (N = 4, the exact oracle's preset): UCMS_MADDPG, 3000 episodes.
    * `urban_mobility` (100-slot episodes): UCMS_MADDPG at 100 episodes (10,000 env-steps)
      and MAPPO at 200 (γ = 0.99), five seeds; the paper's four baselines (60 episodes) and
      IPPO (200) one seed each, the coverage budgets of ``coverage_jobs``.
    * `urban_split_queue` (splits, the map and queues): UCMS_MADDPG at 100 episodes and MAPPO
      at 200 (γ = 0.99), five seeds.
    * MAPPO with a Beta offload head (``learner.offload_dist=beta``, so x^u can name a split
      point) on `dnn_split` (2000 episodes) and `urban_split_queue` (200, γ = 0.99), 3 seeds;
      on `dnn_split` again with each UD learning from its own share P_n − C_n
      (``learner.ud_reward=share``: with the default own reward, −C̄ + P_n, a UD's cost is
      1/48 of its signal and MAPPO stays above random), 1000 episodes, 5 seeds, and the same
      with the Bernoulli head, 3 seeds; MAPPO with the share reward on `urban_mobility` and
      `urban_split_queue` (200 episodes, γ = 0.99), 3 seeds.
    * `city` (N = 4800, M = 300, reach K = 4): MAPPO (one UD actor shared by the 4800 UDs),
      five seeds of 10 episodes, evaluated twice: what a CPU session affords.
    """
    return (*_split_jobs(), *_map_jobs())


THREE = (0, 1, 2)
#: MAPPO's split-capable offload head, and each UD learning from its own P_n − C_n
BETA, SHARE = ("learner.offload_dist=beta",), ("learner.ud_reward=share",)


def _split_jobs() -> tuple[Job, ...]:
    """The jobs on `dnn_split` and `dnn_split_small` (:func:`beyond_paper_jobs`)."""
    return (
        Job("dnn_split-ucms_maddpg", "dnn_split", "ucms_maddpg", 3000),
        Job("dnn_split_small-ucms_maddpg", "dnn_split_small", "ucms_maddpg", 3000),
        Job("dnn_split-mappo-beta", "dnn_split", "mappo", 2000, BETA, seeds=THREE,
            note="x a Beta share (learner.offload_dist=beta): MAPPO can split"),
        Job("dnn_split-mappo-beta-share", "dnn_split", "mappo", 1000, (*BETA, *SHARE),
            note="x a Beta share, each UD learning from its own P_n − C_n"),
        Job("dnn_split-mappo-share", "dnn_split", "mappo", 1000, SHARE, seeds=THREE,
            note="Bernoulli x, each UD learning from its own P_n − C_n"),
        Job("dnn_split-ucms_maddpg-accept_all", "dnn_split", "ucms_maddpg", 3000,
            ("admission=accept_all",), seeds=THREE,
            note="ES agents off: every request admitted (co-selection, UD learners as UCMS)"),
    )  # fmt: skip


def _map_jobs() -> tuple[Job, ...]:
    """The jobs on `urban_mobility`, `urban_split_queue` and `city` (:func:`beyond_paper_jobs`)."""
    jobs = [
        Job("urban_mobility-ucms_maddpg", "urban_mobility", "ucms_maddpg", 100),
        Job("urban_mobility-mappo", "urban_mobility", "mappo", 200, (GAMMA,)),
    ]
    for algo in PAPER_BASELINES:
        jobs.append(Job(f"urban_mobility-{algo}", "urban_mobility", algo, 60, seeds=(0,)))
    jobs += [
        Job("urban_mobility-ippo", "urban_mobility", "ippo", 200, (GAMMA,), seeds=(0,)),
        Job("urban_split_queue-ucms_maddpg", "urban_split_queue", "ucms_maddpg", 100),
        Job("urban_split_queue-mappo", "urban_split_queue", "mappo", 200, (GAMMA,)),
        Job("urban_split_queue-mappo-beta", "urban_split_queue", "mappo", 200, (GAMMA, *BETA),
            seeds=THREE, note="γ = 0.99, x a Beta share (learner.offload_dist=beta)"),
        *(Job(f"{p}-mappo-share", p, "mappo", 200, (GAMMA, *SHARE), seeds=THREE,
              note="γ = 0.99, each UD learning from its own P_n − C_n")
          for p in ("urban_mobility", "urban_split_queue")),
        Job("city-mappo", "city", "mappo", 10, (GAMMA,), evals=2),
    ]  # fmt: skip
    return tuple(jobs)


#: every learner of the paper and IPPO on the presets where the campaign above does not run
#: them (issue 21: every learner on every new preset at a documented budget): one seed each,
#: 6,000 env-steps (60 episodes of 100 slots, 300 of `queue_small`'s 20) for the MADDPG family
#: and 20,000 for IPPO (200 and 1000 episodes), γ = 0.99 (GAMMA) for IPPO
COVERAGE_PRESETS = ("queue", "queue_small", "queue_energy", "paper_energy")


def coverage_jobs() -> tuple[Job, ...]:
    """One seed of each paper learner and IPPO on ``COVERAGE_PRESETS``."""
    jobs = []
    for preset in COVERAGE_PRESETS:
        scale = 5 if preset == "queue_small" else 1  # 20-slot episodes: 5 times as many
        for algo in ("ucms_maddpg", *PAPER_BASELINES):
            jobs.append(Job(f"{preset}-{algo}", preset, algo, 60 * scale, seeds=(0,)))
        jobs.append(Job(f"{preset}-ippo", preset, "ippo", 200 * scale, (GAMMA,), seeds=(0,)))
    return tuple(jobs)


def paper_energy_jobs() -> tuple[Job, ...]:
    """MAPPO on `paper_energy` warm-started by imitation of greedy (8 teacher episodes), with
    greedy's admission rule (saving_first) so the clone starts from greedy's decisions."""
    return (
        Job(
            "paper_energy-mappo-imitation",
            "paper_energy",
            "mappo",
            200,
            (
                "admission=saving_first",
                "learner.gamma=0.5",
                "learner.imitation.policy=greedy",
                "learner.imitation.episodes=8",
            ),  # fmt: skip
            note="γ = 0.5, admission saving_first, warm start: imitation of greedy, 8 ep",
        ),
    )


def warm_start_jobs() -> tuple[Job, ...]:
    """UCMS_MAPPO (γ = 0.99, own reward) warm-started by imitation of drift_plus_penalty, and
    the same without the warm start, on `queue_heavy` (and with DAgger, 3 seeds) and
    `queue_small`."""
    three = (0, 1, 2)
    return (
        Job(
            "queue_heavy-ucms_mappo-imitation",
            "queue_heavy",
            "ucms_mappo",
            200,
            (GAMMA, OWN, *IMITATE_HEAVY),
            note="γ = 0.99, own reward, warm start: imitation of drift_plus_penalty, 8 ep",
        ),
        Job(
            "queue_heavy-ucms_mappo-dagger",
            "queue_heavy",
            "ucms_mappo",
            200,
            (
                GAMMA,
                OWN,
                *IMITATE,
                "learner.imitation.episodes=4",
                "learner.imitation.epochs=30",
                "learner.imitation.dagger_rounds=2",
            ),
            seeds=three,
            note="γ = 0.99, own reward, warm start: DAgger of drift_plus_penalty, 4 + 2 × 4 ep",
        ),
        Job(
            "queue_heavy-ucms_mappo-own",
            "queue_heavy",
            "ucms_mappo",
            200,
            (GAMMA, OWN),
            note="γ = 0.99, own reward",
        ),
        Job(
            "queue_small-ucms_mappo-imitation-1500",
            "queue_small",
            "ucms_mappo",
            1500,
            (GAMMA, OWN, *IMITATE_SMALL),
            note="γ = 0.99, own reward, warm start: DAgger of drift_plus_penalty, 8 + 2 × 8 ep",
        ),
        Job(
            "queue_small-ucms_mappo-own-1500",
            "queue_small",
            "ucms_mappo",
            1500,
            (GAMMA, OWN),
            note="γ = 0.99, own reward",
        ),
    )


def _run_one(job: Job, seed: int) -> tuple[Job, int, int, float]:
    log = job.run_root() / f"{job.algo}-{job.preset}-seed_{seed}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with log.open("w") as fh:
        rc = subprocess.call(job.command(seed), stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT,
                             env=env)  # fmt: skip
    return job, seed, rc, time.time() - start


def run(plan: Plan, jobs: int, only: Sequence[str] = ()) -> int:
    """Train every missing run of ``plan`` (``only``: these tags), ``jobs`` at a time."""
    todo = [(j, s) for j in plan.jobs if not only or j.tag in only for s in j.seeds
            if not j.done(s)]  # fmt: skip
    failed = 0
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for job, seed, rc, took in pool.map(lambda js: _run_one(*js), todo):
            failed += rc != 0
            state = "done" if rc == 0 else f"FAILED (exit {rc}, log in {job.run_root()})"
            print(f"{job.tag} seed {seed}: {state} in {took / 60:.1f} min", flush=True)
    return 1 if failed else 0


def collect(plan: Plan) -> dict:
    """Every finished run of ``plan``: last and best evaluation cost and the curve."""
    from ucms_marl.summary import eval_curve

    out: dict = {}
    for job in plan.jobs:
        rows = {}
        for seed in job.seeds:
            if not job.done(seed):
                continue
            summary = json.loads((job.run_dir(seed) / "summary.json").read_text())
            rows[str(seed)] = {
                "cost": summary["eval"]["cost"],
                "timeout_rate": summary["eval"]["timeout_rate"],
                "offload_rate": summary["eval"]["offload_rate"],
                "best_cost": summary.get("best", {}).get("cost"),
                "wall_time_s": summary.get("wall_time_s"),
                "curve": eval_curve(job.run_dir(seed)),
            }
        out[job.tag] = {
            "preset": job.preset,
            "algo": job.algo,
            "episodes": job.episodes,
            "overrides": list(job.overrides),
            "note": job.note,
            "seeds": rows,
        }
    return out


def references(presets: Sequence[str]) -> dict:
    """The references' evaluation cost on each preset, on the learners' evaluation episodes:
    one value per episode (they do not learn), drift_plus_penalty at every V of DPP_V, with
    DNN split tasks best_split, and the exact oracle on ``ORACLE_PRESETS``."""
    from mec_env.config import make_config
    from ucms_marl.summary import reference_costs

    out: dict = {}
    for preset in presets:
        env = {"preset": preset}
        split = make_config(preset).split_tasks  # DNN split tasks: best_split
        names = REFERENCES + (("best_split",) if split else ())
        names += ("oracle",) if preset in ORACLE_PRESETS else ()
        rows = reference_costs(env, EVAL_EPISODES, EVAL_SEED, names)
        out[preset] = {name: {"cost": r["cost"], "timeout_rate": r["timeout_rate"]}
                       for name, r in rows.items()}  # fmt: skip
        for v in DPP_V if preset not in NO_DPP else ():
            cost = dpp_cost(preset, v)
            if cost is not None:
                out[preset][f"drift_plus_penalty(V={v:g})"] = {"cost": cost}
        print(preset, {k: round(r["cost"], 4) for k, r in out[preset].items()}, flush=True)
    return out


def dpp_cost(preset: str, v: float) -> float | None:
    """Mean cost per UD-slot of drift_plus_penalty at V = ``v`` on the evaluation episodes
    (None if the policy is not registered)."""
    import mec_env
    from mec_env.policies import POLICIES, env_overrides_for, make_policy

    if "drift_plus_penalty" not in POLICIES.names():
        return None
    costs = []
    for j in range(EVAL_EPISODES):
        env = mec_env.parallel_env(preset, **env_overrides_for("drift_plus_penalty"))
        policy = make_policy("drift_plus_penalty", env, seed=j, v=v)
        env.reset(seed=EVAL_SEED + j)
        total, slots = 0.0, 0
        while env.agents:
            env.step(policy())
            total += float(env.unwrapped.last_step["cost"].mean())
            slots += 1
        costs.append(total / slots)
    return float(np.mean(costs))


def bound(preset: str = "queue_small") -> dict:
    """The hindsight bound per evaluation episode of ``preset`` (mec_env.bounds)."""
    from mec_env.bounds import hindsight_bound

    rows = []
    for j in range(EVAL_EPISODES):
        b = hindsight_bound(preset, EVAL_SEED + j)
        rows.append(float(b.bound))
        print(f"{preset} episode {j}: bound {b.bound:.4f}", flush=True)
    return {"preset": preset, "episodes": rows, "mean": float(np.mean(rows))}


def _save(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def _load(name: str) -> dict:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else {}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.scenarios",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=("plan", "run", "references", "bound", "report"))
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (run)")
    parser.add_argument("--only", nargs="*", default=(), help="job tags (run)")
    parser.add_argument(
        "--presets", nargs="*", default=(), help="only these, merged into references.json"
    )
    args = parser.parse_args(argv)
    plan = default_plan()
    if args.command == "plan":
        for job in plan.jobs:
            done = sum(job.done(s) for s in job.seeds)
            seeds = len(job.seeds)
            print(f"{job.tag:32s} {job.algo:12s} {job.episodes:5d} ep  {done}/{seeds} done")
        return 0
    if args.command == "run":
        return run(plan, args.jobs, args.only)
    if args.command == "references":
        presets = args.presets or sorted({j.preset for j in plan.jobs})
        merged = {**_load("references.json"), **references(presets)} if args.presets else None
        print(_save("references.json", merged or references(presets)))
        return 0
    if args.command == "bound":
        print(_save("bound.json", bound()))
        return 0
    _save("runs.json", collect(plan))
    runs, refs, lower = (_load(n) for n in ("runs.json", "references.json", "bound.json"))
    print(write_page(runs, refs, lower, PAGE, _load("gamma_sweep.json"), _load("screening.json")))
    return 0


if __name__ == "__main__":
    sys.exit(main())

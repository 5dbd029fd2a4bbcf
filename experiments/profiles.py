"""Named budgets for the figures: ``smoke`` (CI), ``short``, ``medium`` (this 2-core machine),
``paper`` (the paper's 2000 episodes x 10 seeds, for a cluster).

A profile gives every sweep (``main``, ``nsweep``, ``energy``; see :mod:`experiments.catalog`)
a :class:`Budget`: seeds, training episodes, evaluation schedule and updates per episode, passed
to ``ucms_marl.train`` as overrides. ``python -m experiments plan --profile <name>`` turns a
profile into a job list and an estimated wall time from measured per-episode timings.

A profile is a campaign (every figure's sweeps, seeds, N values, env substitutes); the
trainer's ``experiment=`` group is one run's budget. Where the two share a name and a budget
the profile reads the group (:func:`experiment_budget`: ``paper``, and ``smoke``'s main
sweep); where they differ the names differ too (the ``short`` profile's 40-episode runs are
not ``experiment=quick``'s 1000; docs/training.md, "Budgets").
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field, fields
from typing import Any

import yaml

from mec_env.config import DEFAULT_PRESET, PRESETS

DEFAULT_N_SLOTS = int(PRESETS[DEFAULT_PRESET]["n_slots"])  # T of the trainer's default env

# The paper's Fig. 6 axis: N from 12 to 57 UDs in steps of 9.
PAPER_N_VALUES: tuple[int, ...] = (12, 21, 30, 39, 48, 57)


@dataclass(frozen=True, kw_only=True)
class Budget:
    """A sweep's budget; every field but ``seeds`` is a ``ucms_marl.train`` key."""

    seeds: int
    episodes: int
    eval_every: int
    eval_episodes: int
    # gradient updates per episode of the sweep's env: the trainer's updates_per_step times its
    # T (overrides); per episode, as the committed results record it
    updates_per_episode: int
    learning_starts: int  # replay rows (joint transitions, one per slot) before the first update
    checkpoint_every: int
    num_envs: int = 1

    def overrides(self, n_slots: int) -> list[str]:
        """The trainer's keys for an env of ``n_slots`` slots per episode."""
        return [
            f"episodes={self.episodes}",
            f"eval_every={self.eval_every}",
            f"eval_episodes={self.eval_episodes}",
            f"updates_per_step={self.updates_per_episode / n_slots}",
            f"learning_starts={self.learning_starts}",
            f"checkpoint_every={self.checkpoint_every}",
            f"num_envs={self.num_envs}",
        ]


def experiment_budget(name: str, *, seeds: int) -> Budget:
    """The budget of one run of ``ucms-train experiment=<name>`` (``conf/config.yaml``'s keys,
    ``conf/experiment/<name>.yaml``'s over them), for ``seeds`` seeds: the one definition of
    a budget that a profile and the trainer's experiment group share."""
    conf = importlib.resources.files("ucms_marl.conf")
    keys = yaml.safe_load((conf / "config.yaml").read_text(encoding="utf-8"))
    keys.update(yaml.safe_load((conf / "experiment" / f"{name}.yaml").read_text("utf-8")) or {})
    # the trainer counts updates per env-step; a budget per episode of the default env
    keys["updates_per_episode"] = round(keys.pop("updates_per_step") * DEFAULT_N_SLOTS)
    return Budget(
        seeds=seeds, **{f.name: keys[f.name] for f in fields(Budget) if f.name != "seeds"}
    )


@dataclass(frozen=True)
class EnvChoice:
    """The trainer's env group plus ``env.<key>=value`` overrides."""

    preset: str
    overrides: dict[str, Any] = field(default_factory=dict)

    def hydra_overrides(self) -> list[str]:
        out = [f"env={self.preset}"]
        for key, value in self.overrides.items():
            text = (
                "[" + ",".join(map(str, value)) + "]" if isinstance(value, list | tuple) else value
            )
            out.append(f"env.{key}={text}")
        return out


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    budgets: dict[str, Budget]  # sweep name, or "<sweep>-<env>" for one env only -> budget
    n_values: tuple[int, ...] = PAPER_N_VALUES  # Fig. 6 x axis
    n_jobs: int = 2  # joblib workers (local launcher)
    torch_threads: int = 1  # per job; 1 so parallel jobs do not fight over cores
    # A profile may run a figure on a cheaper env than the one it names (smoke: `small`).
    env_substitutes: dict[str, EnvChoice] = field(default_factory=dict)
    curve_points: int = 20  # train curves: smoothed/down-sampled to about this many points
    extra_overrides: tuple[str, ...] = ()  # more ucms_marl.train overrides for every job

    def budget(self, sweep: str, env: str | None = None) -> Budget:
        """The budget of ``sweep`` on ``env``: ``"<sweep>-<env>"`` if the profile has one
        (e.g. a smaller budget for the verbatim ``paper`` units), else ``"<sweep>"``."""
        if env is not None and f"{sweep}-{env}" in self.budgets:
            return self.budgets[f"{sweep}-{env}"]
        if sweep not in self.budgets:
            raise ValueError(f"profile {self.name!r} has no budget for sweep {sweep!r}")
        return self.budgets[sweep]

    def env_choice(self, env: str) -> EnvChoice:
        return self.env_substitutes.get(env, EnvChoice(preset=env))


# Energy-variant parameters on the `small` preset, for the smoke profile (docs/environment.md's
# paper_energy without its 48 UDs and 100 slots).
_SMALL_ENERGY = EnvChoice(
    preset="small",
    overrides={"n_slots": 20, "battery_j": [0.15625, 1.0], "rho_delay": 1.0, "rho_energy": 5.0},
)

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="smoke",
            description=(
                "CI: seconds per sweep; every env replaced by `small` (N = 6, M = 2), 4 episodes"
            ),
            budgets={
                # the trainer's experiment=smoke, 2 seeds (2 env copies, a checkpoint every 2
                # episodes: the campaign exercises the vector path and checkpoints too)
                "main": experiment_budget("smoke", seeds=2),
                "nsweep": Budget(
                    seeds=2,
                    episodes=4,
                    eval_every=2,
                    eval_episodes=2,
                    updates_per_episode=1,
                    learning_starts=10,
                    checkpoint_every=0,
                ),
                "energy": Budget(
                    seeds=2,
                    episodes=3,
                    eval_every=1,
                    eval_episodes=1,
                    updates_per_episode=1,
                    learning_starts=20,
                    checkpoint_every=0,
                ),
            },
            n_values=(3, 6),
            env_substitutes={
                "paper_kb": EnvChoice(preset="small"),
                "paper": EnvChoice(preset="small"),
                "paper_energy": _SMALL_ENERGY,
            },
            curve_points=4,
        ),
        Profile(
            name="short",
            description=(
                "minutes: the real presets, 2 seeds, a few dozen episodes "
                "(Fig. 6 at N = 12, 30, 48)"
            ),
            budgets={
                "main": Budget(
                    seeds=2,
                    episodes=40,
                    eval_every=10,
                    eval_episodes=5,
                    updates_per_episode=2,
                    learning_starts=160,
                    checkpoint_every=0,
                ),
                "nsweep": Budget(
                    seeds=2,
                    episodes=30,
                    eval_every=30,
                    eval_episodes=5,
                    updates_per_episode=2,
                    learning_starts=160,
                    checkpoint_every=0,
                ),
                "energy": Budget(
                    seeds=2,
                    episodes=6,
                    eval_every=2,
                    eval_episodes=2,
                    updates_per_episode=5,
                    learning_starts=200,
                    checkpoint_every=0,
                ),
            },
            n_values=(12, 30, 48),
            curve_points=12,
        ),
        Profile(
            name="medium",
            description=(
                "this 2-core machine in about 90 minutes (`plan` shows the estimate): the "
                "learners get the episodes they need to learn (1000 at N = 48, not the paper's "
                "2000); Fig. 6 at N = 12, 30, 48"
            ),
            budgets={
                # 3 seeds x 1000 episodes at N = 48: Figs 4, 5, 7, 8 (the budget of the 5-seed
                # learning checks, docs/algorithms.md: MADDPG reaches ~0.08 and UCMS_MADDPG ~0.054
                # there; UCMS's ES leaves its 400-episode warm-up with 600 episodes to learn)
                "main": Budget(
                    seeds=3,
                    episodes=1000,
                    eval_every=100,
                    eval_episodes=10,
                    updates_per_episode=2,
                    learning_starts=160,
                    checkpoint_every=0,
                ),
                # the verbatim units: every policy times out on every task, little to learn
                "main-paper": Budget(
                    seeds=2,
                    episodes=100,
                    eval_every=50,
                    eval_episodes=10,
                    updates_per_episode=2,
                    learning_starts=160,
                    checkpoint_every=0,
                ),
                # the oracle's preset (N = 6): learners reach the oracle within ~200 episodes
                "main-small": Budget(
                    seeds=3,
                    episodes=300,
                    eval_every=50,
                    eval_episodes=10,
                    updates_per_episode=2,
                    learning_starts=160,
                    checkpoint_every=0,
                ),
                # 2 seeds x 200 episodes at N = 12, 30, 48 (Fig. 6)
                "nsweep": Budget(
                    seeds=2,
                    episodes=200,
                    eval_every=100,
                    eval_episodes=10,
                    updates_per_episode=2,
                    learning_starts=160,
                    checkpoint_every=0,
                ),
                "nsweep-paper": Budget(
                    seeds=2,
                    episodes=40,
                    eval_every=40,
                    eval_episodes=10,
                    updates_per_episode=2,
                    learning_starts=160,
                    checkpoint_every=0,
                ),
                # 40 episodes of T = 100 slots (4000 slots), 20 updates per episode
                "energy": Budget(
                    seeds=3,
                    episodes=40,
                    eval_every=10,
                    eval_episodes=3,
                    updates_per_episode=20,
                    learning_starts=300,
                    checkpoint_every=0,
                ),
            },
            n_values=(12, 30, 48),
            curve_points=16,
        ),
        Profile(
            name="paper",
            description=(
                "the paper's budget: 2000 episodes x 10 seeds (algorithms.md), meant for a cluster"
            ),
            # every sweep: 10 runs of `ucms-train experiment=paper` (2000 episodes)
            budgets=dict.fromkeys(
                ("main", "nsweep", "energy"), experiment_budget("paper", seeds=10)
            ),
            n_jobs=-1,
            curve_points=20,
        ),
    )
}


def profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    return PROFILES[name]

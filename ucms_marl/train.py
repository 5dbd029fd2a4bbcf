"""``python -m ucms_marl.train``: train (or run) an algorithm on the MEC environment.

    python -m ucms_marl.train algo=maddpg env=small experiment=smoke seed=3
    python -m ucms_marl.train -m algo=maddpg,deadline_maddpg seed=0,1,2 torch_threads=1
    python -m ucms_marl.train algo=maddpg seed=3 resume=true     # continue after a crash

An algorithm is a composition (docs/algorithms.md): a learner (``learner/``), a replay buffer
(``replay/``), a matcher and an ES admission rule (top-level keys); ``algo/<name>.yaml`` picks
them. Heuristic policies are learners that do not learn and go through the same loop, so
their curves and evaluations sit beside the learners'. See ``docs/training.md``.

The loop, per iteration: reset ``num_envs`` copies with seeds derived from (seed, episode
index); play one episode in each, storing joint transitions; run ``updates_per_step``
gradient updates per collected env-step (one slot of one env copy) once ``learning_starts``
rows (env-steps) are stored (Algorithm 2's Ep_train loop); log; evaluate every ``eval_every``
episodes on fixed seeds, keeping the best evaluated policy in ``policy_best.pt``; checkpoint
every ``checkpoint_every`` episodes. On-policy learners (``learner.on_policy``, e.g. MAPPO)
have no replay: an iteration plays ``max(num_envs, ceil(learner.rollout_steps / n_slots))``
episodes side by side into a :class:`~ucms_marl.rollout.RolloutStore` and then calls
``learner.update_rollout`` once on it. Every schedule counts env-steps or updates, not
episodes, so a preset with 100-slot episodes learns as one with 10 (docs/training.md).

:func:`run` reads top to bottom: :func:`setup`, :func:`resume`, :func:`open_log`, then
:func:`train_iteration` (:func:`collect`, :func:`update`, :func:`log_iteration`,
:func:`evaluate_and_log`, :func:`save_checkpoint`) until the budget is spent, a final
evaluation and checkpoint, :func:`write_summary`.
"""

from __future__ import annotations

import copy
import difflib
import json
import logging
import math
import random
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from fractions import Fraction
from pathlib import Path
from typing import Any

from ucms_marl.errors import UsageError, debug_requested, exit_with, require_train_extra

try:
    import hydra
    import torch
except ModuleNotFoundError:  # a core-only install (``pip install mec-env``)
    require_train_extra("ucms-train", cli=__name__ == "__main__")
    raise

import numpy as np
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from mec_env.config import make_config
from ucms_marl import checkpoint as ckpt
from ucms_marl.config import ENV_KEYS, GROUP_SCHEMAS, TrainConfig, register_configs
from ucms_marl.learners import LEARNERS, Learner
from ucms_marl.metrics import RunLogger
from ucms_marl.paths import (
    BEST_POLICY_NAME,
    CHECKPOINT_NAME,
    CONFIG_FILE,
    POLICY_NAME,
    SUMMARY_FILE,
)
from ucms_marl.replay import ReplayBuffer, make_replay
from ucms_marl.rollout import (
    RolloutStore,
    VectorMECEnv,
    episode_seed,
    evaluate,
    make_vector_env,
    mean_metrics,
    play_episodes,
)

log = logging.getLogger(__name__)
register_configs()

# resume=: false (a new run; refuse an existing one), true (continue; refuse if there is
# nothing to continue), auto (continue if there is a checkpoint, else start: SLURM requeues)
RESUME_MODES = (False, True, "auto")
# keys that may change between a run and its resumption (budgets and logistics only)
RESUMABLE_KEYS = (
    "episodes", "eval_every", "eval_episodes", "checkpoint_every", "save_replay", "resume",
    "progress_bar", "torch_threads", "device", "run_root", "references",
)  # fmt: skip


# ---------------------------------------------------------------------- setup
def seed_everything(seed: int, torch_threads: int = 0) -> None:
    """The one seeding block: python, numpy's global state, torch. Envs and action spaces are
    seeded per episode (:func:`episode_seed`); learners and replay own derived generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - for third-party code that uses it
    torch.manual_seed(seed)
    if torch_threads > 0:
        torch.set_num_threads(int(torch_threads))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but torch sees no CUDA device; use device=cpu or auto")
    if not (name == "cpu" or name.startswith("cuda")):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}")
    return torch.device(name)


def env_kwargs_for(cfg: DictConfig, learner_cls: type[Learner]) -> dict[str, Any]:
    """mec_env.parallel_env kwargs: env group, then the algorithm's matcher/admission/ES
    choice, then the learner's ``env_overrides``. A learning learner requires them (they win,
    with a warning if the config said otherwise); a heuristic policy's are the settings it is
    meant for, used where the config names none, so any combination of policy, matcher and
    admission can be run (``algo=all_offload admission=saving_first``)."""
    kwargs: dict[str, Any] = {"preset": cfg.env.preset}
    for key in ENV_KEYS:
        value = cfg.env.get(key)
        if value is not None:
            kwargs[key] = OmegaConf.to_object(value) if OmegaConf.is_config(value) else value
    for key in ("matcher", "admission", "es_agents"):
        if cfg.get(key) is not None:
            kwargs[key] = cfg[key]
    required = learner_cls.env_overrides(cfg.learner, kwargs)
    for key, value in required.items():
        if not learner_cls.is_learning and cfg.get(key) is not None:
            continue  # a heuristic's preference; the config's choice stands
        if cfg.get(key) is not None and cfg[key] != value:
            log.warning(
                "learner %s requires %s=%r (config says %r)", cfg.learner.name, key, value, cfg[key]
            )
        kwargs[key] = value
    return kwargs


def validate(cfg: DictConfig) -> None:
    rules = {
        "episodes": (cfg.episodes >= 1, ">= 1"),
        "eval_every": (cfg.eval_every >= 0, ">= 0 (0 = only at the end)"),
        "eval_episodes": (cfg.eval_episodes >= 0, ">= 0"),
        "num_envs": (cfg.num_envs >= 1, ">= 1"),
        "updates_per_step": (cfg.updates_per_step >= 0, ">= 0"),
        "learning_starts": (cfg.learning_starts >= 0, ">= 0"),
        "checkpoint_every": (cfg.checkpoint_every >= 0, ">= 0 (0 = only at the end)"),
        "torch_threads": (cfg.torch_threads >= 0, ">= 0 (0 = torch default)"),
        "resume": (cfg.resume in RESUME_MODES, "true, false or auto"),
    }
    for key, (ok, allowed) in rules.items():
        if not ok:
            raise ValueError(f"{key} must be {allowed}, got {cfg[key]!r}")


def episode_slots(env_kwargs: Mapping[str, Any]) -> int:
    """Slots per episode (the env's ``n_slots``) of the env ``env_kwargs`` builds: every
    episode lasts that many env-steps per copy."""
    kwargs = {k: v for k, v in env_kwargs.items() if k != "preset"}
    return int(make_config(env_kwargs["preset"], **kwargs).n_slots)


def updates_due(updates_per_step: float, env_steps: int) -> int:
    """Gradient updates due after ``env_steps`` env-steps, ``floor(updates_per_step *
    env_steps)``, with ``updates_per_step`` read as the decimal it is written as (0.2 is 1/5
    exactly: every 10 env-steps make exactly 2 updates, as 2 per 10-slot episode did)."""
    return math.floor(Fraction(str(updates_per_step)) * int(env_steps))


def build(cfg: DictConfig) -> tuple[Learner, dict[str, Any], VectorMECEnv]:
    """Learner, env kwargs and a one-copy env for ``cfg`` (shared with ucms_marl.evaluate)."""
    learner_cls = LEARNERS.get(cfg.learner.name)
    env_kwargs = env_kwargs_for(cfg, learner_cls)
    probe = make_vector_env(env_kwargs, 1)
    learner = learner_cls(cfg.learner, probe.spec, device=resolve_device(cfg.device), seed=cfg.seed)
    return learner, env_kwargs, probe


# ---------------------------------------------------------------------- the run
def _config_container(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)


def _flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


# keys added after runs were saved, at the values that leave such a run unchanged: a saved
# config without them resumes under a current config that has them at these values
ADDED_KEYS_OFF = {
    "learner.imitation.policy": None, "learner.imitation.episodes": 0,
    "learner.imitation.epochs": 20, "learner.imitation.continuous_weight": 0.02,
    "learner.imitation.dagger_rounds": 0,
}  # fmt: skip


def _check_resumable(saved: Mapping[str, Any], current: Mapping[str, Any], path: Path) -> None:
    """Refuse to resume the checkpoint at ``path`` with a config that differs in anything but
    the budget and logistics keys (and :data:`ADDED_KEYS_OFF` at their values where the
    saved config predates them), naming each key with both values."""
    saved, current = _flat(saved), _flat(current)
    added = {k for k, off in ADDED_KEYS_OFF.items() if k not in saved and current.get(k) == off}
    differ = [
        f"{k}: {saved.get(k)!r} -> {current.get(k)!r}"
        for k in sorted(set(saved) | set(current))
        if k not in RESUMABLE_KEYS and k not in added and saved.get(k) != current.get(k)
    ]
    if differ:
        raise UsageError(
            f"resume: the config differs from {path}'s in {'; '.join(differ)}; only "
            f"{', '.join(RESUMABLE_KEYS)} may change: drop those overrides to continue the run, "
            f"or start a new one in another directory (run_root=... or hydra.run.dir=...)"
        )


def replay_for(cfg: DictConfig, learner: Learner) -> ReplayBuffer:
    """The run's replay buffer: ``cfg.replay`` over the learner's transition fields, with its
    own generator derived from the run seed."""
    kwargs = {
        k: v for k, v in _config_container(cfg.replay).items() if k not in ("name", "capacity")
    }
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0xB0FF]))
    return make_replay(
        cfg.replay.name, cfg.replay.capacity, learner.transition_spec(), rng, **kwargs
    )


@dataclass(kw_only=True)
class Session:
    """What one run holds: its config, learner, env copies, replay and log."""

    cfg: DictConfig
    run_dir: Path
    algo: str
    config: dict[str, Any]  # the resolved config, as stored in checkpoints
    learner: Learner
    env_kwargs: dict[str, Any]
    train_envs: VectorMECEnv
    eval_envs: VectorMECEnv
    iteration_envs: int  # episodes played side by side per iteration
    n_slots: int  # env-steps per episode and copy
    on_policy: bool
    replay: ReplayBuffer | None
    logger: RunLogger | None = None
    t_start: float = 0.0  # perf_counter at the start of this session's loop


@dataclass(kw_only=True)
class Progress:
    """Where the run stands: restored from the checkpoint on resume."""

    episode: int = 0
    env_steps: int = 0  # training env-steps (slots of one env copy) collected: the schedules' clock
    updates: int = 0
    wall_before: float = 0.0  # wall time of the sessions before a resume
    last_eval: dict[str, float] | None = None
    last_eval_episode: int = -1
    best: Best | None = None  # the best evaluation so far (lowest cost)


@dataclass(kw_only=True)
class Best:
    """The run's best evaluation so far: its episode, metrics and the policy that made it
    (``learner.policy_state_dict()``, None for a policy that does not learn); written to
    ``policy_best.pt`` and kept in the checkpoint so that a resumed run keeps it."""

    episode: int
    eval: dict[str, float]
    weights: dict[str, Any] | None = field(default=None, repr=False)

    def state(self) -> dict[str, Any]:
        return {"episode": self.episode, "eval": self.eval, "weights": self.weights}


def setup(cfg: DictConfig, run_dir: Path, algo: str) -> Session:
    """Seed, build the learner, the training and evaluation env copies and the replay."""
    run_dir.mkdir(parents=True, exist_ok=True)
    config = _config_container(cfg)
    seed_everything(cfg.seed, cfg.torch_threads)
    learner, env_kwargs, _ = build(cfg)
    on_policy = learner.is_learning and learner.on_policy
    # on-policy: one iteration = the episodes of one update_rollout (at least rollout_steps
    # env-steps, whole episodes), played side by side
    n_slots = episode_slots(env_kwargs)
    rollout_envs = math.ceil(learner.rollout_steps / n_slots) if on_policy else 0
    iteration_envs = max(cfg.num_envs, rollout_envs)
    train_envs = make_vector_env(env_kwargs, iteration_envs)
    eval_envs = make_vector_env(env_kwargs, max(1, min(cfg.num_envs, cfg.eval_episodes)))
    train_envs.seed_action_spaces(cfg.seed)
    eval_envs.seed_action_spaces(cfg.seed + 1)
    replay = replay_for(cfg, learner) if learner.is_learning and not on_policy else None
    return Session(
        cfg=cfg, run_dir=run_dir, algo=algo, config=config, learner=learner,
        env_kwargs=env_kwargs, train_envs=train_envs, eval_envs=eval_envs,
        iteration_envs=iteration_envs, n_slots=n_slots, on_policy=on_policy, replay=replay,
    )  # fmt: skip


def resume(session: Session) -> Progress:
    """A fresh :class:`Progress`, or the checkpoint's when ``resume`` is true or auto and
    finds one (learner, replay, RNG states and counters restored). Refuses to overwrite a run
    (resume=false) or to resume nothing (resume=true); removes the temporary files of a
    checkpoint write that was killed."""
    cfg, run_dir = session.cfg, session.run_dir
    ckpt_path = run_dir / CHECKPOINT_NAME
    for stale in ckpt.remove_stale_temp_files(run_dir):
        log.info("removed %s, left by a checkpoint write that was killed", stale)
    if ckpt_path.exists() and cfg.resume is False:
        raise UsageError(
            f"{ckpt_path} exists: continue that run with resume=true (add episodes=... to "
            f"extend it), or start another in a new directory (seed=..., run_root=... or "
            f"hydra.run.dir=...)"
        )
    if not ckpt_path.exists():
        if cfg.resume is True:
            raise UsageError(
                f"resume=true but {run_dir} has no {CHECKPOINT_NAME}: nothing to resume; drop "
                f"resume=true to start this run, or use resume=auto (continue if there is a "
                f"checkpoint, else start)"
            )
        return Progress()
    state = ckpt.load(ckpt_path, map_location=session.learner.device)
    _check_resumable(state["config"], session.config, ckpt_path)
    session.learner.load_state_dict(state["learner"])
    if session.replay is not None and state.get("replay") is not None:
        session.replay.load_state_dict(state["replay"])
    ckpt.set_rng_states(state["rng"])
    progress = Progress(
        episode=state["episode"],
        env_steps=state.get("env_steps", state["episode"] * session.n_slots),
        updates=state["updates"],
        wall_before=state["wall_time_s"],
    )
    if state.get("best") is not None:
        progress.best = Best(**state["best"])
        save_best_policy(session, progress)  # the checkpoint's best, whatever came after it
    log.info("resumed %s at episode %d (%d updates)", run_dir, progress.episode, progress.updates)
    return progress


def open_log(session: Session, progress: Progress) -> None:
    """Write config.json and open the run's logger (metrics.jsonl, TensorBoard, progress bar);
    a resumed run that had evaluated keeps its last evaluation."""
    cfg, learner = session.cfg, session.learner
    hparams = {"algo": session.algo, "env_kwargs": session.env_kwargs, **session.config,
               **learner.hparams()}  # fmt: skip
    (session.run_dir / CONFIG_FILE).write_text(json.dumps(hparams, indent=2, default=str))
    session.logger = RunLogger(
        session.run_dir,
        hparams=hparams,
        total_episodes=cfg.episodes,
        start_episode=progress.episode,
        progress_bar=cfg.progress_bar,
    )
    if progress.episode > 0 and (previous := session.logger.last_eval()) is not None:
        progress.last_eval_episode, progress.last_eval = previous  # e.g. a run that had finished


def collect(
    session: Session, episode: int, n: int, env_steps: int = 0
) -> tuple[list[dict[str, float]], int, RolloutStore | None, float]:
    """Play training episodes ``episode .. episode + n - 1`` side by side with exploration,
    into the replay (off-policy) or a rollout (on-policy), after ``env_steps`` env-steps;
    per-episode metrics, env-steps, the rollout and the seconds it took."""
    seeds = [episode_seed(session.cfg.seed, episode + i) for i in range(n)]
    rollout = RolloutStore() if session.on_policy else None
    t0 = time.perf_counter()
    batch, steps = play_episodes(session.train_envs, session.learner, seeds, explore=True,
                                 replay=session.replay, rollout=rollout)  # fmt: skip
    t_env = time.perf_counter() - t0
    for i in range(n):  # every copy plays n_slots env-steps per episode
        session.learner.end_episode(env_steps + (i + 1) * (steps // n))
    return batch, steps, rollout, t_env


def update(
    session: Session, env_steps: tuple[int, int], rollout: RolloutStore | None
) -> tuple[dict[str, list[float]], int, float]:
    """Gradient updates after the env-steps ``env_steps[0]`` to ``env_steps[1]`` were
    collected: the :func:`updates_due` in between (``updates_per_step`` per env-step) on
    replay samples once ``learning_starts`` rows are stored, or one ``update_rollout``; the
    losses, the number of gradient steps and the seconds it took."""
    cfg, learner, replay = session.cfg, session.learner, session.replay
    losses: dict[str, list[float]] = {}
    t1 = time.perf_counter()
    n_updates = 0
    if replay is not None and len(replay) >= max(1, cfg.learning_starts):
        due = [updates_due(cfg.updates_per_step, s) for s in env_steps]
        for _ in range(due[1] - due[0]):
            sample = replay.sample(learner.batch_size)
            step_losses, td_abs = learner.update(sample)
            if td_abs is not None:
                replay.update_priorities(sample.indices, td_abs)
            for k, v in step_losses.items():
                losses.setdefault(k, []).append(v)
            n_updates += 1
    elif rollout is not None:
        step_losses = dict(learner.update_rollout(rollout.arrays()))
        n_updates = int(step_losses.pop("updates", 1))
        losses = {k: [float(v)] for k, v in step_losses.items()}
    return losses, n_updates, time.perf_counter() - t1


def log_iteration(
    session: Session,
    progress: Progress,
    batch: list[dict[str, float]],
    losses: dict[str, list[float]],
    timing: tuple[int, float, int, float],
) -> None:
    """Log the iteration that ended at ``progress.episode``: each episode, the mean losses,
    the speed (``timing`` = env steps, env seconds, gradient steps, update seconds) and the
    progress bar."""
    learner, logger = session.learner, session.logger
    steps, t_env, n_updates, t_update = timing
    n, episode = len(batch), progress.episode
    for i, metrics in enumerate(batch):
        extra = {"env_steps": progress.env_steps - steps + (i + 1) * (steps // n)}
        if learner.is_learning:
            extra["noise_std"] = getattr(learner, "noise_std", 0.0)
        logger.train_episode(episode - n + i + 1, metrics, extra)
    logger.scalars("losses", {k: float(np.mean(v)) for k, v in losses.items()}, episode)
    perf = {
        "env_steps_per_s": steps / max(t_env, 1e-9),
        "episodes_per_s": n / max(t_env + t_update, 1e-9),
        "updates": progress.updates,
    }
    if n_updates:
        perf["updates_per_s"] = n_updates / max(t_update, 1e-9)
    logger.scalars("perf", perf, episode)
    mean_batch = mean_metrics(batch)
    logger.progress(n, {"reward": mean_batch["return"], "cost": mean_batch["cost"],
                        "sps": perf["env_steps_per_s"]})  # fmt: skip


def evaluate_and_log(session: Session, progress: Progress) -> None:
    """Noise-free episodes on the fixed evaluation seeds, logged at ``progress.episode``; an
    evaluation below the best cost so far becomes the best (``policy_best.pt``)."""
    cfg, learner = session.cfg, session.learner
    episodes = evaluate(session.eval_envs, learner, cfg.eval_episodes, cfg.eval_seed)
    progress.last_eval = mean_metrics(episodes)
    progress.last_eval_episode = progress.episode
    if progress.best is None or progress.last_eval["cost"] < progress.best.eval["cost"]:
        weights = copy.deepcopy(learner.policy_state_dict()) if learner.is_learning else None
        progress.best = Best(episode=progress.episode, eval=progress.last_eval, weights=weights)
        save_best_policy(session, progress)
    best = {"best_cost": progress.best.eval["cost"], "best_episode": progress.best.episode}
    session.logger.eval(progress.episode, progress.last_eval, best)


def save_best_policy(session: Session, progress: Progress) -> None:
    """policy_best.pt (policy.pt's format) of the best evaluation, for a learning learner."""
    best = progress.best
    if best is None or best.weights is None:
        return
    ckpt.save_atomic(
        ckpt.policy_payload(config=session.config, algo=session.algo,
                            env_kwargs=session.env_kwargs, episode=best.episode,
                            weights=best.weights),
        session.run_dir / BEST_POLICY_NAME,
    )  # fmt: skip


def save_checkpoint(session: Session, progress: Progress) -> None:
    """checkpoint.pt (exact resume) and policy.pt (acting only) of this episode."""
    cfg, learner, replay = session.cfg, session.learner, session.replay
    session.logger.flush()
    common = {"config": session.config, "algo": session.algo, "env_kwargs": session.env_kwargs,
              "episode": progress.episode}  # fmt: skip
    ckpt.save_atomic(
        ckpt.checkpoint_payload(
            **common,
            env_steps=progress.env_steps,
            updates=progress.updates,
            wall_time_s=wall_time(session, progress),
            best=None if progress.best is None else progress.best.state(),
            learner_state=learner.state_dict(),
            replay_state=replay.state_dict() if replay is not None and cfg.save_replay else None,
        ),
        session.run_dir / CHECKPOINT_NAME,
    )
    if learner.is_learning:
        ckpt.save_atomic(
            ckpt.policy_payload(**common, weights=learner.policy_state_dict()),
            session.run_dir / POLICY_NAME,
        )


def wall_time(session: Session, progress: Progress) -> float:
    return progress.wall_before + time.perf_counter() - session.t_start


def crossed(every: int, before: int, after: int) -> bool:
    """Whether going from episode ``before`` to ``after`` passes a multiple of ``every``."""
    return every > 0 and after // every > before // every


def teacher_play(session: Session, actor: Learner, episodes: int) -> dict[str, np.ndarray]:
    """``episodes`` episodes of ``actor`` without exploration in the training env copies, on
    the seeds of stream 1 (training episodes use stream 0), every step's transition fields
    stacked to (T, episodes, ...): what :meth:`Learner.warm_start` learns from."""
    seeds = [episode_seed(session.cfg.seed, i, stream=1) for i in range(episodes)]
    parts = []
    for start in range(0, episodes, session.train_envs.num_envs):
        store = RolloutStore()
        chunk = seeds[start : start + session.train_envs.num_envs]
        play_episodes(session.train_envs, actor, chunk, explore=False, rollout=store)
        parts.append(store.arrays())
    return {k: np.concatenate([p[k] for p in parts], axis=1) for k in parts[0]}


def warm_start(session: Session, progress: Progress) -> None:
    """A new run's :meth:`Learner.warm_start` (e.g. PPO's imitation of a reference policy);
    if it did anything, its statistics are logged (phase ``warm_start``) and the warm-started
    policy is evaluated at episode 0."""
    learner = session.learner
    if progress.episode > 0 or not learner.is_learning:
        return
    if (warning := learner.warm_start_warning()) is not None:
        log.warning(warning)
    t0 = time.perf_counter()
    stats = learner.warm_start(lambda actor, n: teacher_play(session, actor, n))
    if not stats:
        return
    stats["seconds"] = time.perf_counter() - t0
    log.info("warm start: %s", {k: round(v, 4) for k, v in stats.items()})
    session.logger.record("warm_start", 0, stats)
    if session.cfg.eval_episodes > 0:
        evaluate_and_log(session, progress)


def train_iteration(session: Session, progress: Progress) -> None:
    """Collect, update and log one iteration; evaluate and checkpoint when it crosses their
    intervals."""
    cfg = session.cfg
    before = progress.episode
    n = min(session.iteration_envs, cfg.episodes - before)
    batch, steps, rollout, t_env = collect(session, before, n, progress.env_steps)
    progress.env_steps += steps
    losses, n_updates, t_update = update(session, (progress.env_steps - steps, progress.env_steps),
                                         rollout)  # fmt: skip
    progress.updates += n_updates
    progress.episode += n
    log_iteration(session, progress, batch, losses, (steps, t_env, n_updates, t_update))
    if crossed(cfg.eval_every, before, progress.episode) and cfg.eval_episodes > 0:
        evaluate_and_log(session, progress)
    if crossed(cfg.checkpoint_every, before, progress.episode):
        save_checkpoint(session, progress)


def write_summary(session: Session, progress: Progress) -> dict[str, Any]:
    """summary.json: the final evaluation (of the last policy, ``policy.pt``) and the best
    (``policy_best.pt``), episodes, env-steps, updates and wall time."""
    cfg, best = session.cfg, progress.best
    best_summary = None if best is None else {
        "episode": best.episode,
        "cost": best.eval["cost"],
        "eval": best.eval,
        "policy": BEST_POLICY_NAME if best.weights is not None else None,
    }  # fmt: skip
    summary = {
        "algo": session.algo,
        "env": cfg.env.preset,
        "seed": cfg.seed,
        "episodes": progress.episode,
        "env_steps": progress.env_steps,
        "updates": progress.updates,
        "wall_time_s": wall_time(session, progress),
        "eval": progress.last_eval,
        "eval_episode": progress.last_eval_episode if progress.last_eval else None,
        "best": best_summary,
        "eval_episodes": int(cfg.eval_episodes),
        "run_dir": str(session.run_dir),
    }
    (session.run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    return summary


class Interrupted(Exception):
    """Ctrl-C stopped the run at ``episode`` (a checkpoint of that episode was written)."""

    def __init__(self, episode: int, total: int, checkpoint: Path) -> None:
        super().__init__(f"interrupted at episode {episode} of {total}; saved {checkpoint}")
        self.episode, self.total, self.checkpoint = episode, total, checkpoint


class StopRequest:
    """SIGINT (Ctrl-C) during the training loop: the first stops the run after the iteration
    in flight, at an episode boundary, where the checkpoint resumes exactly; a second one
    raises ``KeyboardInterrupt`` at once. Outside the main thread, or where SIGINT is ignored
    (a background job of a script), it changes nothing."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> StopRequest:
        main_thread = threading.current_thread() is threading.main_thread()
        if main_thread and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nucms-train: Ctrl-C: stopping after this iteration to save a checkpoint "
              "(Ctrl-C again to stop now)", file=sys.stderr, flush=True)  # fmt: skip

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def run(cfg: DictConfig, run_dir: str | Path, *, algo: str = "custom") -> dict[str, Any]:
    """Train (or play) ``cfg`` in ``run_dir``; returns the summary also written to summary.json.
    Ctrl-C stops after the iteration in flight, writes a checkpoint there and raises
    :class:`Interrupted`."""
    validate(cfg)
    session = setup(cfg, Path(run_dir), algo)
    progress = resume(session)
    open_log(session, progress)
    session.t_start = time.perf_counter()
    warm_start(session, progress)
    try:
        with StopRequest() as stop:
            while progress.episode < cfg.episodes and not stop.requested:
                train_iteration(session, progress)
        if stop.requested and progress.episode < cfg.episodes:
            save_checkpoint(session, progress)
            raise Interrupted(progress.episode, cfg.episodes, session.run_dir / CHECKPOINT_NAME)
        if progress.last_eval_episode != progress.episode and cfg.eval_episodes > 0:
            evaluate_and_log(session, progress)
        save_checkpoint(session, progress)
    except BaseException:
        session.logger.close()
        raise
    summary = write_summary(session, progress)
    session.logger.close(final_metrics=progress.last_eval)
    session.train_envs.close()
    session.eval_envs.close()
    return summary


def check_config(cfg: DictConfig) -> None:
    """Validate the trainer keys, the env config and the learner's options before anything
    runs, and let a heuristic policy decide one slot (the oracle refuses large N there); a
    bad value raises :class:`UsageError` naming the key and what is allowed."""
    try:
        validate(cfg)
        learner, _, probe = build(cfg)
        if not learner.is_learning:
            learner.act(probe.reset([int(cfg.eval_seed)]), explore=False)
        probe.close()
    except (ValueError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise UsageError(message) from exc


# config groups of conf/ that a top-level override may name
CONFIG_GROUPS = ("algo", "env", "experiment", "learner", "replay")


# keys counted in episodes before schedules counted env-steps (one slot of one env copy):
# old key -> (new key, the conversion); an override of an old key is refused naming the new one
RENAMED_KEYS = {
    "updates_per_episode": ("updates_per_step", "2 per 10-slot episode is 0.2"),
    "learner.es_warmup_episodes": ("learner.es_warmup_steps", "400 10-slot episodes is 4000"),
    "learner.rollout_episodes": ("learner.rollout_steps", "16 10-slot episodes is 160"),
}


def upgraded_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A config stored before schedules counted env-steps (a policy file's or checkpoint's),
    with each episode-counted key replaced by its env-step equivalent for the run's episode
    length (``noise_decay`` and ``es_epsilon_decay`` applied once per episode of T slots:
    ``*_decay_steps`` = T); a current config comes back unchanged."""
    config = copy.deepcopy(dict(config))
    learner = config.get("learner") or {}
    old_learner_keys = ("es_warmup_episodes", "rollout_episodes")
    if not (
        "updates_per_episode" in config
        or any(k in learner for k in old_learner_keys)
        or ("noise_decay" in learner and "noise_decay_steps" not in learner)
    ):
        return config
    env = {k: v for k, v in (config.get("env") or {}).items() if v is not None}
    t = int(make_config(env.pop("preset", "paper_kb"), **env).n_slots)
    if "updates_per_episode" in config:
        config["updates_per_step"] = config.pop("updates_per_episode") / t
    for old, new in (("es_warmup_episodes", "es_warmup_steps"),
                     ("rollout_episodes", "rollout_steps")):  # fmt: skip
        if old in learner:
            learner[new] = learner.pop(old) * t
    for decay in ("noise_decay", "es_epsilon_decay"):
        if decay in learner:
            learner.setdefault(f"{decay}_steps", t)
    return config


def _unknown_key(item: str, key: str, known: Sequence[str]) -> UsageError:
    if key in RENAMED_KEYS:
        new, example = RENAMED_KEYS[key]
        return UsageError(
            f"override {item!r}: {key!r} is now {new!r}, counted in env-steps (one slot of one "
            f"env copy) so that long episodes learn as short ones: {example} (docs/training.md)"
        )
    prefix, _, name = key.rpartition(".")
    close = difflib.get_close_matches(name, [k for k in known if k != name], n=1, cutoff=0.6)
    hint = f"did you mean {prefix + '.' if prefix else ''}{close[0]}? " if close else ""
    return UsageError(
        f"override {item!r}: {key!r} is not a config key ({hint}`ucms-train --help` lists the keys)"
    )


def known_keys(section: str) -> set[str] | None:
    """The keys the schema allows in ``section`` ("" = top level, ``env``, ``learner``,
    ``replay``: any registered learner or replay schema's), or None if there is none."""
    if section == "":
        return {f.name for f in fields(TrainConfig)} | set(CONFIG_GROUPS)
    if section == "env":
        return {"preset", *ENV_KEYS}
    schemas = GROUP_SCHEMAS[section].values() if section in GROUP_SCHEMAS else ()
    return {f.name for schema in schemas for f in fields(schema)} or None


def _parsed(overrides: Sequence[str]) -> list[tuple[str, Any]]:
    """(text, parsed override) of the overrides of the run's config (not ``hydra.*``,
    deletions or ``group@package`` ones); a syntax error is left for Hydra to report."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    out = []
    for item in overrides:
        try:
            (override,) = parser.parse_overrides([item])
        except HydraException:
            continue
        key = override.key_or_group
        if not (key.startswith("hydra") or override.is_delete() or override.package is not None):
            out.append((item, override))
    return out


def check_override_keys(overrides: Sequence[str]) -> None:
    """Before Hydra composes anything: every ``key=value`` and ``+key=value`` override names a
    key of the schema (top level, ``env.*``, a registered learner or replay schema's); an
    unknown one raises :class:`UsageError` suggesting the nearest key."""
    for item, override in _parsed(overrides):
        key = override.key_or_group
        if "/" in key:
            continue  # a nested config group (e.g. hydra/launcher)
        head, _, rest = key.partition(".")
        in_section = rest and head in ("env", *GROUP_SCHEMAS)
        section, name = (head, rest.split(".")[0]) if in_section else ("", head)
        known = known_keys(section)
        if known is not None and name not in known:
            raise _unknown_key(item, f"{section}.{name}" if section else name, sorted(known))


def check_added_keys(cfg: DictConfig, overrides: Sequence[str], groups: Sequence[str]) -> None:
    """After composition: ``+key=value`` only ever adds a key the composed config lacks (Hydra
    refuses it for an existing key), so for anything but a config group it names a key the
    schema does not know: refuse it, suggesting the nearest key of its section."""
    for item, override in _parsed(overrides):
        key = override.key_or_group
        if override.is_add() and key not in groups:
            parent = key.rpartition(".")[0]
            node = OmegaConf.select(cfg, parent) if parent else cfg
            known = [str(k) for k in node.keys()] if isinstance(node, DictConfig) else []
            raise _unknown_key(item, key, known)


@contextmanager
def one_line_errors(prog: str) -> Iterator[None]:
    """Report a :class:`UsageError` as one line with exit status 2 (the traceback with
    ``HYDRA_FULL_ERROR=1``)."""
    try:
        yield
    except UsageError as exc:
        if debug_requested():
            raise
        exit_with(prog, exc)


def resume_command(overrides: Sequence[str]) -> str:
    """The ``ucms-train`` command line that continues a run started with ``overrides``."""
    kept = [o for o in overrides if o.lstrip("+").split("=")[0] != "resume"]
    return shlex.join(["ucms-train", *kept, "resume=true"])


def report_against_references(cfg: DictConfig, summary: dict[str, Any]) -> None:
    """Evaluate the reference heuristics on the run's settings and evaluation seeds, add them
    to summary.json and print the human summary (:mod:`ucms_marl.summary`)."""
    from ucms_marl import summary as run_summary

    run_dir = Path(summary["run_dir"])
    learner_cls = LEARNERS.get(cfg.learner.name)
    refs = run_summary.reference_costs(
        env_kwargs_for(cfg, learner_cls), cfg.eval_episodes, cfg.eval_seed
    )
    summary["references"] = refs
    (run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str))
    text = run_summary.format_summary(summary, refs, run_summary.eval_curve(run_dir),
                                      tensorboard_root=cfg.run_root)  # fmt: skip
    print(text, flush=True)


def train_job(cfg: DictConfig) -> float | None:
    """One Hydra job: check, train, summarise. A user error ends it with one line (exit
    status 2), Ctrl-C with the command that continues it (exit status 130)."""
    hc = HydraConfig.get()
    overrides = list(hc.overrides.task)
    with one_line_errors("ucms-train"):
        check_added_keys(cfg, overrides, list(hc.runtime.choices))
        check_config(cfg)
        try:
            summary = run(cfg, hc.runtime.output_dir, algo=hc.runtime.choices.get("algo", "custom"))
        except (Interrupted, KeyboardInterrupt) as exc:
            where = (
                exc if isinstance(exc, Interrupted) else "interrupted; it keeps its last checkpoint"
            )
            print(f"ucms-train: {where}; continue with: {resume_command(overrides)}",
                  file=sys.stderr, flush=True)  # fmt: skip
            raise SystemExit(130) from None
    log.info("summary: %s", json.dumps(summary))
    if cfg.references and summary["eval"] is not None:
        report_against_references(cfg, summary)
    # the return value is what a Hydra sweeper would optimise: the final evaluation cost
    return summary["eval"]["cost"] if summary["eval"] else None


_hydra_app = hydra.main(version_base="1.3", config_path="conf", config_name="config")(train_job)


def main() -> float | None:
    """Console script ``ucms-train``: check the overrides' keys, then run the Hydra app."""
    from hydra._internal.utils import get_args_parser

    args, _ = get_args_parser().parse_known_args(sys.argv[1:])
    with one_line_errors("ucms-train"):
        check_override_keys(args.overrides)
    return _hydra_app()


if __name__ == "__main__":
    main()

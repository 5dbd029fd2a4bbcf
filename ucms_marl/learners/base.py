"""The learner interface the trainer drives, the learner registry and what a learner's
registration says about it.

A learner module registers its class with its config schema and the algorithms built on it::

    @LEARNERS.register(
        "maddpg",
        schema=MADDPGConfig,  # the dataclass that types learner/maddpg.yaml
        algorithms={"maddpg": Algorithm("MADDPG", "#1f77b4")},  # conf/algo/<name>.yaml
    )
    class MADDPG(Learner):
        is_learning = True  # capability flags: class attributes of Learner
        ...

``ucms_marl.config`` stores every registered ``schema`` in Hydra's ConfigStore as
``learner/<name>_schema``; the figures of ``python -m experiments`` take each algorithm's
label, colour and line style from :func:`algorithms`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mec_env.registry import Registry
from ucms_marl.replay import Sample, TransitionSpec
from ucms_marl.rollout_types import Actions, EnvSpec, Observation

#: the learners by name (``learner.name=``); also resolves import paths and the
#: ``ucms_marl.learners`` entry points (:class:`mec_env.registry.Registry`). Metadata:
#: ``schema`` (the config dataclass) and ``algorithms`` (name -> :class:`Algorithm`)
LEARNERS: Registry[type[Learner]] = Registry("learner", entry_point_group="ucms_marl.learners")


@dataclass(frozen=True)
class Algorithm:
    """How figures and reports show an algorithm (``conf/algo/<name>.yaml``) built on a
    learner: its label, its colour, and its line style (for reference lines)."""

    label: str
    colour: str
    linestyle: str | tuple[int, tuple[int, ...]] = "--"


def algorithms() -> dict[str, Algorithm]:
    """Every algorithm the registered learners declare (their ``algorithms`` metadata), in
    registration order."""
    return {
        name: algo
        for learner in LEARNERS.names()
        for name, algo in LEARNERS.metadata(learner).get("algorithms", {}).items()
    }


class Learner:
    """What the trainer needs from a learner; subclass and register with ``LEARNERS``.

    Life cycle: ``env_overrides`` (class method, before any env exists) → ``__init__`` →
    per step ``act`` → per episode ``end_episode`` → ``update`` on replay samples (only if
    ``is_learning``) → ``state_dict``/``load_state_dict`` for checkpoints. Schedules
    (exploration decay, warm-ups) count env-steps (one slot of one env copy), not episodes,
    so that presets with long episodes learn as those with short ones (:func:`step_decay`).

    On-policy learners (``on_policy = True``, e.g. :mod:`.ppo`) get no replay buffer: each
    training iteration plays ``max(num_envs, ceil(rollout_steps / n_slots))`` episodes side
    by side (at least ``rollout_steps`` env-steps), the
    trainer keeps every step's transition fields (below), plus the arrays the learner put in
    :attr:`Actions.extras <ucms_marl.rollout_types.Actions>`, in a
    :class:`~ucms_marl.rollout.RolloutStore`, and then calls :meth:`update_rollout` once with
    them stacked to arrays of shape (T, E, ...) instead of :meth:`update`.

    The trainer stores these fields for every step of every env copy; a learner names the
    ones it needs in :meth:`transition_spec` and the replay buffer keeps only those:
    ``state``, ``next_state`` (S,); ``ud_obs``, ``next_ud_obs`` (N, obs); ``ud_action``
    (N, 3); ``ud_reward`` (N,); ``terminated`` (); ``ud_requested``, ``ud_offloaded`` (N,);
    ``ud_share`` (N,), UD n's term P_n − C_n of the team reward (the mean UD reward
    (1/N) Σ_n r_n equals (1/N) Σ_n (P_n − C_n); from the infos' ``penalty`` and ``cost``);
    with ES agents also ``es_obs``, ``next_es_obs`` (M, es_obs); ``es_action``, ``members``,
    ``next_members`` (M, z_cap); ``es_reward`` (M,).
    """

    is_learning: bool = False
    batch_size: int = 0  # rows per update sample (learning learners set it)
    on_policy: bool = False  # True: no replay; update_rollout on each iteration's episodes
    rollout_steps: int = 0  # on-policy: env-steps per update_rollout (whole episodes, >= num_envs)

    def __init__(self, cfg: Any, spec: EnvSpec, *, device: torch.device, seed: int) -> None:
        self.cfg, self.spec, self.device, self.seed = cfg, spec, device, int(seed)

    @classmethod
    def env_overrides(cls, cfg: Any, env_kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Env config keys this learner requires (applied over the run's env config)."""
        return {}

    def transition_spec(self) -> TransitionSpec:
        return {}

    def act(self, obs: Observation, *, explore: bool) -> Actions:
        raise NotImplementedError

    def warm_start(self, play: Any) -> dict[str, float]:
        """Called once before the first iteration of a new run (not on resume). ``play(actor,
        episodes)`` plays ``episodes`` episodes of the run's environment with ``actor`` (a
        learner, without exploration, on episode seeds of their own stream) and returns their
        transition fields stacked to (T, episodes, ...). Returns statistics to log (empty:
        nothing was done); e.g. PPO's ``learner.imitation`` (:mod:`.imitation`)."""
        return {}

    def warm_start_warning(self) -> str | None:
        """A warning the trainer logs before :meth:`warm_start` (None: none)."""
        return None

    def end_episode(self, env_steps: int) -> None:
        """Called after each collected training episode with the env-steps collected so far
        (one env-step = one slot of one env copy), this episode's included: e.g. to decay
        exploration noise as a function of env-steps (:func:`step_decay`)."""

    def update(self, sample: Sample) -> tuple[dict[str, float], np.ndarray | None]:
        """One gradient update; returns scalar losses and |TD error| per row (or None)."""
        raise NotImplementedError(f"{type(self).__name__} does not learn")

    def update_rollout(self, rollout: Mapping[str, np.ndarray]) -> dict[str, float]:
        """On-policy learners: learn from one iteration's episodes, every field stacked to
        (T, E, ...) (T steps, E episodes side by side). Returns scalar losses to log; an entry
        ``updates`` (popped by the trainer, default 1) counts the gradient steps taken."""
        raise NotImplementedError(f"{type(self).__name__} is not an on-policy learner")

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass

    def policy_state_dict(self) -> dict[str, Any]:
        """What acting without exploration needs (the actors, an ES admission network), as
        tensors: the content of ``policy.pt``. A learning learner must define it."""
        if self.is_learning:
            raise NotImplementedError(f"{type(self).__name__} does not define its policy file")
        return {}

    def load_policy_state_dict(self, state: Mapping[str, Any]) -> None:
        """Load :meth:`policy_state_dict`'s output; the learner can then act, not resume."""
        if self.is_learning:
            raise NotImplementedError(f"{type(self).__name__} does not define its policy file")

    def hparams(self) -> dict[str, Any]:
        return {}


def step_decay(factor: float, steps: int, every: int) -> float:
    """The multiplier, over ``steps`` env-steps, of a schedule that multiplies by ``factor``
    every ``every`` env-steps: ``factor ** (steps / every)``, and exactly ``factor`` when
    ``steps == every`` (an episode of ``every`` slots decays by one multiplication, bit for
    bit as a per-episode decay did)."""
    if steps == every:
        return float(factor)
    return float(factor) ** (steps / every)


def full_transition_spec(spec: EnvSpec) -> dict[str, tuple[tuple[int, ...], Any]]:
    """Shapes of every field the trainer can store (see :class:`Learner`)."""
    n, s, o = spec.n_uds, spec.state_dim, spec.ud_obs_dim
    fields: dict[str, tuple[tuple[int, ...], Any]] = {
        "state": ((s,), np.float32),
        "next_state": ((s,), np.float32),
        "ud_obs": ((n, o), np.float32),
        "next_ud_obs": ((n, o), np.float32),
        "ud_action": ((n, spec.ud_action_dim), np.float32),
        "ud_reward": ((n,), np.float32),
        "terminated": ((), np.float32),
        "ud_requested": ((n,), np.bool_),
        "ud_offloaded": ((n,), np.bool_),
        "ud_share": ((n,), np.float32),
    }
    if spec.es_agents:
        m, z, eo = spec.n_servers, spec.z_cap, spec.es_obs_dim
        fields.update(
            es_obs=((m, eo), np.float32),
            next_es_obs=((m, eo), np.float32),
            es_action=((m, z), np.int8),
            members=((m, z), np.int64),
            next_members=((m, z), np.int64),
            es_reward=((m,), np.float32),
        )
    return fields

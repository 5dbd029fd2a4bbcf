"""What the rollout and the learners exchange: the sizes of the env (:class:`EnvSpec`), the
agents' observations and actions at one step, stacked over env copies (:class:`Observation`,
:class:`Actions`), and one step's outcome (:class:`StepResult`). In a module of their own so
that the rollout (:mod:`ucms_marl.rollout`) and the learners (:mod:`ucms_marl.learners`) both
import them without importing each other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mec_env.policies import SlotView

UD_ACTION_DIM = 3


@dataclass(frozen=True)
class EnvSpec:
    """Sizes a learner needs, read from one environment instance."""

    n_uds: int
    n_servers: int
    ud_obs_dim: int
    state_dim: int
    es_agents: bool
    es_obs_dim: int  # padded to the largest ES (0 without ES agents)
    z_max: tuple[int, ...]  # per ES
    ud_action_dim: int = UD_ACTION_DIM

    @property
    def z_cap(self) -> int:
        return max(self.z_max)


@dataclass
class Observation:
    """What the agents see at one step, stacked over env copies (leading axis E)."""

    ud_obs: np.ndarray  # (E, N, ud_obs_dim) float32
    state: np.ndarray  # (E, state_dim) float32
    es_obs: np.ndarray | None  # (E, M, es_obs_dim) float32, zero-padded
    members: np.ndarray | None  # (E, M, z_cap) int64, UD index per ES action bit, -1 empty
    # per copy, the slot the next action applies to (mec_env.policies.SlotView: tasks, gains,
    # batteries, matching, ES places), built when read; what the reference policies decide on
    slots: Sequence[SlotView] = ()


@dataclass
class Actions:
    ud: np.ndarray  # (E, N, 3) float32 in [0, 1]
    es: np.ndarray | None = None  # (E, M, z_cap) int8 approval bits
    # learner-private arrays (E, ...) of this step (e.g. the raw samples behind ``ud``/``es``),
    # kept by on-policy rollouts next to the transition fields; the env and replay ignore them
    extras: dict[str, np.ndarray] | None = None


@dataclass
class StepResult:
    next_obs: Observation
    ud_reward: np.ndarray  # (E, N)
    es_reward: np.ndarray | None  # (E, M)
    terminated: np.ndarray  # (E,) bool
    truncated: np.ndarray  # (E,) bool
    ud_requested: np.ndarray  # (E, N) bool
    ud_offloaded: np.ndarray  # (E, N) bool
    ud_share: np.ndarray  # (E, N) −C_n + P_n from the infos: UD n's term of the team reward
    slot: list[dict[str, float]]  # per copy: the env's slot metrics + delay/energy means

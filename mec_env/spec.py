"""What every adapter of the environment shares, computed once from the config: the agents,
the info keys, the spaces and the observation scaling, and the checks of an action array.

The adapters (:mod:`mec_env.adapters`: the PettingZoo ParallelEnv and AEC env, the array
vector env, the TorchRL env) are thin layers over the simulator
(:class:`mec_env.sim.core.BatchCore`) and this spec; none computes a space or a key of its own.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from gymnasium import spaces

from mec_env.errors import ActionError
from mec_env.sim.core import STEP_COLUMNS
from mec_env.sim.params import EnvConfig
from mec_env.sim.taskqueue import observation_high

#: The slot-level metrics, each repeated in every agent's info as ``"slot_" + name``.
SLOT_METRICS = (
    "mean_cost",
    "timeout_rate",
    "offload_rate",
    "participation_rate",
    "below_battery_rate",
    "admission_cuts",
)
SLOT_INFO_KEYS = tuple(f"slot_{k}" for k in SLOT_METRICS)
#: The per-UD columns of a step copied into the infos, in this order (the parallel env's
#: ``_ud_infos`` stores them by name, in this order).
UD_COLUMNS = STEP_COLUMNS
assert UD_COLUMNS == (
    "task_bytes", "cycles_per_bit", "deadline_s", "server", "requested", "offloaded", "f_hz",
    "p_w", "delay_s", "energy_j", "cost", "penalty", "timed_out", "battery_j", "below_b_min",
)  # fmt: skip
#: Every UD's info keys, at reset and at every step, in this order.
UD_INFO_KEYS = (*UD_COLUMNS, "gain", *SLOT_INFO_KEYS)


#: Every ES's info keys, at reset and at every step, in this order.
ES_INFO_KEYS = ("requests", "admitted", "cuts", "members", *SLOT_INFO_KEYS)
# the slot metrics at reset (no slot played yet): float 0.0, and int 0 for admission_cuts
SLOT_AT_RESET = (0.0, 0.0, 0.0, 0.0, 0.0, 0)


def slot_metrics(info: Mapping[str, Any]) -> dict[str, float | int]:
    """The slot metrics of one agent's info as a dict ``{"mean_cost": ..., ...}``."""
    return {k: info[key] for k, key in zip(SLOT_METRICS, SLOT_INFO_KEYS)}


# ---------------------------------------------------------------------- action arrays
#: numpy kinds of real numbers: bool, signed and unsigned int, float
REAL_KINDS = frozenset("biuf")


def real_array(value: Any, what: str) -> np.ndarray:
    """``value`` as a float64 array, or :class:`ActionError` naming ``what`` when it does not
    hold real numbers (bool, int or float): strings (also numeric ones such as ``"0.5"``),
    complex numbers, dicts, ragged rows. ``None`` becomes NaN (a shape or range error later)."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:  # e.g. ragged rows
        raise ActionError(f"{what} is not numeric: {value!r}"[:300]) from err
    if arr.dtype.kind in REAL_KINDS:
        return arr.astype(np.float64, copy=False)
    if arr.dtype.kind == "O" and all(
        x is None or (isinstance(x, numbers.Real) and not isinstance(x, complex))
        for x in arr.ravel().tolist()
    ):
        return arr.astype(np.float64)
    shown = repr(value)[:200] if arr.size <= 8 else f"an array of shape {arr.shape}"
    raise ActionError(
        f"{what} is not numeric: {shown} has dtype {arr.dtype}, where bool, int or float "
        f"is expected"
    )


# ---------------------------------------------------------------------- the spec
class VectorSpaces(NamedTuple):
    """The spaces of B copies as arrays (:class:`mec_env.MECVectorEnv`): per copy and batched."""

    single_observation_space: spaces.Dict
    single_action_space: spaces.Dict
    observation_space: spaces.Dict
    action_space: spaces.Dict
    single_state_space: spaces.Box
    state_space: spaces.Box


class MECSpec:
    """What the adapters derive from one config, computed once: the agents and groups, the
    observation bounds (the observation scaling's upper ends) and every space.

    ``head_max`` is the simulator's six raw maxima of the UD observation head (β, c, φ, f, p,
    b: ``BatchCore.head_max``), the bounds of the raw (``normalize_obs=False``) observations.
    Attributes (D = 2M + 7, or 2K + 7 with reach; Z = max z_max): ``ud_agents``,
    ``es_agent_names`` (empty without ES agents), ``possible_agents``, ``groups``; ``ud_high``
    (D,) and ``load_high`` (M, 3); ``es_high`` (M, 6Z + 3), each ES's bounds padded to Z places
    as the vector env lays them out; ``es_columns`` (ES m's own entries among those 6Z + 3,
    None when every ES has Z places); ``es_place`` (M, Z), whether a place exists;
    ``state_space``.
    """

    def __init__(self, config: EnvConfig, head_max: np.ndarray) -> None:
        cfg = self.config = config
        n, m = self.n_uds, self.n_servers = cfg.n_uds, cfg.n_servers
        self.z_max = tuple(int(z) for z in cfg.z_max)
        z = self.z_cap = max(self.z_max)
        self.es_agents = bool(cfg.es_agents)
        self.groups = ("ud", "es") if self.es_agents else ("ud",)
        self.ud_agents = [f"ud_{i}" for i in range(n)]
        self.es_agent_names = [f"es_{j}" for j in range(m)] if self.es_agents else []
        self.possible_agents = self.ud_agents + self.es_agent_names
        self.homogeneous_es = len(set(self.z_max)) == 1
        self.es_box = cfg.es_action_space == "box"
        g_high = 1.0 if cfg.normalize_obs else cfg.gain_lin[1]
        queue_high = observation_high(cfg) if cfg.queued else np.zeros(0)
        k = cfg.reach  # the ESs a UD sees: M, or its K nearest with reach
        self.ud_high = np.concatenate(
            [np.ones(6) if cfg.normalize_obs else head_max, np.full(k, g_high), np.ones(k + 1),
             np.ones(queue_high.size) if cfg.normalize_obs else queue_high]
        )  # fmt: skip
        self.load_high = np.stack(
            [
                cfg.z_max / cfg.subchannels,
                cfg.z_max * cfg.task_bits[1] / cfg.storage_bits,
                cfg.z_max / cfg.n_cpus,
            ],
            axis=1,
        )  # (M, 3)
        ud_slot_high = self.ud_high[[0, 1, 2, 6, 5]]  # β, c, φ, g, b
        self.es_obs_highs = [  # ES m's own bounds: its z_max places, then its 3 loads
            np.concatenate(
                [np.tile(np.concatenate([[1.0], ud_slot_high]), zm), self.load_high[j]]
            ).astype(np.float32)
            for j, zm in enumerate(self.z_max)
        ]
        self.es_high = np.zeros((m, 6 * z + 3), dtype=np.float32)
        for j, (zm, h) in enumerate(zip(self.z_max, self.es_obs_highs, strict=True)):
            self.es_high[j, : 6 * zm] = h[: 6 * zm]
            self.es_high[j, -3:] = h[-3:]
        self.es_place = np.arange(z) < cfg.z_max[:, None]  # (M, Z)
        columns = [np.r_[0 : 6 * zm, 6 * z : 6 * z + 3] for zm in self.z_max]
        self.es_columns = None if self.homogeneous_es else columns
        state_high = np.concatenate([np.tile(self.ud_high, n), self.load_high.ravel()])
        self.state_space = spaces.Box(0.0, state_high.astype(np.float32), dtype=np.float32)

    # ------------------------------------------------------------------ one environment
    def agent_spaces(self) -> tuple[dict[str, spaces.Space], dict[str, spaces.Space]]:
        """New observation and action spaces by agent, as one ParallelEnv holds them: one Box
        object shared by the UDs (for each of the two), one space per ES. New objects on
        every call, so that each environment seeds its own."""
        ud_obs = spaces.Box(0.0, self.ud_high.astype(np.float32), dtype=np.float32)
        ud_act = spaces.Box(0.0, 1.0, shape=(3,), dtype=np.float32)
        observation = dict.fromkeys(self.ud_agents, ud_obs)
        action = dict.fromkeys(self.ud_agents, ud_act)
        for j, name in enumerate(self.es_agent_names):
            zm = self.z_max[j]
            observation[name] = spaces.Box(0.0, self.es_obs_highs[j], dtype=np.float32)
            action[name] = (
                spaces.Box(0.0, 1.0, shape=(zm,), dtype=np.float32)
                if self.es_box
                else spaces.MultiBinary(zm)
            )
        return observation, action

    # ------------------------------------------------------------------ B copies as arrays
    def vector_spaces(self, num_envs: int) -> VectorSpaces:
        """The spaces of ``num_envs`` copies grouped as ``"ud"`` and ``"es"`` arrays."""
        b, n, m, z = num_envs, self.n_uds, self.n_servers, self.z_cap
        ud_high = self.ud_high.astype(np.float32)
        obs: dict[str, spaces.Space] = {
            "ud": spaces.Box(0.0, np.broadcast_to(ud_high, (n, ud_high.size)).copy())
        }
        act: dict[str, spaces.Space] = {"ud": spaces.Box(0.0, 1.0, (n, 3), dtype=np.float32)}
        batched_act: dict[str, spaces.Space] = {
            "ud": spaces.Box(0.0, 1.0, (b, n, 3), dtype=np.float32)
        }
        if self.es_agents:
            obs["es"] = spaces.Box(0.0, self.es_high, dtype=np.float32)
            act["es"] = self._es_action_space((m, z))
            batched_act["es"] = self._es_action_space((b, m, z))
        batched_obs = {
            k: spaces.Box(0.0, np.broadcast_to(v.high, (b, *v.shape)).copy(), dtype=np.float32)
            for k, v in obs.items()
        }
        s_high = self.state_space.high
        return VectorSpaces(
            single_observation_space=spaces.Dict(obs),
            single_action_space=spaces.Dict(act),
            observation_space=spaces.Dict(batched_obs),
            action_space=spaces.Dict(batched_act),
            single_state_space=self.state_space,
            state_space=spaces.Box(
                0.0, np.broadcast_to(s_high, (b, s_high.shape[0])).copy(), dtype=np.float32
            ),
        )

    def _es_action_space(self, shape: tuple[int, ...]) -> spaces.Space:
        if self.es_box:
            return spaces.Box(0.0, 1.0, shape, dtype=np.float32)
        return spaces.MultiBinary(shape)

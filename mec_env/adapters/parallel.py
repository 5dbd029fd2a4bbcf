"""# MEC task offloading (``mec_offloading_v0``)

A PettingZoo ``ParallelEnv`` of the multi-server, multi-user mobile-edge-computing system of
"MEC Task Offloading in AIoT: A User-Centric DRL Model Splitting Inference Scheme" (UCMS).
The full contract, with every equation and every decision, is ``docs/environment.md``.

```python
import mec_env

env = mec_env.parallel_env(preset="paper_kb", render_mode="ansi")
observations, infos = env.reset(seed=0)
while env.agents:
    actions = {a: env.action_space(a).sample() for a in env.agents}
    observations, rewards, terminations, truncations, infos = env.step(actions)
print(infos["ud_0"]["slot_mean_cost"])
```

## Description

M edge servers (ESs) and N user devices (UDs) play T slots. At the start of each slot every UD
draws a task (β bits, c cycles/bit, deadline φ s) and a channel gain g to every ES; a matcher
(``co_selection`` by default) assigns each UD to at most one ES, at most ``z_max`` per ES. The
UDs then choose offload-or-local, a CPU frequency and a transmit power; each ES admits some of
its offload requests within K subchannels and D_m bits of storage; admitted tasks upload at
the Shannon rate and queue on the ES's U_m CPUs; the rest run locally. Batteries drain by the
energy spent and harvest a random amount.

Units inside are SI: bits, s, Hz, W, J, linear gains. Presets (``paper`` verbatim Table 3,
``paper_kb`` the default with task sizes and storage read in KB, ``paper_energy`` the
T = 100 energy variant, ``small`` for tests and the exact oracle) are in
:mod:`mec_env.config`; any key can be overridden, e.g. ``parallel_env(n_uds=24)``.

## Agents

``ud_0 … ud_{N-1}`` and, when ``es_agents=True`` (default), ``es_0 … es_{M-1}``. With
``es_agents=False`` the ESs are not agents and the admission rule named by ``admission``
decides (``accept_all``, ``offload_cost_first``, ``deadline_first``, ``saving_first`` or one you
register).

## Action Space

UD: ``Box(0, 1, (3,), float32)``.

| index | action | maps to |
|---|---|---|
| 0 | x^u, offload pre-decision | requests offloading iff x^u ≥ 0.5 and the UD is matched |
| 1 | f^u | local CPU f = max(f_min, f^u·f_max) Hz (eq. 22) |
| 2 | p^u | transmit power p = max(p_min, p^u·p_max) W, bounds in W (eq. 23) |

ES m: ``MultiBinary(z_max[m])``, or with ``es_action_space="box"`` ``Box(0, 1, (z_max[m],),
float32)`` read as approve iff ≥ 0.5 (so that every agent acts in a Box). Bit j approves the
request of the j-th UD in that ES's member list ``infos["es_m"]["members"]`` (UD indices
sorted ascending, −1 for an empty place). Bits of empty places and of UDs that did not
request are ignored. The environment then admits the approved requests in order of arrival
τ^o while they fit in K subchannels and D_m bits.

Actions outside [0, 1], non-finite, not numeric (anything but bool, int or float: strings,
numeric strings, complex numbers), of the wrong shape, or missing for a live agent raise
``ActionError`` (a ``ValueError``) naming the agent (ES: bits other than 0/1, or with the box
outside [0, 1]); with ``clip_actions=True`` they are clipped instead (NaN → 0, ES actions
thresholded at 0.5).

## Observation Space

UD n, ``Box(float32)`` of size 2M + 7. Scaled by default (``normalize_obs=True``); with
``normalize_obs=False`` the raw values in the unit column.

| index | entry | raw unit | scaled as |
|---|---|---|---|
| 0 | task size β | bit | β / β_max |
| 1 | cycles per bit c | cycles/bit | c / c_max |
| 2 | deadline φ | s | φ / φ_max |
| 3 | previous local frequency f (0 at reset) | Hz | f / f_max |
| 4 | previous transmit power p (0 at reset) | W | p / p_max |
| 5 | battery b | J | b / b_max |
| 6 … 5+M | gain g to each ES | linear | (g_dB − g_dB,min)/(g_dB,max − g_dB,min) |
| 6+M … 6+2M | matched ES one-hot, last entry "none" | 0/1 | same |

With reach (``nearest_servers`` = K, docs/environment.md "Reach") M is K here: the gains to
the UD's K nearest ESs, nearest first, and the one-hot over those K (``last_step["near"]``
names them), so a UD observation is 2K + 7 long whatever M.

ES m, ``Box(float32)`` of size 6·z_max[m] + 3: for each of its z_max places
(occupied, β, c, φ, g to this ES, b) of the member UD (zeros if empty, scaled as above), then
three load figures, dimensionless in both modes: members/K, Σβ_members/D_m, members/U_m.

``state()`` is the global state for centralised critics: every UD observation in agent order,
then every ES's three load figures; ``state_space`` is declared.

## Rewards

Cost C_n = ρ1 τ_n + ρ2 e_n (eq. 14). Penalty P_n = ρ1 min(φ_n − τ_n, 0) +
ρ2 min(b_n(t+1) − b_min, 0) (eq. 25). UD reward **[decision]** r_n = −(1/N) Σ_k C_k + P_n
(the printed eq. 26 would make the penalty a bonus). ES reward: the mean UD reward.

## Starting State

Batteries full (b_max); previous f and p zero; the first slot's tasks, gains and matching are
drawn by ``reset``.

## Episode End

No terminations. All agents are truncated after ``n_slots`` steps; ``env.agents`` is then
empty.

## Info

Flat dicts with the same keys (in this order), types and shapes at ``reset`` and at every step,
so a wrapper can build its spec from the reset infos; the tuples are ``UD_INFO_KEYS`` and
``ES_INFO_KEYS``. After a step they describe the slot just played:

| key | type | meaning | at ``reset`` |
|---|---|---|---|
| ``task_bytes``, ``cycles_per_bit``, ``deadline_s`` | float | the task | the first task |
| ``server`` | int | matched ES, −1 unmatched | the first matching |
| ``requested``, ``offloaded`` | bool | asked to offload; admitted | ``False`` |
| ``f_hz``, ``p_w`` | float | local frequency, transmit power used | ``0.0`` |
| ``delay_s``, ``energy_j``, ``cost``, ``penalty`` | float | τ, e, C, P | ``0.0`` |
| ``timed_out`` | bool | delay > deadline | ``False`` |
| ``battery_j`` | float | battery after the update | b_max |
| ``below_b_min`` | bool | battery < b_min | ``False`` |
| ``gain`` | float64 (M,) | linear gain to every ES | the first gains |

``infos[es]``: ``requests``, ``admitted``, ``cuts`` (approved but cut by K or D_m), ints for
the slot just played (``0`` at reset); ``members``, int64 (z_max[m],), for the slot the next
action applies to.

Every agent's info (UD and ES) also repeats the slot metrics as flat keys: ``slot_mean_cost``,
``slot_timeout_rate``, ``slot_offload_rate``, ``slot_participation_rate`` (admitted / requested,
0 with no request), ``slot_below_battery_rate`` (floats, ``0.0`` at reset) and
``slot_admission_cuts`` (int, ``0`` at reset). ``slot_metrics(info)`` returns them as a dict
keyed by ``SLOT_METRICS``. Info arrays are copies of the env's state.

## Arguments

``mec_env.parallel_env(preset="paper_kb", **overrides)``; keys and units in
:mod:`mec_env.config`. ``mec_env.env(...)`` is the AEC version.

## Version History

* v0: initial release.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from pettingzoo import ParallelEnv

from mec_env import render as _render
from mec_env.config import DEFAULT_PRESET, EnvConfig, make_config
from mec_env.errors import ActionError
from mec_env.sim.core import BatchCore
from mec_env.sim.slot import SlotState
from mec_env.spec import (
    REAL_KINDS,
    SLOT_AT_RESET,
    SLOT_INFO_KEYS,
    UD_COLUMNS,
    MECSpec,
    real_array,
)


class _UDInfo:
    """Builds one UD's info: its ``__dict__`` (a plain dict) is the info."""


class MECParallelEnv(ParallelEnv):
    """The MEC offloading environment; see the module docstring for its documentation."""

    metadata = {
        "name": "mec_offloading_v0",
        "render_modes": ["ansi", "rgb_array", "human"],
        "is_parallelizable": True,
        "render_fps": 2,
    }

    def __init__(
        self, preset: str = DEFAULT_PRESET, *, kernels: str | None = None, **overrides: Any
    ) -> None:
        self.config: EnvConfig = make_config(preset, **overrides)
        cfg = self.config
        self.preset = preset
        self.render_mode = cfg.render_mode
        # one config, one core, one spec: this env is the batched core with B = 1, the
        # per-agent dicts built at the edge
        self._core = BatchCore(cfg, 1, kernels)
        self.mec_spec = spec = MECSpec(cfg, self._core.head_max)
        self.n_uds, self.n_servers = cfg.n_uds, cfg.n_servers
        self.ud_agents = spec.ud_agents
        self.es_agent_names = spec.es_agent_names
        self.possible_agents = spec.possible_agents
        self._all_agents = frozenset(self.possible_agents)  # the live agents mid-episode
        self._ud_getter = operator.itemgetter(*self.ud_agents)
        # every agent -> False / True, copied as a step's terminations and truncations
        self._all_false = dict.fromkeys(self.possible_agents, False)
        self._all_true = dict.fromkeys(self.possible_agents, True)
        self.agents: list[str] = []
        self._z_cap = spec.z_cap
        self._homogeneous_es = spec.homogeneous_es
        self.observation_spaces, self.action_spaces = spec.agent_spaces()
        self.state_space = spec.state_space
        self.t = 0
        self._ud_obs: np.ndarray | None = None  # the last observation (None before reset)
        self._last_out: dict[str, np.ndarray] | None = None  # the core's (1, N) outputs
        self._last_step: dict[str, np.ndarray] | None = None

    @property
    def last_step(self) -> dict[str, np.ndarray] | None:
        """The slot just played as a dict of (N,) arrays (the UD info keys, ``reward``,
        ``approved``, ``harvest_j``; ``gain`` (N, M)); None after ``reset``. Built on first
        access."""
        if self._last_step is None and self._last_out is not None:
            self._last_step = {k: v[0] for k, v in self._last_out.items()}
        return self._last_step

    @property
    def np_random(self) -> np.random.Generator:
        """The environment's generator (the batched core's, copy 0)."""
        return self._core.rngs[0]

    @np_random.setter
    def np_random(self, rng: np.random.Generator) -> None:
        self._core.rngs[0] = rng

    @property
    def np_random_seed(self) -> int | None:
        return self._core.seeds[0]

    # ---------------------------------------------------------------- spaces
    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[agent]

    # ---------------------------------------------------------------- public read-only state
    @property
    def current_slot(self) -> SlotState:
        """The tasks, gains and batteries of the slot the next action applies to."""
        return self._core.slot_state(0)

    @property
    def server(self) -> np.ndarray:
        """(N,) matched ES of each UD for the next action (−1 unmatched)."""
        return self._core.server[0]

    @property
    def members(self) -> np.ndarray:
        """(M, max z_max) UD index in each ES place for the next action (−1 empty)."""
        return self._core.members[0]

    @property
    def queues(self):
        """The time-coupled state of the slot the next action applies to
        (:class:`mec_env.sim.taskqueue.QueueView`: queue lengths, the head's wait, the UD and
        ES CPU backlogs), None in the paper's slot model."""
        return self._core.queue_view(0)

    @property
    def battery_j(self) -> np.ndarray:
        """(N,) battery levels, J."""
        return self._core.battery[0]

    # ---------------------------------------------------------------- episode
    def reset(
        self, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        if seed is not None:
            self._core.seed([seed])
        cfg, core = self.config, self._core
        self.agents = self.possible_agents[:]
        self.t = 0
        self._last_out = self._last_step = None
        core.reset()
        observations = self._observe()
        n = cfg.n_uds
        # No slot played yet: the new task and matching, and the documented defaults. Built by
        # the same code as a step's infos, so every key has the same type and shape.
        no, zero = np.zeros((1, n), dtype=bool), np.zeros((1, n))
        out = dict(
            task_bytes=core.bits / 8.0,
            cycles_per_bit=core.cycles_per_bit,
            deadline_s=core.deadline_s,
            server=core.server,
            requested=no,
            offloaded=no,
            f_hz=zero,
            p_w=zero,
            delay_s=zero,
            energy_j=zero,
            cost=zero,
            penalty=zero,
            timed_out=no,
            battery_j=core.battery,
            below_b_min=no,
            gain=core.gain,
        )
        none = np.zeros(cfg.n_servers, dtype=np.int64)
        infos = self._infos(out, SLOT_AT_RESET, none, none, none)
        if self.render_mode == "human":
            self.render()
        return observations, infos

    # ---------------------------------------------------------------- observations
    def _observe(self) -> dict[str, np.ndarray]:
        cfg = self.config
        ud, es, loads = self._core.observe(bool(self.es_agent_names))
        self._ud_obs, self._loads = ud[0], loads[0]
        obs = dict(zip(self.ud_agents, self._ud_obs, strict=True))
        if es is not None:
            if self._homogeneous_es:
                obs.update(zip(self.es_agent_names, es[0], strict=True))
            else:
                for j, a in enumerate(self.es_agent_names):
                    z = int(cfg.z_max[j])
                    obs[a] = np.concatenate([es[0, j, : 6 * z], es[0, j, -3:]])
        return obs

    def state(self) -> np.ndarray:
        """The global state: all UD observations, then every ES's load figures (float32)."""
        if self._ud_obs is None:
            raise ResetNeeded("state() called before reset(): call reset() first")
        return np.concatenate([self._ud_obs.ravel(), self._loads.ravel().astype(np.float32)])

    # ---------------------------------------------------------------- actions
    def _parse_actions(self, actions: Any) -> tuple[np.ndarray, np.ndarray | None]:
        cfg = self.config
        if not isinstance(actions, Mapping):
            raise ActionError(f"step() takes a dict agent -> action, got {type(actions).__name__}")
        full = len(self.agents) == len(self.possible_agents)
        if actions.keys() != (self._all_agents if full else set(self.agents)):
            missing = [a for a in self.agents if a not in actions]
            extra = [a for a in actions if a not in self.agents]
            raise ActionError(
                f"actions must hold exactly the live agents; missing {missing[:5]}"
                f"{'...' if len(missing) > 5 else ''}, unexpected {extra[:5]}"
            )
        try:
            rows = self._ud_getter(actions)  # a tuple of the N actions (a lone one with N = 1)
            ud = np.asarray(rows if cfg.n_uds > 1 else [rows])
        except (TypeError, ValueError):
            ud = None
        if ud is None or ud.shape != (cfg.n_uds, 3) or ud.dtype.kind not in REAL_KINDS:
            ud = self._ud_rows(actions)  # raises, naming the agent, unless each row is good
        ud = self._check_range(ud.astype(np.float64, copy=False), self.ud_agents, "[0, 1]")
        if not self.es_agent_names:
            return ud, None
        return ud, self._es_bits(actions)

    def _ud_rows(self, actions: Mapping[str, Any]) -> np.ndarray:
        """The UD actions (N, 3) float64, checked agent by agent (the error names it)."""
        rows = []
        for a in self.ud_agents:
            row = real_array(actions[a], f"action of {a}")
            if row.shape != (3,):
                raise ActionError(
                    f"action of {a} must have shape (3,) = (x^u, f^u, p^u) "
                    f"in [0, 1], got shape {row.shape}"
                )
            rows.append(row)
        return np.stack(rows)

    def _es_bits(self, actions: Mapping[str, Any]) -> np.ndarray:
        """The ES approvals (M, max z_max) bool, checked (and clipped if ``clip_actions``)."""
        box = self.config.es_action_space == "box"
        bits = None
        if self._homogeneous_es:  # one array for all ESs; the loop of _es_rows names a bad one
            bits, done = self._es_stacked(actions, box)
            if done:
                return bits
        if bits is None:
            bits = self._es_rows(actions, box)
        return self._es_box(bits) if box else self._es_binary(bits)

    def _es_stacked(self, actions: Mapping[str, Any], box: bool) -> tuple[Any, bool]:
        """The ESs' actions as one (M, max z_max) array, and whether it is already the
        approvals (integer 0/1 bits); None where one action does not fit."""
        try:
            bits = np.asarray([actions[a] for a in self.es_agent_names])
        except (TypeError, ValueError):
            return None, False
        if bits.shape != (self.config.n_servers, self._z_cap):
            return None, False
        kind = bits.dtype.kind
        if kind in "biu" and not box and (kind == "b" or self._in_unit(bits)):  # integer bits
            return bits != 0, True
        if kind not in REAL_KINDS:
            return None, False  # e.g. strings: _es_rows names the agent
        return bits, False

    def _es_rows(self, actions: Mapping[str, Any], box: bool) -> np.ndarray:
        """The ESs' actions (M, max z_max) float64, checked agent by agent (the error names
        it)."""
        cfg = self.config
        bits = np.zeros((cfg.n_servers, self._z_cap))
        for m, a in enumerate(self.es_agent_names):
            z = int(cfg.z_max[m])
            arr = real_array(actions[a], f"action of {a}")
            if arr.shape != (z,):
                kind = f"Box(0, 1, ({z},)), one value" if box else f"MultiBinary({z}), one bit"
                raise ActionError(
                    f"action of {a} must be {kind} per member place, got shape {arr.shape}"
                )
            bits[m, :z] = arr
        return bits

    def _es_box(self, bits: np.ndarray) -> np.ndarray:
        """Box actions: approve iff >= 0.5, each finite and in [0, 1] unless clipped."""
        cfg = self.config
        bad = ~np.isfinite(bits) | (bits < 0.0) | (bits > 1.0)
        if bad.any() and not cfg.clip_actions:
            m = int(np.flatnonzero(bad.any(axis=1))[0])
            raise ActionError(
                f"action of {self.es_agent_names[m]} must be finite and in "
                f"[0, 1], got {bits[m, : cfg.z_max[m]]} (pass "
                f"clip_actions=True to clip instead)"
            )
        return np.nan_to_num(bits, nan=0.0) >= 0.5

    def _es_binary(self, bits: np.ndarray) -> np.ndarray:
        """MultiBinary actions: only 0/1 bits unless ``clip_actions`` thresholds at 0.5."""
        cfg = self.config
        bad = ~((bits == 0) | (bits == 1))
        if bad.any():
            if not cfg.clip_actions:
                m = int(np.flatnonzero(bad.any(axis=1))[0])
                raise ActionError(
                    f"action of {self.es_agent_names[m]} must hold only 0/1 bits, "
                    f"got {bits[m, : cfg.z_max[m]]} (clip_actions=True thresholds "
                    f"at 0.5)"
                )
            bits = np.nan_to_num(bits, nan=0.0) >= 0.5
        return bits.astype(bool)

    def _in_unit(self, arr: np.ndarray) -> bool:
        """Whether every value of ``arr`` is in [0, 1] (False for NaN)."""
        if self._core.kernels is not None:
            return self._core.kernels.in_unit(arr)
        return bool(arr.min() >= 0.0 and arr.max() <= 1.0)  # min and max propagate NaN

    def _check_range(self, arr: np.ndarray, names: list[str], allowed: str) -> np.ndarray:
        if self._in_unit(arr):
            return arr
        bad = ~np.isfinite(arr) | (arr < 0.0) | (arr > 1.0)
        if self.config.clip_actions:
            return np.clip(np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
        i = int(np.flatnonzero(bad.any(axis=1))[0])
        raise ActionError(
            f"action of {names[i]} must be finite and in {allowed}, got {arr[i]} "
            f"(pass clip_actions=True to clip instead)"
        )

    # ---------------------------------------------------------------- step
    def step(self, actions: dict[str, Any]):
        if not self.agents:
            if self._ud_obs is None:
                raise ActionError("step() called before reset(): call reset() first")
            raise ActionError("step() called on a finished episode; call reset() first")
        ud, es_bits = self._parse_actions(actions)
        res = self._core.step(ud[None], None if es_bits is None else es_bits[None])
        out = self._last_out = res.out  # (1, N) arrays
        self._last_step = None
        v = res.slot_values[0].tolist()
        slot_values = (*v[:5], int(v[5]))  # in the order of SLOT_METRICS
        self.t += 1
        truncated = bool(res.truncated[0])
        observations = self._observe()

        rewards = dict(zip(self.ud_agents, out["reward"].tolist()[0], strict=True))
        rewards.update(dict.fromkeys(self.es_agent_names, float(res.es_reward[0])))
        infos = self._infos(out, slot_values, res.requests[0], res.admitted[0], res.cuts[0])
        if len(self.agents) == len(self.possible_agents):  # always here: all end together
            terminations = self._all_false.copy()
            truncations = (self._all_true if truncated else self._all_false).copy()
        else:
            terminations = dict.fromkeys(self.agents, False)
            truncations = dict.fromkeys(self.agents, truncated)
        if truncated:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return observations, rewards, terminations, truncations, infos

    def _infos(
        self,
        out: Mapping[str, np.ndarray],
        slot_values: tuple,
        n_req: np.ndarray,
        n_adm: np.ndarray,
        n_cut: np.ndarray,
    ) -> dict[str, dict]:
        """Flat per-agent infos, keys in the order of UD_INFO_KEYS / ES_INFO_KEYS, from the
        core's (1, N) outputs ``out``.

        Hot path: one ``.tolist()`` per column; every agent's dict starts as a copy of a
        template that holds the slot metrics (a dict copy is one block copy), then takes its
        own values one store each: cheaper than a dict display or ``dict(zip(keys, row))``.
        No per-agent numpy call.
        """
        slot = dict(zip(SLOT_INFO_KEYS, slot_values))
        infos = self._ud_infos(out, slot)
        if self.es_agent_names:
            members = self._core.members[0].copy()
            rows = zip(n_req.tolist(), n_adm.tolist(), n_cut.tolist(), self.config.z_max.tolist())
            for m, (a, (requests, admitted, cuts, z)) in enumerate(zip(self.es_agent_names, rows)):
                info = {"requests": requests, "admitted": admitted, "cuts": cuts}
                info["members"] = members[m, :z]
                info.update(slot)
                infos[a] = info
        return infos

    def _ud_infos(self, out: Mapping[str, np.ndarray], slot: dict) -> dict[str, dict]:
        """The UD agents' infos (see :meth:`_infos`)."""
        s0, s1, s2, s3, s4, s5 = slot.values()  # in the order of SLOT_INFO_KEYS
        columns = [out[k].tolist()[0] for k in UD_COLUMNS]
        columns.append(list(out["gain"][0].copy()))  # rows of a copy: the env's arrays stay private
        infos = {}
        for (a, task_bytes, cycles_per_bit, deadline_s, server, requested, offloaded, f_hz, p_w,
             delay_s, energy_j, cost, penalty, timed_out, battery_j, below_b_min,
             gain) in zip(self.ud_agents, *columns):  # fmt: skip
            # an instance's attribute dict shares its keys table with every other info: the
            # stores below fill a plain dict, in the order of UD_INFO_KEYS, fastest
            info = _UDInfo()
            info.task_bytes = task_bytes
            info.cycles_per_bit = cycles_per_bit
            info.deadline_s = deadline_s
            info.server = server
            info.requested = requested
            info.offloaded = offloaded
            info.f_hz = f_hz
            info.p_w = p_w
            info.delay_s = delay_s
            info.energy_j = energy_j
            info.cost = cost
            info.penalty = penalty
            info.timed_out = timed_out
            info.battery_j = battery_j
            info.below_b_min = below_b_min
            info.gain = gain
            info.slot_mean_cost = s0
            info.slot_timeout_rate = s1
            info.slot_offload_rate = s2
            info.slot_participation_rate = s3
            info.slot_below_battery_rate = s4
            info.slot_admission_cuts = s5
            infos[a] = info.__dict__
        return infos

    # ---------------------------------------------------------------- rendering
    def render(self) -> str | np.ndarray | None:
        if self.render_mode is None:
            warnings.warn(
                "render() called with render_mode=None; pass render_mode='ansi', "
                "'rgb_array' or 'human' to parallel_env()",
                stacklevel=2,
            )
            return None
        if self.render_mode == "ansi":
            return _render.render_ansi(self)
        frame = _render.render_rgb(self)
        if self.render_mode == "human":
            _render.show(frame)
            return None
        return frame

    def close(self) -> None:
        if self.render_mode == "human":
            _render.close()


def parallel_env(
    preset: str = DEFAULT_PRESET, *, kernels: str | None = None, **overrides: Any
) -> MECParallelEnv:
    """The ParallelEnv for ``preset`` with config keys overridden (see :mod:`mec_env.config`);
    ``kernels`` picks numpy or the optional compiled kernels (:mod:`mec_env.sim.fast`)."""
    return MECParallelEnv(preset, kernels=kernels, **overrides)


# ``help(mec_env.parallel_env)`` shows the environment's reference page, this module's docstring
parallel_env.__doc__ = f"{parallel_env.__doc__}\n\n{__doc__}"

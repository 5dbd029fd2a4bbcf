"""``mec_env.vector_env``: B copies of the environment stepped in one call, arrays in and out.

A gymnasium-style vector environment (:class:`gymnasium.vector.VectorEnv`) over the batched
core (:class:`mec_env.sim.core.BatchCore`). Agents are grouped: ``"ud"`` (the N user devices)
and, with ES agents on, ``"es"`` (the M edge servers). Shapes, with B = ``num_envs``,
D = 2M + 7 and Z = max z_max:

=================== ============================== =============================================
what                shape, dtype                   meaning
=================== ============================== =============================================
``obs["ud"]``       (B, N, D) float32              the UD observations of ``parallel_env``
``obs["es"]``       (B, M, 6Z + 3) float32         ES observations: Z places, then the 3 loads
                                                   (an ES with z_max < Z has zero places
                                                   between its own and the loads)
``actions["ud"]``   (B, N, 3) in [0, 1]            (x^u, f^u, p^u) of every UD
``actions["es"]``   (B, M, Z) 0/1 (or [0, 1] with  approval bit of each member place; places
                    ``es_action_space="box"``)     past an ES's own z_max are ignored
``rewards["ud"]``   (B, N) float64                 UD rewards
``rewards["es"]``   (B, M) float64                 ES rewards (the mean UD reward)
``terminated``      (B,) bool                      always False
``truncated``       (B,) bool                      the copy played its ``n_slots``-th slot
``state()``         (B, N·D + 3M) float32          ``parallel_env.state()`` of every copy
``infos[key]``      (B, N), (B, N, M) for ``gain``  the UD info keys (``UD_INFO_KEYS``)
``infos[key]``      (B, M), (B, M, Z) ``members``   the ES info keys (``ES_INFO_KEYS``)
``infos[slot_*]``   (B,)                           the slot metrics of each copy
=================== ============================== =============================================

Seeds: ``reset(seed=s)`` seeds copy b with ``s + b``; ``reset(seed=[s_0, ..., s_{B-1}])``
with ``s_b``. Copy b then gives bit for bit what ``mec_env.parallel_env(...)`` gives after
``reset(seed=s_b)`` with the same actions, over whole episodes and across auto-resets (an
auto-reset is ``reset()`` without a seed, continuing the copy's generator).

Auto-reset, gymnasium's **next-step** mode (``metadata["autoreset_mode"]``): the step at
which a copy is truncated returns that copy's last observation, as ``parallel_env`` does; the
next ``step`` call resets that copy instead of stepping it (its actions are ignored) and
returns its first observation and reset infos, with reward 0 and terminated = truncated =
False. With ``autoreset=False`` stepping a finished copy raises :class:`ActionError`.

Bad actions (wrong shape, not numeric, NaN, out of range, a missing or unexpected group)
raise :class:`ActionError` naming the copy and the agent; with ``clip_actions=True`` the bad
entries are clipped as ``parallel_env`` clips them, copy by copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium.error import ResetNeeded
from gymnasium.vector import AutoresetMode, VectorEnv

from mec_env.config import DEFAULT_PRESET, make_config
from mec_env.errors import ActionError
from mec_env.policies import SlotView
from mec_env.sim.core import STEP_COLUMNS, BatchCore, StepOutput
from mec_env.spec import SLOT_INFO_KEYS, MECSpec, real_array

_ES_COUNTS = ("requests", "admitted", "cuts")


class MECVectorEnv(VectorEnv):
    """B copies of the MEC environment as arrays; see :mod:`mec_env.adapters.vector`."""

    metadata = {"name": "mec_offloading_vector_v0", "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int,
        preset: str = DEFAULT_PRESET,
        *,
        autoreset: bool = True,
        kernels: str | None = None,
        **overrides: Any,
    ) -> None:
        if overrides.get("render_mode") is not None:
            raise ValueError("vector_env does not render; use parallel_env for rendering")
        # one config, one core, one spec
        self.config = cfg = make_config(preset, **overrides)
        self.preset = preset
        self.core = BatchCore(cfg, num_envs, kernels)
        self.mec_spec = spec = MECSpec(cfg, self.core.head_max)
        self.num_envs = self.core.num_envs
        self.autoreset = bool(autoreset)
        if not self.autoreset:
            self.metadata = {**self.metadata, "autoreset_mode": AutoresetMode.DISABLED}
        self.n_uds, self.n_servers = cfg.n_uds, cfg.n_servers
        self.es_agents = cfg.es_agents
        self.z_cap = spec.z_cap
        self.groups = spec.groups
        self.ud_agents, self.es_agent_names = spec.ud_agents, spec.es_agent_names
        (
            self.single_observation_space,
            self.single_action_space,
            self.observation_space,
            self.action_space,
            self.single_state_space,
            self.state_space,
        ) = spec.vector_spaces(self.num_envs)
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)
        self._started = False
        self._live = np.zeros(self.num_envs, dtype=bool)  # reset and not yet truncated
        self._ud_obs: np.ndarray | None = None  # the last observation (None before reset)
        # ES places past an ES's own z_max: ignored in actions
        self._es_place = spec.es_place  # (M, Z)

    # ------------------------------------------------------------------ reset
    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset every copy; ``seed`` an int (copy b gets ``seed + b``), a list of B seeds or
        None (continue each copy's generator). Returns ``(obs, infos)``.

        ``options={"reset_mask": mask}`` with a (B,) bool mask resets only those copies
        (gymnasium's partial reset; seeds, if given, apply to them: an int seeds copy b with
        ``seed + b``, a list gives one seed per reset copy); the others keep their
        state, and their observations are returned unchanged. The infos are reset-style
        (the slot each copy's next action applies to, zeros for what was not played).
        """
        b = self.num_envs
        mask = None if options is None else options.get("reset_mask")
        if mask is not None:
            mask = np.asarray(mask, dtype=bool).reshape(-1)
            if mask.shape != (b,):
                raise ValueError(f"reset_mask must have shape ({b},), got {mask.shape}")
            if not self._started and not mask.all():
                raise ValueError("the first reset() must reset every copy")
            idx = np.flatnonzero(mask)
            if seed is not None:
                if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
                    seed = [int(seed) + b for b in idx.tolist()]  # copy b gets seed + b
                self.core.seed(list(seed), idx)
            self.core.reset(idx)
            self._needs_reset[idx] = False
            self._started = True
            return self._observe(), self._reset_infos()
        if seed is not None:
            if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
                seeds = [int(seed) + i for i in range(b)]
            else:
                seeds = list(seed)
                if len(seeds) != b:
                    raise ValueError(f"reset(seed=...) takes an int or {b} seeds, got {len(seeds)}")
            self.core.seed(seeds)
        self.core.reset()
        self._needs_reset[:] = False
        self._started = True
        obs = self._observe()
        return obs, self._reset_infos()

    def _observe(self) -> dict[str, np.ndarray]:
        ud, es, loads = self.core.observe(self.es_agents)
        self._ud_obs, self._loads = ud, loads
        obs = {"ud": ud}
        if es is not None:
            obs["es"] = es
        return obs

    def state(self) -> np.ndarray:
        """(B, N·D + 3M) float32: every copy's ``parallel_env.state()``."""
        if self._ud_obs is None:
            raise ResetNeeded("state() called before reset(): call reset() first")
        b = self.num_envs
        return np.concatenate(
            [self._ud_obs.reshape(b, -1), self._loads.reshape(b, -1).astype(np.float32)], axis=1
        )

    def _reset_infos(self) -> dict[str, np.ndarray]:
        c = self.core
        b, n, m = self.num_envs, self.n_uds, self.n_servers
        zero, no = np.zeros((b, n)), np.zeros((b, n), dtype=bool)
        infos = dict(
            task_bytes=c.bits / 8.0,
            cycles_per_bit=c.cycles_per_bit.copy(),
            deadline_s=c.deadline_s.copy(),
            server=c.server.copy(),
            requested=no,
            offloaded=no.copy(),
            f_hz=zero,
            p_w=zero.copy(),
            delay_s=zero.copy(),
            energy_j=zero.copy(),
            cost=zero.copy(),
            penalty=zero.copy(),
            timed_out=no.copy(),
            battery_j=c.battery.copy(),
            below_b_min=no.copy(),
            gain=c.gain.copy(),
        )
        for key in SLOT_INFO_KEYS:
            infos[key] = np.zeros(b, dtype=np.int64 if key == "slot_admission_cuts" else np.float64)
        if self.es_agents:
            for key in _ES_COUNTS:
                infos[key] = np.zeros((b, m), dtype=np.int64)
            infos["members"] = c.members.copy()
        return infos

    # ------------------------------------------------------------------ actions
    def check_actions(
        self, actions: Any, num_envs: int | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Validate a step's actions; returns (UD actions (B, N, 3) float64 in [0, 1], ES
        approvals (B, M, Z) bool or None), clipped if ``clip_actions``. ``num_envs``: the
        number of copies the actions are for (default all)."""
        return self._check_actions(actions, num_envs)

    def _check_actions(
        self, actions: Any, num_envs: int | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        b = self.num_envs if num_envs is None else num_envs
        self._check_groups(actions)
        ud = self._check_ud(actions["ud"], b)
        if not self.es_agents:
            return ud, None
        return ud, self._check_es(actions["es"], b)

    def _check_groups(self, actions: Any) -> None:
        """A dict holding exactly the groups."""
        if not isinstance(actions, Mapping):
            raise ActionError(
                f"step() takes a dict group -> array with groups "
                f"{list(self.groups)}, got {type(actions).__name__}"
            )
        missing = [g for g in self.groups if g not in actions]
        extra = [g for g in actions if g not in self.groups]
        if missing or extra:
            raise ActionError(
                f"actions must hold exactly the groups {list(self.groups)}; "
                f"missing {missing}, unexpected {extra}"
            )

    def _check_ud(self, action: Any, b: int) -> np.ndarray:
        """The UD actions (B, N, 3) float64 in [0, 1] (clipped if ``clip_actions``)."""
        n = self.n_uds
        ud = _numeric(action, "ud")
        if ud.shape != (b, n, 3):
            raise ActionError(
                f"actions['ud'] must have shape (num_envs, N, 3) = ({b}, {n}, 3) "
                f"= (x^u, f^u, p^u) in [0, 1] per copy and UD, got {ud.shape}"
            )
        bad = ~np.isfinite(ud) | (ud < 0.0) | (ud > 1.0)
        if bad.any():
            if not self.config.clip_actions:
                copy, agent = np.argwhere(bad.any(axis=2))[0].tolist()
                raise ActionError(
                    f"copy {copy}, agent ud_{agent}: action must be finite and in "
                    f"[0, 1], got {ud[copy, agent]} (pass clip_actions=True to "
                    f"clip instead)"
                )
            ud = np.clip(np.nan_to_num(ud, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
        return ud

    def _check_es(self, action: Any, b: int) -> np.ndarray:
        """The ES approvals (B, M, Z) bool: box values >= 0.5 or bits, checked at the
        member places (thresholded at 0.5 if ``clip_actions``)."""
        cfg = self.config
        m, z = self.n_servers, self.z_cap
        es = _numeric(action, "es")
        box = cfg.es_action_space == "box"
        if es.shape != (b, m, z):
            kind = "values in [0, 1]" if box else "0/1 bits"
            raise ActionError(
                f"actions['es'] must have shape (num_envs, M, max z_max) = "
                f"({b}, {m}, {z}), {kind} per member place, got {es.shape}"
            )
        if box:
            bad = ~np.isfinite(es) | (es < 0.0) | (es > 1.0)
        else:
            bad = ~((es == 0) | (es == 1))
        bad &= self._es_place
        if bad.any() and not cfg.clip_actions:
            copy, server = np.argwhere(bad.any(axis=2))[0].tolist()
            zj = int(cfg.z_max[server])
            allowed = "finite and in [0, 1]" if box else "only 0/1 bits"
            raise ActionError(
                f"copy {copy}, agent es_{server}: action must hold {allowed}, got "
                f"{es[copy, server, :zj]} (pass clip_actions=True to "
                f"{'clip' if box else 'threshold at 0.5'} instead)"
            )
        bits = np.nan_to_num(es, nan=0.0) >= 0.5
        return bits & self._es_place

    # ------------------------------------------------------------------ step
    def step(self, actions: Mapping[str, Any]):
        """Step every copy; returns ``(obs, rewards, terminated, truncated, infos)``, all
        arrays with a leading batch axis (see :mod:`mec_env.adapters.vector`)."""
        if not self._started:
            raise ActionError("step() called before reset()")
        ud, es_bits = self._check_actions(actions)
        b = self.num_envs
        redo = self._needs_reset
        if redo.any() and not self.autoreset:
            copy = int(np.flatnonzero(redo)[0])
            raise ActionError(
                f"copy {copy} finished its episode and autoreset=False; call reset() first"
            )
        zeros = np.zeros(b, dtype=bool)
        if redo.all():  # every copy starts a new episode (lock-step episodes)
            self.core.reset()
            self._needs_reset = zeros
            obs = self._observe()
            return (obs, self._zero_rewards(), zeros, zeros.copy(), self._reset_infos())
        if redo.any():
            again = np.flatnonzero(redo)
            play = np.flatnonzero(~redo)
            self.core.reset(again)
            result = self.core.step(ud[play], None if es_bits is None else es_bits[play], idx=play)
        else:
            play = None
            result = self.core.step(ud, es_bits)
        infos = self._reset_infos() if play is not None else None
        infos = self._step_infos(result, play, infos)
        rewards = self._zero_rewards()
        sel = slice(None) if play is None else play
        rewards["ud"][sel] = result.out["reward"]
        if self.es_agents:
            rewards["es"][sel] = result.es_reward[:, None]
        truncated = np.zeros(b, dtype=bool)
        truncated[sel] = result.truncated
        self._needs_reset = truncated.copy()
        obs = self._observe()
        return obs, rewards, np.zeros(b, dtype=bool), truncated, infos

    def step_copies(self, actions: Mapping[str, Any], copies: Sequence[int] | np.ndarray):
        """Step only the copies ``copies`` (ascending indices; e.g. the first k for a last,
        partial batch of episodes) while the others wait. The actions and every returned
        array have ``len(copies)`` rows; returns ``(obs, rewards, terminated, truncated,
        infos)`` as :meth:`step` does. No auto-reset: a finished copy among them raises
        :class:`ActionError` (reset it first). Each copy's results are those of :meth:`step`."""
        b = self.num_envs
        idx = np.asarray(copies, dtype=np.int64).reshape(-1)
        if idx.size == 0 or idx[0] < 0 or idx[-1] >= b or np.any(np.diff(idx) <= 0):
            raise ValueError(f"copies must be ascending indices in [0, {b}), got {copies!r}")
        if not self._started:
            raise ActionError("step_copies() called before reset()")
        done = self._needs_reset[idx]
        if done.any():
            raise ActionError(
                f"copy {int(idx[done][0])} finished its episode; reset it first "
                f'(reset(seed=..., options={{"reset_mask": mask}}))'
            )
        if idx.size == b:
            return self.step(actions)
        ud, es_bits = self._check_actions(actions, idx.size)
        result = self.core.step(ud, es_bits, idx=idx)
        infos = self._step_infos(result, None, None, rows=idx)
        rewards = {"ud": result.out["reward"]}
        if self.es_agents:
            rewards["es"] = np.repeat(result.es_reward[:, None], self.n_servers, axis=1)
        truncated = result.truncated.copy()
        self._needs_reset[idx] = truncated
        obs = {k: v[idx] for k, v in self._observe().items()}
        return obs, rewards, np.zeros(idx.size, dtype=bool), truncated, infos

    # ------------------------------------------------------------------ per-copy views
    @property
    def playing(self) -> np.ndarray:
        """(B,) bool: the copies in the middle of an episode (reset, not yet truncated)."""
        if not self._started:
            return np.zeros(self.num_envs, dtype=bool)
        return ~self._needs_reset

    @property
    def members(self) -> np.ndarray:
        """(B, M, Z) int64, a copy: the UD in each ES place for each copy's next action (−1
        empty), the ``members`` info of every copy."""
        return self.core.members.copy()

    def slot_view(self, b: int) -> SlotView:
        """What a reference policy reads of copy ``b`` (:class:`mec_env.policies.SlotView`):
        the slot its next action applies to (tasks, gains, batteries, matching, ES places)
        and its live agents (none once its episode is over)."""
        if not -self.num_envs <= b < self.num_envs:
            raise IndexError(f"copy {b} of {self.num_envs}")
        b %= self.num_envs
        core = self.core
        return SlotView(
            config=self.config,
            current_slot=core.slot_state(b),
            server=core.server[b],
            members=core.members[b],
            agents=tuple(self.mec_spec.possible_agents) if self.playing[b] else (),
            ud_agents=tuple(self.ud_agents),
            es_agent_names=tuple(self.es_agent_names),
            queues=core.queue_view(b),
        )

    def _zero_rewards(self) -> dict[str, np.ndarray]:
        rewards = {"ud": np.zeros((self.num_envs, self.n_uds))}
        if self.es_agents:
            rewards["es"] = np.zeros((self.num_envs, self.n_servers))
        return rewards

    def _step_infos(
        self,
        result: StepOutput,
        play: np.ndarray | None,
        infos: dict[str, np.ndarray] | None,
        rows: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        out = result.out
        if infos is None:  # every copy stepped (or only the copies ``rows``, infos of those)
            infos = {k: out[k] for k in STEP_COLUMNS}
            infos["gain"] = out["gain"]
            v = result.slot_values
            for j, key in enumerate(SLOT_INFO_KEYS):
                infos[key] = v[:, j].astype(np.int64) if j == 5 else v[:, j].copy()
            if self.es_agents:
                infos.update(
                    requests=result.requests,
                    admitted=result.admitted,
                    cuts=result.cuts,
                    members=self.core.members.copy() if rows is None else self.core.members[rows],
                )
            return infos
        for k in (*STEP_COLUMNS, "gain"):
            infos[k][play] = out[k]
        for j, key in enumerate(SLOT_INFO_KEYS):
            infos[key][play] = result.slot_values[:, j]
        if self.es_agents:
            infos["requests"][play] = result.requests
            infos["admitted"][play] = result.admitted
            infos["cuts"][play] = result.cuts
            infos["members"] = self.core.members.copy()
        return infos

    def close(self, **kwargs: Any) -> None:
        """Nothing to release."""


def _numeric(value: Any, group: str) -> np.ndarray:
    return real_array(value, f"actions[{group!r}]")


def vector_env(
    num_envs: int,
    preset: str = DEFAULT_PRESET,
    *,
    autoreset: bool = True,
    kernels: str | None = None,
    **overrides: Any,
) -> MECVectorEnv:
    """``num_envs`` copies of ``parallel_env(preset, **overrides)`` as one array env.

    ``kernels``: ``"auto"`` (numba if installed), ``"numpy"`` or ``"numba"``
    (:mod:`mec_env.sim.fast`); the results are the same.
    """
    return MECVectorEnv(num_envs, preset, autoreset=autoreset, kernels=kernels, **overrides)

"""The two backends of the batched core: numpy (the reference) and compiled (numba).

:class:`mec_env.sim.core.BatchCore` chooses one backend object when it is built
(:func:`make_backend`) and calls it for every phase of a slot: the UD controls and the offload
terms, the ES agents' approvals, admission with the CPU queues and the outcomes, the members
table, the matching and the observations. Both backends have the same methods with the same
arguments and results; what differs is how a phase is computed, never the physics, which both
take from the rules of :mod:`mec_env.sim` (the numpy backend on whole arrays, the compiled one
in kernels that compile the same rule functions). ``tests/env/test_fast.py`` and the stored
trajectory hashes check that they agree bit for bit.

The compiled backend also plays a whole slot of every copy in three compiled calls
(:meth:`CompiledBackend.play`), which the core uses when it steps all copies at once.
"""

from __future__ import annotations

from types import ModuleType
from typing import NamedTuple

import numpy as np

from mec_env.sim import fast, slot
from mec_env.sim.compute import reward
from mec_env.sim.matchers import MATCHERS
from mec_env.sim.matchers.base import match
from mec_env.sim.matchers.co_selection import (
    co_selection_compiled,
    co_selection_constants,
    co_selection_log2_arguments,
)
from mec_env.sim.params import EnvConfig
from mec_env.sim.state import SlotState, server_columns

# up to this many UDs numpy sums a row in one pairwise pass, which the kernels reproduce
KERNEL_MEAN_MAX = 8192
# the float outputs of the compiled resolve, in its order
_RESOLVE_KEYS = ("delay_s", "energy_j", "cost", "battery_j", "penalty", "reward")


class Task(NamedTuple):
    """The played copies' slot: tasks (bits, cycles per bit, deadline s), gains, servers and
    batteries (J), each with the copies on axis 0."""

    bits: np.ndarray
    cpb: np.ndarray
    deadline: np.ndarray
    gain: np.ndarray
    server: np.ndarray
    battery: np.ndarray
    near: np.ndarray | None = None  # with reach: the ES ids (B', N, K) of the gain columns


class Resolved(NamedTuple):
    """What :meth:`NumpyBackend.resolve` returns: ``offloaded`` (B, N) bool; ``out`` the per-UD
    outcomes keyed like ``StepOutput.out``; ``requests``, ``admitted``, ``cuts`` (B, M) int64;
    ``values`` (B, 6) the slot metrics; ``es_reward`` (B,)."""

    offloaded: np.ndarray
    out: dict[str, np.ndarray]
    requests: np.ndarray
    admitted: np.ndarray
    cuts: np.ndarray
    values: np.ndarray
    es_reward: np.ndarray


def slot_values(out, offloaded, n_req, n_adm, n_cut) -> tuple[np.ndarray, np.ndarray]:
    """The slot metrics (B, 6) in the order of SLOT_METRICS and the ES reward (B,), numpy's
    means."""
    total_req = n_req.sum(axis=1)
    values = np.empty((offloaded.shape[0], 6))
    values[:, 0] = out["cost"].mean(axis=1)
    values[:, 1] = out["timed_out"].mean(axis=1)
    values[:, 2] = offloaded.mean(axis=1)
    values[:, 3] = np.where(total_req > 0, n_adm.sum(axis=1) / np.maximum(total_req, 1), 0.0)
    values[:, 4] = out["below_b_min"].mean(axis=1)
    values[:, 5] = n_cut.sum(axis=1)
    return values, out["reward"].mean(axis=1)


def es_counts(server, n_servers, requested, offloaded, approved):
    """Per (copy, ES) counts (B, M) int64 of the requests, the admitted and the cut (approved,
    not admitted); every one of these flags implies a matched UD."""
    b = server.shape[0]
    group = (np.arange(b)[:, None] * n_servers + server).ravel()
    return tuple(
        np.bincount(group[flag.ravel()], minlength=b * n_servers).reshape(b, n_servers)
        for flag in (requested, offloaded, approved & ~offloaded)
    )


def make_backend(cfg: EnvConfig, kernels: str | None = None) -> NumpyBackend:
    """The backend for ``kernels`` (``"auto"``, ``"numpy"``, ``"numba"``;
    :mod:`mec_env.sim.fast`). The time-coupled model (``cfg.queued``) and DNN split tasks
    (``cfg.split_tasks``) play with numpy."""
    module = fast.resolve(kernels)
    if cfg.queued or cfg.split_tasks:
        return NumpyBackend(cfg)
    return NumpyBackend(cfg) if module is None else CompiledBackend(cfg, module)


class NumpyBackend:
    """The numpy backend: every phase with the whole-array slot functions of
    :mod:`mec_env.sim.slot` and the batched matchers (the reference)."""

    #: the compiled kernel module, None here
    kernels: ModuleType | None = None
    #: whether :meth:`play` exists (a whole slot of every copy in compiled calls)
    plays_whole_slot = False

    def __init__(self, cfg: EnvConfig) -> None:
        self.config = cfg
        self.z_cap = int(cfg.z_max.max())

    def controls(self, ud_actions: np.ndarray, task: Task) -> tuple[np.ndarray, ...]:
        """(requested, f_hz, p_w, τ^o, τ^p, e^o) of the played copies from their actions."""
        cfg = self.config
        requested, f_hz, p_w = slot.ud_controls(cfg, ud_actions, task.server)
        tau_o, tau_p, e_o = slot.offload_terms(
            cfg, task.bits, task.cpb, task.gain, task.server, p_w, task.near
        )
        return requested, f_hz, p_w, tau_o, tau_p, e_o

    def approvals(self, requested, members, es_bits) -> np.ndarray:
        """Requests the ES agents approved: bit j of ES m approves its member place j."""
        b, n = requested.shape
        places = np.flatnonzero(members >= 0)  # flat (copy, ES, place) of the members
        approve = np.zeros(b * n, dtype=bool)
        per_copy = members.shape[1] * members.shape[2]
        approve[(places // per_copy) * n + members.ravel()[places]] = es_bits.ravel()[places]
        return requested & approve.reshape(b, n)

    def resolve(
        self, task: Task, requested, approved, priority, f_hz, terms, harvest, stored_bits=None
    ) -> Resolved:
        """Admission (15i, 15j), the ES CPU queue (9) and the slot's outcomes, counts and
        metrics. ``terms``: (τ^o, τ^p, e^o); ``harvest`` (B, N) J; ``stored_bits`` (B, N)
        what a request stores at the ES (15j), default the task's β."""
        cfg = self.config
        m = cfg.n_servers
        stored = task.bits if stored_bits is None else stored_bits
        offloaded = slot.admit(cfg, approved, priority, task.server, stored)
        out = slot.resolve(
            cfg,
            bits=task.bits,
            cycles_per_bit=task.cpb,
            deadline_s=task.deadline,
            server=task.server,
            offloaded=offloaded,
            f_hz=f_hz,
            upload_s=terms[0],
            processing_s=terms[1],
            offload_energy_j=terms[2],
            battery_j=task.battery,
            harvest_j=harvest,
        )
        n_req, n_adm, n_cut = es_counts(task.server, m, requested, offloaded, approved)
        values, es_reward = slot_values(out, offloaded, n_req, n_adm, n_cut)
        return Resolved(offloaded, out, n_req, n_adm, n_cut, values, es_reward)

    def members_of(self, server: np.ndarray) -> np.ndarray:
        """(B, M, max z_max) UD index in each ES place, ascending, −1 for empty places."""
        b, n = server.shape
        m, z = self.config.n_servers, self.z_cap
        # the matched UDs in (copy, UD) order, stably sorted by (copy, server): a radix sort
        flat = np.flatnonzero(server.ravel() >= 0)
        group = (flat // n) * m + server.ravel()[flat]
        order = np.argsort(group.astype(np.uint16 if b * m < 1 << 16 else np.int64), kind="stable")
        group, ud = group[order], flat[order] % n
        counts = np.bincount(group, minlength=b * m)
        rank = np.arange(group.size) - (np.cumsum(counts) - counts)[group]
        keep = rank < z
        members = np.full(b * m * z, -1, dtype=np.int64)
        members[group[keep] * z + rank[keep]] = ud[keep]
        return members.reshape(b, m, z)

    def match(self, slots: SlotState, rngs: list[np.random.Generator]):
        """(server (B', N), members (B', M, max z_max)) of the copies in ``slots``."""
        server = match(self.config.matcher, slots, rngs, self.kernels)
        return server, self.members_of(server)

    def observe(self, core, es: bool):
        """The core's observations (:meth:`mec_env.sim.core.BatchCore.observe`), with numpy."""
        ud = core.ud_matrix()
        loads = core.es_loads()
        return ud, (core.es_matrix(ud, loads) if es else None), loads


class CompiledBackend(NumpyBackend):
    """The compiled backend: the same phases in the numba kernels of ``kernels``
    (:mod:`mec_env.sim._numba_kernels`), numpy's log2 and power between them."""

    def __init__(self, cfg: EnvConfig, kernels: ModuleType) -> None:
        super().__init__(cfg)
        self.kernels = kernels
        self.plays_whole_slot = cfg.n_uds <= KERNEL_MEAN_MAX
        self._bw = cfg.subchannel_bw_hz  # W/K per server, Hz
        # the compiled resolve's constant arguments: capacities, then κ, ρ1, ρ2, b_min, b_max
        self._caps = (cfg.subchannels, cfg.storage_bits, cfg.n_cpus)
        self._params = (float(cfg.kappa), float(cfg.rho_delay), float(cfg.rho_energy),
                        float(cfg.b_min_j), float(cfg.b_max_j))  # fmt: skip
        # the compiled co_selection's constant arguments, then the members table's width
        self._co_selection_params = (*co_selection_constants(cfg), self.z_cap)
        # whether the matcher is the built-in co_selection with its compiled form, which then
        # runs together with the members table in one compiled call
        self._compiled_co_selection = (
            MATCHERS.metadata(cfg.matcher).get("compiled") is co_selection_compiled
            and cfg.nearest_servers is None  # reach: the matchers' near forms (numpy)
        )
        # the compiled observation's gain columns: (gain_db − lo) / span; span 0: zeros;
        # span −1: the linear gains (raw observations), as BatchCore._gain_part
        span = cfg.gain_db[1] - cfg.gain_db[0]
        self._gain_scale = (float(cfg.gain_db[0]), float(span) if cfg.normalize_obs else -1.0)
        self._no_es_bits: dict[tuple[int, ...], np.ndarray] = {}  # play's, with a rule

    def __reduce__(self):
        # the kernel module does not pickle: resolve it again on load
        return make_backend, (self.config, "auto")

    def _controls_log2(self, ud_actions, server, gain):
        """(requested, f_hz, p_w, log2(1 + p g)) by the controls kernel and numpy's log2."""
        cfg = self.config
        requested, (f_hz, p_w, snr) = self.kernels.controls(
            ud_actions, server, gain, cfg.f_min_hz, cfg.f_max_hz, cfg.p_min_w, cfg.p_max_w
        )
        return requested, f_hz, p_w, np.log2(snr)

    def controls(self, ud_actions: np.ndarray, task: Task) -> tuple[np.ndarray, ...]:
        # the kernel reads gain[b, n, column of the server]: with reach that column is the
        # server's place among the UD's K (matched iff it has one), else the server itself
        col = task.server if task.near is None else server_columns(task.server, task.near)
        requested, f_hz, p_w, log2_snr = self._controls_log2(ud_actions, col, task.gain)
        tau_o, tau_p, e_o = self.kernels.offload_terms(
            task.bits, task.cpb, task.server, p_w, log2_snr, self._bw, self.config.f_server_hz
        )
        return requested, f_hz, p_w, tau_o, tau_p, e_o

    def approvals(self, requested, members, es_bits) -> np.ndarray:
        return self.kernels.approvals(requested, members, es_bits)

    def resolve(
        self, task: Task, requested, approved, priority, f_hz, terms, harvest, stored_bits=None
    ) -> Resolved:
        if stored_bits is not None:  # make_backend gives split tasks the numpy backend
            raise NotImplementedError("the compiled backend stores each task's β (15j)")
        floats, flags, counts, metrics = self.kernels.resolve(
            task.bits, task.cpb, task.deadline, task.server, requested, approved, priority, f_hz,
            *terms, task.battery, harvest, *self._caps, *self._params,
        )  # fmt: skip
        out = dict(zip(_RESOLVE_KEYS, floats))
        offloaded, out["timed_out"], out["below_b_min"] = flags
        n_req, n_adm, n_cut = counts
        values, es_reward = metrics[:, :6], metrics[:, 6]
        if not self.plays_whole_slot:  # beyond the kernels' pairwise sums: numpy's means
            out["reward"] = reward(out["cost"], out["penalty"])
            values, es_reward = slot_values(out, offloaded, n_req, n_adm, n_cut)
        return Resolved(offloaded, out, n_req, n_adm, n_cut, values, es_reward)

    def members_of(self, server: np.ndarray) -> np.ndarray:
        return self.kernels.members_of(server, self.config.n_servers, self.z_cap)

    def match(self, slots: SlotState, rngs: list[np.random.Generator]):
        if self._compiled_co_selection:
            return self.co_selection_members(slots.bits, slots.cycles_per_bit, slots.gain)
        return super().match(slots, rngs)

    def co_selection_members(self, bits, cycles_per_bit, gain):
        """(server, members) of a slot by the compiled co_selection and members table, with
        co_selection_compiled's arguments (numpy's log2(1 + p_max g))."""
        return self.kernels.co_selection_members(
            *co_selection_log2_arguments(self.config, bits, cycles_per_bit, gain),
            *self._co_selection_params,
        )

    def observe(self, core, es: bool):
        cfg = self.config
        reach = core.near is not None  # the UD rows' one-hot over the K columns; loads and
        server = server_columns(core.server, core.near) if reach else core.server  # ES rows:
        ud32, es_obs, loads = self.kernels.observe(  # numpy's, by ES id
            core.bits, core.cycles_per_bit, core.deadline_s, core.prev_f, core.prev_p,
            core.battery, core.gain, core.gain_db, *self._gain_scale, server, core.members,
            core.head_scale, cfg.subchannels, cfg.storage_bits, cfg.n_cpus, es and not reach,
        )  # fmt: skip
        if reach:
            loads = core.es_loads()
            es_obs = core.es_matrix(ud32, loads) if es else None
        return ud32, (es_obs if es else None), loads

    def play(self, core, ud_actions: np.ndarray, es_bits: np.ndarray | None, rule) -> tuple:
        """One slot of all the core's copies in three compiled calls (the controls, the slot
        with the next slot's draws, the matching; the admission rule's priorities in between
        without ES agents, by ``rule(task, requested, f_hz, p_w, τ^o, τ^p, e^o)``). Writes the
        core's next state; returns (out, counts, metrics, truncated)."""
        cfg, k = self.config, self.kernels
        task = Task(core.bits, core.cycles_per_bit, core.deadline_s, core.gain, core.server,
                    core.battery)  # fmt: skip
        requested, f_hz, p_w, log2_snr = self._controls_log2(ud_actions, task.server, task.gain)
        u = core.uniforms(core.rngs, cfg.n_uds * (1 + core.scenario.uniforms_per_ud))
        approval = None
        if es_bits is None:  # the admission rule decides, from the offload terms
            terms = k.offload_terms(task.bits, task.cpb, task.server, p_w, log2_snr, self._bw,
                                    cfg.f_server_hz)  # fmt: skip
            approval = rule(task, requested, f_hz, p_w, *terms)
            es_bits = self._no_es_bits.get(core.members.shape)
            if es_bits is None:
                es_bits = self._no_es_bits[core.members.shape] = np.zeros(core.members.shape, bool)
        floats, flags, counts, metrics, gain_db, truncated = k.play(
            task.bits, task.cpb, task.deadline, task.server, core.members, es_bits, approval,
            requested, f_hz, p_w, log2_snr, task.battery, u, self._bw, cfg.f_server_hz,
            self._caps, self._params, cfg.harvest_mean_j, *core.scenario.affine,
            core.t, cfg.n_slots,
        )  # fmt: skip
        out = {  # the order of the numpy path's keys
            "delay_s": floats[0],
            "energy_j": floats[1],
            "cost": floats[2],
            "battery_j": floats[3],
            "penalty": floats[4],
            "reward": floats[5],
            "timed_out": flags[1],
            "below_b_min": flags[2],
            "task_bytes": floats[10],
            "cycles_per_bit": task.cpb,
            "deadline_s": task.deadline,
            "server": task.server,
            "requested": requested,
            "offloaded": flags[0],
            "f_hz": f_hz,
            "p_w": p_w,
            "gain": task.gain,
            "approved": flags[3],
            "harvest_j": floats[6],
        }
        core.battery, core.prev_f, core.prev_p = floats[3], f_hz, p_w
        # the next slot, as new_slot draws it from the same uniforms
        core.bits, core.cycles_per_bit, core.deadline_s = floats[7], floats[8], floats[9]
        core.gain_db = gain_db
        core.gain = core.scenario.channel.linear(gain_db)
        if self._compiled_co_selection:  # straight from the arrays: no SlotState to build
            core.server, core.members = self.co_selection_members(
                core.bits, core.cycles_per_bit, core.gain
            )
        else:
            core.server, core.members = self.match(core.slot_state(), core.rngs)
        return out, counts, metrics, truncated

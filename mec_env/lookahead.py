"""``drift_plus_penalty``: a queue- and battery-aware online reference policy (docs/algorithms.md).

A Lyapunov drift-plus-penalty rule of the kind of LODCO (Mao, Zhang, Letaief, "Dynamic
computation offloading for mobile-edge computing with energy harvesting devices", IEEE JSAC
2016) and LyDROO (Bi, Huang, Zhang, "Lyapunov-guided deep reinforcement learning for stable
online computation offloading in mobile-edge computing networks", IEEE TWC 2021), for the
time-coupled model of :mod:`mec_env.sim.taskqueue`. Each slot, every UD n with a task scores
its three options o (offload at its matched ES, run locally now, wait) and takes the least::

    score(o) = V·C_o − Q_n·s_o + W_n·e_o + V·drop_cost·r_n·(1 − s_o)

* C_o, the option's expected cost (cost units, ρ1·s + ρ2·J) with the timeout penalty
  ρ1·max(τ − φ, 0), φ the head task's *remaining* deadline: offload ρ1 τ^a + ρ2 e^o with
  τ^a = τ^p + max(τ^o, τ^q), τ^q the earliest CPU free time of the ES (``es_free_s``), at
  the power minimising V·C + W·e among :func:`best_offload_power`'s, the one whose upload
  ends as that CPU frees, and a log grid on [p_min, p_max]; local at the frequency
  minimising V·C + W·e among :func:`best_local_frequency`'s, the stationary points of a run
  longer than Δ, βc/Δ, βc/φ and a log grid on [f_min, f_max], where C adds
  ρ1 (Q_n − 1) max(τ^l − Δ, 0), the delay a run longer than the slot Δ puts on the Q_n − 1
  tasks queued behind (so a long queue buys a higher f); wait ρ1 Δ + the least serving C
  (the task is served one slot later at about today's cost);
* Q_n the UD's queue length (tasks, the head included) and s_o the tasks the option serves
  (1 for offload and local, 0 for wait): the queue's drift;
* W_n = ω max(θ − b_n, 0) / (θ e_ref) per J, the LODCO energy-queue weight of the battery
  b_n perturbed by θ (θ = b_max with ``battery_hard``, else b_min: without a hard battery
  energy matters only below b_min), ω = ``battery_weight`` (tasks), e_ref the energy of a
  mean task run locally at f_min (J): an empty battery prices the energy of one such run at
  ω queued tasks;
* r_n the drop risk of waiting: 1 when the remaining deadline φ ≤ Δ (the task expires at
  the next slot's start), falling linearly to 0 at φ = 2Δ; 1 in the episode's last slot
  (its end drops what is still queued), where the battery has no future use either (W_n = 0).

An option that is not available scores +∞: offload when the UD is unmatched, local while its
CPU is busy, either when ``battery_hard`` and its energy exceeds the battery. The ES agents
(the policy decides them too) approve, per ES, the UDs whose best option is offload in
descending *gain*, their best other score minus their offload score (for a UD that would
otherwise wait V (ρ1 Δ + drop_cost r_n) + Q_n − W_n e^o: max-weight, the longest queue
first; for one that would run locally V (C_loc − C_off), the saving), ties in descending
saving C_loc − C_off (greedy's order), while they fit in K subchannels and D_m bits
(:func:`mec_env.physics.admit_within_capacity`); a UD left out falls
back to its best other option (local, or wait: it requests and is refused, so its task
stays). A UD that waits with an idle CPU requests and is not approved, so the policy is meant
for ``es_agents=True`` (its ``env_overrides``); with ES agents off the environment's
admission rule decides instead and a refused request waits. An unmatched UD whose CPU is idle
cannot wait (the environment runs what it does not offload): it runs locally if it can.

V (``v``, tasks per cost unit) trades cost against queue length: V → 0 serves every task at
once (the cheapest feasible of offload and local), large V serves a task only when its cost
is small against the queue, and V → ∞ chooses by cost alone (offload iff it is cheaper than
local, as ``greedy``; a refused request waits, as greedy's does).

Without queues (the paper's slot model, ``view.queues is None``) every task must be served
this slot and the rule is ``greedy``'s: :meth:`DriftPlusPenalty.decide` calls
:meth:`Greedy.decide`.

With DNN split tasks (``task_model: dnn``, e.g. ``urban_split_queue``) its offload option
ranges over the split points too (:func:`split_offload_candidates`): every split s < L of the
UD's network, at each candidate power and at f ∈ {its best whole-task local f, f_max} for the
local units 1..s, with τ^a = C^r(s)/f_s + max(C^l(s)/f + β(s)/v, τ^q) and e = κ C^l(s) f² +
p β(s)/v; a split with local units only while the UD's CPU is idle (the environment's rule).
Its x^u then names the chosen split, the ES stores the activation β(s) (the approvals count
it against D_m), a waiting UD requests s = 0 and is refused, a local run sends x^u = 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mec_env import physics
from mec_env.policies import (
    POLICIES,
    Greedy,
    SlotView,
    _set_shares,
    best_local_frequency,
    best_offload_power,
)
from mec_env.sim import dnn
from mec_env.sim.params import EnvConfig

#: the default trade-off weight V (tasks per cost unit): the best of the sweep in
#: benchmarks/results/dpp_v_sweep.txt over the queue presets
DEFAULT_V = 0.3
#: the default battery weight ω (tasks): an empty battery prices a mean local run at ω tasks
DEFAULT_BATTERY_WEIGHT = 2.0
#: log-grid points of the power and frequency searches
GRID_POINTS = 12
#: an option's energy must stay below this share of the battery under ``battery_hard`` (the
#: environment decodes float32 actions, so the exact edge is avoided)
_BATTERY_MARGIN = 0.999


@dataclass(frozen=True)
class Option:
    """One option per UD (arrays (N,)): its control (p in W or f in Hz), cost C (cost units,
    timeout penalty included), energy e (J) and score (+∞ where unavailable)."""

    control: np.ndarray
    cost: np.ndarray
    energy: np.ndarray
    score: np.ndarray


def es_backlog_s(es_free_s: np.ndarray, server: np.ndarray) -> np.ndarray:
    """τ^q (N,), s: when the earliest CPU of each UD's matched ES frees (0 if unmatched);
    ``es_free_s`` (M, U) s until each CPU is idle (``inf`` for CPUs it does not have)."""
    earliest = np.min(es_free_s, axis=1)
    return np.where(server >= 0, earliest[np.maximum(server, 0)], 0.0)


def energy_weight(cfg: EnvConfig, battery_j: np.ndarray, battery_weight: float) -> np.ndarray:
    """W_n (N,) in tasks per J: ω max(θ − b_n, 0) / (θ e_ref), θ = b_max with
    ``battery_hard`` else b_min, e_ref = κ β̄ c̄ f_min² (J), the energy of a mean task run
    locally at f_min."""
    theta = cfg.b_max_j if cfg.battery_hard else cfg.b_min_j
    work = float(np.mean(cfg.task_bits)) * float(np.mean(cfg.cycles_per_bit))
    e_ref = float(physics.local_energy(work, 1.0, cfg.f_min_hz, cfg.kappa))
    if theta <= 0 or e_ref <= 0:
        return np.zeros(np.shape(battery_j))
    return battery_weight * np.maximum(theta - battery_j, 0.0) / (theta * e_ref)


def drop_risk(cfg: EnvConfig, remaining_s: np.ndarray) -> np.ndarray:
    """r_n (N,) in [0, 1]: 1 when the remaining deadline (s) is at most Δ (waiting drops the
    task at the next slot's start), 0 from 2Δ on, linear between."""
    return np.clip((2.0 * cfg.slot_s - remaining_s) / cfg.slot_s, 0.0, 1.0)


def _pick(
    cands: np.ndarray,
    cost: np.ndarray,
    energy: np.ndarray,
    v: float,
    w: np.ndarray,
    battery: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The candidate (column) minimising V·C + W·e per UD, the unaffordable ones (energy
    above the battery, when ``battery`` is given) excluded; returns ``(control, cost,
    energy, value)``, each (N,), value +∞ where no candidate is affordable."""
    value = v * cost + w[:, None] * energy
    if battery is not None:
        value = np.where(energy <= _BATTERY_MARGIN * battery[:, None], value, np.inf)
    best = np.argmin(value, axis=1)[:, None]

    def take(x: np.ndarray) -> np.ndarray:
        return np.take_along_axis(x, best, axis=1)[:, 0]

    return take(cands), take(cost), take(energy), take(value)


def offload_candidates(
    cfg: EnvConfig, view: SlotView, backlog_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate powers (N, C) in W and their offload cost (ρ1 τ^a + ρ2 e^o + ρ1 max(τ^a −
    φ, 0), τ^a = τ^p + max(τ^o, τ^q)) and energy e^o (J) at each UD's matched ES (server 0
    for an unmatched UD: meaningless there)."""
    s, server = view.current_slot, view.server
    n = cfg.n_uds
    srv = np.maximum(server, 0)
    g = s.gain_to(srv)
    bw = cfg.subchannel_bw_hz[srv]
    p_opt, _ = best_offload_power(
        cfg, s.bits, s.cycles_per_bit, s.deadline_s, s.gain, server, s.near
    )
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        exponent = np.where(backlog_s > 0, s.bits / (bw * backlog_s), np.inf)
        p_jit = np.expm1(np.minimum(exponent, 1000.0) * np.log(2.0)) / g
    grid = np.geomspace(cfg.p_min_w, cfg.p_max_w, GRID_POINTS)
    cands = np.column_stack([p_opt, np.nan_to_num(p_jit, posinf=cfg.p_max_w), *[
        np.full(n, p) for p in grid]])  # fmt: skip
    cands = np.clip(cands, cfg.p_min_w, cfg.p_max_w)
    tau_o = physics.upload_delay(
        s.bits[:, None], physics.uplink_rate(bw[:, None], cands, g[:, None])
    )
    tau_p = physics.processing_delay(s.bits, s.cycles_per_bit, cfg.f_server_hz[srv])
    delay = tau_p[:, None] + np.maximum(tau_o, backlog_s[:, None])
    energy = physics.offload_energy(cands, tau_o)
    cost = physics.late_penalty_cost(
        cfg.rho_delay, cfg.rho_energy, delay, energy, s.deadline_s[:, None]
    )
    return cands, cost, energy


@dataclass(frozen=True)
class SplitChoice:
    """Per UD (arrays (N,)): the split s of its best offload option, the local f (Hz) of
    units 1..s, what its ES stores (bits) and the network's L."""

    split: np.ndarray
    f_hz: np.ndarray
    stored_bits: np.ndarray
    n_units: np.ndarray


def split_offload_candidates(
    cfg: EnvConfig, view: SlotView, backlog_s: np.ndarray, cpu_idle: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """With DNN split tasks, every (split s < L, power p, local f) of each UD at its matched
    ES: ``(index (N, C), cost (N, C), energy (N, C), decode)``; C = (L_max + 1)·P·2, cost
    +∞ where s ≥ L or, with a busy CPU, s > 0; ``decode`` gives (split, p, f) by index.
    Cost ρ1 τ^a + ρ2 e + ρ1 max(τ^a − φ, 0) with τ^a = C^r(s)/f_s + max(C^l(s)/f + β(s)/v,
    τ^q), e = κ C^l(s) f² + p β(s)/v (:func:`mec_env.sim.dnn.profile_costs`)."""
    s, server = view.current_slot, view.server
    n = cfg.n_uds
    plan = dnn.SplitPlan.for_config(cfg)
    net = plan.network_of(s.cycles_per_bit)
    n_units = plan.table.n_units[net]
    prof = plan.table.for_tasks(net)  # (N, S), padded with s = L
    srv = np.maximum(server, 0)
    p_opt, _ = best_offload_power(
        cfg, s.bits, s.cycles_per_bit, s.deadline_s, s.gain, server, s.near
    )
    f_opt, _ = best_local_frequency(cfg, s.bits, s.cycles_per_bit, s.deadline_s)
    grid = np.geomspace(cfg.p_min_w, cfg.p_max_w, GRID_POINTS)
    powers = np.column_stack([p_opt, *[np.full(n, p) for p in grid]])  # (N, P)
    freqs = np.column_stack([f_opt, np.full(n, cfg.f_max_hz)])  # (N, F)
    rate = physics.uplink_rate(cfg.subchannel_bw_hz[srv][:, None], powers, s.gain_to(srv)[:, None])
    parts = dnn.profile_costs(
        dnn.SplitProfile(*(a[:, :, None, None] for a in prof)),
        freqs[:, None, None, :],
        cfg.f_server_hz[srv][:, None, None, None],
        rate[:, None, :, None],
        powers[:, None, :, None],
        cfg.kappa,
    )  # fmt: skip  (N, S, P, F)
    arrival = parts.local_delay_s + parts.upload_delay_s
    delay = parts.remote_delay_s + np.maximum(arrival, backlog_s[:, None, None, None])
    energy = parts.local_energy_j + parts.upload_energy_j
    cost = physics.late_penalty_cost(
        cfg.rho_delay, cfg.rho_energy, delay, energy, s.deadline_s[:, None, None, None]
    )
    split = np.arange(prof.local_cycles.shape[1])[None, :, None, None]
    ok = (split < n_units[:, None, None, None]) & ((split == 0) | cpu_idle[:, None, None, None])
    cost = np.where(ok, cost, np.inf)
    shape = cost.shape
    index = np.broadcast_to(np.arange(np.prod(shape[1:])), (n, int(np.prod(shape[1:]))))
    energy = np.broadcast_to(energy, shape).reshape(n, -1)
    decode = (shape, powers, freqs, n_units, prof.upload_bits)
    return index, cost.reshape(n, -1), energy, decode


def _decode_split(decode: tuple, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, SplitChoice]:
    """(p (N,), f (N,), :class:`SplitChoice`) of each UD's chosen candidate ``index``."""
    shape, powers, freqs, n_units, upload_bits = decode
    split, pi, fi = np.unravel_index(index, shape[1:])
    rows = np.arange(index.size)
    stored = upload_bits[rows, split]
    return powers[rows, pi], freqs[rows, fi], SplitChoice(split, freqs[rows, fi], stored, n_units)


def local_candidates(
    cfg: EnvConfig, view: SlotView, behind: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate frequencies (N, C) in Hz and their local cost and energy (J): the cost is
    ρ1 τ^l + ρ2 e^l + ρ1 max(τ^l − φ, 0) + ρ1·behind·max(τ^l − Δ, 0), the last term the
    delay that a run longer than the slot Δ puts on the ``behind`` (N,) tasks queued after
    it. Candidates: :func:`best_local_frequency`'s f (first, so ties keep it), the stationary
    points ((1 + behind) ρ1 / (2 ρ2 κ))^(1/3) on time and ((2 + behind) ρ1 / (2 ρ2 κ))^(1/3)
    late of a run longer than Δ, βc/Δ (done within the slot), βc/φ (just in time) and a log
    grid on [f_min, f_max]: the objective is convex in f, so the stationary point of the
    piece it lies in is the optimum."""
    s = view.current_slot
    n = cfg.n_uds
    work = s.bits * s.cycles_per_bit
    f_opt, _ = best_local_frequency(cfg, s.bits, s.cycles_per_bit, s.deadline_s)
    grid = np.geomspace(cfg.f_min_hz, cfg.f_max_hz, GRID_POINTS)
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = cfg.rho_delay / (2.0 * cfg.rho_energy * cfg.kappa)
        blocked = [((k + behind) * weight) ** (1.0 / 3.0) for k in (1.0, 2.0)]
        fits = [work / cfg.slot_s, work / s.deadline_s]
    cands = np.column_stack([f_opt, *blocked, *fits, *[np.full(n, f) for f in grid]])
    cands = np.nan_to_num(cands, nan=cfg.f_max_hz, posinf=cfg.f_max_hz)
    cands = np.clip(cands, cfg.f_min_hz, cfg.f_max_hz)
    delay = physics.local_delay(work[:, None], 1.0, cands)
    energy = physics.local_energy(work[:, None], 1.0, cands, cfg.kappa)
    cost = physics.late_penalty_cost(
        cfg.rho_delay, cfg.rho_energy, delay, energy, s.deadline_s[:, None]
    ) + cfg.rho_delay * behind[:, None] * np.maximum(delay - cfg.slot_s, 0.0)
    return cands, cost, energy


class DriftPlusPenalty(Greedy):
    """The drift-plus-penalty rule of the module docstring, for the time-coupled model;
    ``greedy`` in the paper's slot model.

    ``v`` > 0 is V, the weight of the expected cost against the queue drift (tasks per cost
    unit, default :data:`DEFAULT_V`); ``battery_weight`` ω ≥ 0 the weight of the battery's
    energy queue (tasks, default :data:`DEFAULT_BATTERY_WEIGHT`). :attr:`last_choice` holds
    each UD's option of the last decision (0 offload, 1 local, 2 wait, −1 no task).
    """

    OFFLOAD, LOCAL, WAIT = 0, 1, 2

    def __init__(
        self,
        env: Any = None,
        seed: int | None = None,
        *,
        config: EnvConfig | None = None,
        v: float = DEFAULT_V,
        battery_weight: float = DEFAULT_BATTERY_WEIGHT,
    ) -> None:
        super().__init__(env, seed, config=config)
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"drift_plus_penalty needs a finite V > 0, got v={v!r}")
        if not (np.isfinite(battery_weight) and battery_weight >= 0):
            raise ValueError(f"battery_weight must be finite and >= 0, got {battery_weight!r}")
        self.v = float(v)
        self.battery_weight = float(battery_weight)
        self.last_choice: np.ndarray | None = None
        self._split: SplitChoice | None = None  # with DNN split tasks, the last options'
        self._share = np.zeros(0)  # x^u of each UD with DNN split tasks (set by decide)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, v={self.v}, "
            f"battery_weight={self.battery_weight}, env_overrides={self.env_overrides})"
        )

    def options(self, view: SlotView) -> tuple[Option, Option, Option]:
        """The (offload, local, wait) :class:`Option` of every UD of ``view`` (with queues)."""
        cfg, s, q = view.config, view.current_slot, view.queues
        v = self.v
        last = q.t + 1 >= cfg.n_slots  # the episode's end drops what is still queued
        w = energy_weight(cfg, s.battery_j, 0.0 if last else self.battery_weight)
        battery = s.battery_j if cfg.battery_hard else None
        queue = q.length.astype(np.float64)
        backlog = es_backlog_s(q.es_free_s, view.server)
        self._split = None
        if cfg.split_tasks:  # the offload option ranges over the split points too
            cands = split_offload_candidates(cfg, view, backlog, q.local_busy_s <= 0.0)
            k, c_off, e_off, val_off = _pick(*cands[:3], v, w, battery)
            p, _, self._split = _decode_split(cands[3], k)
        else:
            p, c_off, e_off, val_off = _pick(*offload_candidates(cfg, view, backlog), v, w, battery)
        val_off = np.where(view.server >= 0, val_off, np.inf)
        behind = np.maximum(queue - 1.0, 0.0)
        f, c_loc, e_loc, val_loc = _pick(*local_candidates(cfg, view, behind), v, w, battery)
        val_loc = np.where(q.local_busy_s <= 0.0, val_loc, np.inf)
        serving = np.minimum(np.where(np.isfinite(val_off), c_off, np.inf),
                             np.where(np.isfinite(val_loc), c_loc, np.inf))  # fmt: skip
        ref = np.where(np.isfinite(serving), serving, 0.0)
        # every score less V·ref (the same for a UD's three options): exact ties across UDs
        off = Option(p, c_off, e_off, val_off - v * ref - queue)
        loc = Option(f, c_loc, e_loc, val_loc - v * ref - queue)
        risk = np.ones(cfg.n_uds) if last else drop_risk(cfg, s.deadline_s)
        zero = np.zeros(cfg.n_uds)
        c_wait = cfg.rho_delay * cfg.slot_s + ref
        wait = Option(zero, c_wait, zero, v * (cfg.rho_delay * cfg.slot_s + cfg.drop_cost * risk))
        return off, loc, wait

    def decide(self, base: SlotView):
        if base.queues is None:  # the paper's slot model: every task is served now
            return super().decide(base)
        cfg = base.config
        off, loc, wait = self.options(base)
        has = np.asarray(base.queues.has_task, bool)
        choice = np.argmin(np.stack([off.score, loc.score, wait.score]), axis=0)
        fallback = np.where(loc.score < wait.score, self.LOCAL, self.WAIT)
        wants = has & (choice == self.OFFLOAD)
        gain = np.minimum(loc.score, wait.score) - off.score
        split = self._split
        stored = None if split is None else split.stored_bits
        approve = self._approvals(base, wants, gain, loc.cost - off.cost, stored)
        if base.es_agent_names:  # a candidate the ES leaves out takes its best other option
            choice = np.where(wants & ~approve, fallback, choice)
        choice = np.where(has, choice, -1)
        self.last_choice = choice
        request = has & (base.server >= 0) & ((choice == self.OFFLOAD) | (choice == self.WAIT))
        f_hz = loc.control
        if split is not None:  # x^u names the split (set by act); a wait requests s = 0
            offload = choice == self.OFFLOAD
            f_hz = np.where(offload, split.f_hz, loc.control)
            whole = dnn.offload_share_for_split(np.zeros_like(split.split), split.n_units)
            share = dnn.offload_share_for_split(split.split, split.n_units)
            self._share = np.where(offload, share, np.where(request, whole, 0.0))
        return request, f_hz, np.where(off.control > 0, off.control, cfg.p_min_w), approve

    def act(self, view: SlotView) -> dict[str, np.ndarray]:
        actions = super().act(view)
        if view.config.split_tasks and view.queues is not None and actions:
            _set_shares(view, actions, self._share)
        return actions

    @staticmethod
    def _approvals(
        base: SlotView,
        wants: np.ndarray,
        gain: np.ndarray,
        saving: np.ndarray,
        stored_bits: np.ndarray | None = None,
    ) -> np.ndarray:
        """Per ES, the candidates ``wants`` in descending ``gain`` (ties: descending
        ``saving``, greedy's order, then UD index) while they fit in K subchannels and D_m
        bits, each storing ``stored_bits`` (default its task's β); (N,) bool."""
        cfg, s = base.config, base.current_slot
        bits = s.bits if stored_bits is None else stored_bits
        approve = np.zeros(cfg.n_uds, bool)
        idx = np.flatnonzero(wants)
        if idx.size:
            ok = physics.admit_within_capacity(
                -gain[idx], base.server[idx], bits[idx], cfg.subchannels, cfg.storage_bits,
                tiebreak=-saving[idx],
            )  # fmt: skip
            approve[idx[ok]] = True
        return approve


POLICIES.register(
    "drift_plus_penalty",
    DriftPlusPenalty,
    env_overrides={"es_agents": True},
    params={"v": DEFAULT_V, "battery_weight": DEFAULT_BATTERY_WEIGHT},
)

__all__ = [
    "DEFAULT_BATTERY_WEIGHT",
    "DEFAULT_V",
    "DriftPlusPenalty",
    "Option",
    "SplitChoice",
    "drop_risk",
    "energy_weight",
    "es_backlog_s",
    "local_candidates",
    "offload_candidates",
    "split_offload_candidates",
]

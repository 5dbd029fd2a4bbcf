"""The hindsight lower bound of the time-coupled model (:mod:`mec_env.sim.taskqueue`): the
exact optimum of a relaxation that knows the whole episode in advance, solved as a MILP with
``scipy.optimize.milp`` (HiGHS). ``hindsight_bound("queue_small", seed)`` bounds from below the
evaluation metric (the mean per UD-slot of ``last_step["cost"]``) of *every* policy on the
episode of env seed ``seed``: learned, heuristic or clairvoyant.

**The episode's exogenous randomness.** With a matcher that draws nothing (``co_selection``,
every preset's), the core draws ``rng.random(N·k)`` at reset and ``rng.random(N·(1 + k))`` at
each step whatever the actions, so the arrivals, each task's (β, c, φ) and every slot's gains
are a function of the seed alone. :func:`record_episode` steps a real :class:`BatchCore` on the
seed (every UD idle) and records each slot's :meth:`Scenario.draw_arrivals` output and gains;
``tests/test_bounds.py`` checks that other policies meet exactly these tasks and gains.

**The relaxation.** Task i (UD n_i, arrival slot a_i < T, deadline φ_i) expires at slot
e_i = the first s with (s − a_i)·Δ ≥ φ_i (the env's own float test). Binary x[i, s, o] = 1:
task i is dispatched in slot s, a_i ≤ s < min(e_i, T), by option o: a local run in
frequency interval k, or an offload to ES m. Its cost is c[i, s, o] = ρ1 ((s − a_i)Δ +
service) + ρ2 energy minimised over the option's controls. Local: ρ1 βc/f + ρ2 κβc f² is
convex in f with minimiser f* ((ρ1 / 2ρ2κ)^(1/3) clipped, :func:`best_local_frequency`);
[f*, f_max] is cut just below each βc/(jΔ), j ≥ 1 (at βc/(jΔ(1 + 1e-9))), where the number
of slots a run keeps the CPU busy changes, and interval [f_lo, f_hi] is one option with the
cost at f_lo (the cost rises above f*) and ``blocks`` b = :func:`busy_slots` of the run at
f_hi, its fastest (βc/f_hi shortened by 1e-12 relative): the env keeps the backlog
τ, max(τ − Δ, 0), ... (floats, as it computes them) and the UD cannot start a local run at a
slot whose backlog is > 0; b counts those slots. Offload to m at slot s's gain g, with an
idle ES, τ^p + min over p ∈ [p_min, p_max] of β (ρ1 + ρ2 p) / ((W/K_m) log2(1 + p g))
(:func:`offload_power`). A task never dispatched costs u_i = ``drop_cost`` (always: at
expiry if e_i ≤ T − 1, else in the last slot's flush). Minimise Σ_i u_i + Σ (c − u_i) x
subject to

- Σ_{s,o} x[i, s, o] ≤ 1 for each task (dispatched at most once);
- Σ_{i of n, o} x[i, s, o] ≤ 1 for each UD n and slot s (one dispatch per UD per slot);
- Σ_i x[i, s, m] ≤ K_m and Σ_i β_i x[i, s, m] ≤ D_m for each ES m and slot s (15i, 15j);
- Σ x[i, s', k] over UD n's local options with s' ≤ s ≤ s' + b[i, k] ≤ 1 for each UD n and
  slot s (at most one local run starts at s or keeps the CPU busy at s).

Relaxed: which ES the matcher offers (any m here), the FIFO order (any queued task, not just
the head), the exact local frequency within an interval (the cheapest f with the fewest
blocked slots), the ES CPU backlog and queueing, the queue capacity, the battery (and
``battery_hard``), the ES agents' or admission rule's approvals.

**Why it is a lower bound.** Take any policy's realised episode. Every task that arrived in
slots 0..T−1 either (a) was dispatched in a slot s, then it was queued (a_i ≤ s < e_i, and
s ≤ T − 1 as only slots 0..T−1 are stepped), s was its UD's only dispatch of that slot, and
if offloaded it was admitted at its matched ES m within K_m and D_m; its charged cost is
ρ1 (wait + service) + ρ2 energy at the played f or p, and the ES service τ^p + max(τ^o, CPU
free) ≥ τ^p + τ^o, so it is ≥ the offload option's cost; a local run at f ∈ [f_min, f_max]
(f = max(f_min, f^u f_max) ≤ f_max) takes option k with f ∈ [f_lo, f_hi] (option 0 if
f < f*), whose cost is ≤ the run's (f* minimises it; above f* it rises) and whose b is ≤ the
slots the run really blocks (βc/f ≥ βc/f_hi, float division and the backlog update
max(x − Δ, 0) are monotone, and the 1e-12 shortening absorbs the last ulp); set x = 1. Two
local starts s' < s of one UD with s ≤ s' + b' would mean the CPU was busy at s, so the
CPU rows hold. Or (b) it was never dispatched: dropped at a full queue on arrival, dropped
at expiry in slot e_i ≤ T − 1, or still queued after the last slot and flushed in the last
step (a task whose deadline reaches past T, or one that would expire when slot T is drawn):
each charged ``drop_cost`` = u_i once. Arrivals of slot T are drawn after the last step,
never charged, and not in the relaxation. So this x satisfies every constraint and its
objective is at most the realised total cost; the MILP optimum (HiGHS's dual bound, with a
zero gap) is at most that again. Divided by N·T it bounds the metric. The only slack beyond
the relaxation is floating-point rounding of the per-option minima (relative ~1e-15).

An ES CPU capacity row (the work offloaded cannot exceed what U_m CPUs finish) would not be
valid: in the env a late task still completes, charged its longer delay, so only a lower
bound on the queueing delay in the cost could use it; it is not modelled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from mec_env import physics
from mec_env.config import EnvConfig, make_config
from mec_env.sim.core import BatchCore

_POWER_STEPS = 200  # bisection steps on log p: the bracket shrinks far below float spacing
_SPLIT = 1e-9  # a frequency breakpoint sits this far (relative) below βc/(jΔ)
_SHORTER = 1.0 - 1e-12  # a local option's blocking run time, shortened for safety


@dataclass(frozen=True)
class EpisodeTasks:
    """The exogenous randomness of one episode of T slots: per task (I,) its ``ud``,
    ``arrival`` slot, ``bits``, ``cycles_per_bit`` and ``deadline_s`` (ordered by arrival,
    UD, then arrival order within the slot); ``gain`` (T, N, M) linear, slot by slot."""

    config: EnvConfig
    seed: int
    ud: np.ndarray
    arrival: np.ndarray
    bits: np.ndarray
    cycles_per_bit: np.ndarray
    deadline_s: np.ndarray
    gain: np.ndarray


@dataclass(frozen=True)
class Relaxation:
    """The MILP instance. Per variable (V,): ``task``, ``slot``, ``option`` (0 a local run,
    1 + m offload to ES m), ``cost`` c[i, s, o], ``blocks`` (a local option: how many slots
    after s its run surely keeps the UD's CPU busy; 0 for offloads) and ``f_hz`` (a local
    option: the frequency of its cost; NaN for offloads); per task (I,) ``undispatched`` u_i
    (``drop_cost``: an undispatched task is always charged) and ``expires`` (e_i ≤ T − 1:
    left undispatched it is dropped at expiry, else flushed at the episode's end)."""

    episode: EpisodeTasks
    task: np.ndarray
    slot: np.ndarray
    option: np.ndarray
    cost: np.ndarray
    blocks: np.ndarray
    f_hz: np.ndarray
    undispatched: np.ndarray
    expires: np.ndarray


@dataclass(frozen=True)
class HindsightBound:
    """``bound``: the lower bound on the episode's mean cost per UD-slot (``total`` / N·T);
    ``primal``: the cost per UD-slot of the best relaxed assignment found (= ``bound`` up to
    HiGHS's tolerances when ``optimal``); ``status`` HiGHS's message; the MILP's size
    (``n_tasks``, ``n_vars`` binaries, ``n_constraints`` rows) and ``solve_s`` seconds; in
    the optimum, ``n_dropped`` tasks are left to expire before T and ``n_flushed`` are left
    queued at the end (their deadline reaches past T), each costing ``drop_cost``."""

    seed: int
    bound: float
    total: float
    primal: float
    status: str
    optimal: bool
    n_tasks: int
    n_vars: int
    n_constraints: int
    solve_s: float
    n_dropped: int = 0
    n_flushed: int = 0


def _as_config(preset_or_config: str | EnvConfig, overrides: dict) -> EnvConfig:
    if isinstance(preset_or_config, EnvConfig):
        if overrides:
            raise ValueError("overrides go with a preset name, not with an EnvConfig")
        cfg = preset_or_config
    else:
        cfg = make_config(preset_or_config, **overrides)
    if not cfg.queued:
        raise ValueError("the hindsight bound is for the time-coupled model (queue_capacity >= 1)")
    if cfg.split_tasks:
        raise ValueError(
            "the hindsight bound offloads whole tasks: it is no bound with DNN split points"
            " (task_model 'dnn')"
        )
    if cfg.nearest_servers is not None:
        raise ValueError(
            "the hindsight bound reads every UD's gain to every ES: set nearest_servers None"
        )
    return cfg


def record_episode(cfg: EnvConfig, seed: int) -> EpisodeTasks:
    """Step a one-copy :class:`BatchCore` on ``seed`` for T slots with every UD idle (no
    request, f_min) and record each slot's arrivals and gains (see the module docstring)."""
    core = BatchCore(cfg, 1)
    core.seed([seed])
    draws: list[tuple] = []
    draw = core.scenario.draw_arrivals

    def recording(u, phase, rows=None):
        got = draw(u, phase, rows)
        draws.append((got[0].copy(), tuple(x.copy() for x in got[2])))
        return got

    core.scenario.draw_arrivals = recording  # this core's own scenario only
    core.reset()
    gains = []
    idle = np.zeros((1, cfg.n_uds, 3))
    for _ in range(cfg.n_slots):
        gains.append(core.gain[0].copy())
        core.step(idle, None)
    rows = []  # (arrival, ud, bits, cycles per bit, deadline)
    for t, (counts, (bits, cpb, dl)) in enumerate(draws[: cfg.n_slots]):
        for n in range(cfg.n_uds):
            rows += [(t, n, bits[0, n, j], cpb[0, n, j], dl[0, n, j]) for j in range(counts[0, n])]
    table = np.array(rows, dtype=np.float64).reshape(-1, 5)
    return EpisodeTasks(cfg, int(seed), table[:, 1].astype(np.int64),
                        table[:, 0].astype(np.int64), table[:, 2], table[:, 3], table[:, 4],
                        np.array(gains))  # fmt: skip


def offload_power(cfg: EnvConfig, gain) -> np.ndarray:
    """The p ∈ [p_min, p_max] minimising the offload *cost* (no timeout penalty) with an idle
    ES, ρ1 (τ^o + τ^p) + ρ2 p τ^o, τ^o = β / ((W/K) log2(1 + p g)); it does not depend on β
    or c. That is minimising (ρ1 + ρ2 p) / log2(1 + p g), quasiconvex (affine over concave):
    its derivative has the sign of F(p) = ρ2 (1 + pg) ln(1 + pg) − g (ρ1 + ρ2 p), increasing
    (F' = ρ2 g ln(1 + pg) ≥ 0) with F(0) = −g ρ1 < 0, so the minimiser is F's root clipped to
    the bounds, found by bisection on log p (the on-time piece of
    :func:`mec_env.policies.best_offload_power`). ``gain`` linear; W/K only scales the
    objective, so the minimiser depends on g alone."""
    rho1, rho2 = cfg.rho_delay, cfg.rho_energy
    g = np.asarray(gain, dtype=np.float64)
    lo = np.full(g.shape, np.log(cfg.p_min_w))
    hi = np.full(g.shape, np.log(cfg.p_max_w))
    for _ in range(_POWER_STEPS):
        mid = 0.5 * (lo + hi)
        pg = np.exp(mid) * g
        rising = rho2 * (1.0 + pg) * np.log1p(pg) - g * (rho1 + rho2 * np.exp(mid)) > 0
        hi = np.where(rising, mid, hi)
        lo = np.where(rising, lo, mid)
    return np.clip(np.exp(0.5 * (lo + hi)), cfg.p_min_w, cfg.p_max_w)


def offload_cost(cfg: EnvConfig, bits, cycles_per_bit, wait_s, gain, server) -> np.ndarray:
    """min over p of ρ1 (wait + τ^o + τ^p) + ρ2 p τ^o at ES ``server`` with an idle CPU (the
    best of :func:`offload_power`, p_min and p_max, each as the env computes it)."""
    bw = cfg.subchannel_bw_hz[server]
    tau_p = physics.processing_delay(bits, cycles_per_bit, cfg.f_server_hz[server])
    best = np.full(np.shape(bits), np.inf)
    for p in (offload_power(cfg, gain), cfg.p_min_w, cfg.p_max_w):
        tau_o = physics.upload_delay(bits, physics.uplink_rate(bw, p, gain))
        energy = physics.offload_energy(p, tau_o)
        best = np.minimum(best, physics.cost(cfg.rho_delay, cfg.rho_energy,
                                             wait_s + (tau_o + tau_p), energy))  # fmt: skip
    return best


def local_cost_at(cfg: EnvConfig, bits, cycles_per_bit, wait_s, f_hz) -> np.ndarray:
    """ρ1 (wait + βc/f) + ρ2 κβc f² at ``f_hz``, as the env computes it."""
    delay = wait_s + physics.local_delay(bits, cycles_per_bit, f_hz)
    energy = physics.local_energy(bits, cycles_per_bit, f_hz, cfg.kappa)
    return physics.cost(cfg.rho_delay, cfg.rho_energy, delay, energy)


def best_local_frequency(cfg: EnvConfig, bits, cycles_per_bit) -> np.ndarray:
    """f*: the f ∈ [f_min, f_max] minimising ρ1 βc/f + ρ2 κβc f² (the stationary point
    (ρ1 / 2ρ2κ)^(1/3) clipped, :func:`mec_env.physics.best_local` with no deadline)."""
    f, _ = physics.best_local(bits, cycles_per_bit, np.full(np.shape(bits), np.inf),
                              cfg.rho_delay, cfg.rho_energy, cfg.kappa, cfg.f_min_hz,
                              cfg.f_max_hz)  # fmt: skip
    return f


def local_cost(cfg: EnvConfig, bits, cycles_per_bit, wait_s) -> np.ndarray:
    """min over f ∈ [f_min, f_max] of ρ1 (wait + βc/f) + ρ2 κβc f² (no timeout penalty)."""
    return local_cost_at(cfg, bits, cycles_per_bit, wait_s,
                         best_local_frequency(cfg, bits, cycles_per_bit))  # fmt: skip


def busy_slots(cfg: EnvConfig, run_s) -> np.ndarray:
    """How many slots after its start a local run of ``run_s`` s keeps the UD's CPU busy, by
    the env's rule: the backlog starts at the run time, loses Δ (floored at 0) at each slot's
    end, and a slot starting with a backlog > 0 cannot start a local run."""
    busy = np.array(run_s, dtype=np.float64)
    count = np.zeros(busy.shape, dtype=np.int64)
    while np.any(busy > 0.0):
        busy = np.maximum(busy - cfg.slot_s, 0.0)
        count += busy > 0.0
    return count


def local_options(cfg: EnvConfig, bits, cycles_per_bit):
    """Each task's local options: ``(task, f_lo, f_hi, blocks)`` (L,). The frequencies from
    f* to f_max are cut just below each βc/(jΔ), where the number of slots a run blocks
    changes; option [f_lo, f_hi] costs its minimum, at f_lo (the cost rises above f*), and
    blocks ``busy_slots`` of the run at f_hi (its fastest), shortened by ``_SHORTER``."""
    work = np.asarray(bits) * cycles_per_bit
    f_best = best_local_frequency(cfg, bits, cycles_per_bit)
    rows = []
    for i in range(work.size):
        j = np.arange(1, int(work[i] / (f_best[i] * cfg.slot_s)) + 2)
        cuts = work[i] / (j * cfg.slot_s * (1.0 + _SPLIT))
        cuts = np.sort(cuts[(cuts > f_best[i]) & (cuts < cfg.f_max_hz)])
        grid = np.concatenate([[f_best[i]], cuts, [cfg.f_max_hz]])
        rows += [(i, lo, hi) for lo, hi in zip(grid[:-1], grid[1:], strict=True)]
    task = np.array([r[0] for r in rows], dtype=np.int64)
    f_lo, f_hi = (np.array([r[k] for r in rows], dtype=np.float64) for k in (1, 2))
    run_s = physics.local_delay(np.asarray(bits)[task], np.asarray(cycles_per_bit)[task], f_hi)
    return task, f_lo, f_hi, busy_slots(cfg, run_s * _SHORTER)


def expiry_slot(ep: EpisodeTasks) -> np.ndarray:
    """e_i: the first slot whose age (s − a_i)·Δ, computed as the env does, reaches φ_i."""
    cfg = ep.config
    ages = np.arange(int(np.ceil(cfg.deadline_s[1] / cfg.slot_s)) + 3) * cfg.slot_s
    return ep.arrival + np.argmax(ages[None, :] >= ep.deadline_s[:, None], axis=1)


def _pairs(ep: EpisodeTasks):
    """``(task, slot)`` (P,): every slot a_i ≤ s < min(e_i, T) task i may be dispatched in."""
    expiry = expiry_slot(ep)
    pairs = [(i, s) for i in range(ep.ud.size)
             for s in range(ep.arrival[i], min(expiry[i], ep.config.n_slots))]  # fmt: skip
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    task, slot = (np.array(x, dtype=np.int64) for x in zip(*pairs, strict=True))
    return task, slot


def _local_variables(ep: EpisodeTasks, task, slot):
    """``(task, slot, cost, blocks, f_hz)`` of the local variables: one per pair and local
    option of its task (:func:`local_options`)."""
    cfg = ep.config
    opt_task, f_lo, _, blocks = local_options(cfg, ep.bits, ep.cycles_per_bit)
    n_opt = np.bincount(opt_task, minlength=ep.ud.size)
    reps = n_opt[task]
    pair = np.repeat(np.arange(task.size), reps)
    within = np.arange(pair.size) - np.repeat(np.cumsum(reps) - reps, reps)
    opt = (np.cumsum(n_opt) - n_opt)[task[pair]] + within
    t, s = task[pair], slot[pair]
    wait = (s - ep.arrival[t]) * cfg.slot_s
    cost = local_cost_at(cfg, ep.bits[t], ep.cycles_per_bit[t], wait, f_lo[opt])
    return t, s, cost, blocks[opt], f_lo[opt]


def build_relaxation(ep: EpisodeTasks) -> Relaxation:
    """The MILP instance of ``ep`` (the module docstring's relaxation)."""
    cfg = ep.config
    m = cfg.n_servers
    task, slot = _pairs(ep)
    l_task, l_slot, l_cost, l_blocks, l_f = _local_variables(ep, task, slot)
    wait = (slot - ep.arrival[task]) * cfg.slot_s
    bits, cpb = ep.bits[task], ep.cycles_per_bit[task]
    off_cost = [offload_cost(cfg, bits, cpb, wait, ep.gain[slot, ep.ud[task], es], es)
                for es in range(m)]  # fmt: skip
    n_off = task.size * m
    es_option = np.tile(np.arange(1, m + 1), task.size)
    return Relaxation(
        ep, np.concatenate([l_task, np.repeat(task, m)]),
        np.concatenate([l_slot, np.repeat(slot, m)]),
        np.concatenate([np.zeros(l_task.size, dtype=np.int64), es_option]),
        np.concatenate([l_cost, np.stack(off_cost, axis=1).ravel() if m else np.zeros(0)]),
        np.concatenate([l_blocks, np.zeros(n_off, dtype=np.int64)]),
        np.concatenate([l_f, np.full(n_off, np.nan)]),
        np.full(ep.ud.size, cfg.drop_cost), expiry_slot(ep) <= cfg.n_slots - 1,
    )  # fmt: skip


def constraint_rows(rel: Relaxation):
    """``(A, ub)``: the constraints A x ≤ ub as a sparse matrix, rows: per task, per
    (UD, slot) dispatches, per (ES, slot) subchannels K_m, per (ES, slot) storage D_m, per
    (UD, slot) local runs keeping the CPU busy or starting."""
    from scipy.sparse import coo_array

    ep, cfg = rel.episode, rel.episode.config
    n_tasks, t_end, n, m = ep.ud.size, cfg.n_slots, cfg.n_uds, cfg.n_servers
    v = np.arange(rel.task.size)
    off = rel.option > 0
    es_row = (rel.option[off] - 1) * t_end + rel.slot[off]
    ud_row = ep.ud[rel.task] * t_end + rel.slot
    base_ud, base_k = n_tasks, n_tasks + n * t_end
    base_d = base_k + m * t_end
    base_cpu = base_d + m * t_end
    loc = np.flatnonzero(~off)
    span = rel.blocks[loc] + 1  # the start slot and the slots it keeps busy
    cpu_var = np.repeat(loc, span)
    ahead = np.arange(cpu_var.size) - np.repeat(np.cumsum(span) - span, span)
    inside = rel.slot[cpu_var] + ahead < t_end
    cpu_var, ahead = cpu_var[inside], ahead[inside]
    rows = np.concatenate([rel.task, base_ud + ud_row, base_k + es_row, base_d + es_row,
                           base_cpu + ud_row[cpu_var] + ahead])  # fmt: skip
    cols = np.concatenate([v, v, v[off], v[off], cpu_var])
    vals = np.concatenate([np.ones(2 * v.size + off.sum()), ep.bits[rel.task[off]],
                           np.ones(cpu_var.size)])  # fmt: skip
    ub = np.concatenate([np.ones(n_tasks + n * t_end), np.repeat(cfg.subchannels, t_end),
                         np.repeat(cfg.storage_bits, t_end), np.ones(n * t_end)])  # fmt: skip
    a = coo_array((vals, (rows, cols)), shape=(ub.size, v.size)).tocsr()
    return a, ub.astype(np.float64)


def _milp(rel: Relaxation, time_limit_s: float):
    """``(dual bound, primal objective, chosen (V,) bool, message, optimal)`` of the MILP
    without its constant Σ u_i."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    if rel.task.size == 0:
        return 0.0, 0.0, np.zeros(0, dtype=bool), "nothing to dispatch", True
    a, ub = constraint_rows(rel)
    c = rel.cost - rel.undispatched[rel.task]
    res = milp(c, integrality=np.ones(c.size), bounds=Bounds(0.0, 1.0),
               constraints=LinearConstraint(a, -np.inf, ub),
               options={"mip_rel_gap": 0.0, "time_limit": time_limit_s})  # fmt: skip
    primal = float(res.fun) if res.fun is not None else np.inf
    dual = getattr(res, "mip_dual_bound", None)
    dual = min(float(dual), primal) if dual is not None else primal
    chosen = res.x > 0.5 if res.x is not None else np.zeros(c.size, dtype=bool)
    return dual, primal, chosen, str(res.message), res.status == 0


def solve_relaxation(rel: Relaxation, time_limit_s: float = 600.0) -> HindsightBound:
    """Solve ``rel`` exactly (HiGHS, zero gap); the bound is HiGHS's dual bound."""
    ep, cfg = rel.episode, rel.episode.config
    start = time.perf_counter()
    dual, primal, chosen, status, optimal = _milp(rel, time_limit_s)
    solve_s = time.perf_counter() - start
    constant = float(rel.undispatched.sum())
    scale = cfg.n_uds * cfg.n_slots
    waiting = np.ones(ep.ud.size, dtype=bool)
    waiting[rel.task[chosen]] = False
    n_rows = ep.ud.size + 2 * (cfg.n_uds + cfg.n_servers) * cfg.n_slots
    return HindsightBound(
        seed=ep.seed, bound=(constant + dual) / scale, total=constant + dual,
        primal=(constant + primal) / scale, status=status, optimal=optimal,
        n_tasks=int(ep.ud.size), n_vars=int(rel.task.size), n_constraints=n_rows,
        solve_s=solve_s, n_dropped=int((waiting & rel.expires).sum()),
        n_flushed=int((waiting & ~rel.expires).sum()),
    )  # fmt: skip


def hindsight_bound(preset_or_config: str | EnvConfig, seed: int, **overrides) -> HindsightBound:
    """The hindsight lower bound on the mean cost per UD-slot of any policy in the episode of
    env seed ``seed`` (``env.reset(seed=seed)``) of a time-coupled config: a preset name with
    ``overrides``, or an :class:`EnvConfig`. See the module docstring."""
    cfg = _as_config(preset_or_config, overrides)
    return solve_relaxation(build_relaxation(record_episode(cfg, seed)))


__all__ = [
    "EpisodeTasks",
    "HindsightBound",
    "Relaxation",
    "best_local_frequency",
    "build_relaxation",
    "busy_slots",
    "constraint_rows",
    "expiry_slot",
    "hindsight_bound",
    "local_cost",
    "local_cost_at",
    "local_options",
    "offload_cost",
    "offload_power",
    "record_episode",
    "solve_relaxation",
]

"""The MEC physics as pure, vectorised functions (docs/environment.md, The model).

Every function works elementwise over numpy arrays with any leading batch axes, in SI units:
bits, cycles/bit, seconds, hertz, watts (linear), joules, linear channel gains. Nothing here
draws random numbers or knows about agents; :mod:`mec_env.env` is the adapter that does.

Equation numbers are the paper's.
"""

from __future__ import annotations

import numpy as np

ArrayLike = np.ndarray | float


def local_delay(bits: ArrayLike, cycles_per_bit: ArrayLike, f_hz: ArrayLike) -> np.ndarray:
    """Eq. (3): τ^l = β c / f, in s (β in bits, f in Hz)."""
    return np.asarray(bits) * cycles_per_bit / f_hz


def local_energy(
    bits: ArrayLike, cycles_per_bit: ArrayLike, f_hz: ArrayLike, kappa: float
) -> np.ndarray:
    """Eq. (4): e^l = κ β c f², in J."""
    return kappa * np.asarray(bits) * cycles_per_bit * np.square(f_hz)


def uplink_rate(subchannel_bw_hz: ArrayLike, p_w: ArrayLike, gain: ArrayLike) -> np.ndarray:
    """Eq. (6): v = (W/K) log2(1 + p g), in bit/s (p in W, g linear, already h/σ², eq. 5)."""
    return np.asarray(subchannel_bw_hz) * np.log2(1.0 + np.asarray(p_w) * gain)


def upload_delay(bits: ArrayLike, rate_bps: ArrayLike) -> np.ndarray:
    """Eq. (7): τ^o = β / v, in s."""
    return np.asarray(bits) / rate_bps


def processing_delay(
    bits: ArrayLike, cycles_per_bit: ArrayLike, f_server_hz: ArrayLike
) -> np.ndarray:
    """Eq. (8): τ^p = β c / f_s, in s."""
    return np.asarray(bits) * cycles_per_bit / f_server_hz


def offload_energy(p_w: ArrayLike, upload_delay_s: ArrayLike) -> np.ndarray:
    """Eq. (10): e^o = p τ^o, in J. The ES's own energy is not counted."""
    return np.asarray(p_w) * upload_delay_s


def cost(
    rho_delay: float, rho_energy: float, delay_s: ArrayLike, energy_j: ArrayLike
) -> np.ndarray:
    """Eq. (14): C = ρ1 τ + ρ2 e (uncapped, also for timed-out tasks)."""
    return rho_delay * np.asarray(delay_s) + rho_energy * np.asarray(energy_j)


def penalty(
    rho_delay: float,
    rho_energy: float,
    deadline_s: ArrayLike,
    delay_s: ArrayLike,
    battery_next_j: ArrayLike,
    b_min_j: float,
) -> np.ndarray:
    """Eq. (25): P = ρ1 min(φ − τ, 0) + ρ2 min(b(t+1) − b_min, 0), always ≤ 0."""
    late = np.minimum(np.asarray(deadline_s) - delay_s, 0.0)
    low = np.minimum(np.asarray(battery_next_j) - b_min_j, 0.0)
    return rho_delay * late + rho_energy * low


def battery_update(
    battery_j: ArrayLike, energy_j: ArrayLike, harvest_j: ArrayLike, b_max_j: float
) -> np.ndarray:
    """Eq. (13): b(t+1) = min(max(b − e + d, 0), b_max), in J."""
    return np.minimum(np.maximum(np.asarray(battery_j) - energy_j + harvest_j, 0.0), b_max_j)


def reward(costs: np.ndarray, penalties: np.ndarray) -> np.ndarray:
    """Per-UD reward, **[decision]** r_n = −(1/N) Σ_k C_k + P_n over the last axis.

    The printed eq. (26), −(C̄ + P_n), would turn the (non-positive) penalty into a bonus.
    """
    return -np.mean(costs, axis=-1, keepdims=True) + penalties


def cost_optimal_f(
    rho_delay: float, rho_energy: float, kappa: float, f_min_hz: float, f_max_hz: float
) -> float:
    """The f minimising ρ1 βc/f + ρ2 κ βc f² (independent of βc): (ρ1/(2ρ2κ))^(1/3),
    clipped to [f_min, f_max], in Hz."""
    if rho_energy == 0:
        return float(f_max_hz)
    if rho_delay == 0:
        return float(f_min_hz)
    return float(
        np.clip((rho_delay / (2.0 * rho_energy * kappa)) ** (1.0 / 3.0), f_min_hz, f_max_hz)
    )


# --------------------------------------------------------------------------------------------
# Grouped sequential resources: the ES CPU queue and the admission capacity cut.
#
# Both are "walk the items of each group in a priority order". We sort all items once by
# (group, key, index) and loop over the *position within a group* (at most the largest group,
# bounded by K or z_max), vectorised over every group of every batch row at once: no Python
# loop over agents.
# --------------------------------------------------------------------------------------------


_INF_BITS = int(np.array(np.inf).view(np.int64))  # the largest bit pattern of a float ≤ inf


def group_order(group: np.ndarray, key: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """The items (I,) sorted by (``group``, ``key``, item index): ``order`` (I,) and
    ``group[order]``. ``group``: (I,) int in [0, n_groups); ``key``: (I,).

    Non-negative float64 keys (not −0.0, not NaN) order as their bit patterns, so one sort
    of int64 (group, the key's top bits, index) does it when no two items of a group share
    their top key bits; else a quicksort of the keys (a stable one if two items of one group
    tie), then a stable radix sort of the small group ids."""
    size = group.size
    idx_bits = max(size - 1, 1).bit_length()
    top_bits = 63 - idx_bits - max(n_groups - 1, 1).bit_length()
    fits = size > 1 and top_bits >= 32 and key.dtype == np.float64
    # as unsigned ints, negative floats (and −0.0) and NaN all lie above inf
    if fits and key.view(np.uint64).max() <= _INF_BITS:
        packed = np.left_shift(group, top_bits + idx_bits, dtype=np.int64)
        packed |= (key.view(np.int64) >> (63 - top_bits)) << idx_bits
        packed |= np.arange(size)
        packed.sort()
        head = packed >> idx_bits  # (group, top key bits)
        if not (head[1:] == head[:-1]).any():
            return packed & ((1 << idx_bits) - 1), packed >> (top_bits + idx_bits)
    wide = np.uint16 if n_groups < 1 << 16 else np.int64
    for kind in ("quicksort", "stable"):  # a stable sort of small ints is a radix sort
        order = np.argsort(key, kind=kind)
        order = order[np.argsort(group[order].astype(wide), kind="stable")]
        g_sorted = group[order]
        k_sorted = key[order]
        tie = (g_sorted[1:] == g_sorted[:-1]) & (k_sorted[1:] == k_sorted[:-1])
        if not (tie.any() or np.isnan(k_sorted[-1:]).any()):  # quicksort puts NaN last
            break
    return order, g_sorted


def group_table(
    group: np.ndarray, key: np.ndarray, n_groups: int, tiebreak: np.ndarray | None = None
) -> np.ndarray:
    """Item indices arranged per group in ascending ``(key, tiebreak)`` order.

    ``group``: (I,) int group id of each item in [0, n_groups); ``key``: (I,) sort key;
    ``tiebreak``: (I,) secondary key (default: the item index). Returns an int
    table of shape (n_groups, S) where S is the largest group size; row g
    lists group g's item indices in order, padded with −1.
    """
    n_items = group.shape[0]
    if n_items == 0:
        return np.full((n_groups, 0), -1, dtype=np.int64)
    if tiebreak is None or n_items == 1 or bool(np.all(tiebreak[1:] > tiebreak[:-1])):
        # items already in tiebreak order: by (group, key, index), as the lexsort below
        order, sorted_group = group_order(group, key, n_groups)
    else:
        order = np.lexsort((tiebreak, key, group))
        sorted_group = group[order]
    counts = np.bincount(sorted_group, minlength=n_groups)
    starts = np.cumsum(counts) - counts
    rank = np.arange(n_items) - starts[sorted_group]
    table = np.full((n_groups, int(counts.max())), -1, dtype=np.int64)
    table[sorted_group, rank] = order
    return table


def queue_finish_times(
    arrival_s: np.ndarray,
    processing_s: np.ndarray,
    group: np.ndarray,
    n_cpus: np.ndarray,
    tiebreak: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ES CPU queue, eq. (9) with the **[decision]** of docs/environment.md, decisions.

    Each group (one ES in one batch row) starts with all its ``n_cpus[g]`` CPUs free. Its
    items are served in order of arrival (ties by ``tiebreak``, the UD index, default the
    item index), each on the CPU that frees earliest. For each item returns
    ``(tau_q, tau_a)``: the free time of the CPU it gets (0 if one is idle) and its
    completion time τ^a = τ^p + max(τ^o, τ^q), both in s.

    ``arrival_s``, ``processing_s``, ``group``: (I,) flat item arrays (τ^o, τ^p, group id);
    ``n_cpus``: (G,) CPUs per group. The first min(U) items of every group find an idle CPU
    and are computed at once; only later positions are walked one at a time.
    """
    n_cpus = np.asarray(n_cpus)
    tau_q = np.zeros(arrival_s.shape, dtype=np.float64)
    tau_a = np.zeros(arrival_s.shape, dtype=np.float64)
    table = group_table(group, arrival_s, n_cpus.shape[0], tiebreak)
    if table.shape[1] == 0:
        return tau_q, tau_a
    valid = table >= 0
    idx = np.where(valid, table, 0)
    wait, done = queue_table(np.take(arrival_s, idx), np.take(processing_s, idx), valid, n_cpus)
    at = np.flatnonzero(valid)  # the table's items, one mask pass for the three reads
    items = np.take(table, at)
    tau_q[items] = np.take(wait, at)
    tau_a[items] = np.take(done, at)
    return tau_q, tau_a


def queue_table(
    arrival_s: np.ndarray, processing_s: np.ndarray, valid: np.ndarray, n_cpus: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The queue of :func:`queue_finish_times` on items already laid out per group.

    ``arrival_s``, ``processing_s``, ``valid``: (G, S) with each row's items in service order
    and padding (``valid`` False) only at the end of a row; ``n_cpus``: (G,). Returns
    ``(tau_q, tau_a)`` of shape (G, S) (values at padding are meaningless). The first min(U)
    positions find an idle CPU and are computed at once; later positions are walked.
    """
    done = arrival_s + processing_s
    wait = np.zeros(done.shape)
    width = done.shape[1]
    u0 = int(n_cpus.min())
    if width > u0:
        u_max = int(n_cpus.max())
        at = np.arange(done.shape[0]) * u_max  # flat index of each row's CPU 0
        free = np.where(np.arange(u_max) < n_cpus[:, None], 0.0, np.inf)
        free[:, :u0] = np.where(valid[:, :u0], done[:, :u0], 0.0)
        flat_free = free.reshape(-1)
        for s in range(u0, width):
            cpu = at + np.argmin(free, axis=1)
            q = flat_free[cpu]
            finish = processing_s[:, s] + np.maximum(arrival_s[:, s], q)
            flat_free[cpu] = np.where(valid[:, s], finish, q)
            done[:, s] = finish
            wait[:, s] = q
    return wait, done


def admit_within_capacity(
    priority: np.ndarray,
    group: np.ndarray,
    bits: np.ndarray,
    subchannels: np.ndarray,
    storage_bits: np.ndarray,
    tiebreak: np.ndarray | None = None,
) -> np.ndarray:
    """Constraints (15i) and (15j): walk each group's approved items in ascending priority
    (ties by ``tiebreak``, default the index) and admit each that still fits in K subchannels
    and D_m bits; an item that does not fit is skipped and later, smaller ones may still fit.

    ``priority``, ``group``, ``bits``: (I,) flat arrays of the *approved* requests;
    ``subchannels``, ``storage_bits``: (G,) per-group capacities. Returns a bool (I,) mask.
    """
    admitted = np.zeros(priority.shape, dtype=bool)
    table = group_table(group, priority, subchannels.shape[0], tiebreak)
    if table.shape[1] == 0:
        return admitted
    valid = table >= 0
    size = np.where(valid, np.take(bits, np.where(valid, table, 0)), 0.0)
    within_k = valid & (np.arange(table.shape[1]) < subchannels[:, None])
    fits = np.cumsum(size, axis=1) <= storage_bits[:, None]
    if not np.any(within_k & ~fits):  # no storage cut: the prefix rule is exact
        admitted[table[within_k]] = True
        return admitted
    used = np.zeros(subchannels.shape[0], dtype=np.int64)
    stored = np.zeros(subchannels.shape[0], dtype=np.float64)
    for s in range(table.shape[1]):
        ok = valid[:, s] & (used < subchannels) & (stored + size[:, s] <= storage_bits)
        admitted[table[ok, s]] = True
        used += ok
        stored += np.where(ok, size[:, s], 0.0)
    return admitted


def late_penalty_cost(
    rho_delay: float,
    rho_energy: float,
    delay_s: ArrayLike,
    energy_j: ArrayLike,
    deadline_s: ArrayLike,
) -> np.ndarray:
    """Cost plus the timeout part of the penalty: C + ρ1 max(τ − φ, 0), the quantity the
    heuristics minimise (the negative of a UD's own reward terms, ignoring the battery)."""
    delay_s = np.asarray(delay_s)
    return cost(rho_delay, rho_energy, delay_s, energy_j) + rho_delay * np.maximum(
        delay_s - deadline_s, 0.0
    )


def best_local(
    bits: ArrayLike,
    cycles_per_bit: ArrayLike,
    deadline_s: ArrayLike,
    rho_delay: float,
    rho_energy: float,
    kappa: float,
    f_min_hz: float,
    f_max_hz: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The local frequency minimising cost + timeout penalty, and that minimum.

    With A = ρ1βc and B = ρ2κβc the objective is A/f + Bf² when on time (f ≥ βc/φ) and
    2A/f + Bf² − ρ1φ when late, so the optimum is one of (A/2B)^(1/3), (A/B)^(1/3), βc/φ,
    f_min, f_max (each clipped to [f_min, f_max]). Returns ``(f_hz, objective)``.
    """
    work = np.asarray(bits, dtype=np.float64) * cycles_per_bit
    deadline_s = np.asarray(deadline_s, dtype=np.float64)
    if rho_energy > 0 and rho_delay > 0:
        f_on_time = (rho_delay / (2.0 * rho_energy * kappa)) ** (1.0 / 3.0)
        f_late = (rho_delay / (rho_energy * kappa)) ** (1.0 / 3.0)
    else:  # one weight is zero: the objective is monotone in f
        f_on_time = f_late = f_max_hz if rho_energy == 0 else f_min_hz
    on_time = np.full(work.shape, f_on_time)
    late = np.full(work.shape, f_late)
    just_in_time = work / deadline_s
    cands = np.stack(
        [on_time, late, just_in_time, np.full(work.shape, f_min_hz), np.full(work.shape, f_max_hz)],
        axis=-1,
    )
    cands = np.clip(cands, f_min_hz, f_max_hz)
    delay = work[..., None] / cands
    energy = kappa * work[..., None] * np.square(cands)
    obj = late_penalty_cost(rho_delay, rho_energy, delay, energy, deadline_s[..., None])
    best = np.argmin(obj, axis=-1)[..., None]
    return (
        np.take_along_axis(cands, best, axis=-1)[..., 0],
        np.take_along_axis(obj, best, axis=-1)[..., 0],
    )

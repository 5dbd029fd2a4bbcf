"""The ES CPU queue (eq. 9 with the **[decision]** of docs/environment.md, decision 4), written
once: a task's finish is :func:`finish_time`, τ^a = τ^p + max(τ^o, τ^q), on the CPU that frees
first. Every walker of a queue uses :func:`finish_time`.

Four walkers exist because each caller needs a different layout, and they sit here side by
side with agreement tests (``tests/env/test_sim_rules.py``; :func:`queue_carry` against
:func:`queue_finish_times` in ``tests/env/test_queues.py``):

- :func:`queue_table` (numpy, one row per group) and :func:`queue_finish_times` on flat items;
- :func:`queue_done` (numpy, position-major, the CPUs' free times kept sorted: the batched
  co-selection scorer);
- :func:`queue_carry` (numpy, CPUs that may still be busy from earlier slots: the
  time-coupled model, which also needs the CPUs' free times after the slot);
- the compiled backend's loops (:mod:`mec_env.sim._numba_kernels`: one queue at a time, each task
  on :func:`earliest_cpu`, a plain loop it compiles with ``numba.njit``, finishing at
  :func:`finish_time`).

Plus the grouped sort they share (:func:`group_order`, :func:`group_table`). SI units.
"""

from __future__ import annotations

import numpy as np


def finish_time(arrival_s, processing_s, cpu_free_s):
    """Eq. (9): τ^a = τ^p + max(τ^o, τ^q), a task's completion time on a CPU free at τ^q."""
    return processing_s + np.maximum(arrival_s, cpu_free_s)


def earliest_cpu(free, cpus):
    """The CPU among the first ``cpus`` of ``free`` that frees first (lowest index on ties)
    and its free time. A plain loop: the compiled backend's form."""
    cpu = 0
    q = free[0]
    for c in range(1, cpus):
        if free[c] < q:
            q = free[c]
            cpu = c
    return cpu, q


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
            finish = finish_time(arrival_s[:, s], processing_s[:, s], q)
            flat_free[cpu] = np.where(valid[:, s], finish, q)
            done[:, s] = finish
            wait[:, s] = q
    return wait, done


def queue_done(
    arrival_s: np.ndarray, processing_s: np.ndarray, valid: np.ndarray, n_cpus: np.ndarray
) -> np.ndarray:
    """Completion times τ^a of :func:`queue_table`, position-major.

    ``arrival_s``, ``processing_s``, ``valid``: (S, G): column g holds group g's items in
    service order, padding (``valid`` False) only at the end of a column; ``n_cpus``: (G,).
    Returns τ^a (S, G) (meaningless at padding), equal to ``queue_table``'s: the free times of
    each group's CPUs are kept sorted (the values, not which CPU, decide the times), so the
    CPU that frees first is row 0 and a task's finish is merged in by two whole-array ops.
    """
    return queue_done_into(np.array(arrival_s, dtype=np.float64), processing_s, valid, n_cpus)


def queue_done_into(
    done: np.ndarray, processing_s: np.ndarray, valid: np.ndarray, n_cpus: np.ndarray
) -> np.ndarray:
    """:func:`queue_done` with the arrivals given in ``done`` (S, G), overwritten by τ^a
    (each position is read before it is written); returns ``done``."""
    width = done.shape[0]
    u0 = int(n_cpus.min())
    if width <= u0:
        done += processing_s
        return done
    done[:u0] += processing_s[:u0]
    u_max = int(n_cpus.max())
    free = np.full((u_max + 1, done.shape[1]), np.inf)  # the last row stays inf
    free[:u0] = np.where(valid[:u0], done[:u0], 0.0)
    free[u0:u_max] = np.where(np.arange(u0, u_max)[:, None] < n_cpus, 0.0, np.inf)
    free[:u_max].sort(axis=0)
    head = free[:u_max]
    for s in range(u0, width):
        finish = done[s] = finish_time(done[s], processing_s[s], head[0])
        # drop the earliest free time (row 0), merge ``finish`` into the sorted rest
        merged = np.minimum(free[1:], finish)
        np.maximum(merged[1:], head[1:], out=head[1:])
        head[0] = merged[0]
    return done


def queue_carry(
    arrival_s: np.ndarray,
    processing_s: np.ndarray,
    group: np.ndarray,
    cpu_free_s: np.ndarray,
    tiebreak: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ES CPU queue of :func:`queue_finish_times` with CPUs that may still be busy.

    ``cpu_free_s`` (G, U): when each CPU of each group frees, in s from the slot's start (0:
    idle; ``inf`` for a CPU the group does not have). Items are served in order of arrival
    (ties by ``tiebreak``), each on the CPU that frees first (lowest index on ties), finishing
    at :func:`finish_time`. Returns ``(tau_a (I,), free (G, U))``: each item's completion
    time and the CPUs' free times after the slot's items. With every CPU idle it gives
    :func:`queue_finish_times`'s τ^a."""
    free = np.array(cpu_free_s, dtype=np.float64)
    done = np.zeros(arrival_s.shape, dtype=np.float64)
    table = group_table(group, arrival_s, free.shape[0], tiebreak)
    for s in range(table.shape[1]):
        items = table[:, s]
        groups = np.flatnonzero(items >= 0)
        items = items[groups]
        cpu = np.argmin(free[groups], axis=1)
        finish = finish_time(arrival_s[items], processing_s[items], free[groups, cpu])
        free[groups, cpu] = finish
        done[items] = finish
    return done, free

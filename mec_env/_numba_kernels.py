"""Compiled (numba) kernels of the batched core; imported only through :mod:`mec_env.fast`.

Each kernel loops over the B copies and does in compiled code what the numpy reference of
:mod:`mec_env.batched_matching` does with whole-array calls, on inputs the numpy code computed
(τ^o, τ^p, e^o, the gains), with the same operations in the same order: sums in service order,
the CPU that frees first (lowest index on ties), ties between proposers broken by UD index. So
the results are identical to the numpy reference (``tests/env/test_fast.py``). No fastmath.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _insert_sorted(mem_ud, mem_arr, length, ud, arr):
    """Insert (arr, ud) into the first ``length`` entries sorted by (arrival, UD index)."""
    k = length
    while k > 0 and (mem_arr[k - 1] > arr or (mem_arr[k - 1] == arr and mem_ud[k - 1] > ud)):
        mem_arr[k] = mem_arr[k - 1]
        mem_ud[k] = mem_ud[k - 1]
        k -= 1
    mem_arr[k] = arr
    mem_ud[k] = ud


@njit(cache=True)
def _queue_cost(
    mem_ud,
    mem_arr,
    length,
    tau_p_col,
    e_o_col,
    cpus,
    rho1,
    rho2,
    free,
    cand,
    cand_arr,
    cand_proc,
    cand_energy,
):
    """Σ (ρ1 τ^a + ρ2 e^o) over the queue of ``length`` members (service order) with the
    candidate ``cand`` inserted in its place (``cand`` < 0: members only), and the candidate's
    completion time τ^a (0 without one). Each task takes the CPU that frees first."""
    for c in range(cpus):
        free[c] = 0.0
    place = length
    if cand >= 0:
        place = 0
        while place < length and (
            mem_arr[place] < cand_arr or (mem_arr[place] == cand_arr and mem_ud[place] < cand)
        ):
            place += 1
    total = length + (1 if cand >= 0 else 0)
    acc = 0.0
    own = 0.0
    for k in range(total):
        if cand >= 0 and k == place:
            arr, proc, energy = cand_arr, cand_proc, cand_energy
        else:
            j = k if (cand < 0 or k < place) else k - 1
            ud = mem_ud[j]
            arr, proc, energy = mem_arr[j], tau_p_col[ud], e_o_col[ud]
        cpu = 0
        q = free[0]
        for c in range(1, cpus):
            if free[c] < q:
                q = free[c]
                cpu = c
        done = proc + (arr if arr > q else q)
        free[cpu] = done
        acc += rho1 * done + rho2 * energy
        if k == place:
            own = done
    return acc, own


@njit(cache=True)
def _accept(server, load, choice, prio, cand_list, n_cand, z_max, m):
    """Each server keeps its proposers in ascending (priority, UD index) up to its room."""
    for s in range(m):
        room = z_max[s] - load[s]
        if room <= 0:
            continue
        cnt = 0
        for i in range(n_cand):
            if choice[cand_list[i]] == s:
                cnt += 1
        if cnt == 0:
            continue
        props = np.empty(cnt, dtype=np.int64)
        keys = np.empty(cnt)
        j = 0
        for i in range(n_cand):
            u = cand_list[i]
            if choice[u] == s:
                props[j] = u
                keys[j] = prio[u]
                j += 1
        order = np.argsort(keys, kind="mergesort")  # stable: ties by UD index
        keep = min(room, cnt)
        for i in range(keep):
            server[props[order[i]]] = s
        load[s] += keep


@njit(cache=True)
def co_selection(tau_o, tau_p, e_o, alone_tau_a, alone_cost, z_max, n_cpus, rho1, rho2, prune_k):
    """Co-selection for B copies: (B, N, M) estimates at p_max in, server (B, N) out."""
    batch, n, m = tau_o.shape
    zcap = 0
    ucap = 1
    for s in range(m):
        zcap = max(zcap, z_max[s])
        ucap = max(ucap, n_cpus[s])
    out = np.full((batch, n), -1, dtype=np.int64)
    mem_ud = np.empty((m, zcap + 1), dtype=np.int64)
    mem_arr = np.empty((m, zcap + 1))
    free = np.empty(ucap)
    base = np.empty(m)
    lower = np.empty(m)
    scores = np.empty(m)
    own = np.empty(m)
    queued = np.zeros(m, dtype=np.bool_)
    is_open = np.zeros(m, dtype=np.bool_)
    choice = np.empty(n, dtype=np.int64)
    prio = np.empty(n)
    cand_list = np.empty(n, dtype=np.int64)
    for b in range(batch):
        server = out[b]
        load = np.zeros(m, dtype=np.int64)
        to, tp, eo = tau_o[b], tau_p[b], e_o[b]
        while True:
            n_cand = 0
            for u in range(n):
                if server[u] < 0:
                    cand_list[n_cand] = u
                    n_cand += 1
            n_open = 0
            any_queued = False
            for s in range(m):
                is_open[s] = load[s] < z_max[s]
                queued[s] = is_open[s] and load[s] + 1 > n_cpus[s]
                if is_open[s]:
                    n_open += 1
                    any_queued = any_queued or queued[s]
            if n_cand == 0 or n_open == 0:
                break
            # members of each open server in service order, and S(Z_m) with idle CPUs
            for s in range(m):
                if is_open[s]:
                    load_s = 0
                    for u in range(n):
                        if server[u] == s:
                            _insert_sorted(mem_ud[s], mem_arr[s], load_s, u, to[u, s])
                            load_s += 1
                    acc = 0.0
                    for k in range(load_s):
                        u = mem_ud[s, k]
                        acc += rho1 * (mem_arr[s, k] + tp[u, s]) + rho2 * eo[u, s]
                    base[s] = acc
            prune = n_open > prune_k and any_queued
            if prune:  # exact S(Z_m) of queued servers: the lower bounds
                for s in range(m):
                    if queued[s]:
                        lower[s], _ = _queue_cost(
                            mem_ud[s],
                            mem_arr[s],
                            load[s],
                            tp[:, s],
                            eo[:, s],
                            n_cpus[s],
                            rho1,
                            rho2,
                            free,
                            -1,
                            0.0,
                            0.0,
                            0.0,
                        )
            for i in range(n_cand):
                u = cand_list[i]
                best = np.inf
                for s in range(m):
                    scores[s] = np.inf
                    if is_open[s] and not queued[s]:
                        scores[s] = base[s] + alone_cost[b, u, s]
                        own[s] = alone_tau_a[b, u, s]
                        if scores[s] < best:
                            best = scores[s]
                if not prune:
                    for s in range(m):
                        if queued[s]:
                            scores[s], own[s] = _queue_cost(
                                mem_ud[s],
                                mem_arr[s],
                                load[s],
                                tp[:, s],
                                eo[:, s],
                                n_cpus[s],
                                rho1,
                                rho2,
                                free,
                                u,
                                to[u, s],
                                tp[u, s],
                                eo[u, s],
                            )
                else:
                    # exact scores in ascending lower bound while the bound can still win
                    n_q = 0
                    for s in range(m):
                        if queued[s]:
                            n_q += 1
                    qs = np.empty(n_q, dtype=np.int64)
                    lb = np.empty(n_q)
                    j = 0
                    for s in range(m):
                        if queued[s]:
                            qs[j] = s
                            lb[j] = lower[s] + alone_cost[b, u, s]
                            j += 1
                    order = np.argsort(lb, kind="mergesort")
                    for j in range(n_q):
                        s = qs[order[j]]
                        if lb[order[j]] > best:
                            break
                        scores[s], own[s] = _queue_cost(
                            mem_ud[s],
                            mem_arr[s],
                            load[s],
                            tp[:, s],
                            eo[:, s],
                            n_cpus[s],
                            rho1,
                            rho2,
                            free,
                            u,
                            to[u, s],
                            tp[u, s],
                            eo[u, s],
                        )
                        if scores[s] < best:
                            best = scores[s]
                col = -1
                low = np.inf
                for s in range(m):
                    if is_open[s] and (col < 0 or scores[s] < low):
                        col = s
                        low = scores[s]
                choice[u] = col
                prio[u] = own[col]
            _accept(server, load, choice, prio, cand_list, n_cand, z_max, m)
    return out


@njit(cache=True)
def max_gain(gain, rank, z_max):
    """Max-gain for B copies: gain (B, N, M), the per-copy random rank (B, N) of each UD."""
    batch, n, m = gain.shape
    out = np.full((batch, n), -1, dtype=np.int64)
    choice = np.empty(n, dtype=np.int64)
    cand_list = np.empty(n, dtype=np.int64)
    for b in range(batch):
        server = out[b]
        load = np.zeros(m, dtype=np.int64)
        while True:
            n_cand = 0
            for u in range(n):
                if server[u] < 0:
                    cand_list[n_cand] = u
                    n_cand += 1
            n_open = 0
            for s in range(m):
                if load[s] < z_max[s]:
                    n_open += 1
            if n_cand == 0 or n_open == 0:
                break
            for i in range(n_cand):
                u = cand_list[i]
                col = -1
                low = np.inf
                for s in range(m):
                    if load[s] < z_max[s] and (col < 0 or -gain[b, u, s] < low):
                        col = s
                        low = -gain[b, u, s]
                choice[u] = col
            _accept(server, load, choice, rank[b], cand_list, n_cand, z_max, m)
    return out

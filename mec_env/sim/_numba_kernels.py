"""Compiled (numba) kernels of the batched core: the compiled backend
(:class:`mec_env.sim.backend.CompiledBackend`); imported only through :mod:`mec_env.sim.fast`.

The physics is not written here: every formula is a rule of :mod:`mec_env.sim` (channel,
compute, battery, queue, capacity) compiled below with ``numba.njit`` for scalars, the same
function the numpy backend evaluates on arrays. The kernels are the loops: over the B copies,
over a server's queue, over the proposal rounds, doing what the numpy reference does with
whole-array calls, with the same operations in the same order: sums in service order, the CPU
that frees first (lowest index on ties), ties between proposers broken by UD index. Logarithms
and powers are numpy's, taken between kernels. So the results are identical to the numpy
reference (``tests/env/test_fast.py``). No fastmath.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mec_env.sim import battery, capacity, channel, compute, queue


def _rule(fn):
    """A rule of :mod:`mec_env.sim` compiled for scalars, inlined where it is called."""
    return njit(cache=True, inline="always")(fn)


_snr_term = _rule(channel.snr_term)
_rate_from_log2 = _rule(channel.rate_from_log2)
_upload_delay = _rule(channel.upload_delay)
_requests = _rule(compute.requests)
_local_frequency = _rule(compute.local_frequency)
_transmit_power = _rule(compute.transmit_power)
_local_delay = _rule(compute.local_delay)
_local_energy = _rule(compute.local_energy)
_processing_delay = _rule(compute.processing_delay)
_offload_energy = _rule(compute.offload_energy)
_cost = _rule(compute.cost)
_penalty = _rule(compute.penalty)
_battery_update = _rule(battery.battery_update)
_harvest_j = _rule(battery.harvest_j)
_finish_time = _rule(queue.finish_time)
_earliest_cpu = _rule(queue.earliest_cpu)
_fits = _rule(capacity.fits)


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
        cpu, q = _earliest_cpu(free, cpus)
        done = _finish_time(arr, proc, q)
        free[cpu] = done
        acc += _cost(rho1, rho2, done, energy)
        if k == place:
            own = done
    return acc, own


@njit(cache=True)
def _accept(server, load, choice, prio, cand_list, n_cand, z_max, m):
    """Each server keeps its proposers in ascending (priority, UD index) up to its room."""
    keys = np.empty(n_cand)
    for i in range(n_cand):
        keys[i] = prio[cand_list[i]]
    order = np.argsort(keys, kind="mergesort")  # stable: candidates are in UD order
    count = np.zeros(m + 1, dtype=np.int64)
    for i in range(n_cand):
        count[choice[cand_list[i]] + 1] += 1
    for s in range(m):  # bucket starts, then a stable counting sort by server
        count[s + 1] += count[s]
    placed = np.empty(n_cand, dtype=np.int64)
    for i in range(n_cand):
        u = cand_list[order[i]]
        s = choice[u]
        placed[count[s]] = u
        count[s] += 1
    start = 0
    for s in range(m):  # count[s] is now the end of server s's bucket
        keep = min(max(z_max[s] - load[s], 0), count[s] - start)
        for i in range(start, start + keep):
            server[placed[i]] = s
        load[s] += keep
        start = count[s]


@njit(cache=True)
def _candidates(server, cand_list):
    """The unmatched UDs into ``cand_list``, in UD order; returns how many."""
    n_cand = 0
    for u in range(server.shape[0]):
        if server[u] < 0:
            cand_list[n_cand] = u
            n_cand += 1
    return n_cand


@njit(cache=True)
def _open_servers(load, z_max, n_cpus, is_open, queued):
    """Open servers (room left) and queued ones (a newcomer would wait for a CPU), in place;
    returns (number open, any queued)."""
    n_open = 0
    any_queued = False
    for s in range(load.shape[0]):
        is_open[s] = load[s] < z_max[s]
        queued[s] = is_open[s] and load[s] + 1 > n_cpus[s]
        if is_open[s]:
            n_open += 1
            any_queued = any_queued or queued[s]
    return n_open, any_queued


@njit(cache=True)
def _member_queues(server, is_open, est, rho1, rho2, mem_ud, mem_arr, fill, base):
    """Members of each open server in service order (one pass over the UDs), and S(Z_m)
    with idle CPUs into ``base``. ``est``: the copy's (τ^o, τ^p, e^o), each (N, M)."""
    to, tp, eo = est
    for s in range(fill.shape[0]):
        fill[s] = 0
    for u in range(server.shape[0]):
        s = server[u]
        if s >= 0 and is_open[s]:
            _insert_sorted(mem_ud[s], mem_arr[s], fill[s], u, to[u, s])
            fill[s] += 1
    for s in range(fill.shape[0]):
        if is_open[s]:
            acc = 0.0
            for k in range(fill[s]):
                u = mem_ud[s, k]
                acc += _cost(rho1, rho2, mem_arr[s, k] + tp[u, s], eo[u, s])
            base[s] = acc


@njit(cache=True, inline="always")
def _pruned_scores(u, b, best, lower, alone_cost, queued, tau_o, tau_p, e_o, mem_ud, mem_arr,
                   load, n_cpus, rho1, rho2, free, scores, own):  # fmt: skip
    """Exact scores of the queued servers in ascending lower bound while the bound can still
    win (``best``: the best score so far)."""
    n_q = 0
    for s in range(queued.shape[0]):
        if queued[s]:
            n_q += 1
    qs = np.empty(n_q, dtype=np.int64)
    lb = np.empty(n_q)
    j = 0
    for s in range(queued.shape[0]):
        if queued[s]:
            qs[j] = s
            lb[j] = lower[s] + alone_cost[b, u, s]
            j += 1
    order = np.argsort(lb, kind="mergesort")
    for j in range(n_q):
        s = qs[order[j]]
        if lb[order[j]] > best:
            break
        scores[s], own[s] = _queue_cost(mem_ud[s], mem_arr[s], load[s], tau_p[b, :, s],
                                        e_o[b, :, s], n_cpus[s], rho1, rho2, free, u,
                                        tau_o[b, u, s], tau_p[b, u, s], e_o[b, u, s])  # fmt: skip
        if scores[s] < best:
            best = scores[s]


@njit(cache=True)
def _first_lowest(scores, is_open):
    """The open server of lowest score, the first on ties."""
    col = -1
    low = np.inf
    for s in range(is_open.shape[0]):
        if is_open[s] and (col < 0 or scores[s] < low):
            col = s
            low = scores[s]
    return col


@njit(cache=True)
def _lower_bounds(b, queued, lower, mem_ud, mem_arr, load, tau_p, e_o, n_cpus, rho1, rho2, free):
    """S(Z_m), the exact cost of each queued server's members: their candidates' lower
    bounds (adding a task never makes another finish earlier)."""
    for s in range(queued.shape[0]):
        if queued[s]:
            lower[s], _ = _queue_cost(mem_ud[s], mem_arr[s], load[s], tau_p[b, :, s],
                                      e_o[b, :, s], n_cpus[s], rho1, rho2, free, -1, 0.0, 0.0,
                                      0.0)  # fmt: skip


@njit(cache=True)
def co_selection(tau_o, tau_p, e_o, alone_tau_a, alone_cost, z_max, n_cpus, rho1, rho2, prune_k):
    """Co-selection for B copies: (B, N, M) estimates at p_max in, server (B, N) out."""
    batch, n, m = tau_o.shape
    out = np.full((batch, n), -1, dtype=np.int64)
    mem_ud = np.empty((m, z_max.max() + 1), dtype=np.int64)
    mem_arr = np.empty((m, z_max.max() + 1))
    free = np.empty(max(1, n_cpus.max()))
    base, lower, scores, own = np.empty(m), np.empty(m), np.empty(m), np.empty(m)
    is_open, queued = np.zeros(m, dtype=np.bool_), np.zeros(m, dtype=np.bool_)
    choice, prio = np.empty(n, dtype=np.int64), np.empty(n)
    cand_list, fill = np.empty(n, dtype=np.int64), np.zeros(m, dtype=np.int64)
    for b in range(batch):
        server = out[b]
        load = np.zeros(m, dtype=np.int64)
        est = (tau_o[b], tau_p[b], e_o[b])
        while True:
            n_cand = _candidates(server, cand_list)
            n_open, any_queued = _open_servers(load, z_max, n_cpus, is_open, queued)
            if n_cand * n_open == 0:  # nobody left to match, or nowhere to go
                break
            _member_queues(server, is_open, est, rho1, rho2, mem_ud, mem_arr, fill, base)
            prune = n_open > prune_k and any_queued
            if prune:  # exact S(Z_m) of queued servers: the lower bounds
                _lower_bounds(b, queued, lower, mem_ud, mem_arr, load, tau_p, e_o, n_cpus, rho1,
                              rho2, free)  # fmt: skip
            for i in range(n_cand):  # each candidate's proposal (inline: a call costs more)
                u = cand_list[i]
                best = np.inf
                for s in range(m):
                    scores[s] = np.inf
                    if is_open[s] and not queued[s]:
                        scores[s] = base[s] + alone_cost[b, u, s]
                        own[s] = alone_tau_a[b, u, s]
                        if scores[s] < best:
                            best = scores[s]
                if prune:
                    _pruned_scores(u, b, best, lower, alone_cost, queued, tau_o, tau_p, e_o,
                                   mem_ud, mem_arr, load, n_cpus, rho1, rho2, free, scores,
                                   own)  # fmt: skip
                for s in range(m):
                    if queued[s] and not prune:
                        scores[s], own[s] = _queue_cost(mem_ud[s], mem_arr[s], load[s],
                                                        tau_p[b, :, s], e_o[b, :, s], n_cpus[s],
                                                        rho1, rho2, free, u, tau_o[b, u, s],
                                                        tau_p[b, u, s], e_o[b, u, s])  # fmt: skip
                choice[u] = _first_lowest(scores, is_open)
                prio[u] = own[choice[u]]
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
            n_cand = _candidates(server, cand_list)
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


@njit(cache=True)
def _pairwise_block(a, lo, n):
    """numpy's pairwise sum of up to 128 terms: sequential below 8, else 8 accumulators."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - (n % 8):
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True)
def pairwise_sum(a, n):
    """numpy's float64 sum of ``a[:n]`` (its pairwise algorithm: blocks of up to 128 terms,
    larger ranges halved at a multiple of 8 and the halves added), so that means here equal
    numpy's bit for bit. Iterative: numba's on-disk cache mishandles recursive functions."""
    if n <= 128:
        return _pairwise_block(a, 0, n)
    los = np.empty(64, dtype=np.int64)
    ns = np.empty(64, dtype=np.int64)
    state = np.zeros(64, dtype=np.int64)
    vals = np.empty(64)
    top = 0
    los[0] = 0
    ns[0] = n
    vsp = 0
    while top >= 0:
        lo, k = los[top], ns[top]
        if k <= 128:
            vals[vsp] = _pairwise_block(a, lo, k)
            vsp += 1
            top -= 1
            continue
        half = k // 2
        half -= half % 8
        if state[top] == 0:  # the left half first
            state[top] = 1
            top += 1
            los[top], ns[top], state[top] = lo, half, 0
        elif state[top] == 1:  # then the right half
            state[top] = 2
            top += 1
            los[top], ns[top], state[top] = lo + half, k - half, 0
        else:  # left + right
            vals[vsp - 2] = vals[vsp - 2] + vals[vsp - 1]
            vsp -= 1
            top -= 1
    return vals[0]


@njit(cache=True)
def members_of(server, n_servers, z_cap):
    """(B, M, Z) UD index in each ES place, ascending, −1 for empty places."""
    batch, n = server.shape
    members = np.full((batch, n_servers, z_cap), -1, dtype=np.int64)
    fill = np.zeros(n_servers, dtype=np.int64)
    for b in range(batch):
        fill[:] = 0
        for u in range(n):
            s = server[b, u]
            if s >= 0 and fill[s] < z_cap:
                members[b, s, fill[s]] = u
                fill[s] += 1
    return members


# up to this many items an insertion sort orders a server's requests, else a merge sort
_INSERTION_MAX = 64


@njit(cache=True)
def _server_items(b, bucket, mask, key, items, keys, order):
    """Copy b's UDs of one server's ``bucket`` (ascending UD index) with ``mask`` set into
    ``items``, their keys into ``keys``, and the stable order of the keys into ``order``:
    ``items[order[:cnt]]`` is in ascending (key, UD index). Returns cnt."""
    cnt = 0
    sortable = True  # no NaN key: an insertion sort gives merge sort's order
    for u in bucket:
        if mask[b, u]:
            items[cnt] = u
            keys[cnt] = key[b, u]
            sortable = sortable and keys[cnt] == keys[cnt]
            cnt += 1
    if cnt > _INSERTION_MAX or not sortable:
        order[:cnt] = np.argsort(keys[:cnt], kind="mergesort")
        return cnt
    for i in range(cnt):  # stable: an equal key stays behind the earlier one
        k = keys[i]
        j = i
        while j > 0 and keys[order[j - 1]] > k:
            order[j] = order[j - 1]
            j -= 1
        order[j] = i
    return cnt


@njit(cache=True)
def _buckets(b, server, m, start, by_server):
    """Copy b's matched UDs grouped by server, ascending UD index in each group: server s
    holds ``by_server[start[s]:start[s + 1]]`` (a counting sort)."""
    start[:] = 0
    for u in range(server.shape[1]):
        if server[b, u] >= 0:
            start[server[b, u] + 1] += 1
    for s in range(m):
        start[s + 1] += start[s]
    fill = start[:m].copy()
    for u in range(server.shape[1]):
        s = server[b, u]
        if s >= 0:
            by_server[fill[s]] = u
            fill[s] += 1


@njit(cache=True)
def _admit_and_queue(b, s, bucket, task, approved, priority, caps, scratch, free, offloaded,
                     delay):  # fmt: skip
    """Server ``s`` of copy b (its matched UDs ``bucket``): the approved requests in ascending
    (priority, UD index), admitted while they fit in K and D_m (15i, 15j); then the admitted
    tasks in order of arrival on the CPU that frees first (9). ``task``: (β, τ^o, τ^p);
    ``caps``: (K, D, U); ``scratch``: (items, keys, order)."""
    bits, tau_o, tau_p = task
    subchannels, storage_bits, n_cpus = caps
    items, keys, order = scratch
    used = 0
    stored = 0.0
    for i in range(_server_items(b, bucket, approved, priority, items, keys, order)):
        u = items[order[i]]
        if _fits(used, stored, bits[b, u], subchannels[s], storage_bits[s]):
            offloaded[b, u] = True
            used += 1
            stored += bits[b, u]
    for c in range(n_cpus[s]):
        free[c] = 0.0
    for i in range(_server_items(b, bucket, offloaded, tau_o, items, keys, order)):
        u = items[order[i]]
        cpu, q = _earliest_cpu(free, n_cpus[s])
        done = _finish_time(tau_o[b, u], tau_p[b, u], q)
        free[cpu] = done
        delay[b, u] = done


@njit(cache=True)
def _ud_outcomes(b, task, ud, params, offloaded, outs, counts):
    """Copy b's energies, costs, batteries, penalties and flags (3, 4, 13, 14, 25) and its
    per-ES request counts. ``task``: (β, c, φ, server, e^o, battery, harvest); ``ud``:
    (requested, approved, f); ``params``: (κ, ρ1, ρ2, b_min, b_max)."""
    bits, cycles_per_bit, deadline_s, server, e_o, battery_j, harvest_j = task
    requested, approved, f_hz = ud
    kappa, rho1, rho2, b_min, b_max = params
    delay, energy, cost, battery_next, penalty, timed_out, below = outs
    n_req, n_adm, n_cut = counts
    for u in range(bits.shape[1]):
        f = f_hz[b, u]
        if offloaded[b, u]:
            energy[b, u] = e_o[b, u]
        else:
            delay[b, u] = _local_delay(bits[b, u], cycles_per_bit[b, u], f)
            energy[b, u] = _local_energy(bits[b, u], cycles_per_bit[b, u], f, kappa)
        cost[b, u] = _cost(rho1, rho2, delay[b, u], energy[b, u])
        bn = _battery_update(battery_j[b, u], energy[b, u], harvest_j[b, u], b_max)
        battery_next[b, u] = bn
        penalty[b, u] = _penalty(rho1, rho2, deadline_s[b, u], delay[b, u], bn, b_min)
        timed_out[b, u] = delay[b, u] > deadline_s[b, u]
        below[b, u] = bn < b_min
        s = server[b, u]
        if s >= 0:
            if requested[b, u]:
                n_req[b, s] += 1
            if offloaded[b, u]:
                n_adm[b, s] += 1
            elif approved[b, u]:
                n_cut[b, s] += 1


@njit(cache=True)
def _slot_metrics(cost, penalty, flags, counts, reward, metrics):
    """The UD rewards into ``reward`` (B, N), the slot metrics into ``metrics[:, :6]`` and the
    ES reward into ``metrics[:, 6]`` (B, 7), with numpy's pairwise sums (identical means).
    ``flags``: (offloaded, timed out, below b_min, ...); ``counts``: (requests, admitted,
    cuts) per ES."""
    batch, n = cost.shape
    for b in range(batch):
        mean_cost = pairwise_sum(cost[b], n) / n
        for u in range(n):
            reward[b, u] = -mean_cost + penalty[b, u]
        metrics[b, 6] = pairwise_sum(reward[b], n) / n
        late = 0
        off = 0
        low = 0
        for u in range(n):
            late += flags[1, b, u]
            off += flags[0, b, u]
            low += flags[2, b, u]
        req, adm, cut = counts[0, b].sum(), counts[1, b].sum(), counts[2, b].sum()
        metrics[b, 0] = mean_cost
        metrics[b, 1] = late / n
        metrics[b, 2] = off / n
        metrics[b, 3] = adm / req if req > 0 else 0.0
        metrics[b, 4] = low / n
        metrics[b, 5] = cut


@njit(cache=True)
def resolve(
    bits,
    cycles_per_bit,
    deadline_s,
    server,
    requested,
    approved,
    priority,
    f_hz,
    tau_o,
    tau_p,
    e_o,
    battery_j,
    harvest_j,
    subchannels,
    storage_bits,
    n_cpus,
    kappa,
    rho1,
    rho2,
    b_min,
    b_max,
):
    """Admission (15i, 15j), the ES CPU queue (9) and the slot's delays, energies, costs,
    penalties and batteries (3, 4, 13, 14, 25) for B copies, as :func:`mec_env.sim.slot.admit`
    and :func:`mec_env.sim.slot.resolve`, then the rewards and the slot metrics.

    Returns (floats (6, B, N): delay, energy, cost, battery, penalty, reward; flags (3, B, N):
    offloaded, timed out, below b_min; counts (3, B, M): requests, admitted, cuts; metrics
    (B, 7): the six slot metrics, then the ES reward)."""
    batch, n = bits.shape
    m = subchannels.shape[0]
    # few blocks: fewer arrays to hand back to Python (each costs a boxing)
    floats = np.empty((6, batch, n))
    flags = np.zeros((3, batch, n), dtype=np.bool_)
    counts = np.zeros((3, batch, m), dtype=np.int64)
    metrics = np.empty((batch, 7))
    _resolve_into(bits, cycles_per_bit, deadline_s, server, requested, approved, priority, f_hz,
                  tau_o, tau_p, e_o, battery_j, harvest_j, (subchannels, storage_bits, n_cpus),
                  (kappa, rho1, rho2, b_min, b_max), floats, flags, counts, metrics)  # fmt: skip
    return floats, flags, counts, metrics


@njit(cache=True)
def _resolve_into(bits, cycles_per_bit, deadline_s, server, requested, approved, priority, f_hz,
                  tau_o, tau_p, e_o, battery_j, harvest_j, caps, params, floats, flags, counts,
                  metrics):  # fmt: skip
    """:func:`resolve` into the given blocks (``flags`` and ``counts`` zeroed; rows of
    ``floats`` and ``flags`` past resolve's are left alone). ``caps``: (K, D, U);
    ``params``: (κ, ρ1, ρ2, b_min, b_max)."""
    batch, n = bits.shape
    m = caps[0].shape[0]
    offloaded, timed_out, below = flags[0], flags[1], flags[2]
    outs = (floats[0], floats[1], floats[2], floats[3], floats[4], timed_out, below)
    scratch = (np.empty(n, dtype=np.int64), np.empty(n), np.empty(n, dtype=np.int64))
    start, by_server = np.empty(m + 1, dtype=np.int64), np.empty(n, dtype=np.int64)
    free = np.empty(max(1, caps[2].max()))
    queue_task = (bits, tau_o, tau_p)
    task = (bits, cycles_per_bit, deadline_s, server, e_o, battery_j, harvest_j)
    for b in range(batch):
        _buckets(b, server, m, start, by_server)
        for s in range(m):
            _admit_and_queue(b, s, by_server[start[s] : start[s + 1]], queue_task, approved,
                             priority, caps, scratch, free, offloaded, floats[0])  # fmt: skip
        _ud_outcomes(b, task, (requested, approved, f_hz), params, offloaded, outs,
                     (counts[0], counts[1], counts[2]))  # fmt: skip
    _slot_metrics(floats[2], floats[4], flags, counts, floats[5], metrics)


@njit(cache=True)
def observe(
    bits,
    cycles_per_bit,
    deadline_s,
    prev_f,
    prev_p,
    battery_j,
    gain,
    gain_db,
    gain_lo_db,
    gain_span_db,
    server,
    members,
    head_scale,
    subchannels,
    storage_bits,
    n_cpus,
    with_es,
):
    """UD observations (B, N, 2M+7) float32, ES observations (B, M, 6Z+3) float32 (empty
    without ES agents) and loads (B, M, 3) float64, as :meth:`BatchCore.observe` computes
    them (float64 values, then one cast). The gain columns: ``(gain_db - lo) / span`` if
    ``gain_span_db`` > 0, zeros if it is 0, the linear ``gain`` if it is negative (raw
    observations)."""
    batch, n = bits.shape
    m = subchannels.shape[0]
    # the gain columns: M, or with reach K (``server`` then the server's column among the K)
    ud = np.zeros((batch, n, 2 * gain.shape[2] + 7))
    loads = np.empty((batch, m, 3))
    head = (bits, cycles_per_bit, deadline_s, prev_f, prev_p, battery_j)
    _ud_rows(head, head_scale, gain, gain_db, gain_lo_db, gain_span_db, server, ud)
    _loads(bits, server, subchannels, storage_bits, n_cpus, loads)
    ud32 = ud.astype(np.float32)
    if not with_es:
        return ud32, np.zeros((batch, m, 0), dtype=np.float32), loads
    return ud32, _es_rows(ud, members, loads), loads


@njit(cache=True)
def _ud_rows(head, head_scale, gain, gain_db, gain_lo_db, gain_span_db, server, ud):
    """The UD observations (B, N, 2M+7) float64 into ``ud`` (zeroed); see :func:`observe`.
    ``head``: (β, c, φ, previous f, previous p, battery), each (B, N)."""
    bits, cycles_per_bit, deadline_s, prev_f, prev_p, battery_j = head
    batch, n, m = gain.shape
    for b in range(batch):
        for u in range(n):
            row = ud[b, u]
            row[0] = bits[b, u] * head_scale[0]
            row[1] = cycles_per_bit[b, u] * head_scale[1]
            row[2] = deadline_s[b, u] * head_scale[2]
            row[3] = prev_f[b, u] * head_scale[3]
            row[4] = prev_p[b, u] * head_scale[4]
            row[5] = battery_j[b, u] * head_scale[5]
            for s in range(m):
                if gain_span_db > 0:
                    row[6 + s] = (gain_db[b, u, s] - gain_lo_db) / gain_span_db
                elif gain_span_db < 0:
                    row[6 + s] = gain[b, u, s]
            s = server[b, u]
            row[6 + m + (s if s >= 0 else m)] = 1.0


@njit(cache=True)
def _loads(bits, server, subchannels, storage_bits, n_cpus, loads):
    """The loads (B, M, 3): members/K, Σβ_members/D_m, members/U_m, summed in UD order."""
    m = subchannels.shape[0]
    count = np.zeros(m, dtype=np.int64)
    stored = np.zeros(m)
    for b in range(bits.shape[0]):
        count[:] = 0
        stored[:] = 0.0
        for u in range(bits.shape[1]):
            s = server[b, u]
            if s >= 0:
                count[s] += 1
                stored[s] += bits[b, u]
        for s in range(m):
            loads[b, s, 0] = count[s] / subchannels[s]
            loads[b, s, 1] = stored[s] / storage_bits[s]
            loads[b, s, 2] = count[s] / n_cpus[s]


@njit(cache=True)
def _es_rows(ud, members, loads):
    """ES observations (B, M, 6Z+3) float32 from the UD rows (float64) and the loads."""
    batch, m, z = members.shape
    es = np.zeros((batch, m, 6 * z + 3), dtype=np.float32)
    for b in range(batch):
        for s in range(m):
            for k in range(z):
                u = members[b, s, k]
                if u < 0:
                    continue
                row = ud[b, u]
                es[b, s, 6 * k] = 1.0
                es[b, s, 6 * k + 1] = row[0]
                es[b, s, 6 * k + 2] = row[1]
                es[b, s, 6 * k + 3] = row[2]
                es[b, s, 6 * k + 4] = row[6 + s]
                es[b, s, 6 * k + 5] = row[5]
            for j in range(3):
                es[b, s, 6 * z + j] = loads[b, s, j]
    return es


@njit(cache=True)
def controls(ud_actions, server, gain, f_min, f_max, p_min, p_max):
    """Eqs. (21)-(23) as :func:`mec_env.sim.slot.ud_controls`, and 1 + p g at the matched server
    (the argument of the uplink rate's log2, which numpy takes: its log2 is the reference)."""
    batch, n = server.shape
    requested = np.empty((batch, n), dtype=np.bool_)
    floats = np.empty((3, batch, n))  # f, p, 1 + p g: one block, one array to hand back
    f_hz, p_w, arg = floats[0], floats[1], floats[2]
    for b in range(batch):
        for u in range(n):
            s = server[b, u]
            requested[b, u] = _requests(ud_actions[b, u, 0], s)
            f_hz[b, u] = _local_frequency(ud_actions[b, u, 1], f_min, f_max)
            p = _transmit_power(ud_actions[b, u, 2], p_min, p_max)
            p_w[b, u] = p
            arg[b, u] = _snr_term(p, gain[b, u, s if s >= 0 else 0])
    return requested, floats


@njit(cache=True)
def offload_terms(bits, cycles_per_bit, server, p_w, log2_arg, subchannel_bw_hz, f_server_hz):
    """(τ^o, τ^p, e^o) at the matched server, eqs. (6)-(8), (10), as
    :func:`mec_env.sim.slot.offload_terms`; 0 if unmatched. ``log2_arg`` is numpy's
    log2(1 + p g)."""
    batch, n = server.shape
    terms = np.zeros((3, batch, n))  # τ^o, τ^p, e^o: one block, one array to hand back
    tau_o, tau_p, e_o = terms[0], terms[1], terms[2]
    for b in range(batch):
        for u in range(n):
            s = server[b, u]
            if s >= 0:
                rate = _rate_from_log2(subchannel_bw_hz[s], log2_arg[b, u])
                tau_o[b, u] = _upload_delay(bits[b, u], rate)
                tau_p[b, u] = _processing_delay(bits[b, u], cycles_per_bit[b, u], f_server_hz[s])
            e_o[b, u] = _offload_energy(p_w[b, u], tau_o[b, u])
    return terms


@njit(cache=True)
def approvals(requested, members, es_bits):
    """ES approvals by member place mapped to the UDs, AND their requests."""
    approved = np.zeros(requested.shape, dtype=np.bool_)
    _approvals_into(requested, members, es_bits, approved)
    return approved


@njit(cache=True)
def _approvals_into(requested, members, es_bits, approved):
    """:func:`approvals` into ``approved`` (zeroed)."""
    batch, m, z = members.shape
    for b in range(batch):
        for s in range(m):
            for k in range(z):
                u = members[b, s, k]
                if u >= 0 and es_bits[b, s, k] and requested[b, u]:
                    approved[b, u] = True


@njit(cache=True)
def co_selection_from_log(
    bits,
    cycles_per_bit,
    log2_arg,
    subchannel_bw_hz,
    f_server_hz,
    p_max,
    z_max,
    n_cpus,
    rho1,
    rho2,
    prune_k,
):
    """:func:`co_selection` with the estimates at p_max computed here as
    :meth:`mec_env.sim.state.SlotState.offload_estimates` computes them, from numpy's
    log2(1 + p_max g) (B, N, M)."""
    batch, n, m = log2_arg.shape
    tau_o = np.empty((batch, n, m))
    tau_p = np.empty((batch, n, m))
    e_o = np.empty((batch, n, m))
    alone_tau_a = np.empty((batch, n, m))
    alone_cost = np.empty((batch, n, m))
    for b in range(batch):
        for u in range(n):
            for s in range(m):
                rate = _rate_from_log2(subchannel_bw_hz[s], log2_arg[b, u, s])
                to = _upload_delay(bits[b, u], rate)
                tp = _processing_delay(bits[b, u], cycles_per_bit[b, u], f_server_hz[s])
                eo = _offload_energy(p_max, to)
                tau_o[b, u, s] = to
                tau_p[b, u, s] = tp
                e_o[b, u, s] = eo
                ta = to + tp  # τ^a with an idle CPU
                alone_tau_a[b, u, s] = ta
                alone_cost[b, u, s] = _cost(rho1, rho2, ta, eo)
    return co_selection(
        tau_o, tau_p, e_o, alone_tau_a, alone_cost, z_max, n_cpus, rho1, rho2, prune_k
    )


@njit(cache=True)
def _draws(bits, u, harvest_mean_j, draw_low, draw_span, floats, gain_db):
    """The harvest, next tasks and next gains (dB) from the uniforms, into rows 6-9 of
    ``floats`` and ``gain_db``; the played task in bytes into row 10 (see :func:`play`)."""
    batch, n, m = gain_db.shape
    for b in range(batch):
        for i in range(n):
            floats[10, b, i] = bits[b, i] / 8.0
            floats[6, b, i] = _harvest_j(u[b, i], harvest_mean_j)
            row = n + i * (3 + m)
            for j in range(3):
                floats[7 + j, b, i] = draw_low[j] + u[b, row + j] * draw_span[j]
            for s in range(m):
                gain_db[b, i, s] = draw_low[3 + s] + u[b, row + 3 + s] * draw_span[3 + s]


@njit(cache=True)
def play(bits, cycles_per_bit, deadline_s, server, members, es_bits, rule, requested, f_hz, p_w,
         log2_arg, battery_j, u, bw_hz, f_server_hz, caps, params, harvest_mean_j, draw_low,
         draw_span, t, n_slots):  # fmt: skip
    """One slot of all B copies after :func:`controls`, in one call: the offload terms
    (:func:`offload_terms`), the approvals, :func:`resolve`, then the next slot's draws from
    the copies' uniforms ``u`` (B, N·(4 + M)): the harvest (J,
    :func:`mec_env.sim.battery.harvest_j`) and the next tasks and gains ``low + u·span``
    (bits, cycles/bit, s, dB; the default components' affine draw), as
    :meth:`mec_env.sim.core.BatchCore.step` computes them with numpy.
    ``caps``: (K, D, U); ``params``: (κ, ρ1, ρ2, b_min, b_max). Counts the slot in ``t`` (B,).

    The approvals: the ES agents' bits ``es_bits`` (B, M, Z) (:func:`approvals`; priority τ^o)
    if ``rule`` is None, else the admission rule's ``rule = (approved, priority)``, each (B, N).

    Returns (floats (11, B, N): resolve's six rows, the harvest, the next bits, cycles per
    bit and deadlines, the played task in bytes; flags (4, B, N): resolve's three rows, then
    approved; counts (3, B, M); metrics (B, 7); the next gains in dB (B, N, M); truncated (B,),
    ``t >= n_slots`` after the slot)."""
    batch, n = bits.shape
    m = bw_hz.shape[0]
    terms = offload_terms(bits, cycles_per_bit, server, p_w, log2_arg, bw_hz, f_server_hz)
    floats = np.empty((11, batch, n))
    truncated = np.empty(batch, dtype=np.bool_)
    flags = np.zeros((4, batch, n), dtype=np.bool_)
    counts = np.zeros((3, batch, m), dtype=np.int64)
    metrics = np.empty((batch, 7))
    gain_db = np.empty((batch, n, m))
    approved = flags[3]
    if rule is None:
        _approvals_into(requested, members, es_bits, approved)
        priority = terms[0]
    else:
        approved[:] = rule[0]
        priority = rule[1]
    for b in range(batch):
        t[b] += 1
        truncated[b] = t[b] >= n_slots
    _draws(bits, u, harvest_mean_j, draw_low, draw_span, floats, gain_db)
    _resolve_into(bits, cycles_per_bit, deadline_s, server, requested, approved, priority, f_hz,
                  terms[0], terms[1], terms[2], battery_j, floats[6], caps, params, floats, flags,
                  counts, metrics)  # fmt: skip
    return floats, flags, counts, metrics, gain_db, truncated


@njit(cache=True)
def co_selection_members(
    bits,
    cycles_per_bit,
    log2_arg,
    subchannel_bw_hz,
    f_server_hz,
    p_max,
    z_max,
    n_cpus,
    rho1,
    rho2,
    prune_k,
    z_cap,
):
    """:func:`co_selection_from_log` and :func:`members_of` in one call: (server, members)."""
    server = co_selection_from_log(
        bits, cycles_per_bit, log2_arg, subchannel_bw_hz, f_server_hz, p_max, z_max, n_cpus,
        rho1, rho2, prune_k,
    )  # fmt: skip
    return server, members_of(server, subchannel_bw_hz.shape[0], z_cap)


@njit(cache=True)
def in_unit(arr):
    """Whether every value of ``arr`` is in [0, 1] (False for NaN): one pass, no temporaries."""
    for x in arr.ravel():
        if not (x >= 0 and x <= 1):
            return False
    return True

"""co_selection against a plain-Python reference of Algorithm 1 (eqs. 18-19, environment.md).

The library's version is vectorised, inserts candidates into sorted member queues and prunes
pairs by a lower bound; this reference does none of that: it simulates every (UD, server)
pair's queue from scratch with a heap, one at a time, exactly as docs/environment.md read.
"""

from __future__ import annotations

import heapq

import numpy as np
import pytest

import mec_env
from mec_env import matching, physics


def _queue_total(items, n_cpus):
    """items: list of (arrival, ud, proc, energy); returns ({ud: tau_a}, total cost parts)."""
    free = [0.0] * n_cpus
    heapq.heapify(free)
    finish = {}
    for arrival, ud, proc, _ in sorted(items):
        q = heapq.heappop(free)
        done = proc + max(arrival, q)
        heapq.heappush(free, done)
        finish[ud] = done
    return finish


def reference_co_selection(slot):
    cfg = slot.config
    tau_o, tau_p, e_o = slot.offload_estimates(cfg.p_max_w)
    n, m = slot.n_uds, cfg.n_servers
    server = [-1] * n
    while True:
        unmatched = [u for u in range(n) if server[u] < 0]
        open_servers = [s for s in range(m) if server.count(s) < cfg.z_max[s]]
        if not unmatched or not open_servers:
            return np.array(server)
        proposals = {s: [] for s in open_servers}
        for u in unmatched:
            best = None
            for s in open_servers:
                members = [k for k in range(n) if server[k] == s] + [u]
                items = [(tau_o[k, s], k, tau_p[k, s], e_o[k, s]) for k in members]
                finish = _queue_total(items, int(cfg.n_cpus[s]))
                score = sum(cfg.rho_delay * finish[k] + cfg.rho_energy * e_o[k, s] for k in members)
                if best is None or score < best[0]:
                    best = (score, s, finish[u])
            proposals[best[1]].append((best[2], u))
        for s, props in proposals.items():
            room = int(cfg.z_max[s]) - server.count(s)
            for _, u in sorted(props)[:room]:
                server[u] = s


@pytest.mark.parametrize(
    ("preset", "overrides"),
    [
        ("small", {}),
        ("paper_kb", {}),
        ("paper_kb", {"n_uds": 60}),  # more UDs than places: 12 stay unmatched
        ("paper_kb", {"n_uds": 130, "n_servers": 9}),  # > 4 open servers: pruned path
        (
            "paper_kb",
            {
                "n_uds": 90,
                "n_servers": 7,
                "n_cpus": [1, 2, 3, 4, 5, 6, 8],
                "z_max": [10, 12, 14, 16, 16, 12, 10],
            },
        ),
    ],
)
def test_co_selection_equals_reference(preset, overrides):
    env = mec_env.parallel_env(preset, matcher="max_gain", **overrides)
    for seed in range(3):
        env.reset(seed=seed)
        slot = env.current_slot
        expected = reference_co_selection(slot)
        got = matching.co_selection(slot, np.random.default_rng(0))
        np.testing.assert_array_equal(got, expected)


def test_queue_table_matches_heap_reference():
    rng = np.random.default_rng(3)
    arrival = np.sort(rng.uniform(0, 1, size=(5, 12)), axis=1)
    proc = rng.uniform(0.1, 2.0, size=(5, 12))
    n_cpus = np.array([1, 2, 3, 8, 12])
    valid = np.ones(arrival.shape, dtype=bool)
    _, done = physics.queue_table(arrival, proc, valid, n_cpus)
    for g in range(5):
        items = [(arrival[g, i], i, proc[g, i], 0.0) for i in range(12)]
        finish = _queue_total(items, int(n_cpus[g]))
        np.testing.assert_allclose(done[g], [finish[i] for i in range(12)])

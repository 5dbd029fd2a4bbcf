"""The batched co_selection reuses per-thread scratch arrays between calls
(mec_env.sim.matchers.co_selection._Scratch): results must not depend on what a previous call of
another shape left there, nor on other threads matching at the same time."""

from __future__ import annotations

import threading

import numpy as np
from numpy.testing import assert_array_equal

from mec_env import batched_matching, matching
from tests.env.test_vector import one, random_slots


def _slots(seed: int, batch: int):
    rng = np.random.default_rng(seed)
    return random_slots(rng, batch, n_uds=30, n_servers=3, z_max=12, n_cpus=[2, 3, 4])


def test_scratch_reuse_across_shapes():
    for seed, batch in enumerate([5, 2, 9, 1, 9, 3]):
        slots = _slots(seed, batch)
        got = batched_matching.co_selection_batched(slots)
        for b in range(batch):
            assert_array_equal(got[b], matching.co_selection(one(slots, b), None))


def test_scratch_is_per_thread():
    cases = [_slots(seed, 4 + seed) for seed in range(6)]
    expected = [batched_matching.co_selection_batched(s) for s in cases]
    failures = []

    def work(order):
        for _ in range(5):
            for i in order:
                if not np.array_equal(batched_matching.co_selection_batched(cases[i]), expected[i]):
                    failures.append(i)

    threads = [
        threading.Thread(target=work, args=(order,))
        for order in ([0, 1, 2, 3, 4, 5], [5, 3, 1, 4, 2, 0])
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures

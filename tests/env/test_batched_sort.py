"""The grouped sorts of the batched matchers (mec_env.sim.matchers.co_selection): the one-sort
path of packed int64 keys and its fallbacks (ties, NaN, −0.0, negative keys) order items
exactly as a lexicographic sort by (group, key, item index)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from mec_env import physics
from mec_env.sim.matchers import co_selection as bm


def _keys(kind: str, rng: np.random.Generator, size: int) -> np.ndarray:
    if kind == "distinct":
        return rng.random(size) * 3.0
    if kind == "ties":  # few distinct values: equal keys inside groups
        return rng.integers(0, 4, size).astype(np.float64)
    if kind == "near":  # equal top bits, different low bits: the packed sort cannot tell
        return 0.5 + rng.integers(0, 1 << 20, size) * np.finfo(np.float64).eps
    if kind == "special":
        snan = np.array([0x7FF0000000000001], dtype=np.uint64).view(np.float64)[0]
        return rng.choice([0.0, -0.0, np.inf, np.nan, snan, 1.0, -2.0, 0.25], size)
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["distinct", "ties", "near", "special"])
@pytest.mark.parametrize("size", [1, 2, 37, 5000])
def test_group_order_is_lexicographic(kind, size):
    rng = np.random.default_rng(size)
    n_groups = 7 if size < 100 else 700
    group = rng.integers(0, n_groups, size)
    key = _keys(kind, rng, size)
    order, g_sorted = physics.group_order(group, key, n_groups)
    expected = np.lexsort((np.arange(size), key, group))
    assert_array_equal(order, expected)
    assert_array_equal(g_sorted, group[expected])


def test_service_order_ranks():
    rng = np.random.default_rng(1)
    group = rng.integers(0, 5, 40)
    key = rng.random(40)
    order, g_sorted, rank = bm._service_order(group, key, 5)
    for g in range(5):
        assert_array_equal(rank[g_sorted == g], np.arange((group == g).sum()))

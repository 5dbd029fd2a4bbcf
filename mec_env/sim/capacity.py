"""The admission capacity cut, constraints (15i) K subchannels and (15j) D_m bits of storage,
written once: :func:`fits` is the rule, :func:`admit_within_capacity` the numpy walker over
every group at once; the compiled backend walks one server's approved requests with the same
:func:`fits` (``numba.njit``)."""

from __future__ import annotations

import numpy as np

from mec_env.sim.queue import group_table


def fits(used, stored_bits, size_bits, subchannels, storage_bits):
    """Whether one more request of ``size_bits`` fits beside ``used`` admitted requests holding
    ``stored_bits``: a free subchannel (15i) and room in storage (15j)."""
    return (used < subchannels) & (stored_bits + size_bits <= storage_bits)


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
    in_storage = np.cumsum(size, axis=1) <= storage_bits[:, None]
    if not np.any(within_k & ~in_storage):  # no storage cut: the prefix rule is exact
        admitted[table[within_k]] = True
        return admitted
    used = np.zeros(subchannels.shape[0], dtype=np.int64)
    stored = np.zeros(subchannels.shape[0], dtype=np.float64)
    for s in range(table.shape[1]):
        ok = valid[:, s] & fits(used, stored, size[:, s], subchannels, storage_bits)
        admitted[table[ok, s]] = True
        used += ok
        stored += np.where(ok, size[:, s], 0.0)
    return admitted

"""The battery (eq. 13) and the harvest that feeds it (**[decision]** 3), written once: numpy
evaluates these on arrays, the compiled backend compiles the same functions for scalars
(bit-identical)."""

from __future__ import annotations

import numpy as np


def battery_update(battery_j, energy_j, harvest_j, b_max_j):
    """Eq. (13): b(t+1) = min(max(b − e + d, 0), b_max), in J."""
    return np.minimum(np.maximum(battery_j - energy_j + harvest_j, 0.0), b_max_j)


def harvest_j(u, harvest_mean_j):
    """**[decision]** 3: the harvest d ~ U[0, 2 d̄] in J from a uniform draw ``u`` in [0, 1)
    (0 + 2 d̄·u, numpy's own formula for ``uniform(0, 2 d̄)``)."""
    return u * (2.0 * harvest_mean_j)

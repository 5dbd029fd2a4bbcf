"""The battery (eq. 13), written once: numpy evaluates :func:`battery_update` on arrays, the
compiled backend compiles the same function for scalars (bit-identical). The harvest that
feeds it is a component (:class:`mec_env.sim.components.Harvest`)."""

from __future__ import annotations

import numpy as np


def battery_update(battery_j, energy_j, harvest_j, b_max_j):
    """Eq. (13): b(t+1) = min(max(b − e + d, 0), b_max), in J."""
    return np.minimum(np.maximum(battery_j - energy_j + harvest_j, 0.0), b_max_j)

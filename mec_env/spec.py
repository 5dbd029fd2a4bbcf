"""What every adapter of the environment shares, computed once from the config: the agents,
the info keys, the spaces and the observation scaling, and the checks of an action array.

The adapters (:mod:`mec_env.adapters`: the PettingZoo ParallelEnv and AEC env, the array
vector env, the TorchRL env) are thin layers over the simulator (:class:`mec_env.core.BatchCore`)
and this spec; none computes a space or a key of its own.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from mec_env.core import STEP_COLUMNS
from mec_env.errors import ActionError

#: The slot-level metrics, each repeated in every agent's info as ``"slot_" + name``.
SLOT_METRICS = (
    "mean_cost",
    "timeout_rate",
    "offload_rate",
    "participation_rate",
    "below_battery_rate",
    "admission_cuts",
)
SLOT_INFO_KEYS = tuple(f"slot_{k}" for k in SLOT_METRICS)
#: The per-UD columns of a step copied into the infos, in this order (the parallel env's
#: ``_ud_infos`` stores them by name, in this order).
UD_COLUMNS = STEP_COLUMNS
assert UD_COLUMNS == (
    "task_bytes", "cycles_per_bit", "deadline_s", "server", "requested", "offloaded", "f_hz",
    "p_w", "delay_s", "energy_j", "cost", "penalty", "timed_out", "battery_j", "below_b_min",
)  # fmt: skip
#: Every UD's info keys, at reset and at every step, in this order.
UD_INFO_KEYS = (*UD_COLUMNS, "gain", *SLOT_INFO_KEYS)


#: Every ES's info keys, at reset and at every step, in this order.
ES_INFO_KEYS = ("requests", "admitted", "cuts", "members", *SLOT_INFO_KEYS)
# the slot metrics at reset (no slot played yet): float 0.0, and int 0 for admission_cuts
SLOT_AT_RESET = (0.0, 0.0, 0.0, 0.0, 0.0, 0)


def slot_metrics(info: Mapping[str, Any]) -> dict[str, float | int]:
    """The slot metrics of one agent's info as a dict ``{"mean_cost": ..., ...}``."""
    return {k: info[key] for k, key in zip(SLOT_METRICS, SLOT_INFO_KEYS)}


# ---------------------------------------------------------------------- action arrays
#: numpy kinds of real numbers: bool, signed and unsigned int, float
REAL_KINDS = frozenset("biuf")


def real_array(value: Any, what: str) -> np.ndarray:
    """``value`` as a float64 array, or :class:`ActionError` naming ``what`` when it does not
    hold real numbers (bool, int or float): strings (also numeric ones such as ``"0.5"``),
    complex numbers, dicts, ragged rows. ``None`` becomes NaN (a shape or range error later)."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:  # e.g. ragged rows
        raise ActionError(f"{what} is not numeric: {value!r}"[:300]) from err
    if arr.dtype.kind in REAL_KINDS:
        return arr.astype(np.float64, copy=False)
    if arr.dtype.kind == "O" and all(
        x is None or (isinstance(x, numbers.Real) and not isinstance(x, complex))
        for x in arr.ravel().tolist()
    ):
        return arr.astype(np.float64)
    shown = repr(value)[:200] if arr.size <= 8 else f"an array of shape {arr.shape}"
    raise ActionError(
        f"{what} is not numeric: {shown} has dtype {arr.dtype}, where bool, int or float "
        f"is expected"
    )

"""What every adapter of the environment shares, computed once from the config: the agents,
the info keys, the spaces and the observation scaling, and the checks of an action array.

The adapters (:mod:`mec_env.adapters`: the PettingZoo ParallelEnv and AEC env, the array
vector env, the TorchRL env) are thin layers over the simulator (:class:`mec_env.core.BatchCore`)
and this spec; none computes a space or a key of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mec_env.core import STEP_COLUMNS

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

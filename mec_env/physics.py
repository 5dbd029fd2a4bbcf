"""The MEC physics as pure, vectorised functions (docs/environment.md, The model): one import
for every rule of the simulator, each defined once in its module of :mod:`mec_env.sim`:

- :mod:`mec_env.sim.channel`: the uplink rate (eqs. 5-7);
- :mod:`mec_env.sim.compute`: controls (21-23), local and remote compute (3, 4, 8), offload
  energy (10), cost (14), penalty (25), reward, and the heuristics' best local frequency;
- :mod:`mec_env.sim.battery`: the battery update (13);
- :mod:`mec_env.sim.queue`: the ES CPU queue (9) and the grouped sort it uses;
- :mod:`mec_env.sim.capacity`: the admission cut (15i, 15j).

Every function works elementwise over numpy arrays with any leading batch axes, in SI units:
bits, cycles/bit, seconds, hertz, watts (linear), joules, linear channel gains. Nothing here
draws random numbers or knows about agents. Equation numbers are the paper's.
"""

from __future__ import annotations

from mec_env.sim.battery import battery_update
from mec_env.sim.capacity import admit_within_capacity
from mec_env.sim.channel import uplink_rate, upload_delay
from mec_env.sim.compute import (
    ArrayLike,
    best_local,
    cost,
    late_penalty_cost,
    local_delay,
    local_energy,
    offload_energy,
    penalty,
    processing_delay,
    reward,
)
from mec_env.sim.queue import group_order, group_table, queue_finish_times, queue_table

__all__ = [
    "ArrayLike",
    "admit_within_capacity",
    "battery_update",
    "best_local",
    "cost",
    "group_order",
    "group_table",
    "late_penalty_cost",
    "local_delay",
    "local_energy",
    "offload_energy",
    "penalty",
    "processing_delay",
    "queue_finish_times",
    "queue_table",
    "reward",
    "upload_delay",
    "uplink_rate",
]

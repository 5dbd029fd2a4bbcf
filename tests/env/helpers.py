"""Settings shared by the environment tests."""

from __future__ import annotations

#: a `small` variant whose servers all differ (sizes, subchannels, CPUs, storage, speed), so
#: that per-server arrays cannot be mixed up without a test noticing
HETEROGENEOUS = dict(
    n_uds=9,
    n_servers=3,
    z_max=[2, 4, 3],
    subchannels=[1, 3, 2],
    n_cpus=[1, 2, 4],
    storage_bytes=[60e3, 200e3, 400e3],
    f_server_hz=[2e9, 4e9, 8e9],
)

"""The simulator's rules (mec_env.sim) are written once; where a second form exists it sits in
the same module and agrees bit for bit: each rule compiled for scalars (numba) against numpy on
arrays, the in-place forms against the rules, and the three queue walkers against one another.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from mec_env.sim import battery, capacity, channel, compute, fast, queue

RNG = np.random.default_rng(20)
N = 257


def _pos(lo, hi, size=N):
    return RNG.uniform(lo, hi, size)


# each rule with arrays for its arguments (positional), all float64
RULES = {
    "snr_term": (channel.snr_term, (_pos(0.001, 0.3), _pos(3.0, 30.0))),
    "rate_from_log2": (channel.rate_from_log2, (_pos(1e6, 5e6), _pos(1.0, 8.0))),
    "upload_delay": (channel.upload_delay, (_pos(8e3, 4e5), _pos(1e6, 3e7))),
    "requests": (compute.requests, (_pos(0.0, 1.0), RNG.integers(-1, 3, N))),
    "local_frequency": (compute.local_frequency, (_pos(0.0, 1.0), 0.4e9, 1.5e9)),
    "transmit_power": (compute.transmit_power, (_pos(0.0, 1.0), 1.26e-3, 0.251)),
    "local_delay": (compute.local_delay, (_pos(8e3, 4e5), _pos(300, 700), _pos(0.4e9, 1.5e9))),
    "local_energy": (
        compute.local_energy,
        (_pos(8e3, 4e5), _pos(300, 700), _pos(0.4e9, 1.5e9), 5e-27),
    ),
    "processing_delay": (compute.processing_delay, (_pos(8e3, 4e5), _pos(300, 700), 4e9)),
    "offload_energy": (compute.offload_energy, (_pos(0.001, 0.3), _pos(0.001, 0.5))),
    "cost": (compute.cost, (0.5, 0.5, _pos(0.0, 1.0), _pos(0.0, 1.0))),
    "penalty": (
        compute.penalty,
        (1.0, 5.0, _pos(0.1, 1.0), _pos(0.0, 1.5), _pos(0.0, 1.0), 0.15625),
    ),
    "battery_update": (
        battery.battery_update,
        (_pos(0.0, 1.0), _pos(0.0, 1.0), _pos(0, 2e-3), 1.0),
    ),
    "finish_time": (queue.finish_time, (_pos(0.0, 0.1), _pos(0.0, 0.1), _pos(0.0, 0.1))),
    "fits": (
        capacity.fits,
        (RNG.integers(0, 12, N), _pos(0, 4e6), _pos(8e3, 4e5), 10, 3.2e6),
    ),
}


@pytest.mark.skipif(not fast.available(), reason="numba not installed")
@pytest.mark.parametrize("name", sorted(RULES))
def test_each_rule_compiled_for_scalars_equals_numpy_on_arrays(name):
    from numba import njit

    fn, args = RULES[name]
    expected = fn(*args)
    rule = njit(fn)
    arrays = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]

    got = np.empty(N, dtype=np.asarray(expected).dtype)
    for j in range(N):
        call = [a[j] if i in arrays else a for i, a in enumerate(args)]
        got[j] = rule(*call)
    assert_array_equal(got, expected)  # bit for bit


def test_uplink_rate_is_its_rule_parts_and_log2():
    bw, p, g = _pos(1e6, 5e6), _pos(0.001, 0.3), _pos(3.0, 30.0)
    assert_array_equal(
        channel.uplink_rate(bw, p, g), channel.rate_from_log2(bw, np.log2(channel.snr_term(p, g)))
    )


def test_server_major_upload_delays_equal_the_rules():
    b, n, m = 3, 7, 4
    bits = RNG.uniform(8e3, 4e5, (b, n))
    gain = RNG.uniform(3.0, 30.0, (b, n, m))
    bw = RNG.uniform(1e6, 5e6, m)
    p = np.float64(0.2512)
    got = channel.upload_delays_server_major(np.empty((m, b, n)), bits, bw, p, gain)
    rate = channel.uplink_rate(bw, p, gain)  # (B, N, M)
    expected = channel.upload_delay(bits[..., None], rate)
    assert_array_equal(got, np.moveaxis(expected, -1, 0))


def test_cost_into_equals_cost():
    delay, energy = _pos(0.0, 1.0), _pos(0.0, 1.0)
    expected = compute.cost(0.7, 3.0, delay, energy)
    assert_array_equal(compute.cost_into(delay.copy(), energy.copy(), 0.7, 3.0), expected)


def _loop_queue(arrival, processing, cpus):
    """The compiled backend's walker, as plain Python: each task on the earliest CPU."""
    free = np.zeros(max(cpus, 1))
    done = np.empty(arrival.size)
    for i in range(arrival.size):
        cpu, q = queue.earliest_cpu(free, cpus)
        done[i] = free[cpu] = queue.finish_time(arrival[i], processing[i], q)
    return done


@pytest.mark.parametrize("seed", range(5))
def test_the_queue_walkers_agree(seed):
    rng = np.random.default_rng(seed)
    groups, width = 9, 12
    n_cpus = rng.integers(1, 5, groups)
    lengths = rng.integers(0, width + 1, groups)
    valid = np.arange(width)[None, :] < lengths[:, None]
    arrival = np.sort(rng.uniform(0.0, 0.05, (groups, width)), axis=1)
    arrival = np.where(valid, arrival, np.inf)
    processing = rng.uniform(0.0, 0.05, (groups, width))
    _, by_rows = queue.queue_table(arrival, processing, valid, n_cpus)
    by_positions = queue.queue_done(arrival.T, processing.T, valid.T, n_cpus).T
    for g in range(groups):
        k = lengths[g]
        expected = _loop_queue(arrival[g, :k], processing[g, :k], int(n_cpus[g]))
        assert_array_equal(by_rows[g, :k], expected)
        assert_array_equal(by_positions[g, :k], expected)


def test_idle_cost_into_equals_the_rules():
    tau_o, tau_p, p = _pos(0.0, 0.1), _pos(0.0, 0.1), np.float64(0.2512)
    expected = compute.cost(0.5, 0.5, tau_o + tau_p, compute.offload_energy(p, tau_o))
    got = compute.idle_cost_into(np.empty(N), np.empty(N), p, tau_o, tau_p, 0.5, 0.5)
    assert_array_equal(got, expected)

"""Hand-computed numbers for the model equations (3)-(14), (25), the reward, the unit
conversions, the ES queue and the admission cut, and the batched slot functions.

Every expected value is worked out in the comment beside it; numbers are chosen so the
arithmetic is exact or nearly so (p·g = 3 gives log2(4) = 2, and so on).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import mec_env
from mec_env import physics
from mec_env.config import db_to_linear, dbm_to_w, make_config
from mec_env.sim import slot

KAPPA = 5e-27  # J/(cycle·Hz²), Table 3


# ---------------------------------------------------------- unit conversions (docs/environment.md)


@pytest.mark.parametrize(
    ("dbm", "watts"),
    [
        (30.0, 1.0),  # 10^(30/10) / 1000 = 1000 / 1000
        (0.0, 1e-3),  # 10^0 / 1000
        (20.0, 0.1),  # 10^2 / 1000
        (-10.0, 1e-4),  # 10^-1 / 1000
        (24.0, 0.251188643150958),  # 10^2.4 / 1000 = 251.188... mW, the paper's p_max
        (1.0, 1.2589254117941673e-3),  # 10^0.1 / 1000, the paper's p_min
    ],
)
def test_dbm_to_watts(dbm, watts):
    assert_allclose(dbm_to_w(dbm), watts, rtol=1e-12)


@pytest.mark.parametrize(
    ("db", "linear"),
    [
        (0.0, 1.0),
        (10.0, 10.0),
        (-10.0, 0.1),
        (20.0, 100.0),
        (5.0, 3.1622776601683795),  # 10^0.5 = √10, the paper's g_min
        (14.0, 25.118864315095795),  # 10^1.4, the paper's g_max
    ],
)
def test_db_to_linear(db, linear):
    assert_allclose(db_to_linear(db), linear, rtol=1e-12)


def test_conversions_are_elementwise():
    assert_allclose(dbm_to_w(np.array([0.0, 30.0])), [1e-3, 1.0])
    assert_allclose(db_to_linear(np.array([[0.0, 10.0]])), [[1.0, 10.0]])


def test_paper_preset_in_si_units():
    cfg = make_config("paper")
    assert (cfg.n_servers, cfg.n_uds, cfg.n_slots) == (3, 48, 10)
    # 1 MB = 10^6 bytes = 8·10^6 bits; 50 MB = 4·10^8 bits
    assert cfg.task_bits == (8e6, 4e8)
    # D_m = 400 MB = 4·10^8 bytes = 3.2·10^9 bits
    assert_array_equal(cfg.storage_bits, [3.2e9] * 3)
    assert cfg.cycles_per_bit == (300.0, 700.0)
    assert cfg.deadline_s == (0.1, 1.0)
    assert (cfg.f_min_hz, cfg.f_max_hz) == (0.4e9, 1.5e9)
    assert_allclose([cfg.p_min_w, cfg.p_max_w], [1.2589254117941673e-3, 0.251188643150958])
    # b in MJ: 0.5 MJ = 5·10^5 J, 3.2 MJ = 3.2·10^6 J
    assert (cfg.b_min_j, cfg.b_max_j) == (5e5, 3.2e6)
    assert_allclose(cfg.gain_lin, (3.1622776601683795, 25.118864315095795))
    # W/K = 40 MHz / 10 = 4 MHz per subchannel
    assert_array_equal(cfg.subchannel_bw_hz, [4e6] * 3)
    assert_array_equal(cfg.z_max, [16] * 3)
    assert_array_equal(cfg.n_cpus, [8] * 3)
    assert_array_equal(cfg.f_server_hz, [4e9] * 3)
    assert (cfg.kappa, cfg.harvest_mean_j, cfg.rho_delay, cfg.rho_energy) == (5e-27, 1e-3, 0.5, 0.5)
    assert cfg.capacity == 48  # 3 servers × z_max 16


def test_paper_kb_preset_in_si_units():
    cfg = make_config("paper_kb")
    # 1 KB = 10^3 bytes = 8·10^3 bits; 50 KB = 4·10^5 bits
    assert cfg.task_bits == (8e3, 4e5)
    # D_m = 400 KB = 3.2·10^6 bits
    assert_array_equal(cfg.storage_bits, [3.2e6] * 3)
    # everything else is the paper's
    paper = make_config("paper")
    assert cfg.b_max_j == paper.b_max_j and cfg.p_max_w == paper.p_max_w
    assert mec_env.DEFAULT_PRESET == "paper_kb"


def test_paper_energy_and_small_presets():
    energy = make_config("paper_energy")
    assert energy.n_slots == 100
    # [decision] b_min keeps the paper's ratio 0.5/3.2 = 0.15625 of b_max = 1 J
    assert (energy.b_min_j, energy.b_max_j) == (0.15625, 1.0)
    assert 0.5 / 3.2 == energy.b_min_j / energy.b_max_j
    assert (energy.rho_delay, energy.rho_energy) == (1.0, 5.0)
    assert energy.task_bits == (8e3, 4e5)  # KB like paper_kb
    small = make_config("small")
    assert (small.n_uds, small.n_servers) == (6, 2)
    assert_array_equal(small.z_max, [4, 4])
    assert_array_equal(small.subchannels, [2, 2])
    assert_array_equal(small.n_cpus, [2, 2])
    assert_array_equal(small.subchannel_bw_hz, [2e7, 2e7])  # 40 MHz / 2


def test_overrides_convert_units_too():
    cfg = make_config(
        "small",
        task_bytes=[2000, 3000],
        p_tx_dbm=[0, 30],
        storage_bytes=[1000, 2000.5],
        gain_db=[0, 10],
    )
    assert cfg.task_bits == (16000.0, 24000.0)
    assert_allclose([cfg.p_min_w, cfg.p_max_w], [1e-3, 1.0])
    assert_array_equal(cfg.storage_bits, [8000.0, 16004.0])
    assert_allclose(cfg.gain_lin, (1.0, 10.0))


# ------------------------------------------------------------------ eqs. (3)-(10), (14)


def test_local_delay_eq3():
    # β = 8·10^4 bits (10 KB), c = 500 cycles/bit, f = 1 GHz: 4·10^7 / 10^9 = 0.04 s
    assert_allclose(physics.local_delay(8e4, 500, 1e9), 0.04)
    # f_max = 1.5 GHz, 1 MB at 300 cycles/bit: 8e6·300 / 1.5e9 = 1.6 s (docs/environment.md)
    assert_allclose(physics.local_delay(8e6, 300, 1.5e9), 1.6)


def test_local_energy_eq4():
    # κ β c f² = 5e-27 · 4e7 · (1e9)² = 5e-27 · 4e25 = 0.2 J
    assert_allclose(physics.local_energy(8e4, 500, 1e9, KAPPA), 0.2)
    # at f = 0.5 GHz the energy is a quarter: 0.05 J
    assert_allclose(physics.local_energy(8e4, 500, 0.5e9, KAPPA), 0.05)


def test_uplink_rate_eq6():
    # W/K = 4 MHz, p = 0.1 W, g = 30 (linear): 4e6 · log2(1 + 3) = 4e6 · 2 = 8e6 bit/s
    assert_allclose(physics.uplink_rate(4e6, 0.1, 30.0), 8e6)
    # p g = 1: log2(2) = 1, so v = W/K
    assert_allclose(physics.uplink_rate(4e6, 1e-3, 1000.0), 4e6)
    # p g = 15: log2(16) = 4
    assert_allclose(physics.uplink_rate(2e7, 1.0, 15.0), 8e7)


def test_uplink_rate_uses_linear_gain_and_watts():
    # 24 dBm and 14 dB (the paper's best case) must first become 0.2512 W and 25.12:
    # p g = 6.3096, log2(7.3096) = 2.86979, v = 4e6 · 2.86979 = 1.147915e7 bit/s
    v = physics.uplink_rate(4e6, dbm_to_w(24.0), db_to_linear(14.0))
    assert_allclose(v, 1.1479149e7, rtol=1e-6)


def test_upload_delay_eq7():
    # β / v = 8e4 / 8e6 = 0.01 s
    assert_allclose(physics.upload_delay(8e4, 8e6), 0.01)


def test_processing_delay_eq8():
    # β c / f_s = 8e4 · 500 / 4e9 = 4e7 / 4e9 = 0.01 s
    assert_allclose(physics.processing_delay(8e4, 500, 4e9), 0.01)


def test_offload_energy_eq10():
    # p τ^o = 0.1 W · 0.01 s = 1e-3 J
    assert_allclose(physics.offload_energy(0.1, 0.01), 1e-3)


def test_cost_eq14():
    # ρ1 τ + ρ2 e = 0.5 · 0.04 + 0.5 · 0.2 = 0.12
    assert_allclose(physics.cost(0.5, 0.5, 0.04, 0.2), 0.12)
    # energy variant weights: 1 · 0.04 + 5 · 0.2 = 1.04
    assert_allclose(physics.cost(1.0, 5.0, 0.04, 0.2), 1.04)
    # uncapped for a timed-out task: 0.5 · 3 + 0.5 · 1 = 2.0
    assert_allclose(physics.cost(0.5, 0.5, 3.0, 1.0), 2.0)


def test_eq9_single_task_on_idle_server():
    # One admitted task: CPU idle (τ^q = 0), τ^a = τ^p + max(τ^o, 0) = 0.01 + 0.01 = 0.02 s
    tau_q, tau_a = physics.queue_finish_times(
        np.array([0.01]), np.array([0.01]), np.array([0]), np.array([8])
    )
    assert_allclose(tau_q, [0.0])
    assert_allclose(tau_a, [0.02])


def test_paper_units_make_every_deadline_unreachable():
    """The arithmetic behind `paper_kb` (docs/environment.md, Presets), from the code."""
    paper = make_config("paper")
    beta, c = paper.task_bits[0], paper.cycles_per_bit[0]  # smallest task: 1 MB, 300 cyc/bit
    # locally at f_max: 8e6 · 300 / 1.5e9 = 1.6 s
    assert_allclose(physics.local_delay(beta, c, paper.f_max_hz), 1.6)
    # at the server: τ^p = 2.4e9 / 4e9 = 0.6 s; best upload (p_max, g_max):
    # 8e6 / 1.147915e7 = 0.6969 s; the total 1.297 s exceeds the 1 s largest deadline
    tau_p = physics.processing_delay(beta, c, paper.f_server_hz[0])
    rate = physics.uplink_rate(paper.subchannel_bw_hz[0], paper.p_max_w, paper.gain_lin[1])
    tau_o = physics.upload_delay(beta, rate)
    assert_allclose(tau_p, 0.6)
    assert_allclose(tau_o, 0.69692, atol=1e-5)
    assert tau_p + tau_o > paper.deadline_s[1]
    # with KB units the same task takes 1000 × less: 1.6 ms locally, 1.3 ms offloaded
    kb = make_config("paper_kb")
    assert_allclose(physics.local_delay(kb.task_bits[0], c, kb.f_max_hz), 1.6e-3)


# ------------------------------------------------------------------ queue, eq. (9) [decision]


def test_queue_more_tasks_than_cpus():
    # One ES with 2 CPUs, five admitted tasks. Served by arrival τ^o, ties by index:
    #   order: item1 (0.1), item3 (0.1, tie → higher index second), item2 (0.2), item0 (0.3),
    #          item4 (0.5)
    #   item1: CPUs free [0, 0] → CPU0, τ^q = 0,   done = 0.5 + max(0.1, 0)   = 0.6
    #   item3: free [0.6, 0]    → CPU1, τ^q = 0,   done = 0.4 + max(0.1, 0)   = 0.5
    #   item2: free [0.6, 0.5]  → CPU1, τ^q = 0.5, done = 0.2 + max(0.2, 0.5) = 0.7
    #   item0: free [0.6, 0.7]  → CPU0, τ^q = 0.6, done = 1.0 + max(0.3, 0.6) = 1.6
    #   item4: free [1.6, 0.7]  → CPU1, τ^q = 0.7, done = 0.1 + max(0.5, 0.7) = 0.8
    arrival = np.array([0.3, 0.1, 0.2, 0.1, 0.5])
    processing = np.array([1.0, 0.5, 0.2, 0.4, 0.1])
    tau_q, tau_a = physics.queue_finish_times(arrival, processing, np.zeros(5, int), np.array([2]))
    assert_allclose(tau_q, [0.6, 0.0, 0.5, 0.0, 0.7])
    assert_allclose(tau_a, [1.6, 0.6, 0.7, 0.5, 0.8])


def test_queue_late_arrival_on_a_cpu_that_freed_earlier():
    # 1 CPU: item0 arrives 0.1, done 0.1 + 0.1 = 0.2; item1 arrives 0.5 when the CPU has been
    # free since 0.2: τ^a = τ^p + max(τ^o, τ^q) = 0.3 + max(0.5, 0.2) = 0.8 (no waiting)
    _, tau_a = physics.queue_finish_times(
        np.array([0.1, 0.5]), np.array([0.1, 0.3]), np.array([0, 0]), np.array([1])
    )
    assert_allclose(tau_a, [0.2, 0.8])


def test_queue_ties_broken_by_ud_index():
    # 1 CPU, both arrive at 0.1. The lower tiebreak goes first.
    arrival = np.array([0.1, 0.1])
    processing = np.array([0.5, 0.4])
    # default tiebreak = item index: item0 done 0.1 + 0.5 = 0.6; item1 waits: 0.4 + 0.6 = 1.0
    _, tau_a = physics.queue_finish_times(arrival, processing, np.array([0, 0]), np.array([1]))
    assert_allclose(tau_a, [0.6, 1.0])
    # explicit UD indices 7 and 3: item1 (UD 3) first: done 0.1 + 0.4 = 0.5;
    # item0 (UD 7) waits: 0.5 + max(0.1, 0.5) = 1.0
    _, tau_a = physics.queue_finish_times(
        arrival, processing, np.array([0, 0]), np.array([1]), tiebreak=np.array([7, 3])
    )
    assert_allclose(tau_a, [1.0, 0.5])


def test_queue_heterogeneous_cpus_across_groups():
    # Group 0 has 1 CPU, group 1 has 3; the same three tasks (arrival 0.1, 0.2, 0.3;
    # processing 1.0 each) go to each group.
    #   group 0: 1.1; then 1.0 + max(0.2, 1.1) = 2.1; then 1.0 + max(0.3, 2.1) = 3.1
    #   group 1: three idle CPUs: 1.1, 1.2, 1.3, all τ^q = 0
    arrival = np.array([0.1, 0.2, 0.3, 0.1, 0.2, 0.3])
    processing = np.ones(6)
    group = np.array([0, 0, 0, 1, 1, 1])
    tau_q, tau_a = physics.queue_finish_times(arrival, processing, group, np.array([1, 3]))
    assert_allclose(tau_a, [1.1, 2.1, 3.1, 1.1, 1.2, 1.3])
    assert_allclose(tau_q, [0.0, 1.1, 2.1, 0.0, 0.0, 0.0])


def test_queue_groups_are_interleaved_and_empty_groups_allowed():
    # items listed out of group order; group 1 has no items
    arrival = np.array([0.2, 0.1, 0.3])
    processing = np.array([0.1, 0.1, 0.1])
    group = np.array([2, 0, 2])
    # group 0 (1 CPU): 0.2. group 2 (1 CPU): item0 0.3, item2 0.1 + max(0.3, 0.3) = 0.4
    _, tau_a = physics.queue_finish_times(arrival, processing, group, np.array([1, 4, 1]))
    assert_allclose(tau_a, [0.3, 0.2, 0.4])
    empty_q, empty_a = physics.queue_finish_times(
        np.zeros(0), np.zeros(0), np.zeros(0, int), np.array([2])
    )
    assert empty_q.shape == empty_a.shape == (0,)


# ------------------------------------------------------------------ admission cut (15i), (15j)


def test_admit_subchannel_cut():
    # 4 approved requests at one ES with K = 2, storage large: the 2 of lowest priority
    # (items 2 and 0, priorities 0.1 and 0.2) are admitted.
    ok = physics.admit_within_capacity(
        np.array([0.2, 0.4, 0.1, 0.3]),
        np.zeros(4, int),
        np.full(4, 10.0),
        np.array([2]),
        np.array([1e9]),
    )
    assert_array_equal(ok, [True, False, True, False])


def test_admit_storage_cut_skips_and_continues():
    # K = 3, D = 10 bits, priority order 0, 1, 2, 3, sizes 6, 5, 3, 1:
    #   6 fits (6); 5 would make 11 > 10, skipped; 3 fits (9, 2 channels used);
    #   1 fits (10 = D, allowed) and takes the 3rd channel.
    bits = np.array([6.0, 5.0, 3.0, 1.0])
    prio = np.arange(4.0)
    ok = physics.admit_within_capacity(
        prio, np.zeros(4, int), bits, np.array([3]), np.array([10.0])
    )
    assert_array_equal(ok, [True, False, True, True])
    # with K = 2 the last one no longer has a channel
    ok = physics.admit_within_capacity(
        prio, np.zeros(4, int), bits, np.array([2]), np.array([10.0])
    )
    assert_array_equal(ok, [True, False, True, False])


def test_admit_per_group_capacities_and_ties():
    # group 0: K = 1; group 1: K = 2, D = 5. Equal priorities are taken by index.
    prio = np.array([0.0, 0.0, 0.0, 0.0, 0.0])
    group = np.array([1, 0, 1, 0, 1])
    bits = np.array([3.0, 1.0, 3.0, 1.0, 2.0])
    # group 0: item1 then item3 (K = 1) → item1 only.
    # group 1: item0 (3), item2 (3+3 = 6 > 5, skipped), item4 (3+2 = 5) → items 0 and 4.
    ok = physics.admit_within_capacity(prio, group, bits, np.array([1, 2]), np.array([100.0, 5.0]))
    assert_array_equal(ok, [True, True, False, False, True])
    # an explicit tiebreak reverses the order within a group
    ok = physics.admit_within_capacity(
        prio,
        group,
        bits,
        np.array([1, 2]),
        np.array([100.0, 5.0]),
        tiebreak=np.array([4, 3, 2, 1, 0]),
    )
    # group 0: item3 first. group 1 order item4 (2), item2 (2+3 = 5), item0 (no channel left)
    assert_array_equal(ok, [False, False, True, True, True])


# ------------------------------------------------------------------ battery (13), penalty (25)


def test_battery_update_eq13():
    b = np.array([1.0, 0.1, 0.9999, 0.5])
    e = np.array([0.2, 0.2, 0.0, 0.0])
    d = np.array([1e-3, 1e-3, 2e-3, 1e-3])
    # 1.0 − 0.2 + 0.001 = 0.801; 0.1 − 0.2 + 0.001 < 0 → 0; 0.9999 + 0.002 > 1 → b_max = 1;
    # 0.5 + 0.001 = 0.501
    assert_allclose(physics.battery_update(b, e, d, 1.0), [0.801, 0.0, 1.0, 0.501])


def test_penalty_eq25():
    rho1, rho2, b_min = 0.5, 0.5, 0.15625
    # on time and battery above b_min: 0
    assert physics.penalty(rho1, rho2, 0.05, 0.04, 0.801, b_min) == 0.0
    # 10 ms late: 0.5 · (0.03 − 0.04) = −0.005
    assert_allclose(physics.penalty(rho1, rho2, 0.03, 0.04, 0.801, b_min), -0.005)
    # battery 0.1 J < b_min: 0.5 · (0.1 − 0.15625) = −0.028125
    assert_allclose(physics.penalty(rho1, rho2, 0.05, 0.04, 0.1, b_min), -0.028125)
    # both, energy weights 1 and 5: 1 · (−0.01) + 5 · (−0.05625) = −0.29125
    assert_allclose(physics.penalty(1.0, 5.0, 0.03, 0.04, 0.1, b_min), -0.29125)


def test_reward_sign_decision():
    # [decision] r_n = −mean_k C_k + P_n. Costs 1 and 3 (mean 2), penalties 0 and −0.5:
    costs = np.array([[1.0, 3.0]])
    pens = np.array([[0.0, -0.5]])
    r = physics.reward(costs, pens)
    assert_allclose(r, [[-2.0, -2.5]])
    # the penalised UD gets less; the printed eq. (26), −(C̄ + P), would have given it −1.5
    assert r[0, 1] < r[0, 0]
    assert r[0, 1] != -(costs.mean() + pens[0, 1])
    # batched: the mean is per row
    r = physics.reward(np.array([[1.0, 3.0], [0.0, 4.0]]), np.zeros((2, 2)))
    assert_allclose(r, [[-2.0, -2.0], [-2.0, -2.0]])


def test_late_penalty_cost():
    # C + ρ1 max(τ − φ, 0) = 0.12 + 0.5 · (0.04 − 0.03) = 0.125; on time: just the cost 0.12
    assert_allclose(physics.late_penalty_cost(0.5, 0.5, 0.04, 0.2, 0.03), 0.125)
    assert_allclose(physics.late_penalty_cost(0.5, 0.5, 0.04, 0.2, 0.05), 0.12)


# ------------------------------------------------------------------ best_local


def test_best_local_loose_deadline():
    # β = 8e3, c = 300: βc = 2.4e6 cycles; φ = 1 s, so f* = 4.6416e8 Hz is on time.
    # A = ρ1 βc = 1.2e6, B = ρ2 κ βc = 6e-21; at f*, B f*² = A / (2 f*), so the minimum is
    # 1.5 A / f* = 1.5 · 1.2e6 / 4.6416e8 = 3.8780e-3
    f, obj = physics.best_local(8e3, 300, 1.0, 0.5, 0.5, KAPPA, 0.4e9, 1.5e9)
    assert_allclose(f, 4.641588833612779e8)
    assert_allclose(obj, 3.8780e-3, rtol=1e-4)


def test_best_local_deadline_binds():
    # β = 4e5, c = 700: βc = 2.8e8; φ = 0.5 s needs f ≥ βc/φ = 5.6e8 > f* = 4.64e8.
    #   just in time, f = 5.6e8: 0.5 · 0.5 + 0.5 · 5e-27 · 2.8e8 · 3.136e17 = 0.25 + 0.21952
    #                            = 0.46952
    #   at f* (late by 0.10324 s): 0.30162 + 0.15081 + 0.5 · 0.10324 = 0.50405
    #   at f_min 0.4 GHz (late 0.2 s): 0.35 + 0.112 + 0.1 = 0.562
    f, obj = physics.best_local(4e5, 700, 0.5, 0.5, 0.5, KAPPA, 0.4e9, 1.5e9)
    assert_allclose(f, 5.6e8)
    assert_allclose(obj, 0.46952)


def test_best_local_energy_weights_pick_f_min():
    # ρ1 = 1, ρ2 = 5: f* = 2.7e8 is below f_min, so f_min 0.4 GHz; with βc = 2.4e6 and φ = 1
    # it is on time: 1 · 2.4e6/4e8 + 5 · 5e-27 · 2.4e6 · 1.6e17 = 6e-3 + 9.6e-3 = 1.56e-2
    f, obj = physics.best_local(8e3, 300, 1.0, 1.0, 5.0, KAPPA, 0.4e9, 1.5e9)
    assert f == 0.4e9
    assert_allclose(obj, 1.56e-2)


def test_best_local_is_the_grid_minimum():
    rng = np.random.default_rng(0)
    bits, c = rng.uniform(8e3, 4e5, 300), rng.uniform(300, 700, 300)
    phi = rng.uniform(0.1, 1.0, 300)
    f, obj = physics.best_local(bits, c, phi, 0.5, 0.5, KAPPA, 0.4e9, 1.5e9)
    assert np.all((f >= 0.4e9) & (f <= 1.5e9))
    grid = np.linspace(0.4e9, 1.5e9, 4001)
    w = (bits * c)[:, None]
    on_grid = physics.late_penalty_cost(0.5, 0.5, w / grid, KAPPA * w * grid**2, phi[:, None])
    assert np.all(obj <= on_grid.min(axis=1) + 1e-12)
    # and the returned objective is the objective at the returned f
    assert_allclose(
        obj, physics.late_penalty_cost(0.5, 0.5, bits * c / f, KAPPA * bits * c * f**2, phi)
    )


def test_best_local_with_a_zero_weight():
    # Regression: rho_energy = 0 (a valid config) once raised ZeroDivisionError.
    # Delay only: run as fast as possible, objective ρ1 βc / f_max = 1 · 2.4e6 / 1.5e9 = 1.6e-3
    f, obj = physics.best_local(8e3, 300, 1.0, 1.0, 0.0, KAPPA, 0.4e9, 1.5e9)
    assert f == 1.5e9
    assert_allclose(obj, 1.6e-3)
    # Energy only: as slow as possible, ρ2 κ βc f_min² = 1 · 5e-27 · 2.4e6 · 1.6e17 = 1.92e-3
    f, obj = physics.best_local(8e3, 300, 1.0, 0.0, 1.0, KAPPA, 0.4e9, 1.5e9)
    assert f == 0.4e9
    assert_allclose(obj, 1.92e-3)


@pytest.mark.parametrize(("rho_delay", "rho_energy"), [(1.0, 0.0), (0.0, 1.0)])
def test_saving_first_admission_with_a_zero_weight(rho_delay, rho_energy):
    env = mec_env.parallel_env(
        "small",
        rho_delay=rho_delay,
        rho_energy=rho_energy,
        es_agents=False,
        admission="saving_first",
    )
    env.reset(seed=0)
    env.step({a: np.array([1.0, 0.5, 1.0], np.float32) for a in env.agents})
    assert np.all(np.isfinite(env.last_step["cost"]))


# ------------------------------------------------------------------ slot.* on a B = 2 batch


@pytest.fixture
def tiny_cfg():
    # W/K = 8 MHz / 2 = 4 MHz; p in [1 mW, 1 W]; f in [0.1, 1] GHz; f_s = 4 GHz; 1 CPU
    return make_config(
        "small",
        n_uds=2,
        n_servers=2,
        z_max=2,
        subchannels=2,
        n_cpus=1,
        bandwidth_hz=8e6,
        p_tx_dbm=[0.0, 30.0],
        f_local_hz=[1e8, 1e9],
        f_server_hz=4e9,
        kappa=KAPPA,
        battery_j=[0.15625, 1.0],
        rho_delay=0.5,
        rho_energy=0.5,
    )


def test_slot_ud_controls(tiny_cfg):
    actions = np.array([[[0.7, 0.5, 0.1], [0.2, 0.05, 0.0005]], [[0.5, 1.0, 1.0], [0.9, 0.3, 0.2]]])
    server = np.array([[0, 1], [1, -1]])
    requested, f_hz, p_w = slot.ud_controls(tiny_cfg, actions, server)
    # x ≥ 0.5 and matched: row 0 [0.7 yes, 0.2 no]; row 1 [0.5 yes (boundary), unmatched no]
    assert_array_equal(requested, [[True, False], [True, False]])
    # f = max(1e8, f^u · 1e9): 5e8, max(1e8, 5e7) = 1e8; 1e9, 3e8
    assert_allclose(f_hz, [[5e8, 1e8], [1e9, 3e8]])
    # [decision] p = max(1e-3 W, p^u · 1 W): 0.1, max(1e-3, 5e-4) = 1e-3; 1.0, 0.2
    assert_allclose(p_w, [[0.1, 1e-3], [1.0, 0.2]])


def test_slot_offload_terms(tiny_cfg):
    bits = np.array([[8e4, 8e4], [8e4, 1.6e5]])
    c = np.full((2, 2), 500.0)
    gain = np.array([[[30.0, 1.0], [1.0, 1000.0]], [[1.0, 15.0], [50.0, 50.0]]])
    server = np.array([[0, 1], [1, -1]])
    p_w = np.array([[0.1, 1e-3], [1.0, 0.2]])
    tau_o, tau_p, e_o = slot.offload_terms(tiny_cfg, bits, c, gain, server, p_w)
    # row 0, UD0 at ES0: p g = 3 → v = 4e6 · 2 = 8e6, τ^o = 8e4/8e6 = 0.01, e = 0.1 · 0.01
    # row 0, UD1 at ES1: p g = 1 → v = 4e6, τ^o = 0.02, e = 1e-3 · 0.02 = 2e-5
    # row 1, UD0 at ES1: p g = 15 → v = 1.6e7, τ^o = 0.005, e = 1 · 0.005
    # row 1, UD1 unmatched: all zero
    # τ^p = 8e4 · 500 / 4e9 = 0.01 for every matched UD
    assert_allclose(tau_o, [[0.01, 0.02], [0.005, 0.0]])
    assert_allclose(tau_p, [[0.01, 0.01], [0.01, 0.0]])
    assert_allclose(e_o, [[1e-3, 2e-5], [5e-3, 0.0]])


def test_slot_admit_batch():
    # 3 UDs, 2 ESs: ES0 K = 1, D = 20 KB = 1.6e5 bits; ES1 K = 2, D = 1.25e5 B = 1e6 bits.
    cfg = make_config(
        "small", n_uds=3, n_servers=2, z_max=3, subchannels=[1, 2], storage_bytes=[20_000, 125_000]
    )
    approved = np.ones((2, 3), dtype=bool)
    # row 0: UD0, UD1 at ES0 (K = 1: the lower priority, UD1, wins); UD2 alone at ES1.
    # row 1: all at ES1, sizes 9e5, 2e5, 1e5 in priority order: 9e5 in; 9e5 + 2e5 > 1e6
    #        skipped; 9e5 + 1e5 = 1e6 fits exactly.
    priority = np.array([[0.2, 0.1, 0.3], [0.0, 1.0, 2.0]])
    server = np.array([[0, 0, 1], [1, 1, 1]])
    bits = np.array([[8e4, 8e4, 8e4], [9e5, 2e5, 1e5]])
    offloaded = slot.admit(cfg, approved, priority, server, bits)
    assert_array_equal(offloaded, [[False, True, True], [True, False, True]])
    # unapproved and unmatched requests are never admitted
    approved[0, 1] = False
    server[1, 0] = -1
    offloaded = slot.admit(cfg, approved, priority, server, bits)
    # row 0: UD0 now wins ES0; row 1: UD0 gone: 2e5 + 1e5 both fit
    assert_array_equal(offloaded, [[True, False, True], [False, True, True]])


def test_slot_resolve_batch(tiny_cfg):
    # Inputs of test_slot_offload_terms/ud_controls; UD0 offloads in both rows, UD1 local.
    out = slot.resolve(
        tiny_cfg,
        bits=np.array([[8e4, 8e4], [8e4, 1.6e5]]),
        cycles_per_bit=np.full((2, 2), 500.0),
        deadline_s=np.array([[0.5, 0.3], [0.01, 1.0]]),
        server=np.array([[0, 1], [1, -1]]),
        offloaded=np.array([[True, False], [True, False]]),
        f_hz=np.array([[5e8, 1e8], [1e9, 3e8]]),
        upload_s=np.array([[0.01, 0.02], [0.005, 0.0]]),
        processing_s=np.array([[0.01, 0.01], [0.01, 0.0]]),
        offload_energy_j=np.array([[1e-3, 2e-5], [5e-3, 0.0]]),
        battery_j=np.array([[1.0, 0.16], [1.0, 0.05]]),
        harvest_j=np.array([[1e-3, 0.0], [0.0, 2e-3]]),
    )
    # (11)-(12): row 0 UD0 offloaded: τ = 0.01 + max(0.01, 0) = 0.02, e = 1e-3
    #            row 0 UD1 local at 1e8: τ = 4e7/1e8 = 0.4, e = 5e-27 · 4e7 · 1e16 = 2e-3
    #            row 1 UD0 offloaded: τ = 0.01 + 0.005 = 0.015, e = 5e-3
    #            row 1 UD1 local at 3e8: βc = 8e7, τ = 0.26667, e = 5e-27 · 8e7 · 9e16 = 0.036
    assert_allclose(out["delay_s"], [[0.02, 0.4], [0.015, 8e7 / 3e8]])
    assert_allclose(out["energy_j"], [[1e-3, 2e-3], [5e-3, 0.036]])
    # (14): 0.5 τ + 0.5 e
    cost = np.array([[0.0105, 0.201], [0.01, 0.5 * 8e7 / 3e8 + 0.018]])
    assert_allclose(out["cost"], cost)
    # (13): min(1 − 1e-3 + 1e-3, 1) = 1; 0.16 − 0.002 = 0.158; 1 − 0.005 = 0.995;
    #       0.05 − 0.036 + 0.002 = 0.016
    assert_allclose(out["battery_j"], [[1.0, 0.158], [0.995, 0.016]])
    assert_array_equal(out["timed_out"], [[False, True], [True, False]])
    assert_array_equal(out["below_b_min"], [[False, False], [False, True]])
    # (25): row 0 UD1 late 0.1 s → −0.05; row 1 UD0 late 5 ms → −0.0025;
    #       row 1 UD1 battery 0.016 < 0.15625 → 0.5 · (−0.14025) = −0.070125
    assert_allclose(out["penalty"], [[0.0, -0.05], [-0.0025, -0.070125]], atol=1e-15)
    # reward: −mean cost of the row + own penalty
    mean = cost.mean(axis=1, keepdims=True)
    assert_allclose(out["reward"], -mean + np.array([[0.0, -0.05], [-0.0025, -0.070125]]))
    assert_allclose(out["reward"][0], [-0.10575, -0.15575])


def test_slot_resolve_queues_per_row_and_server(tiny_cfg):
    # Both UDs offload to ES0 in row 0 (1 CPU): UD0 done 0.01 + 0.01 = 0.02;
    # UD1 arrives 0.015 but waits: 0.01 + max(0.015, 0.02) = 0.03.
    # Row 1 puts them on different servers: no queueing, 0.02 and 0.025.
    out = slot.resolve(
        tiny_cfg,
        bits=np.full((2, 2), 8e4),
        cycles_per_bit=np.full((2, 2), 500.0),
        deadline_s=np.ones((2, 2)),
        server=np.array([[0, 0], [0, 1]]),
        offloaded=np.ones((2, 2), dtype=bool),
        f_hz=np.full((2, 2), 1e9),
        upload_s=np.array([[0.01, 0.015], [0.01, 0.015]]),
        processing_s=np.full((2, 2), 0.01),
        offload_energy_j=np.full((2, 2), 1e-3),
        battery_j=np.ones((2, 2)),
        harvest_j=np.zeros((2, 2)),
    )
    assert_allclose(out["delay_s"], [[0.02, 0.03], [0.02, 0.025]])
    assert_allclose(out["energy_j"], np.full((2, 2), 1e-3))


# ------------------------------------------------------------------ battery and harvest in env


def _run_episode(env, action_fn, seed=0):
    env.reset(seed=seed)
    steps = []
    while env.agents:
        battery_before = env.battery_j.copy()
        env.step({a: action_fn(a) for a in env.agents})
        steps.append((battery_before, dict(env.last_step)))
    return steps


def test_battery_and_harvest_in_env():
    # paper_energy: b_max = 1 J. A large mean harvest (0.3 J) and f at f_min make the upper
    # clip bind; harvest must be U[0, 2·d_mean].
    env = mec_env.parallel_env("paper_energy", harvest_mean_j=0.3, es_agents=False)
    low = np.array([0.0, 0.0, 0.0], np.float32)
    steps = _run_episode(env, lambda a: low)
    assert len(steps) == 100
    harvest = np.concatenate([s["harvest_j"] for _, s in steps])
    assert harvest.min() >= 0.0 and harvest.max() <= 0.6
    assert abs(harvest.mean() - 0.3) < 0.3 * 0.05  # 4800 draws: s.e. ≈ 0.6 %
    at_max = 0
    for before, s in steps:
        expected = np.minimum(np.maximum(before - s["energy_j"] + s["harvest_j"], 0.0), 1.0)
        assert_allclose(s["battery_j"], expected)
        assert np.all((s["battery_j"] >= 0.0) & (s["battery_j"] <= 1.0))
        at_max += int(np.sum(s["battery_j"] == 1.0))
    assert at_max > 0


def test_battery_drains_to_zero_not_below():
    # paper_energy at f_max: up to 5e-27 · 2.8e8 · 2.25e18 = 3.15 J per task > b_max = 1 J
    env = mec_env.parallel_env("paper_energy", n_slots=5, es_agents=False)
    high = np.array([0.0, 1.0, 0.0], np.float32)
    steps = _run_episode(env, lambda a: high)
    for before, s in steps:
        assert_allclose(
            s["battery_j"], np.minimum(np.maximum(before - s["energy_j"] + s["harvest_j"], 0), 1)
        )
        # harvest of the default d = 1e-3 J is in [0, 2e-3]
        assert np.all((s["harvest_j"] >= 0) & (s["harvest_j"] <= 2e-3))
    last = steps[-1][1]
    assert np.any(last["battery_j"] < 2e-3)  # drained to the floor (plus ≤ one harvest)
    assert np.all(last["battery_j"] >= 0.0)
    assert np.all(last["below_b_min"] == (last["battery_j"] < 0.15625))


def test_env_reward_is_minus_mean_cost_plus_penalty():
    env = mec_env.parallel_env("small")
    env.reset(seed=3)
    rng = np.random.default_rng(3)
    while env.agents:
        actions = {a: env.action_space(a).sample() for a in env.agents}
        actions.update({a: rng.random(3).astype(np.float32) for a in env.ud_agents})
        _, rewards, _, _, infos = env.step(actions)
        s = env.last_step
        assert np.all(s["penalty"] <= 0.0)
        expected = -s["cost"].mean() + s["penalty"]
        assert_allclose([rewards[a] for a in env.ud_agents], expected)
        assert_allclose(s["reward"], expected)
        for a in env.es_agent_names:
            assert_allclose(rewards[a], expected.mean())
        # timed-out tasks are penalised by exactly ρ1 (φ − τ) (battery stays high here)
        late = s["timed_out"]
        assert_allclose(s["penalty"][late], 0.5 * (s["deadline_s"] - s["delay_s"])[late])
        assert np.all(s["penalty"][~late] == 0.0)

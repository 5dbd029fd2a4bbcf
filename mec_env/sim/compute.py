"""Computing a task: the UD's controls (eqs. 21-23), local and remote compute (eqs. 3, 4, 8),
the offload energy (10), the cost (14), the penalty (25) and the reward, each written once.

Like :mod:`mec_env.sim.channel`, every rule here is arithmetic and ``np.minimum``/``np.maximum``
only: numpy evaluates it on arrays, the compiled backend compiles the same function for
scalars (``numba.njit``), with the same operations in the same order (bit-identical). SI units.
"""

from __future__ import annotations

import numpy as np

ArrayLike = np.ndarray | float


def requests(x_u, server):
    """Eq. (21): a UD requests offloading iff x^u ≥ 0.5 and it is matched."""
    return (x_u >= 0.5) & (server >= 0)


def local_frequency(f_u, f_min_hz, f_max_hz):
    """Eq. (22): f = max(f_min, f^u f_max), in Hz."""
    return np.maximum(f_min_hz, f_u * f_max_hz)


def transmit_power(p_u, p_min_w, p_max_w):
    """Eq. (23), **[decision]** in watts: p = max(p_min, p^u p_max), in W."""
    return np.maximum(p_min_w, p_u * p_max_w)


def local_delay(bits, cycles_per_bit, f_hz):
    """Eq. (3): τ^l = β c / f, in s (β in bits, f in Hz)."""
    return bits * cycles_per_bit / f_hz


def local_energy(bits, cycles_per_bit, f_hz, kappa):
    """Eq. (4): e^l = κ β c f², in J."""
    return kappa * bits * cycles_per_bit * (f_hz * f_hz)


def processing_delay(bits, cycles_per_bit, f_server_hz):
    """Eq. (8): τ^p = β c / f_s, in s."""
    return bits * cycles_per_bit / f_server_hz


def offload_energy(p_w, upload_delay_s):
    """Eq. (10): e^o = p τ^o, in J. The ES's own energy is not counted."""
    return p_w * upload_delay_s


def cost(rho_delay, rho_energy, delay_s, energy_j):
    """Eq. (14): C = ρ1 τ + ρ2 e (uncapped, also for timed-out tasks)."""
    return rho_delay * delay_s + rho_energy * energy_j


def penalty(rho_delay, rho_energy, deadline_s, delay_s, battery_next_j, b_min_j):
    """Eq. (25): P = ρ1 min(φ − τ, 0) + ρ2 min(b(t+1) − b_min, 0), always ≤ 0."""
    late = np.minimum(deadline_s - delay_s, 0.0)
    low = np.minimum(battery_next_j - b_min_j, 0.0)
    return rho_delay * late + rho_energy * low


def reward(costs: np.ndarray, penalties: np.ndarray) -> np.ndarray:
    """Per-UD reward, **[decision]** r_n = −(1/N) Σ_k C_k + P_n over the last axis.

    The printed eq. (26), −(C̄ + P_n), would turn the (non-positive) penalty into a bonus.
    The compiled backend takes the mean with numpy's pairwise sum (identical bits).
    """
    return -np.mean(costs, axis=-1, keepdims=True) + penalties


def late_penalty_cost(rho_delay, rho_energy, delay_s, energy_j, deadline_s):
    """Cost plus the timeout part of the penalty: C + ρ1 max(τ − φ, 0), the quantity the
    heuristics minimise (the negative of a UD's own reward terms, ignoring the battery)."""
    delay_s = np.asarray(delay_s)
    return cost(rho_delay, rho_energy, delay_s, energy_j) + rho_delay * np.maximum(
        delay_s - deadline_s, 0.0
    )


def best_local(
    bits: ArrayLike,
    cycles_per_bit: ArrayLike,
    deadline_s: ArrayLike,
    rho_delay: float,
    rho_energy: float,
    kappa: float,
    f_min_hz: float,
    f_max_hz: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The local frequency minimising cost + timeout penalty, and that minimum.

    With A = ρ1βc and B = ρ2κβc the objective is A/f + Bf² when on time (f ≥ βc/φ) and
    2A/f + Bf² − ρ1φ when late, so the optimum is one of (A/2B)^(1/3), (A/B)^(1/3), βc/φ,
    f_min, f_max (each clipped to [f_min, f_max]). Returns ``(f_hz, objective)``.
    """
    work = np.asarray(bits, dtype=np.float64) * cycles_per_bit
    deadline_s = np.asarray(deadline_s, dtype=np.float64)
    if rho_energy > 0 and rho_delay > 0:
        f_on_time = (rho_delay / (2.0 * rho_energy * kappa)) ** (1.0 / 3.0)
        f_late = (rho_delay / (rho_energy * kappa)) ** (1.0 / 3.0)
    else:  # one weight is zero: the objective is monotone in f
        f_on_time = f_late = f_max_hz if rho_energy == 0 else f_min_hz
    on_time = np.full(work.shape, f_on_time)
    late = np.full(work.shape, f_late)
    just_in_time = work / deadline_s
    cands = np.stack(
        [on_time, late, just_in_time, np.full(work.shape, f_min_hz), np.full(work.shape, f_max_hz)],
        axis=-1,
    )
    cands = np.clip(cands, f_min_hz, f_max_hz)
    delay = local_delay(work[..., None], 1.0, cands)  # βc·1 = βc exactly
    energy = local_energy(work[..., None], 1.0, cands, kappa)
    obj = late_penalty_cost(rho_delay, rho_energy, delay, energy, deadline_s[..., None])
    best = np.argmin(obj, axis=-1)[..., None]
    return (
        np.take_along_axis(cands, best, axis=-1)[..., 0],
        np.take_along_axis(obj, best, axis=-1)[..., 0],
    )


def cost_into(delay_s: np.ndarray, energy_j: np.ndarray, rho_delay, rho_energy) -> np.ndarray:
    """:func:`cost` in place, for the batched co-selection scorer's large arrays (a fresh
    temporary costs page faults): ``delay_s`` becomes ρ1 τ + ρ2 e, ``energy_j`` is
    clobbered. The same operations as :func:`cost` (``tests/env/test_sim_rules.py``)."""
    delay_s *= rho_delay
    energy_j *= rho_energy
    delay_s += energy_j
    return delay_s


def idle_cost_into(
    out: np.ndarray,
    scratch: np.ndarray,
    p_w,
    upload_s: np.ndarray,
    processing_s: np.ndarray,
    rho_delay,
    rho_energy,
) -> np.ndarray:
    """The offload cost with an idle CPU, ρ1 (τ^o + τ^p) + ρ2 p τ^o (eqs. 9, 10, 14), into
    ``out``, in place (``scratch`` clobbered): :func:`cost` of :func:`offload_energy` for the
    batched co-selection scorer's large arrays (``tests/env/test_sim_rules.py``)."""
    np.add(upload_s, processing_s, out=out)
    np.multiply(p_w, upload_s, out=scratch)
    return cost_into(out, scratch, rho_delay, rho_energy)

"""One slot's physics after matching (docs/environment.md, steps 4-6), as pure batched functions.

Arrays have shape (B, N): a leading batch axis of B independent environment copies (or B
candidate decisions of one slot, as the exact oracle uses it) and N UDs. Per-server
parameters come from the :class:`~mec_env.config.EnvConfig` and have shape (M,). The numpy
backend (:class:`mec_env.sim.backend.NumpyBackend`) calls these; each formula is a rule of
:mod:`mec_env.sim` (channel, compute, battery, queue, capacity).

:class:`SlotState` is what matchers and admission rules see of a slot (also importable from
:mod:`mec_env.matching` and as ``mec_env.SlotState``).
"""

from __future__ import annotations

import numpy as np

from mec_env.sim.battery import battery_update
from mec_env.sim.capacity import admit_within_capacity
from mec_env.sim.channel import uplink_rate, upload_delay
from mec_env.sim.compute import (
    cost,
    local_delay,
    local_energy,
    local_frequency,
    offload_energy,
    penalty,
    processing_delay,
    requests,
    reward,
    transmit_power,
)
from mec_env.sim.params import EnvConfig
from mec_env.sim.queue import queue_finish_times
from mec_env.sim.state import SlotState, gain_at

__all__ = ["SlotState", "admit", "offload_terms", "resolve", "ud_controls"]


def ud_controls(
    cfg: EnvConfig, ud_actions: np.ndarray, server: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map UD actions (…, N, 3) in [0, 1] to (requested, f_hz, p_w), eqs. (21)-(23).

    A UD requests offloading iff x^u ≥ 0.5 and it is matched; f = max(f_min, f^u f_max);
    **[decision]** p = max(p_min, p^u p_max) with both bounds in watts.
    """
    requested = requests(ud_actions[..., 0], server)
    f_hz = local_frequency(ud_actions[..., 1], cfg.f_min_hz, cfg.f_max_hz)
    p_w = transmit_power(ud_actions[..., 2], cfg.p_min_w, cfg.p_max_w)
    return requested, f_hz, p_w


def offload_terms(
    cfg: EnvConfig,
    bits: np.ndarray,
    cycles_per_bit: np.ndarray,
    gain: np.ndarray,
    server: np.ndarray,
    p_w: np.ndarray,
    near: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(τ^o, τ^p, e^o) of each UD at its matched server, eqs. (6)-(8), (10); 0 if unmatched.

    ``gain`` is (…, N, M) linear, or (…, N, K) to the ESs ``near`` with reach; the others
    (…, N).
    """
    matched = server >= 0
    srv = np.where(matched, server, 0)
    g = gain_at(gain, srv, near)
    rate = uplink_rate(cfg.subchannel_bw_hz[srv], p_w, g)
    tau_o = np.where(matched, upload_delay(bits, rate), 0.0)
    tau_p = np.where(matched, processing_delay(bits, cycles_per_bit, cfg.f_server_hz[srv]), 0.0)
    return tau_o, tau_p, offload_energy(p_w, tau_o)


def _flat_groups(server: np.ndarray, n_servers: int, flat: np.ndarray) -> np.ndarray:
    """Group id b*M + m of the (b, n) entries at ``flat`` (indices into ``server.ravel()``)."""
    groups = np.take(server, flat)
    if server.ndim == 2:
        groups += flat // server.shape[1] * n_servers
    return groups


def _per_group(per_server: np.ndarray, batch: int) -> np.ndarray:
    return per_server if batch == 1 else np.tile(per_server, batch)


def admit(
    cfg: EnvConfig, approved: np.ndarray, priority: np.ndarray, server: np.ndarray, bits: np.ndarray
) -> np.ndarray:
    """Enforce (15i) K and (15j) D_m on the approved requests, in ascending ``priority``
    (ties by UD index). All arrays (B, N); returns the bool (B, N) ``offloaded`` mask."""
    approved = approved & (server >= 0)
    b = server.shape[0]
    flat = np.flatnonzero(approved.ravel())
    groups = _flat_groups(server, cfg.n_servers, flat)
    ok = admit_within_capacity(
        priority.ravel()[flat],
        groups,
        bits.ravel()[flat],
        _per_group(cfg.subchannels, b),
        _per_group(cfg.storage_bits, b),
        tiebreak=flat,
    )
    offloaded = np.zeros(approved.size, dtype=bool)
    offloaded[flat[ok]] = True
    return offloaded.reshape(approved.shape)


def resolve(
    cfg: EnvConfig,
    *,
    bits: np.ndarray,
    cycles_per_bit: np.ndarray,
    deadline_s: np.ndarray,
    server: np.ndarray,
    offloaded: np.ndarray,
    f_hz: np.ndarray,
    upload_s: np.ndarray,
    processing_s: np.ndarray,
    offload_energy_j: np.ndarray,
    battery_j: np.ndarray,
    harvest_j: np.ndarray,
) -> dict[str, np.ndarray]:
    """Delays, energies, costs, penalties, rewards and the battery update of a slot.

    All inputs (B, N). Offloaded tasks go through the ES CPU queue (eq. 9); the others run
    locally at ``f_hz`` (eqs. 3-4). Returns arrays (B, N): ``delay_s``, ``energy_j``, ``cost``,
    ``battery_j`` (after eq. 13), ``penalty`` (25), ``reward``, ``timed_out``, ``below_b_min``.
    """
    b = server.shape[0]
    flat = np.flatnonzero(offloaded.ravel())
    _, finish = queue_finish_times(
        upload_s.ravel()[flat],
        processing_s.ravel()[flat],
        _flat_groups(server, cfg.n_servers, flat),
        _per_group(cfg.n_cpus, b),
        tiebreak=flat,
    )
    delay = local_delay(bits, cycles_per_bit, f_hz).ravel()
    energy = local_energy(bits, cycles_per_bit, f_hz, cfg.kappa).ravel()
    delay[flat] = finish
    energy[flat] = offload_energy_j.ravel()[flat]
    delay, energy = delay.reshape(server.shape), energy.reshape(server.shape)
    costs = cost(cfg.rho_delay, cfg.rho_energy, delay, energy)
    battery_next = battery_update(battery_j, energy, harvest_j, cfg.b_max_j)
    pen = penalty(cfg.rho_delay, cfg.rho_energy, deadline_s, delay, battery_next, cfg.b_min_j)
    return {
        "delay_s": delay,
        "energy_j": energy,
        "cost": costs,
        "battery_j": battery_next,
        "penalty": pen,
        "reward": reward(costs, pen),
        "timed_out": delay > deadline_s,
        "below_b_min": battery_next < cfg.b_min_j,
    }

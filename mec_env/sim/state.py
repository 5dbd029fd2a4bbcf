"""What the matchers and the admission rules see of a slot (:class:`SlotState`), also exported
as ``mec_env.SlotState`` and from :mod:`mec_env.matching` and :mod:`mec_env.sim.slot`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mec_env.sim.channel import uplink_rate, upload_delay
from mec_env.sim.compute import offload_energy, processing_delay
from mec_env.sim.params import EnvConfig


@dataclass(frozen=True)
class SlotState:
    """What the matcher and the admission rules see of a slot. Arrays in SI units.

    ``bits`` β (N,) bits; ``cycles_per_bit`` c (N,); ``deadline_s`` φ (N,) s; ``gain`` g (N, M)
    linear; ``battery_j`` b (N,) J at the start of the slot; ``config`` the :class:`EnvConfig`.
    With reach (``nearest_servers`` = K, docs/environment.md "Reach"): ``gain`` is (N, K), the
    gains to each UD's K nearest ESs, whose ids are ``near`` (N, K) int64 (nearest first);
    ``near`` is None otherwise (column m is ES m).
    """

    config: EnvConfig
    bits: np.ndarray
    cycles_per_bit: np.ndarray
    deadline_s: np.ndarray
    gain: np.ndarray
    battery_j: np.ndarray
    near: np.ndarray | None = None

    @property
    def n_uds(self) -> int:
        return self.bits.shape[0]

    def copy(self, b: int) -> SlotState:
        """Copy ``b``'s slot of a batched state (arrays with a leading batch axis): views."""
        return SlotState(
            config=self.config,
            bits=self.bits[b],
            cycles_per_bit=self.cycles_per_bit[b],
            deadline_s=self.deadline_s[b],
            gain=self.gain[b],
            battery_j=self.battery_j[b],
            near=None if self.near is None else self.near[b],
        )

    def offload_estimates(
        self, p_w: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(τ^o, τ^p, e^o) of every UD at every server, each (N, M), at power ``p_w`` (W);
        with reach at its K nearest, (N, K) in the columns of ``near``."""
        cfg = self.config
        p = np.asarray(p_w, dtype=np.float64)
        if p.ndim == 1:
            p = p[:, None]
        rate = uplink_rate(self.per_column(cfg.subchannel_bw_hz), p, self.gain)
        tau_o = upload_delay(self.bits[:, None], rate)
        f_server = self.per_column(cfg.f_server_hz)
        tau_p = processing_delay(self.bits[:, None], self.cycles_per_bit[:, None], f_server)
        return tau_o, tau_p, offload_energy(p, tau_o)

    def per_column(self, per_server: np.ndarray) -> np.ndarray:
        """A per-ES value (M,) for each column of ``gain``: itself, or (…, N, K) with reach."""
        return per_server if self.near is None else per_server[self.near]

    def gain_to(self, server: np.ndarray) -> np.ndarray:
        """g of each UD to ``server`` (…, N) (−1: unmatched, g of column 0, to be masked)."""
        return gain_at(self.gain, server, self.near)


def server_columns(server: np.ndarray, near: np.ndarray | None) -> np.ndarray:
    """The column of ``gain`` holding each UD's ``server`` (…, N): the server itself, or with
    reach its place in ``near`` (…, N, K); −1 where unmatched (or not in reach)."""
    if near is None:
        return server
    hit = near == server[..., None]
    return np.where(hit.any(axis=-1), hit.argmax(axis=-1), -1)


def gain_at(gain: np.ndarray, server: np.ndarray, near: np.ndarray | None = None) -> np.ndarray:
    """g (…, N) linear of each UD to its ``server`` (…, N): ``gain`` (…, N, M) to every ES, or
    with reach (…, N, K) to the ESs ``near``; at column 0 where unmatched (−1; the caller
    masks those)."""
    col = np.maximum(server_columns(server, near), 0)
    m = gain.shape[-1]
    if gain.shape[:-1] == col.shape:  # a flat take: take_along_axis is slow over a short axis
        return np.take(gain, np.arange(0, col.size * m, m) + col.ravel()).reshape(col.shape)
    return np.take_along_axis(gain, col[..., None], axis=-1)[..., 0]

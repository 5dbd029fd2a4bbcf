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
    """

    config: EnvConfig
    bits: np.ndarray
    cycles_per_bit: np.ndarray
    deadline_s: np.ndarray
    gain: np.ndarray
    battery_j: np.ndarray

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
        )

    def offload_estimates(
        self, p_w: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(τ^o, τ^p, e^o) of every UD at every server, each (N, M), at power ``p_w`` (W)."""
        cfg = self.config
        p = np.asarray(p_w, dtype=np.float64)
        if p.ndim == 1:
            p = p[:, None]
        rate = uplink_rate(cfg.subchannel_bw_hz, p, self.gain)
        tau_o = upload_delay(self.bits[:, None], rate)
        tau_p = processing_delay(self.bits[:, None], self.cycles_per_bit[:, None], cfg.f_server_hz)
        return tau_o, tau_p, offload_energy(p, tau_o)

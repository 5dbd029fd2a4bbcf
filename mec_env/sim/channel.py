"""The radio link: the uplink rate (eqs. 5-7), written once.

Each rule is a plain function of arithmetic and ``np.minimum``/``np.maximum`` only, so the same
function works elementwise on numpy arrays (the numpy backend calls it) and on scalars inside
the compiled kernels (:mod:`mec_env.sim._numba_kernels` compiles it with ``numba.njit``). The one
transcendental, log2, is always numpy's: the compiled backend takes :func:`snr_term` in a
kernel, numpy's ``log2`` of it, then :func:`rate_from_log2` in the next kernel. So both
backends do the same IEEE operations in the same order: bit-identical results.

``upload_delays_server_major`` is the in-place form the batched co-selection scorer needs (a
fresh (M, B·N) temporary costs page faults); it sits here beside the rule, with the same
operations, and ``tests/env/test_sim_rules.py`` checks that they agree.
"""

from __future__ import annotations

import numpy as np


def snr_term(p_w, gain):
    """1 + p g, the argument of the rate's log2 (p in W, g linear, already h/σ², eq. 5)."""
    return 1.0 + p_w * gain


def rate_from_log2(subchannel_bw_hz, log2_snr):
    """Eq. (6) from log2(1 + p g): v = (W/K) log2(1 + p g), in bit/s."""
    return subchannel_bw_hz * log2_snr


def uplink_rate(subchannel_bw_hz, p_w, gain):
    """Eq. (6): v = (W/K) log2(1 + p g), in bit/s (p in W, g linear, already h/σ², eq. 5)."""
    return rate_from_log2(subchannel_bw_hz, np.log2(snr_term(p_w, gain)))


def upload_delay(bits, rate_bps):
    """Eq. (7): τ^o = β / v, in s."""
    return bits / rate_bps


def upload_delays_server_major(out, bits, subchannel_bw_hz, p_w, gain):
    """τ^o = β / ((W/K) log2(1 + p g)) of every UD at every server into ``out`` (M, B, N),
    server-major, in place (the operations of :func:`snr_term`, numpy's log2,
    :func:`rate_from_log2` and :func:`upload_delay`, in that order). ``bits`` (B, N),
    ``subchannel_bw_hz`` (M,), ``gain`` (B, N, M). Returns ``out``."""
    np.multiply(p_w, np.moveaxis(gain, -1, 0), out=out)
    out += 1.0
    np.log2(out, out=out)
    np.multiply(subchannel_bw_hz[:, None, None], out, out=out)
    np.divide(bits, out, out=out)
    return out

"""ES admission rules (docs/environment.md): a registry of named rules used when ES agents are off.

A rule is a function ``rule(ctx) -> priority`` taking an :class:`AdmissionContext` and
returning a float array of shape (N,): requests are approved in ascending priority (ties by UD
index); ``np.inf`` (or NaN) rejects a request outright. Entries of UDs that did not request
are ignored. Whatever the rule, the environment then enforces (15i) at most K offloads per ES
and (15j) Σβ ≤ D_m by walking the approved requests in that order and admitting each that still
fits (:func:`mec_env.sim.capacity.admit_within_capacity`); the others compute locally.

Register your own without editing the library::

    import mec_env

    def smallest_first(ctx):
        return ctx.slot.bits  # smallest task first

    mec_env.register_admission("smallest_first", smallest_first)
    env = mec_env.parallel_env(es_agents=False, admission="smallest_first")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mec_env.registry import Registry
from mec_env.sim.compute import best_local, cost, late_penalty_cost
from mec_env.sim.state import SlotState


@dataclass(frozen=True)
class AdmissionContext:
    """The requests of a slot as the servers see them. Arrays of shape (N,), SI units.

    ``server`` matched ES (−1 none); ``requested`` UD asked to offload (x^u ≥ 0.5 and matched);
    ``f_hz``, ``p_w`` the UD's local frequency and transmit power as used; ``upload_s`` τ^o,
    ``processing_s`` τ^p and ``offload_energy_j`` e^o at its matched server (0 if unmatched).
    """

    slot: SlotState
    server: np.ndarray
    requested: np.ndarray
    f_hz: np.ndarray
    p_w: np.ndarray
    upload_s: np.ndarray
    processing_s: np.ndarray
    offload_energy_j: np.ndarray

    def offload_cost_estimate(self) -> np.ndarray:
        """ρ1 (τ^p + τ^o) + ρ2 e^o: the offload cost if the ES queue were empty."""
        cfg = self.slot.config
        return cost(
            cfg.rho_delay, cfg.rho_energy, self.processing_s + self.upload_s, self.offload_energy_j
        )


AdmissionRule = Callable[[AdmissionContext], np.ndarray]
#: the rules by name (``parallel_env(admission=name)``); also resolves import paths and the
#: ``mec_env.admissions`` entry points (:class:`mec_env.registry.Registry`). Registration
#: metadata ``batched=True``: the rule also accepts a batched context (every array with a
#: leading batch axis B, the slot's too) and returns (B, N); others run once per copy.
ADMISSIONS: Registry[AdmissionRule] = Registry(
    "admission rule", entry_point_group="mec_env.admissions"
)


def register_admission(
    name: str, fn: AdmissionRule, *, overwrite: bool = False, batched: bool = False
) -> AdmissionRule:
    """Register ``fn`` as admission rule ``name`` (``parallel_env(admission=name)``):
    ``ADMISSIONS.register(name, fn, batched=batched)``.

    ``batched=True`` declares that ``fn`` works elementwise, so the batched core
    (:func:`mec_env.vector_env`) may call it once on (B, N) arrays (``ctx.slot.gain`` (B, N, M))
    and get (B, N) priorities; otherwise it is called once per copy.
    """
    return ADMISSIONS.register(name, fn, overwrite=overwrite, batched=bool(batched))


def accept_all(ctx: AdmissionContext) -> np.ndarray:
    """The paper's rule (4): approve every request, in order of arrival τ^o."""
    return ctx.upload_s


def offload_cost_first(ctx: AdmissionContext) -> np.ndarray:
    """OFFLOADCOST_MADDPG: lowest estimated offload cost ρ1 τ^a + ρ2 e^o first."""
    return ctx.offload_cost_estimate()


def deadline_first(ctx: AdmissionContext) -> np.ndarray:
    """DEADLINE_MADDPG: earliest deadline φ first."""
    return ctx.slot.deadline_s


def saving_first(ctx: AdmissionContext) -> np.ndarray:
    """The ``greedy`` reference: largest estimated saving first, where the saving is the UD's
    best local cost minus its offload cost, both with the timeout penalty; requests that
    would save nothing are rejected."""
    cfg = ctx.slot.config
    s = ctx.slot
    _, local = best_local(
        s.bits,
        s.cycles_per_bit,
        s.deadline_s,
        cfg.rho_delay,
        cfg.rho_energy,
        cfg.kappa,
        cfg.f_min_hz,
        cfg.f_max_hz,
    )
    offload = late_penalty_cost(
        cfg.rho_delay,
        cfg.rho_energy,
        ctx.processing_s + ctx.upload_s,
        ctx.offload_energy_j,
        s.deadline_s,
    )
    saving = local - offload
    return np.where(saving > 0, -saving, np.inf)


register_admission("accept_all", accept_all, batched=True)
register_admission("offload_cost_first", offload_cost_first, batched=True)
register_admission("deadline_first", deadline_first, batched=True)
register_admission("saving_first", saving_first, batched=True)

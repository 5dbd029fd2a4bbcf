"""Non-learning reference policies for the MEC environment (docs/algorithms.md), torch-free.

Each policy is a callable ``policy(observations) -> actions`` bound to one environment: it
reads the slot the next action applies to from the environment itself (tasks, gains,
matching; see :attr:`MECParallelEnv.current_slot`), so it works in a plain PettingZoo loop::

    import mec_env
    from mec_env.policies import env_overrides_for, make_policy

    env = mec_env.parallel_env("paper_kb", **env_overrides_for("greedy"))
    policy = make_policy("greedy", env)
    observations, infos = env.reset(seed=0)
    while env.agents:
        observations, rewards, terms, truncs, infos = env.step(policy(observations))

The returned dict holds an action for every live agent, ES agents included when the
environment has them.

A policy reads only :class:`SlotView`, a read-only view of the slot the next action
applies to (the config, the agents, the tasks, gains and batteries, the matching and the ES
places), which :func:`slot_view` takes from the environment's documented read-only state
(``current_slot``, ``server``, ``members``). ``policy.act(view)`` decides from a view alone:
a policy made with ``make_policy(name, config=cfg)`` is bound to no environment, and a
trainer that steps many copies (``ucms_marl``) hands it one view per copy.

``policy.env_overrides`` is the environment config the policy is meant for (``greedy``
relies on the ``saving_first`` admission rule when ES agents are off).

========== ================================================================================
name       decision
========== ================================================================================
all_local  never requests offloading; local frequency f minimising the UD's cost plus
           timeout penalty (:func:`mec_env.physics.best_local`)
all_offload always requests (when matched); transmit power p minimising the UD's offload
           cost plus timeout penalty, queue ignored (:func:`best_offload_power`); best local
           f as the fallback if not admitted; ES agents approve everything
random     uniform samples of every action space, from its own seeded generator
greedy     requests iff its estimated offload cost (cost-optimal p, queue ignored, timeout
           penalty) is below its best local cost; ES agents (if any) approve in descending
           saving within K and D_m, exactly as the ``saving_first`` admission rule
best_split DNN split tasks: each UD the split point with the least estimated cost at its ES
           (idle CPU, timeout penalty), admission as greedy's on the activations' sizes;
           ``greedy`` without split tasks
oracle     exact per-slot optimum for small instances (N ≤ 12): enumerates every offload
           set reachable by the joint action (with the per-UD best f and cost-optimal p) in
           one batched call to :func:`mec_env.sim.slot.admit` / :func:`mec_env.sim.slot.resolve` and
           picks the one minimising the slot's total cost plus timeout penalties; with DNN
           split tasks every combination of split points (``dnn_split_small``)
========== ================================================================================

``drift_plus_penalty`` (:mod:`mec_env.lookahead`, registered when ``mec_env`` is imported) is
the queue- and battery-aware Lyapunov rule for the time-coupled presets; ``greedy`` without
queues.

The quantity the heuristics minimise per UD is C + ρ1·max(τ − φ, 0)
(:func:`mec_env.physics.late_penalty_cost`): the UD's cost plus the timeout part of its
penalty (eq. 25). The battery part is left out: it depends on the harvest, drawn after the
action. :func:`slot_objective` sums it over a played slot.

Action encoding (eqs. 21-23): x^u = 1.0 to request, 0.0 not; f^u = f / f_max and
p^u = p / p_max, so that the environment's f = max(f_min, f^u f_max) and
p = max(p_min, p^u p_max) give back f and p.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from mec_env import physics
from mec_env.admission import ADMISSIONS, AdmissionContext
from mec_env.registry import Registry
from mec_env.sim import dnn, slot
from mec_env.sim.params import EnvConfig
from mec_env.sim.slot import SlotState
from mec_env.sim.state import gain_at

#: The reference policies by name: classes ``cls(env, seed)`` registered with the environment
#: config each is meant for as metadata (``env_overrides``, applied by ``python -m mec_env``).
#: Also resolves import paths and the ``mec_env.policies`` entry points.
POLICIES: Registry[type[Policy]] = Registry("policy", entry_point_group="mec_env.policies")

#: The oracle enumerates 2^N candidate offload sets; above this N it refuses.
ORACLE_MAX_UDS = 12

_BISECTION_STEPS = 60


def env_overrides_for(name: str) -> dict[str, Any]:
    """A copy of the environment config overrides policy ``name`` is meant for (its
    ``env_overrides`` registration metadata; none: ``{}``)."""
    return dict(POLICIES.metadata(name).get("env_overrides", {}))


# -------------------------------------------------------------------------------------------
# Per-UD cost-optimal controls (vectorised over UDs)
# -------------------------------------------------------------------------------------------


def _stationary_power(
    a: np.ndarray, rho_energy: float, gain: np.ndarray, p_min_w: float, p_max_w: float
) -> np.ndarray:
    """The p in [p_min, p_max] minimising (a + ρ2 p) / log2(1 + p g).

    The ratio is quasiconvex in p (affine over concave), and its derivative has the sign of
    F(p) = ρ2 (1 + pg) ln(1 + pg) − g (a + ρ2 p), which is increasing (F' = ρ2 g ln(1 + pg)),
    so a geometric bisection on the sign of F finds the minimiser (clipped to the bounds).
    """
    lo = np.full(np.shape(gain), np.log(p_min_w))
    hi = np.full(np.shape(gain), np.log(p_max_w))
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        p = np.exp(mid)
        pg = p * gain
        rising = rho_energy * (1.0 + pg) * np.log1p(pg) - gain * (a + rho_energy * p) > 0
        hi = np.where(rising, mid, hi)
        lo = np.where(rising, lo, mid)
    return np.exp(0.5 * (lo + hi))


def best_offload_power(
    cfg: EnvConfig,
    bits: np.ndarray,
    cycles_per_bit: np.ndarray,
    deadline_s: np.ndarray,
    gain: np.ndarray,
    server: np.ndarray,
    near: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The transmit power minimising each UD's offload cost plus timeout penalty.

    The objective, with an empty ES queue (τ^a = τ^p + τ^o), is
    ρ1 τ^a + ρ2 p τ^o + ρ1 max(τ^a − φ, 0) with τ^o = β / ((W/K) log2(1 + p g)). On time it
    is ρ1 τ^p + β (ρ1 + ρ2 p) / v', late 2ρ1 τ^p − ρ1 φ + β (2ρ1 + ρ2 p) / v', both
    quasiconvex in p; the boundary is the just-in-time power where τ^o = φ − τ^p. So the
    minimiser is one of: each piece's stationary point, the just-in-time power, p_min, p_max
    (all clipped to [p_min, p_max]); all five are evaluated and the best kept.

    Arrays (N,) except ``gain`` (N, M) linear (with reach (N, K) to the ESs ``near``);
    ``server`` (N,) the matched ES (−1: the UD cannot offload, its entries are computed at
    server 0 and meaningless). Returns ``(p_w, objective)``, each (N,).
    """
    rho1, rho2 = cfg.rho_delay, cfg.rho_energy
    srv = np.where(server >= 0, server, 0)
    g = gain_at(gain, srv, near)
    bw = cfg.subchannel_bw_hz[srv]
    tau_p = physics.processing_delay(bits, cycles_per_bit, cfg.f_server_hz[srv])
    p_on_time = _stationary_power(rho1, rho2, g, cfg.p_min_w, cfg.p_max_w)
    p_late = _stationary_power(2.0 * rho1, rho2, g, cfg.p_min_w, cfg.p_max_w)
    slack = deadline_s - tau_p
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        exponent = np.where(slack > 0, bits / (bw * slack), np.inf)
        p_just = np.expm1(np.minimum(exponent, 1000.0) * np.log(2.0)) / g
    cands = np.stack(
        [p_on_time, p_late, p_just, np.full_like(g, cfg.p_min_w), np.full_like(g, cfg.p_max_w)],
        axis=-1,
    )
    cands = np.clip(
        np.nan_to_num(cands, nan=cfg.p_max_w, posinf=cfg.p_max_w), cfg.p_min_w, cfg.p_max_w
    )
    tau_o = physics.upload_delay(bits[:, None], physics.uplink_rate(bw[:, None], cands, g[:, None]))
    obj = physics.late_penalty_cost(
        rho1,
        rho2,
        tau_p[:, None] + tau_o,
        physics.offload_energy(cands, tau_o),
        deadline_s[:, None],
    )
    best = np.argmin(obj, axis=-1)[:, None]
    return (
        np.take_along_axis(cands, best, axis=-1)[:, 0],
        np.take_along_axis(obj, best, axis=-1)[:, 0],
    )


def best_local_frequency(
    cfg: EnvConfig, bits: np.ndarray, cycles_per_bit: np.ndarray, deadline_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(f_hz, objective)`` of :func:`mec_env.physics.best_local` for this config."""
    return physics.best_local(
        bits,
        cycles_per_bit,
        deadline_s,
        cfg.rho_delay,
        cfg.rho_energy,
        cfg.kappa,
        cfg.f_min_hz,
        cfg.f_max_hz,
    )


def slot_objective(env: Any) -> float:
    """Σ_n C_n + ρ1 Σ_n max(τ_n − φ_n, 0) of the slot just played (``env.last_step``): the
    total cost plus timeout penalties, the quantity the oracle minimises."""
    base = _unwrap(env)
    out = base.last_step
    if out is None:
        raise ValueError("no slot has been played yet: call env.step() first")
    cfg = base.config
    return float(
        np.sum(
            physics.late_penalty_cost(
                cfg.rho_delay, cfg.rho_energy, out["delay_s"], out["energy_j"], out["deadline_s"]
            )
        )
    )


# -------------------------------------------------------------------------------------------
# Policies
# -------------------------------------------------------------------------------------------


def _unwrap(env: Any) -> Any:
    base = getattr(env, "unwrapped", env)
    for attr in ("config", "ud_agents", "es_agent_names", "current_slot", "server", "members"):
        # Properties that only exist after reset() are looked up on the class.
        if not (hasattr(type(base), attr) or hasattr(base, attr)):
            raise TypeError(
                f"policies need an MEC environment (mec_env.parallel_env); "
                f"{type(base).__name__} has no attribute {attr!r}"
            )
    return base


@dataclass(frozen=True)
class SlotView:
    """What a reference policy reads: the slot the next action applies to, read-only.

    ``current_slot`` holds the tasks (bits, cycles per bit, deadline s), the channel gains
    (N, M) and the batteries (J); ``server`` (N,) the matched ES of each UD (−1 unmatched);
    ``members`` (M, max z_max) the UD in each ES place (−1 empty); ``agents`` the live agents
    (empty once the episode is over). The attribute names are the environment's own, so code
    written against ``env.unwrapped`` reads a view unchanged.
    """

    config: EnvConfig
    current_slot: SlotState
    server: np.ndarray
    members: np.ndarray
    agents: tuple[str, ...]
    ud_agents: tuple[str, ...]
    es_agent_names: tuple[str, ...]
    #: the time-coupled state (mec_env.sim.taskqueue.QueueView), None in the paper's model
    queues: Any = None


def slot_view(env: Any) -> SlotView:
    """The :class:`SlotView` of ``env`` (an MEC environment, possibly wrapped) now: read from
    its documented read-only state, ``config``, ``agents``, ``current_slot``, ``server`` and
    ``members``."""
    base = _unwrap(env)
    return SlotView(
        config=base.config,
        current_slot=base.current_slot,
        server=base.server,
        members=base.members,
        agents=tuple(base.agents),
        ud_agents=tuple(base.ud_agents),
        es_agent_names=tuple(base.es_agent_names),
        queues=getattr(base, "queues", None),
    )


class Policy:
    """Base class: ``policy.act(view) -> actions`` from a :class:`SlotView`; bound to an
    environment, also a callable ``policy(observations) -> actions`` that takes the view from
    it (:func:`slot_view`).

    Subclasses implement :meth:`decide`, returning per-UD arrays (N,): ``request`` (bool),
    ``f_hz``, ``p_w`` and ``approve`` (bool, the ES approval of each UD's request, used only
    when the environment has ES agents).
    """

    #: set by :func:`make_policy` to the registered name and its registration metadata
    name = "policy"
    env_overrides: dict[str, Any] = {}

    def __init__(
        self, env: Any = None, seed: int | None = None, *, config: EnvConfig | None = None
    ) -> None:
        if env is None and config is None:
            raise TypeError("a policy needs an environment to read or its config (config=...)")
        self.env = env
        self.config = _unwrap(env).config if env is not None else config
        self.seed = seed

    @property
    def base(self) -> Any:
        if self.env is None:
            raise TypeError(f"{self!r} is bound to no environment: call policy.act(view)")
        return _unwrap(self.env)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, env_overrides={self.env_overrides})"

    def __call__(self, observations: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
        return self.act(slot_view(self.base))

    def act(self, view: SlotView) -> dict[str, np.ndarray]:
        """The action of every live agent of ``view``'s slot (``{}`` once it is over)."""
        if not view.agents:
            return {}
        request, f_hz, p_w, approve = self.decide(view)
        return pack_actions(view, request, f_hz, p_w, approve)

    def decide(self, base: SlotView) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError


def encode_ud_actions(
    cfg: EnvConfig, request: np.ndarray, f_hz: np.ndarray, p_w: np.ndarray
) -> np.ndarray:
    """(N, 3) float32 UD actions (x^u, f^u, p^u) that the environment decodes to
    ``request``, ``f_hz`` and ``p_w`` (up to float32 rounding)."""
    ud = np.empty((np.shape(request)[0], 3), dtype=np.float32)
    ud[:, 0] = np.where(request, 1.0, 0.0)
    ud[:, 1] = np.clip(np.asarray(f_hz) / cfg.f_max_hz, 0.0, 1.0)
    ud[:, 2] = np.clip(np.asarray(p_w) / cfg.p_max_w, 0.0, 1.0)
    return ud


def pack_actions(
    base: Any, request: np.ndarray, f_hz: np.ndarray, p_w: np.ndarray, approve: np.ndarray | None
) -> dict[str, np.ndarray]:
    """The action dict for every live agent from per-UD decisions; ES bits approve the
    members whose ``approve`` entry is true."""
    cfg = base.config
    ud = encode_ud_actions(cfg, request, f_hz, p_w)
    live = set(base.agents)
    actions = {a: ud[i] for i, a in enumerate(base.ud_agents) if a in live}
    if base.es_agent_names:
        members = base.members
        approve = np.zeros(cfg.n_uds, bool) if approve is None else np.asarray(approve, bool)
        bits = np.where(members >= 0, approve[np.maximum(members, 0)], False).astype(np.int8)
        for m, a in enumerate(base.es_agent_names):
            if a in live:
                actions[a] = bits[m, : cfg.z_max[m]].copy()
    return actions


class AllLocal(Policy):
    """Never requests offloading; each UD runs at its cost-optimal local frequency."""

    def decide(self, base):
        cfg, s = base.config, base.current_slot
        f_hz, _ = best_local_frequency(cfg, s.bits, s.cycles_per_bit, s.deadline_s)
        n = cfg.n_uds
        return np.zeros(n, bool), f_hz, np.full(n, cfg.p_min_w), np.zeros(n, bool)


class AllOffload(Policy):
    """Every matched UD requests, at its cost-optimal power; best local f as the fallback;
    ES agents (if any) approve every request."""

    def decide(self, base):
        cfg, s = base.config, base.current_slot
        f_hz, _ = best_local_frequency(cfg, s.bits, s.cycles_per_bit, s.deadline_s)
        p_w, _ = best_offload_power(
            cfg, s.bits, s.cycles_per_bit, s.deadline_s, s.gain, base.server, s.near
        )
        matched = base.server >= 0
        return matched, f_hz, p_w, matched


class Greedy(Policy):
    """Each UD requests iff its estimated offload cost (cost-optimal p, empty queue, timeout
    penalty) is below its best local cost. With ES agents, each ES approves its requests in
    descending saving while they fit in K and D_m (the ``saving_first`` rule); without, the
    environment's ``admission="saving_first"`` does the same."""

    def decide(self, base):
        cfg, s = base.config, base.current_slot
        f_hz, local = best_local_frequency(cfg, s.bits, s.cycles_per_bit, s.deadline_s)
        p_w, offload = best_offload_power(
            cfg, s.bits, s.cycles_per_bit, s.deadline_s, s.gain, base.server, s.near
        )
        saving = local - offload
        request = (base.server >= 0) & (saving > 0)
        approve = np.zeros(cfg.n_uds, bool)
        if base.es_agent_names and request.any():
            idx = np.flatnonzero(request)
            ok = physics.admit_within_capacity(
                -saving[idx],
                base.server[idx],
                s.bits[idx],
                cfg.subchannels,
                cfg.storage_bits,
                tiebreak=idx,
            )
            approve[idx[ok]] = True
        return request, f_hz, p_w, approve


class BestSplit(Policy):
    """The best-split rule for DNN split tasks (``task_model: dnn``, docs/dnn_split.md): each
    matched UD scores every split point s = 0..L of its network at its ES (idle CPU, timeout
    penalty: :func:`mec_env.sim.dnn.best_split`) at f ∈ {its best whole-task local f, f_max}
    and p ∈ {its cost-optimal whole-task offload p, p_max}, and takes the least; s = L runs
    all locally. ES agents (if any) approve in descending saving against all-local within K
    and D_m, the ES storing each request's activation β(s). Without split tasks it is
    ``greedy``."""

    def _splits(self, view):
        cfg, s = view.config, view.current_slot
        plan = dnn.SplitPlan.for_config(cfg)
        f_loc, local = best_local_frequency(cfg, s.bits, s.cycles_per_bit, s.deadline_s)
        p_off, _ = best_offload_power(
            cfg, s.bits, s.cycles_per_bit, s.deadline_s, s.gain, view.server, s.near
        )
        net = plan.network_of(s.cycles_per_bit)
        n_units = plan.table.n_units[net]
        prof = plan.table.for_tasks(net)  # (N, L_max + 1), padded with s = L
        srv = np.maximum(view.server, 0)
        g = s.gain_to(srv)
        best = (n_units.copy(), local, f_loc, np.full(cfg.n_uds, cfg.p_min_w))
        for f in (f_loc, np.full(cfg.n_uds, cfg.f_max_hz)):
            for p in (p_off, np.full(cfg.n_uds, cfg.p_max_w)):
                rate = physics.uplink_rate(cfg.subchannel_bw_hz[srv], p, g)
                split, obj = dnn.best_split(
                    prof, f, cfg.f_server_hz[srv], rate, p, cfg.kappa, cfg.rho_delay,
                    cfg.rho_energy, deadline_s=s.deadline_s,
                )  # fmt: skip
                better = (view.server >= 0) & (obj < best[1])
                found = (np.minimum(split, n_units), obj, f, p)
                best = tuple(np.where(better, a, b) for a, b in zip(found, best, strict=True))
        split, obj, f_hz, p_w = best
        request = (view.server >= 0) & (split < n_units)
        stored = plan.table.profile.upload_bits[net, split]
        return request, f_hz, p_w, local - obj, split, n_units, stored

    def decide(self, view):
        if not view.config.split_tasks:
            return Greedy.decide(self, view)
        cfg = view.config
        request, f_hz, p_w, saving, split, n_units, stored = self._splits(view)
        self._share = dnn.offload_share_for_split(split, n_units)  # x^u, set by act
        approve = np.zeros(cfg.n_uds, bool)
        if view.es_agent_names and request.any():
            idx = np.flatnonzero(request)
            ok = physics.admit_within_capacity(
                -saving[idx], view.server[idx], stored[idx], cfg.subchannels,
                cfg.storage_bits, tiebreak=idx,
            )  # fmt: skip
            approve[idx[ok]] = True
        return request, f_hz, p_w, approve

    def act(self, view: SlotView) -> dict[str, np.ndarray]:
        actions = super().act(view)
        if view.config.split_tasks and actions:
            _set_shares(view, actions, self._share)
        return actions


def _set_shares(view: SlotView, actions: dict[str, np.ndarray], share: np.ndarray) -> None:
    """Write each live UD's x^u = ``share`` (N,), the split it chose, into ``actions``."""
    for i, a in enumerate(view.ud_agents):
        if a in actions:
            actions[a][0] = share[i]


class RandomPolicy(Policy):
    """Uniform samples of every agent's action space, from the policy's own generator
    (``seed``), so sampling never touches the environment's spaces or generator."""

    def __init__(
        self, env: Any = None, seed: int | None = None, *, config: EnvConfig | None = None
    ) -> None:
        super().__init__(env, seed, config=config)
        self.rng = np.random.default_rng(seed)

    def act(self, view: SlotView) -> dict[str, np.ndarray]:
        base = view
        if not base.agents:
            return {}
        cfg = base.config
        live = set(base.agents)
        ud = self.rng.random((cfg.n_uds, 3), dtype=np.float32)
        actions = {a: ud[i] for i, a in enumerate(base.ud_agents) if a in live}
        for m, a in enumerate(base.es_agent_names):
            bits = self.rng.integers(0, 2, size=int(cfg.z_max[m]), dtype=np.int8)
            if a in live:
                actions[a] = bits
        return actions


class Oracle(Policy):
    """The exact per-slot optimum over the discrete decisions, for N ≤ 12.

    With DNN split tasks (``task_model: dnn``) the discrete decisions are the split points:
    it enumerates every combination of the matched UDs' s = 0..L (at most 2^20, e.g.
    ``dnn_split_small``), each request storing its activation β(s).

    Every UD uses its best local f and its cost-optimal p (as the other heuristics); the
    oracle then chooses *which* UDs offload. With ES agents it enumerates every subset of the
    matched UDs as the approved set (requests = approvals; the environment's K/D_m cut turns
    an infeasible set into a feasible one, which is itself a candidate), so every reachable
    offload set is a candidate. Without ES agents it enumerates every request subset and
    applies the environment's admission rule to each. All 2^(matched UDs) candidates are
    evaluated in one batched :func:`mec_env.sim.slot.admit` / :func:`mec_env.sim.slot.resolve` call,
    from the float32 actions exactly as the environment will decode them, and the candidate
    with the least Σ C + ρ1 Σ max(τ − φ, 0) wins (ties: fewer offloads). The predicted
    objective is kept in :attr:`last_objective`.
    """

    def __init__(
        self, env: Any = None, seed: int | None = None, *, config: EnvConfig | None = None
    ) -> None:
        super().__init__(env, seed, config=config)
        n = self.config.n_uds
        if n > ORACLE_MAX_UDS:
            raise ValueError(
                f"the oracle enumerates 2^N offload sets and supports "
                f"N <= {ORACLE_MAX_UDS} UDs, got n_uds={n}; use the 'small' "
                f"preset or n_uds <= {ORACLE_MAX_UDS}"
            )
        self.last_objective: float | None = None

    def decide(self, base):
        cfg, s = base.config, base.current_slot
        n, server = cfg.n_uds, base.server
        f_want, _ = best_local_frequency(cfg, s.bits, s.cycles_per_bit, s.deadline_s)
        p_want, _ = best_offload_power(
            cfg, s.bits, s.cycles_per_bit, s.deadline_s, s.gain, server, s.near
        )
        # Evaluate exactly what the environment will decode from the float32 actions.
        ud = encode_ud_actions(cfg, np.ones(n, bool), f_want, p_want)
        _, f_hz, p_w = slot.ud_controls(cfg, ud.astype(np.float64), server)
        if cfg.split_tasks:
            chosen, terms, stored = self._split_candidates(base, ud, f_hz, p_w)
            tau_o, tau_p, e_o = terms
        else:
            tau_o, tau_p, e_o = slot.offload_terms(
                cfg, s.bits, s.cycles_per_bit, s.gain, server, p_w, s.near
            )
            matched = np.flatnonzero(server >= 0)
            patterns = np.arange(2**matched.size)[:, None] >> np.arange(matched.size) & 1
            chosen = np.zeros((patterns.shape[0], n), bool)
            chosen[:, matched] = patterns.astype(bool)
            stored = s.bits
        b = chosen.shape[0]

        def tile(x: np.ndarray) -> np.ndarray:
            return np.broadcast_to(x, (b, n))

        tau_o, tau_p, e_o, stored = (tile(x) for x in (tau_o, tau_p, e_o, stored))
        if base.es_agent_names:
            approved, priority = chosen, tau_o
        else:
            approved, priority = self._rule_outcomes(base, chosen, f_hz, p_w, tau_o, tau_p, e_o)
        offloaded = slot.admit(cfg, approved, priority, tile(server), stored)
        out = slot.resolve(
            cfg,
            bits=tile(s.bits),
            cycles_per_bit=tile(s.cycles_per_bit),
            deadline_s=tile(s.deadline_s),
            server=tile(server),
            offloaded=offloaded,
            f_hz=tile(f_hz),
            upload_s=tile(tau_o),
            processing_s=tile(tau_p),
            offload_energy_j=tile(e_o),
            battery_j=tile(s.battery_j),
            harvest_j=np.zeros((b, n)),
        )
        objective = physics.late_penalty_cost(
            cfg.rho_delay, cfg.rho_energy, out["delay_s"], out["energy_j"], tile(s.deadline_s)
        ).sum(axis=1)
        # Ties go to the fewest offloads, then to the lowest bit pattern.
        order = np.lexsort((np.arange(b), offloaded.sum(axis=1), objective))
        best = int(order[0])
        self.last_objective = float(objective[best])
        # With ES agents, request and approve exactly the admitted set (so nothing is cut);
        # without, the request set whose rule outcome won.
        request = offloaded[best] if base.es_agent_names else chosen[best]
        if cfg.split_tasks:  # the winner's split; a cut request runs locally anyway
            self._share = self._shares[best]
        return request, f_hz, p_w, request

    def _split_candidates(self, base, ud, f_hz, p_w):
        """DNN split tasks: every combination of the matched UDs' split points (s = L: run
        locally), ``(requested (C, N), (τ^o, τ^p, e^o) (C, N) each, β(s) (C, N))`` from the
        float32 x^u the environment will decode; at most 2^20 combinations."""
        cfg, s = base.config, base.current_slot
        plan = dnn.SplitPlan.for_config(cfg)
        n_units = plan.table.n_units[plan.network_of(s.cycles_per_bit)]
        options = np.where(base.server >= 0, n_units + 1, 1)
        combinations = int(np.prod(options.astype(float)))
        if combinations > 2**20:
            raise ValueError(
                f"the oracle over split points enumerates {combinations} combinations (more"
                " than 2^20): use fewer UDs (e.g. dnn_split_small)"
            )
        grid = np.indices(tuple(options.tolist())).reshape(cfg.n_uds, -1).T  # (C, N)
        split = np.where(base.server >= 0, grid, n_units)
        share = dnn.offload_share_for_split(split, n_units).astype(np.float32)
        self._shares = share
        c = split.shape[0]
        per_ud = (np.broadcast_to(x, (c, cfg.n_uds)) for x in (s.cycles_per_bit, base.server))
        cpb, server = per_ud
        _, requested, *terms, stored = plan.offload_terms(
            cfg, share.astype(np.float64), cpb, np.broadcast_to(s.gain, (c, *s.gain.shape)),
            server, np.broadcast_to(f_hz, (c, cfg.n_uds)), np.broadcast_to(p_w, (c, cfg.n_uds)),
            None if s.near is None else np.broadcast_to(s.near, (c, *s.near.shape)),
        )  # fmt: skip
        return requested, terms, stored

    def act(self, view: SlotView) -> dict[str, np.ndarray]:
        actions = super().act(view)
        if view.config.split_tasks and actions:
            _set_shares(view, actions, self._share)
        return actions

    @staticmethod
    def _rule_outcomes(base, chosen, f_hz, p_w, tau_o, tau_p, e_o):
        """(approved, priority) of the environment's admission rule for each request set."""
        cfg = base.config
        rule = ADMISSIONS[cfg.admission]
        approved = np.zeros(chosen.shape, bool)
        priority = np.zeros(chosen.shape)
        for i, request in enumerate(chosen):
            ctx = AdmissionContext(
                slot=base.current_slot,
                server=base.server,
                requested=request,
                f_hz=f_hz,
                p_w=p_w,
                upload_s=tau_o[i],
                processing_s=tau_p[i],
                offload_energy_j=e_o[i],
            )
            prio = np.asarray(rule(ctx), dtype=np.float64)
            approved[i] = request & np.isfinite(prio)
            priority[i] = np.where(approved[i], prio, 0.0)
        return approved, priority


POLICIES.register("all_local", AllLocal)
POLICIES.register(
    "all_offload", AllOffload, env_overrides={"es_agents": False, "admission": "accept_all"}
)
POLICIES.register("random", RandomPolicy)
POLICIES.register("greedy", Greedy, env_overrides={"es_agents": False, "admission": "saving_first"})
POLICIES.register("oracle", Oracle)
POLICIES.register(
    "best_split", BestSplit, env_overrides={"es_agents": False, "admission": "saving_first"}
)


def _builtin_names() -> tuple[str, ...]:
    """The registered policies that mec_env defines, in registration order."""
    return tuple(
        name
        for name in POLICIES.names()
        if getattr(POLICIES.get(name), "__module__", "").startswith("mec_env.")
    )


def __getattr__(name: str) -> Any:
    """``POLICY_NAMES`` (the built-in policies, in registration order) and
    ``POLICY_ENV_OVERRIDES`` (policy name -> the environment config it is meant for), read
    from :data:`POLICIES` when asked: they include the built-in policies other modules
    register, ``drift_plus_penalty`` (:mod:`mec_env.lookahead`, which imports this module and
    is imported by ``mec_env``'s ``__init__``)."""
    if name == "POLICY_NAMES":
        return _builtin_names()
    if name == "POLICY_ENV_OVERRIDES":
        return MappingProxyType({n: env_overrides_for(n) for n in _builtin_names()})
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_policy(
    name: str,
    env: Any = None,
    seed: int | None = None,
    *,
    config: EnvConfig | None = None,
    **params: Any,
) -> Policy:
    """The reference policy ``name`` (registered in :data:`POLICIES`, or an import path or
    entry point) bound to ``env``; its ``name`` and ``env_overrides`` are the registration's.

    ``env`` is an MEC environment, possibly wrapped (``env.unwrapped`` is used). The policy
    reads the current slot from it at every call; ``seed`` seeds the ``random`` policy.
    Without ``env``, give the environment's ``config``: the policy is bound to no
    environment and decides from the :class:`SlotView` passed to ``policy.act(view)``.
    Build the environment with ``policy.env_overrides`` (or :func:`env_overrides_for`) to
    get the setting the policy is meant for. Further keywords ``params`` go to the policy's
    class, e.g. ``make_policy("drift_plus_penalty", env, v=30.0)``; a policy's registration
    metadata ``params`` lists those it takes, with their defaults.
    """
    cls = POLICIES.get(name)
    if env is not None:
        _unwrap(env)
    policy = cls(env, seed, config=config, **params)
    policy.name = name
    policy.env_overrides = env_overrides_for(name)
    return policy


__all__ = [
    "ORACLE_MAX_UDS",
    "POLICIES",
    "POLICY_ENV_OVERRIDES",  # noqa: F822 (module __getattr__)
    "POLICY_NAMES",  # noqa: F822 (module __getattr__)
    "Policy",
    "SlotView",
    "best_local_frequency",
    "best_offload_power",
    "encode_ud_actions",
    "env_overrides_for",
    "make_policy",
    "pack_actions",
    "slot_objective",
    "slot_view",
]

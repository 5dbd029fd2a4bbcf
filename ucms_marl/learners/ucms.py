"""UCMS_MADDPG (paper §4.3, Algorithm 2): MADDPG UD learners plus a learned ES admission.

Read top to bottom: what the ES Q-network sees, the approval rule, the learner (acting, then
one update in Algorithm 2's order). ``docs/algorithms.md`` maps every line of Algorithm 2 to
this file and lists each interpretation of the paper (marked **[decision]** here too).

* UD learners: the MADDPG actors and critics of :mod:`.maddpg`, reused as they are; only
  their critic targets change (eq. 34).
* ES Q-network q_θ: **one** network for all ESs (the paper's θ, "policy parameter of all
  ESs"), applied to every (ES, member place) pair of a batch in one batched matmul. Its input
  for member j of ES m **[decision]**:

  - the member: its place in the ES observation (occupied, β, c, φ, g to m, b), the UD's
    whole observation, the UD's action (x^u, f^u, p^u) and its request flag (x^u ≥ 0.5);
  - the ES context: m's three load figures, the requests' shares of K and of D_m, and the
    mean member input over m's members and over m's requesting members.

  It outputs two values, q_j(reject) and q_j(approve).
* ES value **[decision]**: Q_m(s, a, x) = Σ_j q_j(x_j) over m's members (members that did
  not request have x_j = 0). The ESs share θ and one reward (the mean UD reward), so the
  network is fitted on the team value Σ_m Q_m (a value decomposition, as in VDN); the max in
  the target is then the ES decision rule below, taken per ES.
* Approval rule: relative value Δ_j = q_j(approve) − q_j(reject); requests with Δ_j > 0 are
  taken in descending Δ_j and each is approved while it still fits in K subchannels and D_m
  storage, both read from the ES observation (K = members / load₀, D_m = Σβ_members / load₁),
  so the environment never has to cut an approved request. Exploration: ε-greedy per request
  (a coin flip decides it, still within K and D_m), ε multiplied by ``es_epsilon_decay``
  every ``es_epsilon_decay_steps`` env-steps after the warm-up.
  **[decision]** ES warm-up: for the first ``es_warmup_steps`` training env-steps the ES
  approves every request that fits (still in descending relative Q), while its Q-network
  learns from those slots as usual. Without it the ES learns within its first ~20 updates
  that approving does not pay, because the untrained UDs request at random transmit powers
  (many uploads are slow), and then the UDs learn that requesting is useless before they
  have learned a good power: both halves stop offloading (docs/algorithms.md, measured).
* Update, Algorithm 2: ES target y = R + γ Σ_m max_x Q'_m(s', μ'(o'), x) (32) with the
  target UD actors' next actions (line 16), the ES's weighted MSE (33), then the UD critics
  regress the ES target (34), the actors climb their UD critics (35), soft target updates
  everywhere, and the replay's composite priority η uses the ES's |δ| (lines 25, 37).
  **[decision]** ``ud_critic_target=es`` (default): every UD critic regresses y, approved or
  not; y already holds each request the ES did not approve at its reject value, our reading
  of line 22's "default Q value" for x_n^m = 0. ``es_for_approved`` gives the others their
  own MADDPG target instead: measured worse, because the team reward in y sits below an
  approved UD's own reward by the other UDs' penalties, which teaches the UD critics that
  requesting lowers their value (docs/algorithms.md). ``own`` is plain MADDPG.
* With ES agents off (``admission=<rule>``, an ablation), there is no ES Q-network: the
  learner is MADDPG on whatever replay the config names.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from omegaconf import MISSING

from ucms_marl.learners.base import LEARNERS, Algorithm, full_transition_spec, step_decay
from ucms_marl.learners.maddpg import MADDPG, MADDPG_FIELDS, MADDPGConfig, _adam
from ucms_marl.networks import BatchedMLP, soft_update_
from ucms_marl.replay import Sample, TransitionSpec
from ucms_marl.rollout_types import EnvSpec, Observation

ES_FIELDS = (
    "es_obs", "next_es_obs", "es_action", "members", "next_members", "es_reward", "ud_requested",
)  # fmt: skip
PLACE_DIM = 6  # one member place of an ES observation: occupied, β, c, φ, g to this ES, b
LOAD_DIM = 3  # an ES observation's load figures: members/K, Σβ_members/D_m, members/U_m
# D_m is recovered from float32 observations; approving up to (1 - margin)·D_m keeps rounding
# from ever letting the environment's safety net cut an approved request
STORAGE_MARGIN = 1e-5
UD_CRITIC_TARGETS = ("es", "es_for_approved", "own")


# ---------------------------------------------------------------------- what the ES sees
@dataclass
class ESView:
    """Every (ES, member place) of a batch: shapes (B, M, Z, ...), capacities (B, M)."""

    inputs: torch.Tensor  # (B, M, Z, F) ES Q-network input of each place
    occupied: torch.Tensor  # (B, M, Z) bool
    requested: torch.Tensor  # (B, M, Z) bool, the member asked to offload
    size: torch.Tensor  # (B, M, Z) task size β, in the ES observation's unit
    subchannels: torch.Tensor  # (B, M) K
    storage: torch.Tensor  # (B, M) D_m, in the unit of ``size`` (less STORAGE_MARGIN)


def member_dim(spec: EnvSpec) -> int:
    return PLACE_DIM + spec.ud_obs_dim + spec.ud_action_dim + 1


def es_input_dim(spec: EnvSpec) -> int:
    """Member input, plus context: loads, two request shares, two pooled member inputs."""
    return member_dim(spec) + LOAD_DIM + 2 + 2 * member_dim(spec)


def split_es_obs(es_obs: torch.Tensor, z_max: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, M, obs) zero-padded ES observations → places (B, M, Z, 6) and loads (B, M, 3).

    ES m's observation is its z_max[m] places, then its loads; places beyond z_max[m] are zero.
    """
    z_cap = max(z_max)
    if all(z == z_cap for z in z_max):
        places = es_obs[..., : PLACE_DIM * z_cap].unflatten(-1, (z_cap, PLACE_DIM))
        return places, es_obs[..., PLACE_DIM * z_cap : PLACE_DIM * z_cap + LOAD_DIM]
    places = es_obs.new_zeros(*es_obs.shape[:-1], z_cap, PLACE_DIM)
    loads = []
    for m, z in enumerate(z_max):
        places[..., m, :z, :] = es_obs[..., m, : PLACE_DIM * z].unflatten(-1, (z, PLACE_DIM))
        loads.append(es_obs[..., m, PLACE_DIM * z : PLACE_DIM * z + LOAD_DIM])
    return places, torch.stack(loads, dim=-2)


def es_view(
    ud_obs: torch.Tensor,
    ud_action: torch.Tensor,
    ud_requested: torch.Tensor,
    es_obs: torch.Tensor,
    members: torch.Tensor,
    z_max: Sequence[int],
) -> ESView:
    """The ES Q-network's view of a batch: ``ud_obs`` (B, N, O), ``ud_action`` (B, N, 3),
    ``ud_requested`` (B, N) bool, ``es_obs`` (B, M, obs), ``members`` (B, M, Z) UD indices
    (−1 for an empty place). Everything is read from observations, actions and member lists
    (the public API), nothing from the environment's config."""
    occupied = members >= 0
    index = members.clamp(min=0).flatten(1)  # (B, M·Z)

    def per_place(x: torch.Tensor) -> torch.Tensor:  # (B, N, D) → (B, M, Z, D)
        rows = torch.gather(x, 1, index[..., None].expand(-1, -1, x.shape[-1]))
        return rows.view(*members.shape, x.shape[-1])

    places, loads = split_es_obs(es_obs, z_max)
    requested = per_place(ud_requested[..., None].float())[..., 0].bool() & occupied
    member = torch.cat(
        [places, per_place(ud_obs), per_place(ud_action), requested[..., None].float()], dim=-1
    ) * occupied[..., None]  # fmt: skip
    size = places[..., 1]

    n_members = occupied.sum(-1).float()  # (B, M)
    has_members = n_members > 0
    subchannels = torch.where(
        has_members, torch.round(n_members / loads[..., 0].clamp_min(1e-12)), 0.0
    )
    storage = torch.where(has_members, size.sum(-1) / loads[..., 1].clamp_min(1e-12), 0.0)
    storage = storage * (1.0 - STORAGE_MARGIN)

    n_requests = requested.sum(-1).float()
    share_k = n_requests / subchannels.clamp_min(1.0)
    share_d = (size * requested).sum(-1) / storage.clamp_min(1e-12)
    mean_member = member.sum(-2) / n_members.clamp_min(1.0)[..., None]
    mean_request = (member * requested[..., None]).sum(-2) / n_requests.clamp_min(1.0)[..., None]
    context = torch.cat(
        [loads, share_k[..., None], share_d[..., None], mean_member, mean_request], dim=-1
    )  # (B, M, C)
    inputs = torch.cat(
        [member, context[..., None, :].expand(*member.shape[:-1], context.shape[-1])], dim=-1
    )
    return ESView(inputs, occupied, requested, size, subchannels, storage)


# ---------------------------------------------------------------------- the approval rule
def select_approvals(
    score: torch.Tensor,
    want: torch.Tensor,
    size: torch.Tensor,
    subchannels: torch.Tensor,
    storage: torch.Tensor,
) -> torch.Tensor:
    """Approve the wanted places in descending ``score`` (ties: lower place first), each while
    it still fits: fewer than K approved so far and Σβ + β ≤ D_m. The environment's safety net
    walks the same way, so an approved set is never cut. Shapes (..., Z); capacities (...,).
    """
    key = torch.where(want, score, torch.full_like(score, -torch.inf))
    order = torch.argsort(key, dim=-1, descending=True, stable=True)
    wanted = want.gather(-1, order)
    sizes = size.double().gather(-1, order)
    count = torch.zeros(want.shape[:-1], device=want.device)
    used = torch.zeros(want.shape[:-1], dtype=torch.float64, device=want.device)
    storage = storage.double()
    taken = []
    for j in range(want.shape[-1]):
        ok = wanted[..., j] & (count < subchannels) & (used + sizes[..., j] <= storage)
        count = count + ok
        used = used + sizes[..., j] * ok
        taken.append(ok)
    return torch.zeros_like(want).scatter(-1, order, torch.stack(taken, dim=-1))


def team_value(q: torch.Tensor, approve: torch.Tensor, occupied: torch.Tensor) -> torch.Tensor:
    """Σ_m Q_m = Σ over occupied places of q(x), for decisions ``approve`` (B, M, Z) → (B,)."""
    chosen = q.gather(-1, approve.long()[..., None])[..., 0]
    return (chosen * occupied).sum(dim=(-2, -1))


# ---------------------------------------------------------------------- the learner
@dataclass
class UCMSConfig(MADDPGConfig):
    """The keys of ``learner/ucms.yaml``: the MADDPG UD learners' plus the ES Q-network's."""

    es_hidden: list[int] = MISSING
    lr_es: float = MISSING
    es_epsilon: float = MISSING
    es_epsilon_min: float = MISSING
    es_epsilon_decay: float = MISSING
    es_epsilon_decay_steps: int = MISSING
    es_warmup_steps: int = MISSING
    ud_critic_target: str = MISSING


@LEARNERS.register(
    "ucms",
    schema=UCMSConfig,
    algorithms={
        "ucms_maddpg": Algorithm("UCMS_MADDPG", "#d62728"),  # red: the paper's proposal
        "rd_ucms_maddpg": Algorithm("RD_UCMS_MADDPG", "#ff7f0e"),  # orange
    },
)
class UCMS(MADDPG):
    def __init__(self, cfg: Any, spec: EnvSpec, *, device: torch.device, seed: int) -> None:
        super().__init__(cfg, spec, device=device, seed=seed)
        _validate(cfg)
        self.es_epsilon = float(cfg.es_epsilon)
        self.ud_critic_target = str(cfg.ud_critic_target)
        self.es_rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0xE5]))
        self.es_q: BatchedMLP | None = None
        if spec.es_agents:
            init = torch.Generator().manual_seed(self.seed + 0xE5)
            self.es_q = BatchedMLP(
                1, es_input_dim(spec), list(cfg.es_hidden), 2, generator=init
            ).to(device)
            self.es_q_target = copy.deepcopy(self.es_q).requires_grad_(False)
            self.es_opt = _adam(self.es_q.parameters(), float(cfg.lr_es))

    def transition_spec(self) -> TransitionSpec:
        fields = full_transition_spec(self.spec)
        names = MADDPG_FIELDS + (ES_FIELDS if self.es_q is not None else ())
        return {k: fields[k] for k in names}

    def es_values(self, view: ESView, net: BatchedMLP) -> torch.Tensor:
        """q(reject), q(approve) of every place, (B, M, Z, 2): one matmul per layer."""
        rows = view.inputs.reshape(-1, view.inputs.shape[-1])
        return net(rows).view(*view.inputs.shape[:-1], 2)

    def es_decide(
        self, view: ESView, q: torch.Tensor, epsilon: float = 0.0, *, warmup: bool = False
    ) -> torch.Tensor:
        """The ES action from the places' values ``q`` (B, M, Z, 2): approve by relative Q
        value within K and D_m; ε-greedy per request. During the warm-up every request is
        wanted and the capacity walk (descending relative Q) decides which fit."""
        relative = q[..., 1] - q[..., 0]
        want = view.requested & ((relative > 0) | warmup)
        if epsilon > 0:
            shape = want.shape
            coin_flip = torch.as_tensor(self.es_rng.random(shape) < epsilon, device=want.device)
            coin = torch.as_tensor(self.es_rng.random(shape) < 0.5, device=want.device)
            want = torch.where(coin_flip, coin & view.requested, want)
        return select_approvals(relative, want, view.size, view.subchannels, view.storage)

    # ------------------------------------------------------------------ acting (lines 5-7)
    @torch.no_grad()
    def act_es(
        self, obs: Observation, ud_actions: np.ndarray, *, explore: bool = False
    ) -> np.ndarray | None:
        if obs.members is None or self.es_q is None:
            return super().act_es(obs, ud_actions, explore=explore)
        # the env sees float32 actions: decide the requests (x^u ≥ 0.5) on exactly those
        action = torch.as_tensor(np.asarray(ud_actions, dtype=np.float32), device=self.device)
        view = es_view(
            torch.as_tensor(obs.ud_obs, device=self.device),
            action,
            action[..., 0] >= 0.5,
            torch.as_tensor(obs.es_obs, device=self.device),
            torch.as_tensor(obs.members, device=self.device),
            self.spec.z_max,
        )
        q = self.es_values(view, self.es_q)
        warmup = explore and self.env_steps < int(self.cfg.es_warmup_steps)
        epsilon = self.es_epsilon if explore and not warmup else 0.0
        approve = self.es_decide(view, q, epsilon, warmup=warmup)
        return approve.to(torch.int8).cpu().numpy()

    def end_episode(self, env_steps: int) -> None:
        before, warmup = self.env_steps, int(self.cfg.es_warmup_steps)
        super().end_episode(env_steps)
        if self.env_steps <= warmup:
            return  # ε starts decaying when the ES starts deciding
        steps = self.env_steps - max(before, warmup)
        decay = step_decay(self.cfg.es_epsilon_decay, steps, int(self.cfg.es_epsilon_decay_steps))
        self.es_epsilon = max(float(self.cfg.es_epsilon_min), self.es_epsilon * decay)

    # ------------------------------------------------------------------ one update (12-38)
    def view_of(self, batch: Mapping[str, torch.Tensor], *, nxt: bool = False) -> ESView:
        """The ES view of the sampled slot, or (``nxt``) of the next slot with the target
        actors' actions μ'(o') (Algorithm 2, lines 15-17)."""
        if not nxt:
            return es_view(
                batch["ud_obs"], batch["ud_action"], batch["ud_requested"],
                batch["es_obs"], batch["members"], self.spec.z_max,
            )  # fmt: skip
        next_actions = self.policy(batch["next_ud_obs"], target=True)
        return es_view(
            batch["next_ud_obs"], next_actions, next_actions[..., 0] >= 0.5,
            batch["next_es_obs"], batch["next_members"], self.spec.z_max,
        )  # fmt: skip

    @torch.no_grad()
    def es_target(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eq. (32): y = R + γ (1 − d) Σ_m max_x Q'_m(s', μ'(o'), x), shape (B,).

        R is the ES reward (every ES gets the mean UD reward); the max is the ES decision rule
        itself (best relative Q' within K and D_m), evaluated with the target network.
        """
        view = self.view_of(batch, nxt=True)
        q_next = self.es_values(view, self.es_q_target)
        next_value = team_value(q_next, self.es_decide(view, q_next), view.occupied)
        reward = self.reward_scale * batch["es_reward"].mean(dim=1)
        return reward + self.gamma * (1.0 - batch["terminated"]) * next_value

    def es_q_taken(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Σ_m Q_m(s, a, x) for the ES decisions x stored in the batch, shape (B,)."""
        view = self.view_of(batch)
        approve = batch["es_action"].bool() & view.requested
        return team_value(self.es_values(view, self.es_q), approve, view.occupied)

    def approved_uds(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """x_n^m = 1: UD n requested and its ES approved it, (B, N) bool."""
        members = batch["members"]
        n = self.n_agents
        place_of = torch.where(members >= 0, members, n).flatten(1)  # empty places → column N
        approved = torch.zeros(members.shape[0], n + 1, dtype=torch.bool, device=members.device)
        approved.scatter_(1, place_of, batch["es_action"].bool().flatten(1))
        return approved[:, :n] & batch["ud_requested"]

    @torch.no_grad()
    def critic_targets(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eq. (34): UD n's critic regresses the ES target y (``ud_critic_target=es``), or y
        where its request was approved and its own MADDPG target r_n + γ Q'_n(s', μ'(o'))
        elsewhere (``es_for_approved``), or only its own target (``own``); shape (N, B)."""
        own = super().critic_targets(batch)  # (N, B)
        if "es_target" not in batch or self.ud_critic_target == "own":
            return own
        es = batch["es_target"][None].expand_as(own)
        if self.ud_critic_target == "es":
            return es.clone()
        return torch.where(batch["ud_approved"].T, es, own)

    def update(self, sample: Sample) -> tuple[dict[str, float], np.ndarray]:
        batch = self._tensors(sample)
        weights = self._weights(sample)  # η / mean η from the priority replay (eq. 33), or 1
        if self.es_q is None:  # ES agents off: the rule admits, the UDs learn as MADDPG
            return self.update_uds(batch, weights)

        # lines 15-23: target actions, then the ES target (32)
        y = self.es_target(batch)
        # lines 24, 27-29: the ES Q-network's weighted MSE (33), its step and soft update
        q = self.es_q_taken(batch)
        td = y - q
        es_loss = (weights * td.pow(2)).mean()
        self.es_opt.zero_grad(set_to_none=True)
        es_loss.backward()
        if self.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.es_q.parameters(), float(self.max_grad_norm))
        self.es_opt.step()
        soft_update_(self.es_q_target, self.es_q, self.tau)

        # lines 30-36: UD critics towards the ES target (34), actors through them (35)
        ud_batch = {**batch, "es_target": y, "ud_approved": self.approved_uds(batch)}
        losses, _ = self.update_uds(ud_batch, weights)

        # lines 25, 37: the composite priority uses the ES's TD error (the trainer applies it)
        td_abs = td.detach().abs()[:, None].cpu().numpy()
        losses.update(
            es_loss=es_loss.item(),
            es_q_mean=q.detach().mean().item(),
            es_td_abs_mean=float(td_abs.mean()),
            es_epsilon=self.es_epsilon,
        )
        return losses, td_abs

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(
            es_epsilon=self.es_epsilon,
            es_rng=self.es_rng.bit_generator.state,
        )
        if self.es_q is not None:
            state.update(
                es_q=self.es_q.state_dict(),
                es_q_target=self.es_q_target.state_dict(),
                es_opt=self.es_opt.state_dict(),
            )
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.es_epsilon = float(state["es_epsilon"])
        self.es_rng.bit_generator.state = state["es_rng"]
        if self.es_q is not None:
            self.es_q.load_state_dict(state["es_q"])
            self.es_q_target.load_state_dict(state["es_q_target"])
            self.es_opt.load_state_dict(state["es_opt"])

    def policy_state_dict(self) -> dict[str, Any]:
        state = super().policy_state_dict()
        if self.es_q is not None:
            state["es_q"] = self.es_q.state_dict()
        return state

    def load_policy_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_policy_state_dict(state)
        if self.es_q is not None:
            self.es_q.load_state_dict(state["es_q"])
            self.es_q_target.load_state_dict(state["es_q"])

    def hparams(self) -> dict[str, Any]:
        out = super().hparams()
        if self.es_q is not None:
            out["es_q_params"] = sum(p.numel() for p in self.es_q.parameters())
        return out


def _validate(cfg: Any) -> None:
    checks = {
        "es_hidden": (len(cfg.es_hidden) >= 1 and min(cfg.es_hidden) >= 1, "a non-empty list"),
        "lr_es": (cfg.lr_es > 0, "> 0"),
        "es_epsilon": (0.0 <= cfg.es_epsilon <= 1.0, "in [0, 1]"),
        "es_epsilon_min": (0.0 <= cfg.es_epsilon_min <= 1.0, "in [0, 1]"),
        "es_epsilon_decay": (0.0 < cfg.es_epsilon_decay <= 1.0, "in (0, 1]"),
        "es_epsilon_decay_steps": (cfg.es_epsilon_decay_steps >= 1, ">= 1"),
        "es_warmup_steps": (cfg.es_warmup_steps >= 0, ">= 0"),
        "ud_critic_target": (cfg.ud_critic_target in UD_CRITIC_TARGETS, str(UD_CRITIC_TARGETS)),
    }
    for key, (ok, allowed) in checks.items():
        if not ok:
            raise ValueError(f"learner.{key} must be {allowed}, got {cfg[key]!r}")
    if cfg.critic in ("decomposed", "factored") and cfg.ud_critic_target != "own":
        raise ValueError(
            f"learner.critic={cfg.critic} regresses each UD's own term of the team reward and "
            f"needs learner.ud_critic_target=own, got {cfg.ud_critic_target!r}"
        )
    if cfg.ud_critic_target == "es_for_approved" and cfg.critic != "per_agent":
        raise ValueError(
            "learner.ud_critic_target=es_for_approved needs learner.critic=per_agent (a target "
            f"per UD), got learner.critic={cfg.critic!r}"
        )

"""MADDPG for the UD agents, every agent's networks stacked and run batched.

Read top to bottom: the networks, acting with exploration noise, then one update.

Defaults (``learner/maddpg.yaml``) are the settings that learn; ``learner=maddpg_paper`` is the
paper's (§5.1): per-UD networks, ``critic=per_agent``, ``offload_decision=threshold``.

* Actor μ(o_n): the UD's local observation → raw outputs for (x^u, f^u, p^u); f^u and p^u
  through a sigmoid, x^u as below. Two hidden layers (256 by default; 64 in the paper), one
  network shared by all UDs by default, one per UD with ``share_params=false``.
* Critic: the global state ``env.state()`` and every UD's action → a scalar (``team``) or
  one scalar per UD (``per_agent``); two hidden layers (256; 512 in the paper). Per-agent
  critics read the same joint input (a stride-0 view).
* Exploration: Gaussian noise on the actions, clipped to [0, 1]; its std is multiplied by
  ``noise_decay`` every ``noise_decay_steps`` env-steps (applied at each training episode's
  end, as ``noise_decay ** (its env-steps / noise_decay_steps)``) down to ``noise_std_min``.
  Evaluation is noise-free.
* Update (Lowe et al. 2017): each critic regresses y = r + γ(1 − d) Q'(s', μ'(o')) with a
  (optionally weighted) MSE; the actors ascend their critic's value; both losses are taken at
  the same parameters and stepped together; both targets are soft-updated,
  θ' ← τθ + (1 − τ)θ'. Time-limit truncation is not termination, so y bootstraps at the
  last slot too.
* ``share_params=True``: one actor (and, with per-agent critics, one critic) for all UDs,
  plus a learned per-agent embedding on the first layer (the same as appending a one-hot
  agent index).
* ``critic``: ``per_agent`` (the paper, Lowe et al.: critic n regresses UD n's own reward and
  actor n climbs critic n with the other actions from the sample) or ``team``: **one** critic
  Q(s, a_1 … a_N) regresses the team reward (1/N) Σ_n r_n, the system objective of problem P1,
  and the actors climb Q(s, μ_1(o_1) … μ_N(o_N)) together, one critic pass per sample (the
  pattern of TorchRL's and BenchMARL's MADDPG with a shared critic). A UD's own reward
  carries only 1/N of its own cost but all of its timeout penalty, so per-agent critics learn
  to avoid offloading; the team critic sees the whole effect (docs/algorithms.md, measured).
  ``decomposed``: the team critic's value split into its N terms. The team reward is
  (1/N) Σ_n u_n with u_n = P_n − C_n (UD n's penalty and cost, from the infos), so one
  critic on the same joint input has N outputs, output n regresses u_n's return, and the
  team value is their mean; the actors climb it as with ``team``. Each output fits a
  target with one UD's noise instead of the mean of N, while still seeing every action (a
  request that congests a server shows in the other UDs' terms).
  ``factored``: the same N terms, each from its own critic pass Q_n(s, a_1 … a_N, o_n, a_n)
  with UD n's observation and action as explicit inputs (one network shared by all UDs with
  the agent embedding, or one per UD with ``share_params=false``); the team value is
  (1/N) Σ_n Q_n and the actors climb it. Term n no longer has to find UD n's action among
  the N of the joint input, so a UD's own effect (its cost, local or offloaded, and its
  timeout) is learned per UD, and the joint input still carries the congestion. It costs
  one pass of the deeper layers per (UD, sample), about twice the team critic's update.
* ``offload_decision``: ``threshold`` (the paper: the actor outputs x^u ∈ [0, 1] and the UD
  requests iff x^u ≥ 0.5; the critic sees the continuous x^u) or ``relaxed``: the actor
  outputs a logit ℓ, the UD requests with probability σ(ℓ) while exploring and iff ℓ > 0
  when evaluated, the stored and criticised action is the decision itself (0 or 1), and the
  actor's gradient reaches ℓ through a straight-through relaxed Bernoulli (Gumbel-softmax
  for two classes: hard sample forward, σ((ℓ + L)/T) backward, L logistic noise), as MADDPG
  does for discrete actions (Lowe et al. 2017, appendix). ``expected``: acting and the
  criticised action as ``relaxed``, but the decision's gradient is exact rather than
  sampled: with the other UDs' actions held, the actor climbs E_{x_n ~ Bern(σ(ℓ_n))} Q, whose
  derivative is σ'(ℓ_n) (Q(…, x_n = 1, …) − Q(…, x_n = 0, …)). Both counterfactual values
  come from the critic's first-layer pre-activation plus or minus x_n's weight row (the
  first layer is linear), so the cost is one pass of the deeper layers per UD and sample.
* ``reward_scale``: rewards are multiplied by it in every target (a fixed rescaling).
* ``twin_critics``: two critics of the chosen kind regress one target built from the smaller
  of their two target values (TD3's clipped double Q, Fujimoto et al. 2018); the actors
  climb the first. It curbs the over-estimates an actor can chase into a collapse.
* ``action_reg``: k · mean(raw²) of the actor's raw outputs added to its loss (the original
  MADDPG code's 1e-3), against outputs saturating where their sigmoid has no gradient.
* When the environment has ES agents, this learner approves every request (rule 4); the
  UCMS learner (:mod:`.ucms`) replaces :meth:`act_es` with the ES Q-network and
  :meth:`critic_targets` with the ES-provided target (eq. 34), and runs its ES update before
  :meth:`update_uds`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from omegaconf import MISSING

from ucms_marl.learners.base import (
    LEARNERS,
    Algorithm,
    Learner,
    full_transition_spec,
    step_decay,
)
from ucms_marl.networks import BatchedMLP, clip_grad_norm_per_agent_, soft_update_
from ucms_marl.replay import Sample, TransitionSpec
from ucms_marl.rollout_types import Actions, EnvSpec, Observation

CRITICS = ("team", "per_agent", "decomposed", "factored")
OFFLOAD_DECISIONS = ("threshold", "relaxed", "expected")
MADDPG_FIELDS = (
    "state", "next_state", "ud_obs", "next_ud_obs", "ud_action", "ud_reward", "terminated",
)  # fmt: skip


def _adam(params, lr: float) -> torch.optim.Adam:
    params = list(params)
    # fused Adam is ~10x faster than foreach on CPU for the stacked critics; both are exact Adam
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - devices without a fused kernel
        return torch.optim.Adam(params, lr=lr)


@dataclass
class MADDPGConfig:
    """The keys of ``learner/maddpg.yaml``, which documents each; the values are the YAML's."""

    name: str = MISSING
    actor_hidden: list[int] = MISSING
    critic_hidden: list[int] = MISSING
    lr_actor: float = MISSING
    lr_critic: float = MISSING
    gamma: float = MISSING
    tau: float = MISSING
    batch_size: int = MISSING
    share_params: bool = MISSING
    noise_std: float = MISSING
    noise_std_min: float = MISSING
    noise_decay: float = MISSING
    noise_decay_steps: int = MISSING
    max_grad_norm: float | None = MISSING
    critic: str = MISSING
    offload_decision: str = MISSING
    gumbel_temperature: float = MISSING
    reward_scale: float = MISSING
    action_reg: float = MISSING
    twin_critics: bool = MISSING


@LEARNERS.register(
    "maddpg",
    schema=MADDPGConfig,
    algorithms={  # the paper's MADDPG baselines (conf/algo/), by their admission rule
        "maddpg": Algorithm("MADDPG", "#1f77b4"),  # blue
        "offloadcost_maddpg": Algorithm("OFFLOADCOST_MADDPG", "#2ca02c"),  # green
        "deadline_maddpg": Algorithm("DEADLINE_MADDPG", "#9467bd"),  # purple
    },
)
class MADDPG(Learner):
    is_learning = True

    def __init__(self, cfg: Any, spec: EnvSpec, *, device: torch.device, seed: int) -> None:
        super().__init__(cfg, spec, device=device, seed=seed)
        _validate(cfg)
        n, act_dim = spec.n_uds, spec.ud_action_dim
        self.n_agents, self.act_dim = n, act_dim
        self.gamma, self.tau, self.batch_size = (
            float(cfg.gamma),
            float(cfg.tau),
            int(cfg.batch_size),
        )
        self.max_grad_norm = cfg.max_grad_norm
        init = torch.Generator().manual_seed(self.seed)

        self.actor = BatchedMLP(
            n,
            spec.ud_obs_dim,
            list(cfg.actor_hidden),
            act_dim,
            share_params=cfg.share_params,
            generator=init,
        ).to(device)  # fmt: skip  (raw outputs: see _squash)
        # team and decomposed: one critic on the joint input whose value is the team's
        self.team = cfg.critic in ("team", "decomposed")
        self.decomposed = cfg.critic == "decomposed"
        self.factored = cfg.critic == "factored"
        critic_in = spec.state_dim + n * act_dim
        if self.factored:  # + the UD's own observation and action
            critic_in += spec.ud_obs_dim + act_dim
        self.relaxed = cfg.offload_decision in ("relaxed", "expected")
        self.expected = cfg.offload_decision == "expected"
        self.reward_scale = float(cfg.reward_scale)
        self.temperature = float(cfg.gumbel_temperature)
        # keys newer than some saved configs: absent means the behaviour before they existed
        self.action_reg = float(cfg.get("action_reg", 0.0))

        def make_critic() -> BatchedMLP:
            return BatchedMLP(
                1 if self.team else n, critic_in, list(cfg.critic_hidden),
                n if self.decomposed else 1,
                share_params=cfg.share_params and not self.team, generator=init,
            ).to(device)  # fmt: skip

        self.critic = make_critic()
        # twin_critics: a second critic (TD3's clipped double Q); targets take the smaller value
        self.critic2 = make_critic() if cfg.get("twin_critics", False) else None
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.critic2_target = (
            None if self.critic2 is None else copy.deepcopy(self.critic2).requires_grad_(False)
        )
        self.actor_opt = _adam(self.actor.parameters(), float(cfg.lr_actor))
        self.critic_opt = _adam(self.critic.parameters(), float(cfg.lr_critic))
        self.critic2_opt = (
            None if self.critic2 is None else _adam(self.critic2.parameters(), float(cfg.lr_critic))
        )

        self.noise_std = float(cfg.noise_std)
        self.env_steps = 0  # training env-steps seen (the schedules' clock)
        self.rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x5EED]))

    # ------------------------------------------------------------------ acting
    def transition_spec(self) -> TransitionSpec:
        fields = full_transition_spec(self.spec)
        names = (*MADDPG_FIELDS, "ud_share") if self.decomposed or self.factored else MADDPG_FIELDS
        return {k: fields[k] for k in names}

    def _squash(self, raw: torch.Tensor) -> torch.Tensor:
        """Deterministic actions in [0, 1] from the actor's raw outputs (..., 3): f^u, p^u by a
        sigmoid; x^u by a sigmoid (``threshold``) or as the decision ℓ > 0 (``relaxed``)."""
        if not self.relaxed:
            return torch.sigmoid(raw)
        x = (raw[..., :1] > 0).to(raw.dtype)
        return torch.cat([x, torch.sigmoid(raw[..., 1:])], dim=-1)

    def policy(self, ud_obs: torch.Tensor, *, target: bool = False) -> torch.Tensor:
        """Deterministic actions μ(o) (or μ'(o') with ``target``) of a batch ``ud_obs``
        (B, N, obs) → (B, N, 3)."""
        net = self.actor_target if target else self.actor
        return self._squash(net(ud_obs.transpose(0, 1))).transpose(0, 1)

    def _differentiable_actions(self, raw: torch.Tensor) -> torch.Tensor:
        """Actions the actor loss feeds to the critic: as :meth:`_squash`, except that a
        relaxed decision is a straight-through relaxed Bernoulli sample (hard forward, soft
        gradient)."""
        if not self.relaxed:
            return torch.sigmoid(raw)
        logit = raw[..., :1]
        u = torch.rand_like(logit).clamp_(1e-6, 1.0 - 1e-6)
        soft = torch.sigmoid((logit + torch.log(u) - torch.log1p(-u)) / self.temperature)
        hard = (soft > 0.5).to(soft.dtype)
        return torch.cat([hard + soft - soft.detach(), torch.sigmoid(raw[..., 1:])], dim=-1)

    @torch.no_grad()
    def act(self, obs: Observation, *, explore: bool) -> Actions:
        local = torch.as_tensor(obs.ud_obs, device=self.device).transpose(0, 1)  # (N, E, obs)
        raw = self.actor(local).transpose(0, 1)  # (E, N, 3)
        actions = self._squash(raw).cpu().numpy()
        if explore:
            noisy = actions + self.rng.normal(0.0, self.noise_std, size=actions.shape)
            actions = np.clip(noisy, 0.0, 1.0)
            if self.relaxed:  # the decision is sampled from its Bernoulli, not perturbed,
                # mixed with a fair coin of weight noise_std so that a decision the actor has
                # turned off is still tried (and the other way round) while the noise lasts
                p = torch.sigmoid(raw[..., 0]).cpu().numpy()
                coin = min(self.noise_std, 1.0)
                p = (1.0 - coin) * p + 0.5 * coin
                actions[..., 0] = self.rng.random(p.shape) < p
        return Actions(actions.astype(np.float32), self.act_es(obs, actions, explore=explore))

    def act_es(
        self, obs: Observation, ud_actions: np.ndarray, *, explore: bool = False
    ) -> np.ndarray | None:
        """ES approval bits: approve every request (rule 4) when ES agents exist."""
        if obs.members is None:
            return None
        return (obs.members >= 0).astype(np.int8)

    def end_episode(self, env_steps: int) -> None:
        steps, self.env_steps = int(env_steps) - self.env_steps, int(env_steps)
        decay = step_decay(self.cfg.noise_decay, steps, int(self.cfg.noise_decay_steps))
        self.noise_std = max(float(self.cfg.noise_std_min), self.noise_std * decay)

    # ------------------------------------------------------------------ one update
    def _tensors(self, sample: Sample) -> dict[str, torch.Tensor]:
        return {k: torch.as_tensor(v, device=self.device) for k, v in sample.data.items()}

    def _values(self, out: torch.Tensor) -> torch.Tensor:
        """The critic's output (members, B, outputs) as values (N or 1, B): per-agent
        critics and the team critic have one output each; the decomposed critic's N outputs
        are the N terms of the team value."""
        return out[0].T if self.decomposed else out.squeeze(-1)

    def _factored_pre(
        self, net: BatchedMLP, state: torch.Tensor, actions: torch.Tensor, ud_obs: torch.Tensor
    ) -> torch.Tensor:
        """First-layer pre-activation (N, B, H) of the factored critic ``net`` on UD n's input
        (s, a_1 … a_N, o_n, a_n) for every n. The layer is linear, so the joint part is
        projected once per sample and only the UD's own part once per (UD, sample)."""
        joint = torch.cat([state, actions.flatten(1)], dim=1)  # (B, S + 3N)
        own = torch.cat([ud_obs, actions], dim=-1).transpose(0, 1)  # (N, B, O + 3)
        first, split = net.layers[0], joint.shape[1]
        w_joint, w_own = first.weight[:, :split], first.weight[:, split:]  # (members, ·, H)
        if net.share_params:
            pre = (joint @ w_joint[0] + first.bias[0])[None] + own @ w_own[0]
            return pre + net.agent_embedding
        return torch.einsum("bi,nih->nbh", joint, w_joint) + torch.baddbmm(first.bias, own, w_own)

    def _pre(
        self, net: BatchedMLP, state: torch.Tensor, actions: torch.Tensor, ud_obs: torch.Tensor
    ) -> torch.Tensor:
        """Critic ``net``'s first-layer pre-activation (N or 1, B, H) at (s, a)."""
        if self.factored:
            return self._factored_pre(net, state, actions, ud_obs)
        return net.input_preactivation(torch.cat([state, actions.flatten(1)], dim=1))

    def _q(
        self, net: BatchedMLP, state: torch.Tensor, actions: torch.Tensor, ud_obs: torch.Tensor
    ) -> torch.Tensor:
        """Critic ``net``'s values (N or 1, B) at (s, a)."""
        return self._values(net.from_preactivation(self._pre(net, state, actions, ud_obs)))

    @torch.no_grad()
    def critic_targets(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """y_n = k r_n + γ (1 − d) Q'_n(s', μ'_1(o'_1) … μ'_N(o'_N)), shape (N, B); with the
        team critic y = k (1/N) Σ_n r_n + γ (1 − d) Q'(s', μ'(o')), shape (1, B); with the
        decomposed critic y_n = k u_n + γ (1 − d) Q'_n(s', μ'(o')), u_n = P_n − C_n (UD n's
        term of the team reward), shape (N, B); k is ``reward_scale``. With ``twin_critics``
        Q' is the smaller of the two target critics' values (TD3's clipped double Q)."""
        next_actions = self.policy(batch["next_ud_obs"], target=True)  # (B, N, 3)
        args = (batch["next_state"], next_actions, batch["next_ud_obs"])
        next_q = self._q(self.critic_target, *args)  # (N or 1, B)
        if self.critic2_target is not None:  # clipped double Q
            next_q = torch.minimum(next_q, self._q(self.critic2_target, *args))
        not_done = 1.0 - batch["terminated"]
        if self.decomposed or self.factored:
            reward = batch["ud_share"].T  # (N, B)
        else:
            reward = batch["ud_reward"].T  # (N, B)
            if self.team:
                reward = reward.mean(dim=0, keepdim=True)
        return self.reward_scale * reward + self.gamma * not_done * next_q

    def actor_loss(
        self, ud_obs: torch.Tensor, actions: torch.Tensor, pre: torch.Tensor, state: torch.Tensor
    ) -> torch.Tensor:
        """The actors' loss. Team critic: −mean_B Q(s, μ_1(o_1) … μ_N(o_N)). Per-agent
        critics: −Σ_n mean_B Q_n(s, a_1 … μ_n(o_n) … a_N), given the critics' first-layer
        pre-activation ``pre`` (N, B, H) of the sampled joint input (s, a).

        Agent n's critic sees the sampled joint action with only its own action replaced by
        μ_n(o_n). The first layer is linear, so that input's pre-activation is ``pre`` plus
        (μ_n − a_n) times agent n's own weight rows: no N copies of the joint input, no second
        first-layer pass, and the gradient reaches μ_n exactly as through the concatenated
        input. The critic is frozen meanwhile, so this loss cannot train it.

        With ``offload_decision=expected`` the decisions fed to the critic are samples and
        :meth:`_decision_gain` carries their exact gradient; ``action_reg`` adds k · mean of
        the squared raw actor outputs (Lowe et al.'s code uses k = 1e-3).
        """
        raw = self.actor(ud_obs.transpose(0, 1))  # (N, B, 3)
        reg = self.action_reg * raw.pow(2).mean() if self.action_reg else 0.0
        if self.factored:  # −mean_B (1/N) Σ_n Q_n(s, μ(o), o_n, μ_n(o_n))
            mu = self._differentiable_actions(raw).transpose(0, 1)  # (B, N, 3)
            self.critic.requires_grad_(False)
            try:
                pre_mu = self._factored_pre(self.critic, state, mu, ud_obs)
                return reg - self.critic.from_preactivation(pre_mu).mean()
            finally:
                self.critic.requires_grad_(True)
        return reg + self._climb_critic(raw, actions, pre, state)

    def _climb_critic(
        self, raw: torch.Tensor, actions: torch.Tensor, pre: torch.Tensor, state: torch.Tensor
    ) -> torch.Tensor:
        """−(the critics' value of the actors' actions), given the actors' raw outputs
        ``raw`` (N, B, 3); see :meth:`actor_loss`."""
        if self.expected:
            prob = torch.sigmoid(raw[..., 0])  # (N, B)
            x = torch.bernoulli(prob.detach())
            mu = torch.cat([x[..., None], torch.sigmoid(raw[..., 1:])], dim=-1)
        else:
            mu = self._differentiable_actions(raw)  # (N, B, 3)
        self.critic.requires_grad_(False)
        try:
            if self.team:
                joint = torch.cat([state, mu.transpose(0, 1).flatten(1)], dim=1)
                pre_mu = self.critic.input_preactivation(joint)  # (1, B, H)
                loss = -self.critic.from_preactivation(pre_mu).mean()
                x_w = self.critic.layers[0].weight[0, self.spec.state_dim :: self.act_dim]
            else:
                own_w = self.critic.own_input_weight(self.spec.state_dim, self.act_dim).detach()
                pre_mu = pre.detach() + torch.bmm(mu - actions.transpose(0, 1), own_w)
                loss = -self.critic.from_preactivation(pre_mu).squeeze(-1).mean(dim=1).sum()
                x_w = own_w[:, 0, :]
            if self.expected:
                loss = loss - self._decision_gain(pre_mu.detach(), x, x_w.detach(), prob)
        finally:
            self.critic.requires_grad_(True)
        return loss

    def _decision_gain(
        self, pre: torch.Tensor, x: torch.Tensor, x_w: torch.Tensor, prob: torch.Tensor
    ) -> torch.Tensor:
        """Σ_n mean_B σ(ℓ_n) (Q(x_n = 1) − Q(x_n = 0)), the values held fixed: its gradient
        in ℓ_n is that of E_{x_n ~ Bern(σ(ℓ_n))} Q. ``pre`` is the critic's first-layer
        pre-activation at the sampled decisions x (N, B), (1 or N, B, H); ``x_w`` (N, H) is
        each UD's decision weight row."""
        n, batch = x.shape
        with torch.no_grad():
            on = pre + ((1.0 - x)[..., None] * x_w[:, None, :])  # x_n set to 1
            off = pre - (x[..., None] * x_w[:, None, :])  # x_n set to 0
            both = torch.stack([on, off])  # (2, N, B, H)
            if self.team:  # one critic: every UD's counterfactual is a row of its batch
                q = self.critic.from_preactivation(both.reshape(1, 2 * n * batch, -1))
                q = q.mean(dim=-1)  # the team value (the mean of a decomposed critic's terms)
            else:  # critic n sees its own counterfactuals
                q = self.critic.from_preactivation(both.transpose(0, 1).reshape(n, 2 * batch, -1))
                q = q.view(n, 2, batch).transpose(0, 1)
            q = q.reshape(2, n, batch)
            gain = q[0] - q[1]  # (N, B)
        return (prob * gain).mean(dim=1).sum()

    def _weights(self, sample: Sample) -> torch.Tensor:
        """Per-row loss weights (ones for uniform replay), shape (B,)."""
        if sample.weights is None:
            return torch.ones(len(sample.indices), device=self.device)
        return torch.as_tensor(sample.weights, device=self.device)

    def update(self, sample: Sample) -> tuple[dict[str, float], np.ndarray]:
        return self.update_uds(self._tensors(sample), self._weights(sample))

    def update_uds(
        self, batch: Mapping[str, torch.Tensor], weights: torch.Tensor
    ) -> tuple[dict[str, float], np.ndarray]:
        """One critic + actor step of every UD learner on a batch; returns losses, |δ| (B, N)."""
        state, actions = batch["state"], batch["ud_action"]  # (B, S), (B, N, 3)

        # critic: each agent's own (weighted) MSE; summing over agents keeps them independent
        y = self.critic_targets(batch)
        pre = self._pre(self.critic, state, actions, batch["ud_obs"])  # (N or 1, B, H)
        q = self._values(self.critic.from_preactivation(pre))  # (N or 1, B)
        td = y - q
        critic_loss = (weights * td.pow(2)).mean(dim=1).sum()
        if self.critic2 is not None:  # the twin regresses the same target
            td2 = y - self._q(self.critic2, state, actions, batch["ud_obs"])
            critic_loss = critic_loss + (weights * td2.pow(2)).mean(dim=1).sum()

        actor_loss = self.actor_loss(batch["ud_obs"], actions, pre, state)

        # [decision] both losses are taken at the current parameters and stepped together (a
        # simultaneous gradient step); the usual order steps the critic first and re-runs its
        # first layer for the actor, 16% more matmul work at the paper's sizes for a one-update
        # difference in the critic the actor climbs. The parameter sets are disjoint, so one
        # backward pass over the sum gives each its own gradient.
        critics = [(self.critic, self.critic_opt, self.critic_target)]
        if self.critic2 is not None:
            critics.append((self.critic2, self.critic2_opt, self.critic2_target))
        for _, opt, _ in critics:
            opt.zero_grad(set_to_none=True)
        self.actor_opt.zero_grad(set_to_none=True)
        (critic_loss + actor_loss).backward()
        if self.max_grad_norm is not None:
            for net, _, _ in critics:
                clip_grad_norm_per_agent_(net, float(self.max_grad_norm), self._critic_members)
            clip_grad_norm_per_agent_(self.actor, float(self.max_grad_norm), self._members)
        for _, opt, _ in critics:
            opt.step()
        self.actor_opt.step()

        for net, _, target in critics:
            soft_update_(target, net, self.tau)
        soft_update_(self.actor_target, self.actor, self.tau)

        td_abs = td.detach().abs().T.cpu().numpy()  # (B, N or 1) for the priorities
        n = q.shape[0]
        losses = {
            "critic_loss": critic_loss.item() / n,
            "actor_loss": actor_loss.item() / n,
            "q_mean": q.detach().mean().item(),
            "td_abs_mean": float(td_abs.mean()),
        }
        return losses, td_abs

    @property
    def _members(self) -> int:
        return 1 if self.cfg.share_params else self.n_agents

    @property
    def _critic_members(self) -> int:
        return 1 if self.team or self.cfg.share_params else self.n_agents

    # ------------------------------------------------------------------ checkpoints
    @property
    def _modules(self) -> tuple[str, ...]:
        """Names of the networks and optimisers that a checkpoint holds."""
        names = ("actor", "critic", "actor_target", "critic_target", "actor_opt", "critic_opt")
        if self.critic2 is not None:
            names += ("critic2", "critic2_target", "critic2_opt")
        return names

    def state_dict(self) -> dict[str, Any]:
        return {
            **{name: getattr(self, name).state_dict() for name in self._modules},
            "noise_std": self.noise_std,
            "env_steps": self.env_steps,
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name in self._modules:
            getattr(self, name).load_state_dict(state[name])
        self.noise_std = float(state["noise_std"])
        self.env_steps = int(state.get("env_steps", 0))
        self.rng.bit_generator.state = state["rng"]

    def policy_state_dict(self) -> dict[str, Any]:
        return {"actor": self.actor.state_dict()}

    def load_policy_state_dict(self, state: Mapping[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.actor_target.load_state_dict(state["actor"])

    def hparams(self) -> dict[str, Any]:
        return {
            "actor_params": sum(p.numel() for p in self.actor.parameters()),
            "critic_params": sum(p.numel() for p in self.critic.parameters())
            * (1 if self.critic2 is None else 2),
        }


def _validate(cfg: Any) -> None:
    checks = {
        "lr_actor": cfg.lr_actor > 0,
        "lr_critic": cfg.lr_critic > 0,
        "gamma": 0.0 <= cfg.gamma <= 1.0,
        "tau": 0.0 < cfg.tau <= 1.0,
        "batch_size": cfg.batch_size >= 1,
        "noise_std": cfg.noise_std >= 0,
        "noise_std_min": cfg.noise_std_min >= 0,
        "noise_decay": 0.0 < cfg.noise_decay <= 1.0,
        "noise_decay_steps": cfg.noise_decay_steps >= 1,
        "actor_hidden": len(cfg.actor_hidden) >= 1 and min(cfg.actor_hidden) >= 1,
        "critic_hidden": len(cfg.critic_hidden) >= 1 and min(cfg.critic_hidden) >= 1,
        "max_grad_norm": cfg.max_grad_norm is None or cfg.max_grad_norm > 0,
        "critic": cfg.critic in CRITICS,
        "offload_decision": cfg.offload_decision in OFFLOAD_DECISIONS
        and not (cfg.offload_decision == "expected" and cfg.critic == "factored"),
        "gumbel_temperature": cfg.gumbel_temperature > 0,
        "reward_scale": cfg.reward_scale > 0,
        "action_reg": cfg.get("action_reg", 0.0) >= 0,
    }
    allowed = {
        "lr_actor": "> 0", "lr_critic": "> 0", "gamma": "in [0, 1]", "tau": "in (0, 1]",
        "batch_size": ">= 1", "noise_std": ">= 0", "noise_std_min": ">= 0",
        "noise_decay": "in (0, 1]", "noise_decay_steps": ">= 1",
        "actor_hidden": "a non-empty list of widths >= 1",
        "critic_hidden": "a non-empty list of widths >= 1", "max_grad_norm": "null or > 0",
        "critic": f"one of {list(CRITICS)}",
        "offload_decision": f"one of {list(OFFLOAD_DECISIONS)} ('expected' not with "
        "learner.critic=factored)",
        "gumbel_temperature": "> 0", "reward_scale": "> 0", "action_reg": ">= 0",
    }  # fmt: skip
    for key, ok in checks.items():
        if not ok:
            raise ValueError(f"learner.{key} must be {allowed[key]}, got {cfg.get(key)!r}")

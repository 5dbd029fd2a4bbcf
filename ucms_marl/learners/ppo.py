"""MAPPO and IPPO for the UD agents, and with ES agents a learned ES admission (UCMS_MAPPO).

Read top to bottom: the networks, the hybrid UD action distribution, the masked ES head,
acting, then one update on a whole rollout. ``docs/algorithms.md`` ("MAPPO, IPPO and
UCMS_MAPPO") states every choice made here and what it measured.

* On-policy (``on_policy = True``): the trainer keeps no replay buffer; every iteration it
  plays ``max(num_envs, ceil(rollout_steps / n_slots))`` whole episodes with the current
  policy (at least ``rollout_steps`` env-steps) and hands all of their steps to
  :meth:`PPO.update_rollout`, stacked as (T, E, ...).
* UD actor π(a | o_n): **one** MLP shared by all UDs on the UD's local observation (plus its
  one-hot index with ``agent_id``). The hybrid action: a Bernoulli for the offload decision
  x (the env gets exactly 0.0 or 1.0) and, for (f, p), a Beta on (0, 1) (α, β = 1 +
  softplus, so each is unimodal) or (``continuous_dist=squashed_gaussian``) a Gaussian
  squashed by a sigmoid (state-independent log-std). log π(a) = log Bern(x) + log D(f) +
  log D(p). Evaluation (``explore=False``) is deterministic: x = 1 iff P(x = 1) ≥ 0.5, and
  f, p the Beta's mode (measured slightly better than its mean: optima sit near the edges)
  or sigmoid(μ) (squashed Gaussian).
* UD value: MAPPO (``centralised_value``) V(s, n) on the global state plus the UD's one-hot
  index (MAPPO's agent-specific global state), run as one first-layer projection of s per
  step plus a learned per-agent row (the same as concatenating the one-hot); IPPO V(o_n) on
  the local observation (+ one-hot with ``agent_id``). Each UD learns from its own reward
  r_n (``ud_reward=own``), from the mean UD reward (``ud_reward=team``), or from its own
  share P_n − C_n of the team reward (``ud_reward=share``: its own cost at full weight).
* ES head (only when the env has ES agents): a small MLP shared by all ESs and places,
  Bernoulli per member place, on the per-place input of :func:`ucms.es_view` (the place in
  the ES observation, the member's observation, action and request flag, the ES's load and
  pooled members). Masking: empty places and members that did not request always get 0 and
  carry no log-probability. The sampled approvals are then taken in descending probability
  within K subchannels and D_m storage (:func:`ucms.select_approvals`), so the environment
  never cuts one. ES value: MAPPO V_es(s, m) (state + the ES's one-hot), IPPO V_es(o_m) (the
  ES's own observation); the ES reward is the mean UD reward. Each place is its own PPO
  ratio (a sub-agent of its ES) with its ES's advantage.
* Update: GAE(γ, λ) per agent with the time-limit truncation bootstrapped from the value of
  the last next observation (the env never terminates); returns normalised by running
  mean/std (values are predicted in that normalised space); advantages normalised per
  group; ``ppo_epochs`` passes of ``num_minibatches`` minibatches over (time × env copy ×
  agent) rows; clipped surrogate, entropy bonus, value MSE (clipped with ``value_clip``),
  gradient-norm clip per network, Adam.
* Randomness (action samples, minibatch order) comes from the learner's own numpy generator;
  its state, the networks, the optimiser and the normalisers are in :meth:`state_dict`, all
  plain python or tensors (``torch.load(weights_only=True)`` reads them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import MISSING
from torch import nn

from ucms_marl.learners import imitation
from ucms_marl.learners.base import LEARNERS, Algorithm, Learner
from ucms_marl.learners.ucms import es_input_dim, es_view, select_approvals
from ucms_marl.rollout_types import Actions, EnvSpec, Observation

CONTINUOUS_DISTS = ("beta", "squashed_gaussian")
#: distributions of the offload decision x: a Bernoulli (x ∈ {0, 1}, a whole task offloaded or
#: not) or a Beta (x ∈ (0, 1): the share of a DNN offloaded, so a split point can be learned)
OFFLOAD_DISTS = ("bernoulli", "beta")
ACTIVATIONS = ("tanh", "relu")
UD_REWARDS = ("own", "team", "share")
EPS = 1e-6  # Beta samples are kept in [EPS, 1 - EPS] so their log-density stays finite
LOG_STD_RANGE = (-5.0, 1.0)


# ---------------------------------------------------------------------- networks
class MLP(nn.Module):
    """Fully connected layers with orthogonal init (PPO's habit): hidden gain √2, head gain
    ``out_gain`` (0.01 for policy heads, so the initial policy is near uniform)."""

    def __init__(
        self,
        in_dim: int,
        hidden: Sequence[int],
        out_dim: int,
        *,
        activation: str,
        out_gain: float,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        widths = [in_dim, *hidden]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.head = nn.Linear(widths[-1], out_dim)
        self.act = torch.tanh if activation == "tanh" else torch.relu
        for layer, gain in [*((lay, math.sqrt(2.0)) for lay in self.layers), (self.head, out_gain)]:
            nn.init.orthogonal_(layer.weight, gain=gain, generator=generator)
            nn.init.zeros_(layer.bias)

    def from_first(self, pre: torch.Tensor) -> torch.Tensor:
        """The network after its first layer's pre-activation ``pre``."""
        h = self.act(pre)
        for layer in self.layers[1:]:
            h = self.act(layer(h))
        return self.head(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_first(self.layers[0](x))


class AgentValue(MLP):
    """V(s, i) for ``n_agents`` agents on a shared input s: the first layer applied to s once,
    plus a learned row per agent (identical to appending the agent's one-hot index to s)."""

    def __init__(self, in_dim: int, n_agents: int, hidden: Sequence[int], **kw: Any) -> None:
        super().__init__(in_dim, hidden, 1, out_gain=1.0, **kw)
        self.agent_row = nn.Parameter(torch.zeros(n_agents, hidden[0]))

    def all_agents(self, x: torch.Tensor) -> torch.Tensor:
        """(R, in) → (R, n_agents) values."""
        pre = self.layers[0](x)[:, None, :] + self.agent_row
        return self.from_first(pre)[..., 0]

    def rows(self, x: torch.Tensor, row: torch.Tensor, agent: torch.Tensor) -> torch.Tensor:
        """Values of the (input row, agent) pairs: ``x`` (R, in), ``row``, ``agent`` (B,)."""
        pre = self.layers[0](x)[row] + self.agent_row[agent]
        return self.from_first(pre)[..., 0]


class RunningMeanStd:
    """Running mean and variance of scalar returns (Chan et al.'s parallel update)."""

    def __init__(self) -> None:
        self.mean, self.var, self.count = 0.0, 1.0, 0.0

    def update(self, x: torch.Tensor) -> None:
        x = x.detach().double().flatten()
        n = float(x.numel())
        if n == 0:
            return
        mean, var = float(x.mean()), float(x.var(unbiased=False))
        if self.count == 0:
            self.mean, self.var, self.count = mean, var, n
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.var = (self.var * self.count + var * n + delta**2 * self.count * n / total) / total
        self.count = total

    @property
    def std(self) -> float:
        return math.sqrt(max(self.var, 1e-8))

    def state_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        self.mean, self.var, self.count = (float(state[k]) for k in ("mean", "var", "count"))


# ---------------------------------------------------------------------- the UD distribution
def bernoulli_log_prob(logit: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return x * F.logsigmoid(logit) + (1.0 - x) * F.logsigmoid(-logit)


def bernoulli_entropy(logit: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logit)
    return -(p * F.logsigmoid(logit) + (1.0 - p) * F.logsigmoid(-logit))


class HybridDist:
    """The UD action distribution from the actor's output ``out`` (..., 5, 6, 3 or 4):
    column 0 the offload logit (``offload="bernoulli"``) or the α pre-activation of x's Beta
    (``offload="beta"``, whose β pre-activation is the last column); then Beta (α, β)
    pre-activations of f and p, or the Gaussian means of f and p (``log_std`` (2,) then holds
    their log-stds).

    ``sample`` columns: x (∈ {0, 1} with the Bernoulli, in (0, 1) with the Beta: the share of
    a DNN offloaded, docs/dnn_split.md), then the continuous samples in the *raw* space the
    log-density is taken in: the Beta's (0, 1) value, or the Gaussian's pre-squash value u
    (the env gets sigmoid(u)).
    """

    def __init__(
        self, out: torch.Tensor, kind: str, log_std: torch.Tensor | None, offload: str = "bernoulli"
    ) -> None:
        self.kind, self.offload, self.logit = kind, offload, out[..., 0]
        if offload == "beta":
            self.x_alpha = 1.0 + F.softplus(out[..., 0])
            self.x_beta = 1.0 + F.softplus(out[..., -1])
        if kind == "beta":
            self.alpha = 1.0 + F.softplus(out[..., 1:3])
            self.beta = 1.0 + F.softplus(out[..., 3:5])
        else:
            self.mu = out[..., 1:3]
            self.log_std = log_std.clamp(*LOG_STD_RANGE).expand_as(self.mu)

    def offload_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log π(x), shape (...)."""
        if self.offload == "beta":
            beta = torch.distributions.Beta(self.x_alpha, self.x_beta)
            return beta.log_prob(x.clamp(EPS, 1.0 - EPS))
        return bernoulli_log_prob(self.logit, x)

    def log_prob(self, sample: torch.Tensor) -> torch.Tensor:
        """log π(x, f, p), shape (...)."""
        lp = self.offload_log_prob(sample[..., 0])
        raw = sample[..., 1:3]
        if self.kind == "beta":
            a = raw.clamp(EPS, 1.0 - EPS)
            cont = torch.distributions.Beta(self.alpha, self.beta).log_prob(a)
        else:
            std = self.log_std.exp()
            gauss = -0.5 * ((raw - self.mu) / std) ** 2 - self.log_std - 0.5 * math.log(2 * math.pi)
            # change of variables a = sigmoid(u): log |da/du| = log a + log(1 − a)
            cont = gauss - (F.logsigmoid(raw) + F.logsigmoid(-raw))
        return lp + cont.sum(-1)

    def entropy(self) -> torch.Tensor:
        """Offload entropy (Bernoulli, or the Beta's differential one) + the continuous part's
        (differential; for the squashed Gaussian the pre-squash Gaussian's, the usual
        stand-in)."""
        if self.offload == "beta":
            ent = torch.distributions.Beta(self.x_alpha, self.x_beta).entropy()
        else:
            ent = bernoulli_entropy(self.logit)
        if self.kind == "beta":
            cont = torch.distributions.Beta(self.alpha, self.beta).entropy()
        else:
            cont = 0.5 + 0.5 * math.log(2 * math.pi) + self.log_std
        return ent + cont.sum(-1)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """A sample (..., 3) float32 from the learner's own generator."""
        if self.offload == "beta":
            a, b = (t.double().cpu().numpy() for t in (self.x_alpha, self.x_beta))
            x = np.clip(rng.beta(a, b), EPS, 1.0 - EPS)
        else:
            p = torch.sigmoid(self.logit).double().cpu().numpy()
            x = (rng.random(p.shape) < p).astype(np.float64)
        if self.kind == "beta":
            a = self.alpha.double().cpu().numpy()
            b = self.beta.double().cpu().numpy()
            raw = np.clip(rng.beta(a, b), EPS, 1.0 - EPS)
        else:
            mu = self.mu.double().cpu().numpy()
            raw = mu + np.exp(self.log_std.double().cpu().numpy()) * rng.standard_normal(mu.shape)
        return np.concatenate([x[..., None], raw], axis=-1).astype(np.float32)

    def mode(self) -> np.ndarray:
        """The deterministic action in raw space: x = 1 iff P(x = 1) ≥ 0.5 (Bernoulli) or x's
        Beta mode; for (f, p) the Beta's mode (α − 1)/(α + β − 2), which exists as α, β > 1
        (its mean where both are within 1e-3 of 1, i.e. nearly uniform), or the Gaussian's μ
        (the env gets sigmoid(μ), the squashed distribution's median)."""
        if self.offload == "beta":
            x = _beta_mode(self.x_alpha, self.x_beta)
        else:
            x = (torch.sigmoid(self.logit) >= 0.5).float()
        raw = _beta_mode(self.alpha, self.beta) if self.kind == "beta" else self.mu
        return torch.cat([x[..., None], raw], dim=-1).cpu().numpy().astype(np.float32)

    def env_action(self, sample: np.ndarray) -> np.ndarray:
        """The env's action (x, f, p) in [0, 1]³ from a raw sample."""
        if self.kind == "beta":
            return sample
        out = sample.copy()
        out[..., 1:] = 1.0 / (1.0 + np.exp(-sample[..., 1:].astype(np.float64)))
        return out


def _beta_mode(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """(α − 1)/(α + β − 2) in [0, 1], the mean where α + β − 2 ≤ 1e-3 (nearly uniform)."""
    denom = alpha + beta - 2.0
    mean = alpha / (alpha + beta)
    raw = torch.where(denom > 1e-3, (alpha - 1.0) / denom.clamp_min(1e-3), mean)
    # (α − 1)/(α + β − 2) ≤ 1, but not always in float32 when β is within rounding of 1
    return raw.clamp(0.0, 1.0)


# ---------------------------------------------------------------------- the ES head
def es_log_prob(logit: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Per-place log-probability of the sampled approval bits (mask it with ``valid``)."""
    return bernoulli_log_prob(logit, bits.float())


def masked_es_action(
    prob: torch.Tensor,
    valid: torch.Tensor,
    bits: torch.Tensor,
    size: torch.Tensor,
    subchannels: torch.Tensor,
    storage: torch.Tensor,
) -> torch.Tensor:
    """The ES action from sampled (or thresholded) approval ``bits`` (..., Z): bits outside
    ``valid`` (empty places, members that did not request) are dropped, and the rest are
    approved in descending ``prob`` while they fit in K and D_m, so the env never cuts one."""
    return select_approvals(prob, bits.bool() & valid, size, subchannels, storage)


# ---------------------------------------------------------------------- the learner
def gae(
    reward: torch.Tensor,
    value: torch.Tensor,
    last_next_value: torch.Tensor,
    not_terminated: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE over (T, ...) arrays of one episode per column; every column ends at T (time limit:
    the last step bootstraps from ``last_next_value``, the value of its next observation).
    Returns (advantages, returns)."""
    adv = torch.zeros_like(reward)
    running = torch.zeros_like(reward[0])
    for t in reversed(range(reward.shape[0])):
        next_value = last_next_value if t == reward.shape[0] - 1 else value[t + 1]
        delta = reward[t] + gamma * not_terminated[t] * next_value - value[t]
        running = delta + gamma * lam * not_terminated[t] * running
        adv[t] = running
    return adv, adv + value


@dataclass
class MAPPOConfig:
    """The keys of ``learner/mappo.yaml`` (and of its variant ``learner/ippo.yaml``), which
    documents every key: on-policy PPO, one UD actor shared by all UDs with a Bernoulli
    offload decision and Beta (f, p); centralised values; a learned ES head when the env has
    ES agents."""

    name: str = MISSING
    centralised_value: bool = MISSING
    agent_id: bool = MISSING
    actor_hidden: list[int] = MISSING
    critic_hidden: list[int] = MISSING
    es_hidden: list[int] = MISSING
    activation: str = MISSING
    continuous_dist: str = MISSING
    offload_dist: str = "bernoulli"
    log_std_init: float = MISSING
    lr_actor: float = MISSING
    lr_critic: float = MISSING
    gamma: float = MISSING
    gae_lambda: float = MISSING
    clip_ratio: float = MISSING
    entropy_coef: float = MISSING
    value_clip: float | None = MISSING
    normalize_advantages: bool = MISSING
    normalize_values: bool = MISSING
    reward_scale: float = MISSING
    ud_reward: str = MISSING
    ppo_epochs: int = MISSING
    num_minibatches: int = MISSING
    max_grad_norm: float | None = MISSING
    rollout_steps: int = MISSING
    imitation: imitation.ImitationConfig = field(default_factory=imitation.ImitationConfig)


@LEARNERS.register(  # applied second: registered after mappo
    "ippo",  # learner/ippo.yaml: learner/mappo.yaml with centralised_value=false
    schema=MAPPOConfig,
    algorithms={"ippo": Algorithm("IPPO", "#8c6d31")},  # olive brown
)
@LEARNERS.register(
    "mappo",
    schema=MAPPOConfig,
    algorithms={
        "mappo": Algorithm("MAPPO", "#17becf"),  # cyan
        "ucms_mappo": Algorithm("UCMS_MAPPO", "#e7969c"),  # light red: UCMS's setting
    },
)
class PPO(Learner):
    """MAPPO (``centralised_value=true``) / IPPO; see the module docstring."""

    is_learning = True
    on_policy = True

    def __init__(self, cfg: Any, spec: EnvSpec, *, device: torch.device, seed: int) -> None:
        super().__init__(cfg, spec, device=device, seed=seed)
        _validate(cfg)
        self.rollout_steps = int(cfg.rollout_steps)
        self.dist_kind = str(cfg.continuous_dist)
        self.offload_dist = str(cfg.offload_dist)
        self.centralised = bool(cfg.centralised_value)
        self.agent_id = bool(cfg.agent_id)
        self.gamma, self.lam = float(cfg.gamma), float(cfg.gae_lambda)
        n, m = spec.n_uds, spec.n_servers
        init = torch.Generator().manual_seed(self.seed)
        kw = {"activation": str(cfg.activation), "generator": init}

        obs_in = spec.ud_obs_dim + (n if self.agent_id else 0)
        cont_out = 4 if self.dist_kind == "beta" else 2
        x_out = 2 if self.offload_dist == "beta" else 1
        self.actor = MLP(obs_in, list(cfg.actor_hidden), x_out + cont_out, out_gain=0.01, **kw)
        self.log_std = nn.Parameter(torch.full((2,), float(cfg.log_std_init), device=device))
        if self.centralised:
            self.critic: nn.Module = AgentValue(spec.state_dim, n, list(cfg.critic_hidden), **kw)
        else:
            self.critic = MLP(obs_in, list(cfg.critic_hidden), 1, out_gain=1.0, **kw)
        self.nets = {"actor": self.actor, "critic": self.critic}
        groups = [
            {"params": [*self.actor.parameters(), self.log_std], "lr": float(cfg.lr_actor)},
            {"params": list(self.critic.parameters()), "lr": float(cfg.lr_critic)},
        ]
        self.has_es = bool(spec.es_agents)
        if self.has_es:
            self.es_actor = MLP(es_input_dim(spec), list(cfg.es_hidden), 1, out_gain=0.01, **kw)
            if self.centralised:
                self.es_critic: nn.Module = AgentValue(
                    spec.state_dim, m, list(cfg.critic_hidden), **kw
                )
            else:
                self.es_critic = MLP(
                    spec.es_obs_dim, list(cfg.critic_hidden), 1, out_gain=1.0, **kw
                )
            self.nets.update(es_actor=self.es_actor, es_critic=self.es_critic)
            groups += [
                {"params": list(self.es_actor.parameters()), "lr": float(cfg.lr_actor)},
                {"params": list(self.es_critic.parameters()), "lr": float(cfg.lr_critic)},
            ]
        for module in self.nets.values():
            module.to(device)
        self.groups = groups
        self.opt = self._optimiser()
        self.imitation = imitation.config_of(cfg)
        self.ud_returns, self.es_returns = RunningMeanStd(), RunningMeanStd()
        self.rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x9907]))

    def _optimiser(self) -> torch.optim.Adam:
        """A fresh Adam over the learner's parameter groups (each with its learning rate)."""
        return torch.optim.Adam([dict(g) for g in self.groups], eps=1e-5)

    def warm_start(self, play: imitation.Play) -> dict[str, float]:
        """``learner.imitation``: clone the teacher on the episodes ``play`` returns and fit
        the values to its returns, then a fresh optimiser (:mod:`.imitation`); nothing when
        ``imitation.episodes`` is 0."""
        if self.imitation.episodes <= 0:
            return {}
        stats = imitation.warm_start(self, play, self.imitation)
        self.opt = self._optimiser()
        return stats

    def warm_start_warning(self) -> str | None:
        """Why the teacher may not play its reference policy in this run's setting."""
        if self.imitation.episodes <= 0:
            return None
        return imitation.env_mismatch(self, self.imitation)

    # ------------------------------------------------------------------ networks on tensors
    def _t(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(x, device=self.device)

    def _actor_input(self, ud_obs: torch.Tensor) -> torch.Tensor:
        """(..., N, O) → (..., N, O [+ N])."""
        if not self.agent_id:
            return ud_obs
        n = self.spec.n_uds
        eye = torch.eye(n, device=ud_obs.device).expand(*ud_obs.shape[:-2], n, n)
        return torch.cat([ud_obs, eye], dim=-1)

    def ud_dist(self, ud_obs: torch.Tensor) -> HybridDist:
        out = self.actor(self._actor_input(ud_obs))
        return HybridDist(out, self.dist_kind, self.log_std, self.offload_dist)

    def ud_values(self, state: torch.Tensor, ud_obs: torch.Tensor) -> torch.Tensor:
        """Normalised V of every UD: ``state`` (R, S), ``ud_obs`` (R, N, O) → (R, N)."""
        if self.centralised:
            return self.critic.all_agents(state)
        return self.critic(self._actor_input(ud_obs))[..., 0]

    def es_values(self, state: torch.Tensor, es_obs: torch.Tensor) -> torch.Tensor:
        """Normalised V of every ES: (R, S), (R, M, obs) → (R, M)."""
        if self.centralised:
            return self.es_critic.all_agents(state)
        return self.es_critic(es_obs)[..., 0]

    def es_inputs(
        self,
        ud_obs: torch.Tensor,
        ud_action: torch.Tensor,
        es_obs: torch.Tensor,
        members: torch.Tensor,
    ):
        """The ES head's view of (R, ...) steps; a place is valid iff occupied and requested
        (the env's request rule: x ≥ 0.5, and members are matched by definition)."""
        return es_view(
            ud_obs, ud_action, ud_action[..., 0] >= 0.5, es_obs, members, self.spec.z_max
        )

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def act(self, obs: Observation, *, explore: bool) -> Actions:
        dist = self.ud_dist(self._t(obs.ud_obs))
        raw = dist.sample(self.rng) if explore else dist.mode()
        ud = dist.env_action(raw)
        extras: dict[str, np.ndarray] = {"ud_sample": raw}
        es = None
        if obs.members is not None:
            if self.has_es:
                es, es_sample = self.act_es(obs, ud, explore=explore)
                extras["es_sample"] = es_sample
            else:  # ES agents appeared after construction: approve every request
                es = (obs.members >= 0).astype(np.int8)
        return Actions(ud, es, extras if explore else None)

    @torch.no_grad()
    def act_es(
        self, obs: Observation, ud_action: np.ndarray, *, explore: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """ES approval bits (E, M, Z) for the UD actions ``ud_action`` (E, N, 3), and the
        sampled bits behind them (what the log-probability is taken of)."""
        view = self.es_inputs(
            self._t(obs.ud_obs), self._t(np.asarray(ud_action, dtype=np.float32)),
            self._t(obs.es_obs), self._t(obs.members),
        )  # fmt: skip
        prob = torch.sigmoid(self.es_actor(view.inputs)[..., 0])
        if explore:
            draw = torch.as_tensor(self.rng.random(tuple(prob.shape)), device=prob.device)
            bits = (draw < prob.double()) & view.requested
        else:
            bits = (prob >= 0.5) & view.requested
        approve = masked_es_action(
            prob, view.requested, bits, view.size, view.subchannels, view.storage
        )
        return (
            approve.to(torch.int8).cpu().numpy(),
            bits.to(torch.int8).cpu().numpy(),
        )

    # ------------------------------------------------------------------ one update
    def _minibatches(self, n_rows: int, k: int) -> tuple[torch.Tensor, ...]:
        """``k`` disjoint random index sets covering range(n_rows) (some empty if n_rows < k)."""
        perm = torch.as_tensor(self.rng.permutation(n_rows), device=self.device)
        return torch.tensor_split(perm, k)

    def _value_loss(
        self, new: torch.Tensor, old: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        loss = (new - target).pow(2)
        clip = self.cfg.value_clip
        if clip is not None:
            clipped = old + (new - old).clamp(-float(clip), float(clip))
            loss = torch.maximum(loss, (clipped - target).pow(2))
        return 0.5 * loss.mean()

    def _surrogate(
        self, logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Clipped surrogate loss, approximate KL, clip fraction."""
        log_ratio = logp - old_logp
        ratio = log_ratio.exp()
        eps = float(self.cfg.clip_ratio)
        loss = -torch.minimum(ratio * adv, ratio.clamp(1.0 - eps, 1.0 + eps) * adv).mean()
        with torch.no_grad():
            kl = ((ratio - 1.0) - log_ratio).mean()
            clipped = ((ratio - 1.0).abs() > eps).float().mean()
        return loss, kl, clipped

    def _advantages(
        self,
        reward: torch.Tensor,
        value_n: torch.Tensor,
        last_next_n: torch.Tensor,
        not_term: torch.Tensor,
        norm: RunningMeanStd,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """GAE on denormalised values; returns (advantages, normalised value targets) and
        updates the normaliser (values are predicted in the normalised space)."""
        scale = self.cfg.normalize_values
        mean, std = (norm.mean, norm.std) if scale else (0.0, 1.0)
        adv, ret = gae(
            reward, value_n * std + mean, last_next_n * std + mean, not_term,
            self.gamma, self.lam,
        )  # fmt: skip
        if scale:
            norm.update(ret)
            target = (ret - norm.mean) / norm.std
        else:
            target = ret
        if self.cfg.normalize_advantages and adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        return adv, target

    def update_rollout(self, rollout: Mapping[str, np.ndarray]) -> dict[str, float]:
        t_len, n_env, n = rollout["ud_reward"].shape
        rows = t_len * n_env
        data = {k: self._t(v) for k, v in rollout.items()}
        state = data["state"].reshape(rows, -1)
        ud_obs = data["ud_obs"].reshape(rows, n, -1)
        sample = data["ud_sample"].reshape(rows, n, -1)
        not_term = (1.0 - data["terminated"])[..., None]  # (T, E, 1)
        scale = float(self.cfg.reward_scale)
        ud_reward = self.ud_learning_reward(data)

        with torch.no_grad():
            old_logp = self.ud_dist(ud_obs).log_prob(sample)  # (rows, N)
            old_v = self.ud_values(state, ud_obs)
            last_v = self.ud_values(data["next_state"][-1], data["next_ud_obs"][-1])  # (E, N)
        ud_adv, ud_target = self._advantages(
            ud_reward, old_v.view(t_len, n_env, n), last_v, not_term, self.ud_returns
        )
        ud_adv, ud_target = ud_adv.reshape(rows, n), ud_target.reshape(rows, n)

        es = None
        if self.has_es:
            es = self._es_batch(data, rows, t_len, n_env, not_term, scale)

        ud = {
            "obs": ud_obs, "sample": sample, "old_logp": old_logp, "adv": ud_adv,
            "state": state, "old_v": old_v, "target": ud_target,
        }  # fmt: skip
        stats: dict[str, list[float]] = {}
        updates = 0
        coef = float(self.cfg.entropy_coef)
        n_mb = min(int(self.cfg.num_minibatches), rows * n)
        for _ in range(int(self.cfg.ppo_epochs)):
            ud_batches = self._minibatches(rows * n, n_mb)
            if es is not None:
                es_batches = self._minibatches(es["n_places"], n_mb)
                esv_batches = self._minibatches(es["n_values"], n_mb)
            for i, idx in enumerate(ud_batches):
                loss, step = self._ud_loss(ud, idx // n, idx % n, coef)
                if es is not None:
                    es_loss, es_step = self._es_loss(es, es_batches[i], esv_batches[i], coef)
                    loss = loss + es_loss
                    step.update(es_step)
                self._optimise(loss)
                updates += 1
                for key, value in step.items():
                    stats.setdefault(key, []).append(value)
        out = {k: float(np.mean(v)) for k, v in stats.items()}
        out["value_mean"] = float(ud_target.mean())  # normalised return target of the UDs
        out["updates"] = float(updates)
        return out

    def ud_learning_reward(self, data: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The UDs' learning signal (T, E, N) of ``ud_reward``, scaled by ``reward_scale``."""
        key = "ud_share" if self.cfg.ud_reward == "share" else "ud_reward"
        reward = data[key] * float(self.cfg.reward_scale)
        if self.cfg.ud_reward == "team":
            reward = reward.mean(-1, keepdim=True).expand_as(reward)
        return reward

    def _ud_loss(
        self, ud: dict[str, torch.Tensor], r: torch.Tensor, a: torch.Tensor, coef: float
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The UDs' PPO loss on the minibatch of rows ``r`` and agents ``a`` (clipped
        surrogate, entropy bonus, value loss) and its statistics."""
        dist = self.ud_dist_rows(ud["obs"], r, a)
        loss_pi, kl, clip_frac = self._surrogate(
            dist.log_prob(ud["sample"][r, a]), ud["old_logp"][r, a], ud["adv"][r, a]
        )
        entropy = dist.entropy().mean()
        v = self.ud_value_rows(ud["state"], ud["obs"], r, a)
        loss_v = self._value_loss(v, ud["old_v"][r, a], ud["target"][r, a])
        loss = loss_pi - coef * entropy + loss_v
        step = {
            "policy_loss": loss_pi.item(), "value_loss": loss_v.item(),
            "entropy": entropy.item(), "approx_kl": kl.item(),
            "clip_frac": clip_frac.item(),
        }  # fmt: skip
        return loss, step

    def _optimise(self, loss: torch.Tensor) -> None:
        """One optimiser step on ``loss``, each network's gradients clipped to
        ``max_grad_norm`` (the actor's with ``log_std``)."""
        max_norm = self.cfg.max_grad_norm
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if max_norm is not None:
            for name, module in self.nets.items():
                params = list(module.parameters())
                if name == "actor":
                    params.append(self.log_std)
                nn.utils.clip_grad_norm_(params, float(max_norm))
        self.opt.step()

    def ud_dist_rows(self, ud_obs: torch.Tensor, r: torch.Tensor, a: torch.Tensor) -> HybridDist:
        x = ud_obs[r, a]
        if self.agent_id:
            x = torch.cat([x, F.one_hot(a, self.spec.n_uds).to(x.dtype)], dim=-1)
        return HybridDist(self.actor(x), self.dist_kind, self.log_std, self.offload_dist)

    def ud_value_rows(
        self, state: torch.Tensor, ud_obs: torch.Tensor, r: torch.Tensor, a: torch.Tensor
    ) -> torch.Tensor:
        if self.centralised:
            return self.critic.rows(state, r, a)
        x = ud_obs[r, a]
        if self.agent_id:
            x = torch.cat([x, F.one_hot(a, self.spec.n_uds).to(x.dtype)], dim=-1)
        return self.critic(x)[..., 0]

    # ------------------------------------------------------------------ the ES part
    def _es_batch(self, data, rows, t_len, n_env, not_term, scale) -> dict[str, Any]:
        m = self.spec.n_servers
        view = self.es_inputs(
            data["ud_obs"].reshape(rows, self.spec.n_uds, -1),
            data["ud_action"].reshape(rows, self.spec.n_uds, -1),
            data["es_obs"].reshape(rows, m, -1),
            data["members"].reshape(rows, m, -1),
        )
        valid = view.requested  # (rows, M, Z)
        place = valid.nonzero()  # (P, 3): row, server, place
        inputs = view.inputs[valid]  # (P, F)
        bits = data["es_sample"].reshape(rows, m, -1)[valid].float()
        state = data["state"].reshape(rows, -1)
        es_obs = data["es_obs"].reshape(rows, m, -1)
        with torch.no_grad():
            old_logp = es_log_prob(self.es_actor(inputs)[..., 0], bits)
            old_v = self.es_values(state, es_obs)  # (rows, M)
            last_v = self.es_values(data["next_state"][-1], data["next_es_obs"][-1])
        reward = data["es_reward"] * scale
        adv, target = self._advantages(
            reward, old_v.view(t_len, n_env, m), last_v, not_term, self.es_returns
        )
        adv, target = adv.reshape(rows, m), target.reshape(rows, m)
        return {
            "inputs": inputs, "bits": bits, "old_logp": old_logp,
            "adv": adv[place[:, 0], place[:, 1]], "n_places": int(place.shape[0]),
            "state": state, "es_obs": es_obs, "old_v": old_v.reshape(-1),
            "target": target.reshape(-1), "n_values": rows * m, "m": m,
        }  # fmt: skip

    def _es_loss(
        self, es: Mapping[str, Any], idx: torch.Tensor, vidx: torch.Tensor, coef: float
    ) -> tuple[torch.Tensor, dict[str, float]]:
        m = es["m"]
        loss = torch.zeros((), device=self.device)
        step: dict[str, float] = {}
        if vidx.numel() > 0:
            r, srv = vidx // m, vidx % m
            if self.centralised:
                v = self.es_critic.rows(es["state"], r, srv)
            else:
                v = self.es_critic(es["es_obs"][r, srv])[..., 0]
            loss = self._value_loss(v, es["old_v"][vidx], es["target"][vidx])
            step["es_value_loss"] = loss.item()
        if idx.numel() == 0:  # no request in this minibatch (or in the whole rollout)
            return loss, step
        logit = self.es_actor(es["inputs"][idx])[..., 0]
        loss_pi, kl, _ = self._surrogate(
            es_log_prob(logit, es["bits"][idx]), es["old_logp"][idx], es["adv"][idx]
        )
        entropy = bernoulli_entropy(logit).mean()
        step.update(
            es_policy_loss=loss_pi.item(), es_entropy=entropy.item(), es_approx_kl=kl.item()
        )
        return loss + loss_pi - coef * entropy, step

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        state = {name: module.state_dict() for name, module in self.nets.items()}
        state.update(
            log_std=self.log_std.detach().clone(),
            opt=self.opt.state_dict(),
            ud_returns=self.ud_returns.state_dict(),
            es_returns=self.es_returns.state_dict(),
            rng=self.rng.bit_generator.state,
        )
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name, module in self.nets.items():
            module.load_state_dict(state[name])
        with torch.no_grad():
            self.log_std.copy_(state["log_std"])
        self.opt.load_state_dict(state["opt"])
        self.ud_returns.load_state_dict(state["ud_returns"])
        self.es_returns.load_state_dict(state["es_returns"])
        self.rng.bit_generator.state = state["rng"]

    def policy_state_dict(self) -> dict[str, Any]:
        state = {"actor": self.actor.state_dict(), "log_std": self.log_std.detach().clone()}
        if self.has_es:
            state["es_actor"] = self.es_actor.state_dict()
        return state

    def load_policy_state_dict(self, state: Mapping[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        with torch.no_grad():
            self.log_std.copy_(state["log_std"])
        if self.has_es:
            self.es_actor.load_state_dict(state["es_actor"])

    def hparams(self) -> dict[str, Any]:
        return {
            f"{name}_params": sum(p.numel() for p in module.parameters())
            for name, module in self.nets.items()
        }


def _validate(cfg: Any) -> None:
    choices = {
        "continuous_dist": CONTINUOUS_DISTS,
        "offload_dist": OFFLOAD_DISTS,
        "activation": ACTIVATIONS,
        "ud_reward": UD_REWARDS,
    }
    for key, allowed in choices.items():
        if cfg[key] not in allowed:
            raise ValueError(f"learner.{key} must be one of {list(allowed)}, got {cfg[key]!r}")

    def widths(x) -> bool:
        return len(x) >= 1 and min(x) >= 1

    checks = {
        "actor_hidden": (widths(cfg.actor_hidden), "a non-empty list of widths >= 1"),
        "critic_hidden": (widths(cfg.critic_hidden), "a non-empty list of widths >= 1"),
        "es_hidden": (widths(cfg.es_hidden), "a non-empty list of widths >= 1"),
        "lr_actor": (cfg.lr_actor > 0, "> 0"),
        "lr_critic": (cfg.lr_critic > 0, "> 0"),
        "gamma": (0.0 <= cfg.gamma <= 1.0, "in [0, 1]"),
        "gae_lambda": (0.0 <= cfg.gae_lambda <= 1.0, "in [0, 1]"),
        "clip_ratio": (cfg.clip_ratio > 0, "> 0"),
        "entropy_coef": (cfg.entropy_coef >= 0, ">= 0"),
        "value_clip": (cfg.value_clip is None or cfg.value_clip > 0, "null or > 0"),
        "reward_scale": (cfg.reward_scale > 0, "> 0"),
        "ppo_epochs": (cfg.ppo_epochs >= 1, ">= 1"),
        "num_minibatches": (cfg.num_minibatches >= 1, ">= 1"),
        "max_grad_norm": (cfg.max_grad_norm is None or cfg.max_grad_norm > 0, "null or > 0"),
        "rollout_steps": (cfg.rollout_steps >= 1, ">= 1"),
        "log_std_init": (LOG_STD_RANGE[0] <= cfg.log_std_init <= LOG_STD_RANGE[1],
                         f"in {list(LOG_STD_RANGE)}"),
    }  # fmt: skip
    for key, (ok, allowed) in checks.items():
        if not ok:
            raise ValueError(f"learner.{key} must be {allowed}, got {cfg[key]!r}")

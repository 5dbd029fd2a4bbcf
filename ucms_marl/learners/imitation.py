"""Warm start of the PPO learners by imitation of a ``mec_env`` reference policy
(``learner.imitation``, off by default; docs/algorithms.md, "Warm start by imitation").

Before the first PPO iteration of a new run, the trainer lets the teacher, the policy
``learner.imitation.policy`` (e.g. ``drift_plus_penalty``) with its default keywords
(``drift_plus_penalty``: V = 0.3, the best V of the campaign's reference sweep), play
``learner.imitation.episodes`` training episodes in the run's own environment setting (its
matcher, admission and ES agents: the teacher decides from each copy's
:class:`~mec_env.policies.SlotView`, through the same rollout as every learner, on episode
seeds of their own stream). The learner then

* clones the teacher's UD actions by maximum likelihood: the offload bit x (Bernoulli) and
  (f, p) (Beta, or the squashed Gaussian), (f, p) kept ``MARGIN`` inside (0, 1), their
  log-density weighted by ``learner.imitation.continuous_weight`` (0.02: at weight 1 the
  densities of (f, p), unbounded as the Beta sharpens on a deterministic teacher, swamp the
  offload bit: on ``queue_small``, 8 teacher episodes, the clone's x agreed with the teacher's
  on 63 % of its own UD-slots, the share of x = 1, against 83 % at weight 0);
* with ES agents, clones the teacher's approvals: a Bernoulli per requesting member place
  (the places the ES head decides; its inputs built from the teacher's UD actions);
* with ``learner.imitation.dagger_rounds`` > 0 (DAgger: Ross, Gordon, Bagnell, AISTATS
  2011), that many times plays the clone for ``episodes`` more episodes, labels every state it
  visits with the teacher's actions (:class:`Labelled`) and clones again on all the data so
  far: a clone's small errors lead to queues the teacher never shows it;
* fits the values (UD, and ES with ES agents) to the discounted returns of every episode
  played (γ of the learner, no bootstrap at the episode's end), which also sets the return
  normalisers;

``learner.imitation.epochs`` passes over the data each, in minibatches of ``BATCH`` rows, with
Adam at the learner's learning rates. PPO then starts from the cloned actor with a fresh
optimiser. Every random draw (minibatch order) comes from the learner's generator; with
``episodes: 0`` nothing here runs and a run is what it was before this option existed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from mec_env.policies import POLICIES, env_overrides_for
from ucms_marl.learners.heuristic import HeuristicLearner
from ucms_marl.rollout_types import Actions, Observation

#: the learner these functions work on: :class:`ucms_marl.learners.ppo.PPO` (not imported:
#: ppo imports this module)
PPO = Any

MARGIN = 0.01  # cloned (f, p) targets are kept in [MARGIN, 1 - MARGIN]
BATCH = 256  # rows per minibatch of the cloning and value-fitting passes

#: ``play(actor, episodes)``: the trainer plays ``episodes`` episodes with ``actor`` (no
#: exploration) and returns every step's transition fields stacked to (T, episodes, ...)
Play = Callable[[Any, int], Mapping[str, np.ndarray]]


@dataclass
class ImitationConfig:
    """``learner.imitation``: the teacher (a ``mec_env`` policy name), the episodes it plays,
    the passes over them and the weight of (f, p) in the cloning loss (``episodes: 0`` = no
    warm start)."""

    policy: str | None = None
    episodes: int = 0
    epochs: int = 20
    continuous_weight: float = 0.02
    dagger_rounds: int = 0


def config_of(cfg: Any) -> ImitationConfig:
    """``learner.imitation`` as an :class:`ImitationConfig` (absent in older runs: off)."""
    raw = cfg.get("imitation", None) if hasattr(cfg, "get") else None
    if raw is None:
        return ImitationConfig()
    if OmegaConf.is_config(raw):
        raw = OmegaConf.to_container(raw, resolve=True)
    out = ImitationConfig(**dict(raw))
    if min(out.episodes, out.continuous_weight, out.dagger_rounds) < 0 or out.epochs < 1:
        raise ValueError(
            f"learner.imitation needs episodes, continuous_weight, dagger_rounds >= 0 and "
            f"epochs >= 1, got {out.episodes}, {out.continuous_weight}, {out.dagger_rounds}, "
            f"{out.epochs}"
        )
    if out.episodes > 0 and out.policy not in POLICIES.names():
        raise ValueError(
            f"learner.imitation.policy={out.policy!r} is not a mec_env policy; choose one of "
            f"{POLICIES.available()}"
        )
    return out


def teacher(learner: PPO, imitation: ImitationConfig) -> HeuristicLearner:
    """The teacher as a (non-learning) learner, seeded from the run seed."""
    cfg = OmegaConf.create({"name": "heuristic", "policy": imitation.policy, "params": {}})
    return HeuristicLearner(cfg, learner.spec, device=learner.device, seed=learner.seed + 7919)


def env_mismatch(learner: PPO, imitation: ImitationConfig) -> str | None:
    """A warning if the teacher is meant for ES agents the run does not have (or the
    reverse): it then plays another policy than its reference rows."""
    wants = env_overrides_for(str(imitation.policy)).get("es_agents")
    if wants is None or bool(wants) == bool(learner.spec.es_agents):
        return None
    return (
        f"learner.imitation.policy={imitation.policy} is meant for es_agents={wants}, the run "
        f"has es_agents={learner.spec.es_agents}: the teacher plays in the run's setting"
    )


def ud_targets(action: np.ndarray, kind: str, offload: str = "bernoulli") -> np.ndarray:
    """The teacher's env actions (..., 3) as samples of the UD distribution (raw space): x as
    0/1 for a Bernoulli offload head, as the share itself (kept off 0 and 1) for a Beta."""
    out = np.asarray(action, np.float32).copy()
    if offload == "beta":
        out[..., 0] = np.clip(out[..., 0], MARGIN, 1.0 - MARGIN)
    else:
        out[..., 0] = (out[..., 0] >= 0.5).astype(np.float32)
    cont = np.clip(out[..., 1:3], MARGIN, 1.0 - MARGIN)
    out[..., 1:3] = cont if kind == "beta" else np.log(cont / (1.0 - cont))
    return out


def _passes(learner: PPO, n_rows: int, epochs: int) -> list[torch.Tensor]:
    k = max(1, -(-n_rows // BATCH))
    return [idx for _ in range(epochs) for idx in learner._minibatches(n_rows, k)]


def _fit(params: list[torch.nn.Parameter], lr: float, batches, loss_of) -> float:
    """Adam over ``batches`` of ``loss_of(idx)``; the mean loss of the last pass's tenth."""
    opt = torch.optim.Adam(params, lr=lr, eps=1e-5)
    losses = []
    for idx in batches:
        loss = loss_of(idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return float(np.mean(losses[-max(1, len(losses) // 10) :])) if losses else float("nan")


def clone_uds(
    learner: PPO, data: Mapping[str, torch.Tensor], epochs: int, weight: float
) -> dict[str, float]:
    """Maximum likelihood of the teacher's UD actions, the (f, p) log-density weighted by
    ``weight``; the agreement of the clone's mode with the teacher's x after."""
    n = learner.spec.n_uds
    obs = data["ud_obs"].reshape(-1, n, data["ud_obs"].shape[-1])
    teacher = data["ud_action"].cpu().numpy()
    target = learner._t(ud_targets(teacher, learner.dist_kind, learner.offload_dist))
    target = target.reshape(-1, n, 3)

    def loss_of(idx: torch.Tensor) -> torch.Tensor:
        r, a = idx // n, idx % n
        dist = learner.ud_dist_rows(obs, r, a)
        x = target[r, a, 0]
        x_lp = dist.offload_log_prob(x)
        cont_lp = dist.log_prob(target[r, a]) - x_lp
        return -(x_lp + weight * cont_lp).mean()

    params = [*learner.actor.parameters(), learner.log_std]
    nll = _fit(params, float(learner.cfg.lr_actor), _passes(learner, obs.shape[0] * n, epochs),
               loss_of)  # fmt: skip
    with torch.no_grad():
        mode = learner.ud_dist(obs).mode()
    agree = float((mode[..., 0] == target[..., 0].cpu().numpy()).mean())
    return {"ud_nll": nll, "ud_x_agreement": agree}


def clone_es(learner: PPO, data: Mapping[str, torch.Tensor], epochs: int) -> dict[str, float]:
    """Cross-entropy of the ES head against the teacher's approval of each requesting place."""
    n, m = learner.spec.n_uds, learner.spec.n_servers
    view = learner.es_inputs(
        data["ud_obs"].reshape(-1, n, data["ud_obs"].shape[-1]),
        data["ud_action"].reshape(-1, n, 3),
        data["es_obs"].reshape(-1, m, data["es_obs"].shape[-1]),
        data["members"].reshape(-1, m, data["members"].shape[-1]),
    )
    inputs = view.inputs[view.requested]
    bits = data["es_action"].reshape(-1, m, data["es_action"].shape[-1])[view.requested].float()
    if bits.numel() == 0:
        return {}

    def loss_of(idx: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(learner.es_actor(inputs[idx])[..., 0], bits[idx])

    bce = _fit(list(learner.es_actor.parameters()), float(learner.cfg.lr_actor),
               _passes(learner, int(bits.numel()), epochs), loss_of)  # fmt: skip
    with torch.no_grad():
        agree = float(((learner.es_actor(inputs)[..., 0] >= 0.0).float() == bits).float().mean())
    return {"es_bce": bce, "es_approval_agreement": agree, "es_approval_rate": float(bits.mean())}


def discounted(reward: torch.Tensor, gamma: float) -> torch.Tensor:
    """Σ_k γ^k r_{t+k} over each column of (T, ...) (no bootstrap at T)."""
    out = torch.zeros_like(reward)
    running = torch.zeros_like(reward[0])
    for t in reversed(range(reward.shape[0])):
        running = reward[t] + gamma * running
        out[t] = running
    return out


def _fit_value(learner: PPO, name: str, state: torch.Tensor, obs: torch.Tensor,
               reward: torch.Tensor, epochs: int) -> float:  # fmt: skip
    """One value network (``name`` ud or es) fitted to the normalised discounted returns of
    ``reward`` (T, E, K); updates its return normaliser."""
    critic, norm = (learner.critic, learner.ud_returns) if name == "ud" else (
        learner.es_critic, learner.es_returns)  # fmt: skip
    ret = discounted(reward, learner.gamma)
    if learner.cfg.normalize_values:
        norm.update(ret)
        ret = (ret - norm.mean) / norm.std
    ret = ret.reshape(state.shape[0], -1)
    k = ret.shape[1]
    obs = obs.reshape(state.shape[0], k, obs.shape[-1])
    if name == "ud":
        obs = learner._actor_input(obs)

    def loss_of(idx: torch.Tensor) -> torch.Tensor:
        r, a = idx // k, idx % k
        v = critic.rows(state, r, a) if learner.centralised else critic(obs[r, a])[..., 0]
        return 0.5 * (v - ret[r, a]).pow(2).mean()

    lr = float(learner.cfg.lr_critic)
    return _fit(list(critic.parameters()), lr, _passes(learner, ret.numel(), epochs), loss_of)


def fit_values(learner: PPO, data: Mapping[str, torch.Tensor], epochs: int) -> dict[str, float]:
    """The value networks fitted to the teacher's normalised discounted returns."""
    state = data["state"].reshape(-1, data["state"].shape[-1])
    stats = {"ud_value_loss": _fit_value(learner, "ud", state, data["ud_obs"],
                                         learner.ud_learning_reward(data), epochs)}  # fmt: skip
    if learner.has_es:
        reward = data["es_reward"] * float(learner.cfg.reward_scale)
        stats["es_value_loss"] = _fit_value(learner, "es", state, data["es_obs"], reward, epochs)
    return stats


class Labelled:
    """DAgger's actor: the student acts (its mode, no exploration) and the teacher's actions
    on the same observations are recorded beside (``Actions.extras``: ``teacher_ud`` and,
    with ES agents, ``teacher_es``), so the clone learns the teacher's answer in the states
    its own mistakes lead to."""

    is_learning = False

    def __init__(self, student: PPO, teacher: HeuristicLearner) -> None:
        self.student, self.teacher = student, teacher

    def act(self, obs: Observation, *, explore: bool) -> Actions:
        mine = self.student.act(obs, explore=False)
        theirs = self.teacher.act(obs, explore=False)
        extras = {"teacher_ud": theirs.ud}
        if theirs.es is not None:
            extras["teacher_es"] = theirs.es
        return Actions(mine.ud, mine.es, extras)


def _clone(learner: PPO, data: Mapping[str, torch.Tensor], imitation: ImitationConfig):
    stats = clone_uds(learner, data, imitation.epochs, imitation.continuous_weight)
    if learner.has_es:
        stats.update(clone_es(learner, data, imitation.epochs))
    return stats


def _tensors(learner: PPO, arrays: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """A played rollout as tensors; a DAgger rollout's teacher labels as the actions."""
    arrays = dict(arrays)
    if "teacher_ud" in arrays:
        arrays["ud_action"] = arrays.pop("teacher_ud")
    if "teacher_es" in arrays:
        arrays["es_action"] = arrays.pop("teacher_es")
    return {k: learner._t(np.asarray(v)) for k, v in arrays.items()}


def warm_start(learner: PPO, play: Play, imitation: ImitationConfig) -> dict[str, float]:
    """Play the teacher and clone it, then ``dagger_rounds`` times play the clone, label its
    states with the teacher's actions, and clone again on everything so far; last, fit the
    values. The statistics of the last cloning, each round's mean UD return per episode."""
    guide = teacher(learner, imitation)
    data = _tensors(learner, play(guide, imitation.episodes))
    slots = data["ud_reward"].shape[0]
    stats = {"teacher_return": float(data["ud_reward"].mean() * slots)}
    with torch.enable_grad():
        stats.update(_clone(learner, data, imitation))
        for r in range(imitation.dagger_rounds):
            more = _tensors(learner, play(Labelled(learner, guide), imitation.episodes))
            stats[f"round_{r}_return"] = float(more["ud_reward"].mean() * slots)
            data = {k: torch.cat([data[k], more[k]], dim=1) for k in data}
            stats.update(_clone(learner, data, imitation))
        stats.update(fit_values(learner, data, imitation.epochs))
    stats["episodes"] = float(imitation.episodes * (1 + imitation.dagger_rounds))
    return stats

"""MADDPG's options: the team critic, the relaxed offload decision, the reward scale."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.trainer.helpers import compose_cfg
from ucms_marl.replay import ReplayBuffer
from ucms_marl.train import build, make_vector_env

SMALL = ["algo=maddpg", "env=small", "device=cpu", "learner.critic_hidden=[32,32]",
         "learner.actor_hidden=[16,16]"]  # fmt: skip


def learner_for(*overrides: str):
    learner, env_kwargs, probe = build(compose_cfg([*SMALL, *overrides]))
    return learner, env_kwargs, probe.spec


def random_sample(learner, rows: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(rows, learner.transition_spec(), rng)
    buf.add(
        {
            k: rng.random((rows, *shape)).astype(dtype)
            for k, (shape, dtype) in learner.transition_spec().items()
        }
    )
    return buf.sample(rows)


def test_threshold_decision_has_no_gradient_the_relaxed_one_has():
    """Hand-made logits: the decision the environment acts on is 1[σ(ℓ) ≥ 0.5] under the
    paper's reading, flat in ℓ; the straight-through relaxed Bernoulli sends the same hard
    0/1 decision forward and a non-zero gradient back."""
    relaxed, _, _ = learner_for("learner.offload_decision=relaxed")
    raw = torch.tensor([[[-2.0, 0.1, 0.3]], [[0.5, -0.2, 0.9]], [[3.0, 0.0, 0.0]]])
    raw.requires_grad_(True)

    threshold_decision = (torch.sigmoid(raw[..., 0]) >= 0.5).float()
    assert not threshold_decision.requires_grad  # the step function carries no gradient at all

    torch.manual_seed(0)
    actions = relaxed._differentiable_actions(raw)
    decision = actions[..., 0]
    assert set(decision.detach().unique().tolist()) <= {0.0, 1.0}  # hard forward
    decision.sum().backward()
    assert torch.all(raw.grad[..., 0] > 0)  # every logit gets a gradient
    torch.testing.assert_close(raw.grad[..., 1:], torch.zeros_like(raw.grad[..., 1:]))


def test_relaxed_actor_gradient_reaches_the_decision_logit():
    """Through the actor loss: a critic that reads x only as the decision gives the actor's
    decision head a non-zero gradient in the relaxed reading."""
    learner, _, spec = learner_for("learner.offload_decision=relaxed")
    sample = random_sample(learner)
    batch = learner._tensors(sample)
    state, actions = batch["state"], batch["ud_action"]
    pre = learner.critic.input_preactivation(torch.cat([state, actions.flatten(1)], 1))
    learner.actor.zero_grad()
    learner.actor_loss(batch["ud_obs"], actions, pre, state).backward()
    head = learner.actor.head.weight.grad  # (members, hidden, 3)
    assert head[..., 0].abs().sum() > 0


def test_relaxed_acting_gives_decisions_not_levels():
    learner, env_kwargs, _ = learner_for("learner.offload_decision=relaxed")
    envs = make_vector_env(env_kwargs, 2)
    obs = envs.reset([0, 1])
    explored = learner.act(obs, explore=True).ud
    greedy = learner.act(obs, explore=False).ud
    assert set(np.unique(explored[..., 0])) <= {0.0, 1.0}
    assert set(np.unique(greedy[..., 0])) <= {0.0, 1.0}
    assert np.all((explored[..., 1:] >= 0) & (explored[..., 1:] <= 1))


@pytest.mark.parametrize("decision", ["threshold", "relaxed"])
@pytest.mark.parametrize("critic", ["team", "per_agent"])
def test_every_combination_updates(critic, decision):
    learner, _, spec = learner_for(
        f"learner.critic={critic}", f"learner.offload_decision={decision}"
    )
    assert learner.critic.n_agents == (1 if critic == "team" else spec.n_uds)
    sample = random_sample(learner)
    first, td = learner.update(sample)
    assert td.shape == (32, 1 if critic == "team" else spec.n_uds)
    for _ in range(20):
        last, _ = learner.update(sample)
    assert last["critic_loss"] < first["critic_loss"]


def test_team_target_is_the_mean_reward_scaled():
    """y = k · mean_n r_n + γ Q'(s', μ'(o')), hand-checked against the parts."""
    learner, _, _ = learner_for("learner.reward_scale=10", "learner.gamma=0.5")
    batch = learner._tensors(random_sample(learner, rows=8))
    y = learner.critic_targets(batch)
    next_a = learner.policy(batch["next_ud_obs"], target=True)
    q_next = learner.critic_target(torch.cat([batch["next_state"], next_a.flatten(1)], 1))
    expected = 10 * batch["ud_reward"].mean(1) + 0.5 * (1 - batch["terminated"]) * q_next[0, :, 0]
    torch.testing.assert_close(y[0], expected)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("learner.critic=central", r"learner.critic must be one of \['team', 'per_agent'\]"),
        ("learner.offload_decision=gumbel", r"learner.offload_decision must be one of"),
        ("learner.gumbel_temperature=0", r"learner.gumbel_temperature must be > 0"),
        ("learner.reward_scale=-1", r"learner.reward_scale must be > 0"),
    ],
)
def test_bad_options_name_the_key_and_the_allowed_values(override, message):
    with pytest.raises(ValueError, match=message):
        build(compose_cfg([*SMALL, override]))

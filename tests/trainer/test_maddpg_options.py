"""MADDPG's options: the team critic, the relaxed offload decision, the reward scale."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.trainer.helpers import compose_cfg
from ucms_marl.replay import ReplayBuffer
from ucms_marl.rollout import Actions, make_vector_env
from ucms_marl.train import build

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
    pre = learner._pre(learner.critic, state, actions, batch["ud_obs"])
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


@pytest.mark.parametrize("critic", ["team", "per_agent"])
def test_expected_decision_gradient_is_the_exact_counterfactual_difference(critic):
    """offload_decision=expected: d loss / d ℓ_n = −σ'(ℓ_n) (Q(x_n = 1) − Q(x_n = 0)), the
    two values computed here by rebuilding the critic's whole input with x_n flipped."""
    learner, _, spec = learner_for(f"learner.critic={critic}", "learner.offload_decision=expected")
    batch = learner._tensors(random_sample(learner, rows=4))
    state, n, s_dim = batch["state"], spec.n_uds, spec.state_dim
    raw = learner.actor(batch["ud_obs"].transpose(0, 1)).detach().requires_grad_(True)
    prob = torch.sigmoid(raw[..., 0])
    x = torch.bernoulli(prob.detach(), generator=torch.Generator().manual_seed(1))
    mu = torch.cat([x[..., None], torch.sigmoid(raw[..., 1:])], dim=-1).detach()  # (N, B, 3)
    joint = torch.cat([state, mu.transpose(0, 1).flatten(1)], dim=1)
    pre = learner.critic.input_preactivation(joint).detach()
    x_w = (
        learner.critic.layers[0].weight[0, s_dim::3]
        if critic == "team"
        else learner.critic.own_input_weight(s_dim, 3)[:, 0, :]
    ).detach()
    gain = learner._decision_gain(pre, x, x_w, prob)
    gain.backward()

    with torch.no_grad():
        diff = torch.empty(n, x.shape[1])
        for agent in range(n):
            qs = []
            for value in (1.0, 0.0):
                flipped = joint.clone()
                flipped[:, s_dim + 3 * agent] = value
                q = learner.critic(flipped).squeeze(-1)  # (1 or N, B)
                qs.append(q[0] if critic == "team" else q[agent])
            diff[agent] = qs[0] - qs[1]
    expected = prob.detach() * (1 - prob.detach()) * diff / x.shape[1]
    torch.testing.assert_close(raw.grad[..., 0], expected, rtol=1e-4, atol=1e-7)
    assert raw.grad[..., 0].abs().sum() > 0


@pytest.mark.parametrize(
    ("critic", "decision"),
    [
        (critic, decision)
        for critic in ("team", "per_agent", "decomposed", "factored")
        for decision in ("threshold", "relaxed", "expected")
        if (critic, decision) != ("factored", "expected")  # refused, tested below
    ],
)
def test_every_combination_updates(critic, decision):
    learner, _, spec = learner_for(
        f"learner.critic={critic}", f"learner.offload_decision={decision}"
    )
    assert learner.critic.n_agents == (spec.n_uds if critic in ("per_agent", "factored") else 1)
    sample = random_sample(learner)
    first, td = learner.update(sample)
    assert td.shape == (32, 1 if critic == "team" else spec.n_uds)
    for _ in range(20):
        last, _ = learner.update(sample)
    assert last["critic_loss"] < first["critic_loss"]


def test_team_target_is_the_mean_reward_scaled():
    """y = k · mean_n r_n + γ Q'(s', μ'(o')), hand-checked against the parts."""
    learner, _, _ = learner_for(
        "learner.critic=team",
        "learner.twin_critics=false",
        "learner.reward_scale=10",
        "learner.gamma=0.5",
    )
    batch = learner._tensors(random_sample(learner, rows=8))
    y = learner.critic_targets(batch)
    next_a = learner.policy(batch["next_ud_obs"], target=True)
    q_next = learner.critic_target(torch.cat([batch["next_state"], next_a.flatten(1)], 1))
    expected = 10 * batch["ud_reward"].mean(1) + 0.5 * (1 - batch["terminated"]) * q_next[0, :, 0]
    torch.testing.assert_close(y[0], expected)


def test_action_reg_adds_the_mean_squared_raw_outputs_to_the_actor_loss():
    """actor loss with action_reg = k equals the loss without it plus k · mean(raw²), raw the
    actor's pre-sigmoid outputs, so saturated outputs (|raw| large, σ' ≈ 0) are pulled back."""
    plain, _, _ = learner_for("learner.action_reg=0")
    reg, _, _ = learner_for("learner.action_reg=0.5")
    batch = plain._tensors(random_sample(plain, rows=8))
    state, actions = batch["state"], batch["ud_action"]
    pre = plain._pre(plain.critic, state, actions, batch["ud_obs"])
    losses = []
    for learner in (plain, reg):
        torch.manual_seed(3)  # the same relaxed-decision noise in both
        losses.append(learner.actor_loss(batch["ud_obs"], actions, pre, state))
    raw = plain.actor(batch["ud_obs"].transpose(0, 1))
    torch.testing.assert_close(losses[1] - losses[0], 0.5 * raw.pow(2).mean())


def test_decomposed_target_is_each_uds_share_of_the_team_reward():
    """y_n = k u_n + γ Q'_n(s', μ'(o')), u_n = P_n − C_n, hand-checked against the parts; the
    team value is the mean of the N outputs."""
    learner, _, spec = learner_for(
        "learner.critic=decomposed",
        "learner.twin_critics=false",
        "learner.reward_scale=10",
        "learner.gamma=0.5",
    )
    assert "ud_share" in learner.transition_spec()
    assert learner.critic.head.out_features == spec.n_uds
    batch = learner._tensors(random_sample(learner, rows=8))
    y = learner.critic_targets(batch)
    next_a = learner.policy(batch["next_ud_obs"], target=True)
    q_next = learner.critic_target(torch.cat([batch["next_state"], next_a.flatten(1)], 1))[0]
    not_done = (1 - batch["terminated"])[None]
    expected = 10 * batch["ud_share"].T + 0.5 * not_done * q_next.T
    torch.testing.assert_close(y, expected)


@pytest.mark.parametrize("share", [True, False])
def test_factored_critic_reads_the_joint_input_and_the_uds_own(share):
    """The split first layer equals the critic run on the concatenated input
    (s, a_1 … a_N, o_n, a_n) of every UD n, and the target is y_n = k u_n + γ Q'_n."""
    learner, _, spec = learner_for(
        "learner.critic=factored",
        "learner.twin_critics=false",
        f"learner.share_params={share}",
        "learner.gamma=0.5",
    )
    batch = learner._tensors(random_sample(learner, rows=8))
    state, actions, obs = batch["state"], batch["ud_action"], batch["ud_obs"]
    n = spec.n_uds
    joint = torch.cat([state, actions.flatten(1)], dim=1).expand(n, -1, -1)
    full = torch.cat([joint, obs.transpose(0, 1), actions.transpose(0, 1)], dim=-1)
    torch.testing.assert_close(
        learner._factored_pre(learner.critic, state, actions, obs),
        learner.critic.input_preactivation(full),
    )
    next_a = learner.policy(batch["next_ud_obs"], target=True)
    next_joint = torch.cat([batch["next_state"], next_a.flatten(1)], dim=1).expand(n, -1, -1)
    next_full = torch.cat(
        [next_joint, batch["next_ud_obs"].transpose(0, 1), next_a.transpose(0, 1)], dim=-1
    )
    q_next = learner.critic_target(next_full).squeeze(-1)  # (N, B)
    expected = batch["ud_share"].T + 0.5 * (1 - batch["terminated"])[None] * q_next
    torch.testing.assert_close(learner.critic_targets(batch), expected)


@pytest.mark.parametrize("critic", ["team", "factored"])
def test_twin_critic_targets_take_the_smaller_value(critic):
    """twin_critics: y = k r + γ (1 − d) min(Q'_1, Q'_2), both critics regress it, and a
    checkpoint round trip keeps the twin."""
    learner, _, _ = learner_for(
        f"learner.critic={critic}", "learner.twin_critics=true", "learner.gamma=0.5"
    )
    assert learner.critic2 is not None
    batch = learner._tensors(random_sample(learner, rows=8))
    with torch.no_grad():  # make the two target critics disagree
        for p in learner.critic2_target.parameters():
            p.add_(0.05 * torch.randn_like(p))
    next_a = learner.policy(batch["next_ud_obs"], target=True)
    args = (batch["next_state"], next_a, batch["next_ud_obs"])
    q1 = learner._q(learner.critic_target, *args)
    q2 = learner._q(learner.critic2_target, *args)
    assert not torch.allclose(q1, q2)
    reward = batch["ud_share"].T if critic == "factored" else batch["ud_reward"].mean(1)[None]
    not_done = (1 - batch["terminated"])[None]
    torch.testing.assert_close(
        learner.critic_targets(batch), reward + 0.5 * not_done * torch.minimum(q1, q2)
    )
    before = [p.clone() for p in learner.critic2.parameters()]
    learner.update(random_sample(learner))
    assert any(not torch.equal(a, b) for a, b in zip(before, learner.critic2.parameters()))
    state = learner.state_dict()
    fresh, _, _ = learner_for(f"learner.critic={critic}", "learner.twin_critics=true")
    fresh.load_state_dict(state)
    for a, b in zip(fresh.critic2.parameters(), learner.critic2.parameters()):
        torch.testing.assert_close(a, b)


def test_rollout_share_is_penalty_minus_cost_and_averages_to_the_team_reward():
    _, env_kwargs, _ = learner_for()
    envs = make_vector_env(env_kwargs, 2)
    envs.reset([0, 1])
    rng = np.random.default_rng(0)
    for _ in range(3):
        actions = rng.random((2, envs.spec.n_uds, 3)).astype(np.float32)
        result = envs.step(Actions(actions))
        np.testing.assert_allclose(
            result.ud_share.mean(axis=1), result.ud_reward.mean(axis=1), rtol=1e-5, atol=1e-6
        )
        assert np.all(result.ud_share <= 0)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "learner.critic=central",
            r"learner.critic must be one of \['team', 'per_agent', 'decomposed', 'factored'\]",
        ),
        ("learner.offload_decision=gumbel", r"learner.offload_decision must be one of"),
        (
            "learner.critic=factored learner.offload_decision=expected",
            r"'expected' not with learner.critic=factored",
        ),
        ("learner.gumbel_temperature=0", r"learner.gumbel_temperature must be > 0"),
        ("learner.reward_scale=-1", r"learner.reward_scale must be > 0"),
    ],
)
def test_bad_options_name_the_key_and_the_allowed_values(override, message):
    with pytest.raises(ValueError, match=message):
        build(compose_cfg([*SMALL, *override.split()]))

"""Batched networks equal per-agent networks; the MADDPG actor gradient is the textbook one."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from tests.trainer.helpers import compose_cfg
from ucms_marl.learners import LEARNERS, MADDPG
from ucms_marl.networks import BatchedMLP, clip_grad_norm_per_agent_, soft_update_
from ucms_marl.replay import ReplayBuffer
from ucms_marl.train import build


def reference_forward(net: BatchedMLP, x: torch.Tensor, agent: int) -> torch.Tensor:
    """Agent ``agent``'s network as plain matmuls over its slice of the stacked weights."""
    k = 0 if net.share_params else agent
    h = x @ net.layers[0].weight[k] + net.layers[0].bias[k]
    if net.share_params:
        h = h + net.agent_embedding[agent]
    for layer in net.layers[1:]:
        h = torch.relu(h) @ layer.weight[k] + layer.bias[k]
    out = torch.relu(h) @ net.head.weight[k] + net.head.bias[k]
    return torch.sigmoid(out) if net.out_activation == "sigmoid" else out


@pytest.mark.parametrize("share", [False, True])
@pytest.mark.parametrize("shared_input", [False, True])
def test_batched_mlp_equals_per_agent_networks(share, shared_input):
    gen = torch.Generator().manual_seed(0)
    net = BatchedMLP(5, 7, [16, 8], 3, share_params=share, out_activation="sigmoid", generator=gen)
    with torch.no_grad():
        if share:
            net.agent_embedding.normal_(generator=gen)
    x = torch.randn(4, 7, generator=gen) if shared_input else torch.randn(5, 4, 7, generator=gen)
    out = net(x)
    assert out.shape == (5, 4, 3)
    for n in range(5):
        xn = x if shared_input else x[n]
        torch.testing.assert_close(out[n], reference_forward(net, xn, n))


def test_bad_member_count_is_rejected():
    net = BatchedMLP(3, 4, [8], 1)
    with pytest.raises(ValueError, match="expected 3 members"):
        net(torch.zeros(2, 5, 4))


def test_soft_update_and_per_agent_clip():
    a, b = BatchedMLP(2, 3, [4], 1), BatchedMLP(2, 3, [4], 1)
    before = [p.clone() for p in a.parameters()]
    soft_update_(a, b, 0.25)
    for pa, p0, pb in zip(a.parameters(), before, b.parameters(), strict=True):
        torch.testing.assert_close(pa, 0.75 * p0 + 0.25 * pb)
    for p in a.parameters():
        p.grad = torch.ones_like(p)
    with torch.no_grad():
        a.layers[0].weight.grad[1] *= 100  # agent 1's gradient is huge, agent 0's is not
    norms = clip_grad_norm_per_agent_(a, 1.0, 2)
    assert norms[1] > norms[0] > 1.0
    after = torch.stack(
        [sum(p.grad[i].pow(2).sum() for p in a.parameters()) for i in range(2)]
    ).sqrt()
    torch.testing.assert_close(after, torch.ones(2), atol=1e-4, rtol=0)


def test_learner_registry():
    assert {"maddpg", "heuristic"} <= set(LEARNERS.names())
    with pytest.raises(ValueError, match="unknown learner 'dqn'"):
        LEARNERS.get("dqn")


@pytest.fixture(scope="module")
def small_learner():
    cfg = compose_cfg(
        ["algo=maddpg", "env=small", "device=cpu", "learner.critic_hidden=[32,32]",
         "learner.critic=per_agent", "learner.share_params=false",
         "learner.offload_decision=threshold"]
    )  # fmt: skip
    learner, _, probe = build(cfg)
    return learner, probe.spec


def test_actor_gradient_equals_concatenated_form(small_learner):
    """The own-action correction gives the same actor gradient as rebuilding each agent's
    critic input with its action replaced by μ_n(o_n) (Lowe et al.'s MADDPG gradient)."""
    learner, spec = small_learner
    assert isinstance(learner, MADDPG)
    gen = torch.Generator().manual_seed(1)
    n, b = spec.n_uds, 9
    learner = copy.deepcopy(learner)  # float64, so that the two forms agree to rounding
    learner.actor.double()
    learner.critic.double()
    state = torch.rand(b, spec.state_dim, generator=gen, dtype=torch.float64)
    obs = torch.rand(b, n, spec.ud_obs_dim, generator=gen, dtype=torch.float64)
    actions = torch.rand(b, n, 3, generator=gen, dtype=torch.float64)
    joint = torch.cat([state, actions.flatten(1)], 1)

    learner.actor.zero_grad()
    pre = learner.critic.input_preactivation(joint)
    learner.actor_loss(obs, actions, pre, state).backward()
    fast = [p.grad.clone() for p in learner.actor.parameters()]
    assert all(p.grad is None for p in learner.critic.parameters())  # the critic stayed out

    learner.actor.zero_grad()
    mu = torch.sigmoid(learner.actor(obs.transpose(0, 1)))  # (N, B, 3), threshold reading
    loss = 0.0
    for i in range(n):
        a_i = torch.cat([actions[:, :i], mu[i][:, None], actions[:, i + 1 :]], 1)
        q_all = learner.critic(torch.cat([state, a_i.flatten(1)], 1))  # every critic on it
        loss = loss - q_all[i].mean()
    loss.backward()
    slow = [p.grad.clone() for p in learner.actor.parameters()]
    for f, s in zip(fast, slow, strict=True):
        torch.testing.assert_close(f, s, atol=1e-10, rtol=1e-8)


def test_update_reduces_td_error_on_a_fixed_batch(small_learner):
    learner, spec = small_learner
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(64, learner.transition_spec(), rng)
    buf.add(
        {
            k: rng.random((64, *shape)).astype(dtype)
            for k, (shape, dtype) in learner.transition_spec().items()
        }
    )
    sample = buf.sample(64)
    first, td = learner.update(sample)
    assert td.shape == (64, spec.n_uds)
    for _ in range(30):
        last, _ = learner.update(sample)
    assert last["critic_loss"] < first["critic_loss"]
    assert set(first) == {"critic_loss", "actor_loss", "q_mean", "td_abs_mean"}


def test_bad_learner_config_names_the_key():
    cfg = compose_cfg(["algo=maddpg", "env=small", "learner.tau=0"])
    with pytest.raises(ValueError, match=r"learner.tau must be in \(0, 1\], got 0"):
        build(cfg)

"""Replay buffers: ring storage, the sum tree, and the reward–TD composite priority."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ucms_marl.replay import REPLAYS, ReplayBuffer, RewardTDPriorityReplay, SumTree, make_replay

SPEC = {"x": ((2,), np.float32), "ud_reward": ((3,), np.float32)}


def rows(n: int, start: float = 0.0) -> dict[str, np.ndarray]:
    x = np.arange(start, start + n, dtype=np.float32)
    return {"x": np.stack([x, -x], 1), "ud_reward": np.tile(x[:, None], (1, 3))}


def test_registry_names():
    assert {"uniform", "reward_td_priority"} <= set(REPLAYS.names())
    with pytest.raises(ValueError, match="unknown replay buffer 'nope'"):
        make_replay("nope", 4, SPEC, np.random.default_rng(0))


def test_ring_buffer_wraps_and_keeps_latest():
    buf = ReplayBuffer(5, SPEC, np.random.default_rng(0))
    buf.add(rows(3))
    buf.add(rows(4, start=3))
    assert len(buf) == 5
    kept = sorted(buf._storage["x"][:, 0].tolist())
    assert kept == [2, 3, 4, 5, 6]
    sample = buf.sample(64)
    assert sample.weights is None and sample.data["x"].shape == (64, 2)
    assert set(sample.data["x"][:, 0].tolist()) <= set(kept)


def test_bad_rows_are_rejected():
    buf = ReplayBuffer(5, SPEC, np.random.default_rng(0))
    with pytest.raises(KeyError, match="lacks fields"):
        buf.add({"x": np.zeros((1, 2))})
    with pytest.raises(ValueError, match="field 'x': expected rows of shape"):
        buf.add({"x": np.zeros((1, 3)), "ud_reward": np.zeros((1, 3))})
    with pytest.raises(RuntimeError, match="empty"):
        buf.sample(1)


def test_sum_tree_find_matches_cumsum():
    rng = np.random.default_rng(1)
    tree = SumTree(37)
    p = rng.random(37)
    tree.update(np.arange(37), p)
    assert tree.total == pytest.approx(p.sum())
    u = rng.random(1000) * p.sum()
    expected = np.searchsorted(np.cumsum(p), u, side="right")
    np.testing.assert_array_equal(tree.find(u), expected)
    tree.update(np.array([3, 3]), np.array([5.0, 7.0]))  # duplicate index: the last value wins
    assert tree.get(np.array([3]))[0] == 7.0
    assert tree.total == pytest.approx(p.sum() - p[3] + 7.0)


def test_sum_tree_sampling_frequencies_match_priorities():
    """Chi-square goodness of fit of 200k stratified draws against η / Σ η (fixed seed)."""
    rng = np.random.default_rng(2024)
    n = 50
    buf = RewardTDPriorityReplay(n, SPEC, rng, upsilon_r=0.3, epsilon=1e-3)
    buf.add(rows(n))
    buf.update_priorities(np.arange(n), rng.random((n, 3)) * 5)
    p = buf.probabilities()
    counts = np.zeros(n)
    for _ in range(2000):
        idx = buf.sample(100).indices
        np.add.at(counts, idx, 1)
    chi2, pvalue = stats.chisquare(counts, counts.sum() * p)
    assert pvalue > 1e-3, (chi2, pvalue)
    # and the frequencies are close in absolute terms
    np.testing.assert_allclose(counts / counts.sum(), p, atol=0.002)


def test_composite_priority_follows_eqs_27_to_30():
    rng = np.random.default_rng(0)
    buf = RewardTDPriorityReplay(8, SPEC, rng, upsilon_r=0.25, epsilon=0.01, alpha=1.0)
    data = rows(4)
    data["ud_reward"] = np.array([[-1, -1, -1], [0, 0, 0], [2, -2, 2], [0.5, 0.5, 0.5]], np.float32)
    buf.add(data)
    td = np.array([[0.0, 0.0, 0.0], [3.0, 3.0, 3.0], [1.0, -1.0, 1.0], [0.2, 0.4, 0.6]])
    buf.update_priorities(np.arange(4), td)
    r_abs = np.abs(data["ud_reward"]).mean(1)
    d_abs = np.abs(td).mean(1)
    eta = 0.25 * (r_abs + 0.01) + 0.75 * (d_abs + 0.01)
    np.testing.assert_allclose(buf._eta[:4], eta)
    np.testing.assert_allclose(buf.probabilities(), eta / eta.sum())
    # loss weights are η normalised to mean 1 over the batch (eq. 33)
    sample = buf.sample(16)
    np.testing.assert_allclose(
        sample.weights, eta[sample.indices] / eta[sample.indices].mean(), rtol=1e-6
    )


def test_new_rows_get_the_optimistic_td_priority():
    buf = RewardTDPriorityReplay(
        8, SPEC, np.random.default_rng(0), upsilon_r=0.5, epsilon=0.0 + 1e-3
    )
    buf.add(rows(2))
    buf.update_priorities(np.array([0]), np.array([[9.0, 9.0, 9.0]]))
    buf.add(rows(1, start=5))
    assert buf._eta[2] == pytest.approx(0.5 * (5 + 1e-3) + 0.5 * (9.0 + 1e-3))


def test_priority_replay_state_round_trip():
    rng = np.random.default_rng(3)
    a = RewardTDPriorityReplay(16, SPEC, rng)
    a.add(rows(10))
    a.update_priorities(np.arange(10), rng.random((10, 3)))
    b = RewardTDPriorityReplay(16, SPEC, np.random.default_rng(99))
    b.load_state_dict(a.state_dict())
    np.testing.assert_allclose(a.probabilities(), b.probabilities())
    np.testing.assert_array_equal(a.sample(32).indices, b.sample(32).indices)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"upsilon_r": 1.5}, "upsilon_r must be in"),
        ({"epsilon": 0.0}, "epsilon must be > 0"),
        ({"loss_weight": "is"}, "loss_weight must be"),
        ({"reward_key": "r"}, "reward_key 'r' is not a transition field"),
    ],
)
def test_priority_replay_bad_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RewardTDPriorityReplay(8, SPEC, np.random.default_rng(0), **kwargs)


def test_a_checkpoint_stores_each_observation_once_and_restores_exactly():
    spec = {"obs": ((3,), np.float32), "next_obs": ((3,), np.float32), "r": ((), np.float32)}
    buf = ReplayBuffer(25, spec, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    for _ in range(4):  # 4 batches of 2 copies x 5 steps; the ring wraps
        obs = rng.normal(size=(6, 2, 3)).astype(np.float32)  # an episode's 6 observations
        for t in range(5):
            buf.add({"obs": obs[t], "next_obs": obs[t + 1], "r": rng.normal(size=2)})
    state = buf.state_dict()
    assert "next_obs" not in state["storage"]
    link = state["linked"]["next_obs"]
    assert len(link["rest"]) <= 2 * 4 + 2  # episode ends, and rows whose successor is gone
    back = ReplayBuffer(25, spec, np.random.default_rng(5))
    back.load_state_dict(state)
    for key in spec:
        np.testing.assert_array_equal(back._storage[key], buf._storage[key])
    assert back.sample(8).indices.tolist() == buf.sample(8).indices.tolist()

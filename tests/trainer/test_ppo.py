"""MAPPO, IPPO and UCMS_MAPPO (``ucms_marl.learners.ppo``): the CLI, the hybrid distribution,
the masked ES head, checkpoints and resume, option errors, and a short learning check.

Learning check, measured when written (2 shared cores): after 320 episodes on ``small`` (20
updates of 16 episodes, about 7 s) the evaluation cost is 0.062 (seed 0) and 0.063 (seed 1),
against 0.167 for ``all_local`` and 0.212 for ``random`` on the same evaluation seeds, and
0.104 for the untrained policy. The asserted margins are far from those numbers.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch

from tests.trainer.helpers import TINY, algo_overrides, compose_cfg, eval_cost, run_cli
from ucms_marl import checkpoint as ckpt
from ucms_marl import evaluate
from ucms_marl.learners.ppo import PPO, HybridDist, gae
from ucms_marl.rollout import Observation, RolloutStore, make_vector_env, play_episodes
from ucms_marl.train import build, run

ALGOS = ["mappo", "ippo", "ucms_mappo"]


def tiny(algo: str) -> list[str]:
    """TINY with two updates of 2 episodes (helpers.TINY_ON_POLICY) and a small ES head."""
    return [*algo_overrides(algo), "learner.es_hidden=[16,16]"]


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---------------------------------------------------------------------- the CLI
def test_on_policy_algos_train_and_evaluate_from_the_cli(tmp_path):
    # one multirun process for the three; its base config is the default algo's, so only
    # learner keys that every learner has are overridden: one iteration of 4 episodes
    sweep = tmp_path / "sweep"
    run_cli(
        ["-m", f"algo={','.join(ALGOS)}", *[o for o in algo_overrides("mappo") if o in TINY],
         f"hydra.sweep.dir={sweep}", "hydra.launcher.n_jobs=1"],
        cwd=tmp_path, timeout=300,
    )  # fmt: skip
    runs = {json.loads(p.read_text())["algo"]: p.parent for p in sweep.glob("*/summary.json")}
    assert sorted(runs) == sorted(ALGOS)
    for algo, run_dir in runs.items():
        summary = json.loads((run_dir / "summary.json").read_text())
        # 1 iteration x ppo_epochs 10 x num_minibatches 4 gradient steps
        assert summary["episodes"] == 4 and summary["updates"] == 40
        records = read_jsonl(run_dir / "metrics.jsonl")
        assert [r["episode"] for r in records if r["phase"] == "train"] == [1, 2, 3, 4]
        assert [r["episode"] for r in records if r["phase"] == "eval"] == [4]
        used = json.loads((run_dir / "config.json").read_text())
        assert used["env_kwargs"]["es_agents"] is (algo == "ucms_mappo")
        assert ("es_actor_params" in used) is (algo == "ucms_mappo")
        assert used["learner"]["centralised_value"] is (algo != "ippo")
        # ucms-eval's entry point, in-process (a subprocess would only add startup time)
        result = evaluate.run_evaluation(
            ["--checkpoint", str(run_dir / "checkpoint.pt"), "--episodes", "2",
             "--json", str(tmp_path / f"{algo}.json")]
        )  # fmt: skip
        assert result["algo"] == algo and 0 < result["metrics"]["cost"]["mean"] < 10


def test_compositions():
    expected = {  # matcher, admission, ES agents, learner, centralised values
        "mappo": ("max_gain", "accept_all", False, "mappo", True),
        "ippo": ("max_gain", "accept_all", False, "ippo", False),
        "ucms_mappo": ("co_selection", None, True, "mappo", True),
    }
    for algo, parts in expected.items():
        cfg = compose_cfg([f"algo={algo}"])
        got = (cfg.matcher, cfg.admission, cfg.es_agents, cfg.learner.name)
        assert (*got, cfg.learner.centralised_value) == parts, algo
    # naming a rule turns UCMS_MAPPO's ES agents off, as for UCMS_MADDPG
    assert compose_cfg(["algo=ucms_mappo", "admission=saving_first"]).es_agents is False


@pytest.mark.parametrize(
    "extra",
    [
        ["learner.continuous_dist=squashed_gaussian", "learner.agent_id=true"],
        ["learner.value_clip=0.2", "learner.ud_reward=team", "learner.normalize_values=false",
         "learner.activation=relu", "learner.max_grad_norm=null"],
        ["algo=ippo", "es_agents=true", "matcher=co_selection"],  # IPPO with a learned ES head
        ["learner.offload_dist=beta", "learner.imitation.policy=greedy",
         "learner.imitation.episodes=1", "learner.imitation.epochs=1"],  # x a Beta share
    ],
    ids=["squashed_gaussian_agent_id", "options", "ippo_es_agents", "offload_beta"],
)  # fmt: skip
def test_options_train(extra, tmp_path):
    summary = run(compose_cfg([*tiny("mappo"), *extra]), tmp_path)
    assert summary["updates"] == 16 and 0 < summary["eval"]["cost"] < 10


# ---------------------------------------------------------------------- the distribution
def test_hybrid_log_prob_matches_a_hand_computation():
    # logit 0.3; Beta pre-activations of f, p: α_f = 1 + softplus(0.5), α_p = 1 + softplus(−1),
    # β_f = 1 + softplus(2), β_p = 1 + softplus(0)
    out = torch.tensor([[0.3, 0.5, -1.0, 2.0, 0.0]], dtype=torch.float64)
    dist = HybridDist(out, "beta", None)
    sample = torch.tensor([[1.0, 0.2, 0.7]], dtype=torch.float64)

    def softplus(v):
        return math.log1p(math.exp(v))

    def beta_logpdf(x, a, b):
        log_b = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
        return (a - 1) * math.log(x) + (b - 1) * math.log(1 - x) - log_b

    a_f, a_p, b_f, b_p = (1 + softplus(v) for v in (0.5, -1.0, 2.0, 0.0))
    expected = (
        math.log(1 / (1 + math.exp(-0.3))) + beta_logpdf(0.2, a_f, b_f) + beta_logpdf(0.7, a_p, b_p)
    )
    assert dist.log_prob(sample).item() == pytest.approx(expected, rel=1e-9)
    not_x = sample.clone()
    not_x[0, 0] = 0.0
    assert dist.log_prob(not_x).item() == pytest.approx(
        expected - math.log(1 / (1 + math.exp(-0.3))) + math.log(1 / (1 + math.exp(0.3))),
        rel=1e-9,
    )
    # squashed Gaussian: a = sigmoid(u) has density N(u; μ, σ) / (a (1 − a))
    log_std = torch.tensor([math.log(0.5), math.log(2.0)], dtype=torch.float64)
    g = HybridDist(torch.tensor([[-0.4, 0.1, -1.5]], dtype=torch.float64), "squashed_gaussian",
                   log_std)  # fmt: skip
    u = (0.8, -2.0)
    got = g.log_prob(torch.tensor([[0.0, *u]], dtype=torch.float64)).item()
    want = math.log(1 / (1 + math.exp(-0.4)))  # x = 0 with logit −0.4
    for ui, mu, sd in zip(u, (0.1, -1.5), (0.5, 2.0)):
        a = 1 / (1 + math.exp(-ui))
        want += -0.5 * ((ui - mu) / sd) ** 2 - math.log(sd * math.sqrt(2 * math.pi))
        want -= math.log(a * (1 - a))
    assert got == pytest.approx(want, rel=1e-9)


def test_hybrid_samples_follow_the_distribution_and_the_mode_is_deterministic():
    out = torch.tensor([[0.8, 1.0, -0.5, 0.0, 1.5]]).expand(20_000, 5)
    dist = HybridDist(out, "beta", None)
    s = dist.sample(np.random.default_rng(0))
    assert set(np.unique(s[:, 0])) == {0.0, 1.0}
    assert s[:, 0].mean() == pytest.approx(1 / (1 + math.exp(-0.8)), abs=0.01)
    alpha, beta = dist.alpha[0].numpy(), dist.beta[0].numpy()
    np.testing.assert_allclose(s[:, 1:].mean(0), alpha / (alpha + beta), atol=0.01)
    assert (s[:, 1:] > 0).all() and (s[:, 1:] < 1).all()
    mode = dist.mode()[0]
    assert mode[0] == 1.0
    np.testing.assert_allclose(mode[1:], (alpha - 1) / (alpha + beta - 2), rtol=1e-5)
    np.testing.assert_array_equal(dist.env_action(dist.mode()), dist.mode())


def test_a_beta_offload_head_gives_shares_its_log_prob_and_mode_by_hand():
    # offload_dist=beta: x ~ Beta(1 + softplus(out[0]), 1 + softplus(out[-1])), so x is a
    # share in (0, 1) (a DNN split point), f and p as before
    out = torch.tensor([[0.3, 0.5, -1.0, 2.0, 0.0, -0.7]], dtype=torch.float64)
    dist = HybridDist(out, "beta", None, "beta")

    def softplus(v):
        return math.log1p(math.exp(v))

    def beta_logpdf(x, a, b):
        log_b = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
        return (a - 1) * math.log(x) + (b - 1) * math.log(1 - x) - log_b

    a_x, b_x = 1 + softplus(0.3), 1 + softplus(-0.7)
    a_f, a_p, b_f, b_p = (1 + softplus(v) for v in (0.5, -1.0, 2.0, 0.0))
    sample = torch.tensor([[0.35, 0.2, 0.7]], dtype=torch.float64)
    want = beta_logpdf(0.35, a_x, b_x) + beta_logpdf(0.2, a_f, b_f) + beta_logpdf(0.7, a_p, b_p)
    assert dist.log_prob(sample).item() == pytest.approx(want, rel=1e-9)
    assert dist.mode()[0, 0] == pytest.approx((a_x - 1) / (a_x + b_x - 2), rel=1e-6)
    many = HybridDist(out.float().expand(20_000, 6), "beta", None, "beta")
    x = many.sample(np.random.default_rng(0))[:, 0]
    assert ((x > 0) & (x < 1)).all() and np.unique(x).size > 19_000
    assert x.mean() == pytest.approx(a_x / (a_x + b_x), abs=0.01)


def test_a_beta_offload_head_splits_dnn_tasks():
    # MAPPO with x a Beta share on dnn_split_small: the env reads x as the share offloaded,
    # so the sampled actions reach split points between 0 (all offloaded) and L (all local)
    cfg = compose_cfg([*tiny("mappo"), "env=dnn_split_small", "learner.offload_dist=beta"])
    learner, env_kwargs, _ = build(cfg)
    vec = make_vector_env(env_kwargs, 16)
    act = learner.act(vec.reset(list(range(16))), explore=True)
    x = act.ud[..., 0]
    assert ((x > 0.0) & (x < 1.0)).all()
    n_units = 20  # MobileNetV2's L, the longest of the catalog
    inner = (x > 1.0 / (n_units + 1)) & (x < n_units / (n_units + 1))
    assert inner.mean() > 0.5  # most samples split after some units, at the initial policy
    result = vec.step(act)
    assert result.ud_requested.any()


def test_gae_bootstraps_the_time_limit():
    reward = torch.tensor([[1.0], [2.0], [3.0]])
    value = torch.tensor([[0.5], [0.25], [0.125]])
    last = torch.tensor([10.0])
    adv, ret = gae(reward, value, last, torch.ones(3, 1), gamma=0.5, lam=1.0)
    # λ = 1: the return is the discounted sum plus γ^3 V(s_T)
    expected = [1 + 0.5 * 2 + 0.25 * 3 + 0.125 * 10, 2 + 0.5 * 3 + 0.25 * 10, 3 + 0.5 * 10]
    np.testing.assert_allclose(ret[:, 0].numpy(), expected)
    np.testing.assert_allclose(adv[:, 0].numpy(), np.array(expected) - value[:, 0].numpy())


# ---------------------------------------------------------------------- the ES head
def hand_made_es_observation(spec, members: np.ndarray) -> Observation:
    """One step for ``spec`` (env=small: M = 2, z_max = 4, K = 2): ``members`` (1, M, Z),
    every task of size 0.5 and D_m = 100 (storage never binds), loads consistent with K = 2."""
    m, z = spec.n_servers, spec.z_cap
    es_obs = np.zeros((1, m, spec.es_obs_dim), np.float32)
    for s in range(m):
        count = int((members[0, s] >= 0).sum())
        for j in range(z):
            if members[0, s, j] >= 0:
                es_obs[0, s, 6 * j : 6 * j + 6] = [1.0, 0.5, 0.5, 0.5, 0.5, 1.0]
        es_obs[0, s, 6 * z : 6 * z + 3] = [count / 2, 0.5 * count / 100, count / 2]
    ud_obs = np.random.default_rng(0).random((1, spec.n_uds, spec.ud_obs_dim), np.float32)
    return Observation(ud_obs, np.zeros((1, spec.state_dim), np.float32), es_obs, members)


def test_es_head_never_approves_an_empty_place_or_a_ud_that_did_not_request():
    learner, _, probe = build(compose_cfg(["algo=ucms_mappo", "env=small", "torch_threads=1"]))
    assert isinstance(learner, PPO) and learner.has_es
    with torch.no_grad():
        learner.es_actor.head.bias.fill_(20.0)  # the head wants to approve every place
    members = np.array([[[0, 3, -1, 5], [1, 2, 4, -1]]])
    obs = hand_made_es_observation(probe.spec, members)
    ud = np.zeros((1, 6, 3), np.float32)
    ud[0, [0, 1, 2, 4], 0] = 1.0  # UDs 0, 1, 2 and 4 request; 3 and 5 do not
    for explore in (True, False):
        for _ in range(20):
            approve, sample = learner.act_es(obs, ud, explore=explore)
            # ES 0: of its members only UD 0 requested; ES 1: UDs 1, 2, 4 requested, K = 2
            # keeps the first two places (equal probabilities: lower place first)
            assert approve.tolist() == [[[1, 0, 0, 0], [1, 1, 0, 0]]]
            assert sample.tolist() == [[[1, 0, 0, 0], [1, 1, 1, 0]]]
    with torch.no_grad():
        learner.es_actor.head.bias.fill_(-20.0)  # now it approves nothing
    approve, _ = learner.act_es(obs, ud, explore=True)
    assert not approve.any()


def test_es_log_prob_counts_only_requesting_places(tmp_path):
    """The update's ES policy rows are exactly the occupied places whose member requested."""
    learner, env_kwargs, _ = build(compose_cfg([*tiny("ucms_mappo")]))
    store = RolloutStore()
    play_episodes(make_vector_env(env_kwargs, 2), learner, [1, 2], explore=True, rollout=store)
    data = store.arrays()
    requested = data["ud_action"][..., 0] >= 0.5  # (T, E, N)
    members = data["members"]  # (T, E, M, Z)
    t_len, n_env, m, z = members.shape
    want = np.zeros(members.shape, bool)
    for t, e, s, j in np.ndindex(members.shape):
        u = members[t, e, s, j]
        want[t, e, s, j] = u >= 0 and requested[t, e, u]
    assert want.any() and (~want).any()
    # sampled and sent bits are zero outside the valid places
    assert not data["es_sample"][~want].any() and not data["es_action"][~want].any()
    tensors = {k: torch.as_tensor(v) for k, v in data.items()}
    not_term = (1.0 - tensors["terminated"])[..., None]
    batch = learner._es_batch(tensors, t_len * n_env, t_len, n_env, not_term, 1.0)
    assert batch["n_places"] == int(want.sum())


# ---------------------------------------------------------------------- checkpoints
RESUME = ["episodes=8", "checkpoint_every=2", "eval_every=4"]


def test_resume_after_a_crash_reproduces_the_uninterrupted_run(tmp_path, monkeypatch):
    overrides = [*tiny("ucms_mappo"), *RESUME]
    straight = run(compose_cfg(overrides), tmp_path / "straight", algo="ucms_mappo")
    assert straight["updates"] == 4 * 8  # 4 iterations x 2 epochs x 4 minibatches

    calls = {"n": 0}
    real = PPO.update_rollout

    def crashing(self, rollout):
        calls["n"] += 1
        if calls["n"] == 3:  # iteration 3 (episodes 5-6), after the checkpoint at episode 4
            raise KeyboardInterrupt("simulated crash")
        return real(self, rollout)

    monkeypatch.setattr(PPO, "update_rollout", crashing)
    with pytest.raises(KeyboardInterrupt):
        run(compose_cfg(overrides), tmp_path / "crashed", algo="ucms_mappo")
    state = ckpt.load(tmp_path / "crashed" / "checkpoint.pt")
    assert state["episode"] == 4 and state["updates"] == 16 and state["replay"] is None
    # the learner's own state is plain tensors and python values
    buffer = io.BytesIO()
    torch.save(state["learner"], buffer)
    buffer.seek(0)
    torch.load(buffer, weights_only=True)
    monkeypatch.setattr(PPO, "update_rollout", real)

    resumed = run(compose_cfg([*overrides, "resume=true"]), tmp_path / "crashed")
    assert resumed["episodes"] == 8 and resumed["updates"] == straight["updates"]
    assert resumed["eval"] == straight["eval"]
    assert (tmp_path / "crashed" / "metrics.jsonl").read_text() == (
        tmp_path / "straight" / "metrics.jsonl"
    ).read_text()
    a = ckpt.load(tmp_path / "straight" / "checkpoint.pt")["learner"]
    b = ckpt.load(tmp_path / "crashed" / "checkpoint.pt")["learner"]
    for key in ("actor", "critic", "es_actor", "es_critic"):
        for name, tensor in a[key].items():
            torch.testing.assert_close(tensor, b[key][name], rtol=0, atol=0)
    assert a["rng"] == b["rng"] and a["ud_returns"] == b["ud_returns"]


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("learner.continuous_dist=gamma",
         r"learner.continuous_dist must be one of \['beta', 'squashed_gaussian'\], got 'gamma'"),
        ("learner.activation=elu", r"learner.activation must be one of \['tanh', 'relu'\]"),
        ("learner.offload_dist=gumbel",
         r"learner.offload_dist must be one of \['bernoulli', 'beta'\], got 'gumbel'"),
        ("learner.ud_reward=mine", r"learner.ud_reward must be one of \['own', 'team', 'share'\]"),
        ("learner.ppo_epochs=0", r"learner.ppo_epochs must be >= 1, got 0"),
        ("learner.clip_ratio=0", r"learner.clip_ratio must be > 0"),
        ("learner.rollout_steps=0", r"learner.rollout_steps must be >= 1"),
    ],
)  # fmt: skip
def test_bad_option_values_name_the_key_and_the_allowed_values(override, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        run(compose_cfg([*tiny("mappo"), override]), tmp_path)


# ---------------------------------------------------------------------- learning
LEARN = [
    "env=small", "episodes=320", "eval_every=0", "eval_episodes=10", "num_envs=16",
    "progress_bar=false", "torch_threads=1", "checkpoint_every=0",
]  # fmt: skip


def test_mappo_beats_random_and_all_local_on_small(tmp_path):
    cfg = compose_cfg(["algo=mappo", *LEARN])
    untrained = eval_cost(cfg)
    trained = run(cfg, tmp_path, algo="mappo")["eval"]["cost"]
    refs = {
        name: eval_cost(compose_cfg([f"algo={name}", "env=small", "eval_episodes=10"]))
        for name in ("random", "all_local")
    }
    assert trained < 0.75 * refs["all_local"] and trained < 0.6 * refs["random"], (trained, refs)
    assert trained < 0.85 * untrained, (trained, untrained)


@pytest.mark.parametrize("signal", ["own", "team", "share"])
def test_ud_reward_picks_the_uds_learning_signal(signal, monkeypatch):
    """GAE gets r_n (own), the mean UD reward (team) or P_n − C_n (share) of the rollout."""
    learner, env_kwargs, _ = build(compose_cfg([*tiny("mappo"), f"learner.ud_reward={signal}"]))
    store = RolloutStore()
    play_episodes(make_vector_env(env_kwargs, 2), learner, [1, 2], explore=True, rollout=store)
    data = store.arrays()
    seen = []

    def spy(reward, *args, **kwargs):
        seen.append(reward.clone())
        return gae(reward, *args, **kwargs)

    monkeypatch.setattr("ucms_marl.learners.ppo.gae", spy)
    learner.update_rollout(data)
    want = {
        "own": data["ud_reward"],
        "team": np.broadcast_to(data["ud_reward"].mean(-1, keepdims=True), data["ud_reward"].shape),
        "share": data["ud_share"],
    }[signal]
    assert not np.allclose(data["ud_share"], data["ud_reward"])
    np.testing.assert_allclose(seen[0].numpy(), want, rtol=1e-6)


def test_the_beta_mode_stays_in_the_unit_interval_in_float32():
    # β = 1 + softplus(−20) is within float32 rounding of 1: (α − 1)/(α + β − 2) then rounds
    # above 1 (1.0000165 here) unless clamped, and the env refuses the action
    out = torch.tensor([[0.0, -4.923462, 0.0, -20.0, 0.0]], dtype=torch.float32)
    mode = HybridDist(out, "beta", None).mode()
    assert mode[0, 1] == 1.0 and (mode >= 0).all() and (mode <= 1).all()

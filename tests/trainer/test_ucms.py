"""UCMS_MADDPG and the paper's four baselines (issue 4): the CLI, the ES decision, Algorithm 2.

The ES decision is tested on its own (``select_approvals``) and inside the learner acting in
the real environment (with a stub Q-network where a test needs known Q values); the update is
tested on hand-made batches whose priorities and targets can be written down.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import mec_env
from tests.trainer.helpers import TINY, compose_cfg, run_cli
from ucms_marl import evaluate
from ucms_marl.learners import UCMS
from ucms_marl.learners.maddpg import MADDPG
from ucms_marl.learners.ucms import select_approvals
from ucms_marl.replay import RewardTDPriorityReplay, Sample
from ucms_marl.rollout import Actions, VectorMECEnv
from ucms_marl.train import build, run

PAPER_ALGOS = ["ucms_maddpg", "rd_ucms_maddpg", "maddpg", "offloadcost_maddpg", "deadline_maddpg"]
UCMS_TINY = [*TINY, "learner.es_hidden=[32,32]"]


# ---------------------------------------------------------------------- compositions
def test_paper_algorithms_are_the_spec_compositions():
    expected = {  # docs/algorithms.md: matcher, ES agents, admission rule, learner, replay
        "ucms_maddpg": ("co_selection", True, None, "ucms", "reward_td_priority"),
        "rd_ucms_maddpg": ("random", True, None, "ucms", "reward_td_priority"),
        "maddpg": ("max_gain", False, "accept_all", "maddpg", "uniform"),
        "offloadcost_maddpg": ("max_gain", False, "offload_cost_first", "maddpg", "uniform"),
        "deadline_maddpg": ("max_gain", False, "deadline_first", "maddpg", "uniform"),
    }
    for algo, parts in expected.items():
        cfg = compose_cfg([f"algo={algo}"])
        got = (cfg.matcher, cfg.es_agents, cfg.admission, cfg.learner.name, cfg.replay.name)
        assert got == parts, algo
        paper = "ucms_paper" if cfg.learner.name == "ucms" else "maddpg_paper"
        learner = compose_cfg([f"algo={algo}", f"learner={paper}"]).learner
        assert learner.name == cfg.learner.name
        assert (learner.lr_actor, learner.lr_critic, learner.gamma) == (1e-4, 1e-3, 0.99)
        assert list(learner.critic_hidden) == [512, 512] and learner.batch_size == 64
    assert list(compose_cfg(["algo=ucms_maddpg"]).learner.es_hidden) == [256, 256]


@pytest.mark.parametrize(
    ("override", "expect"),
    [
        ("replay=uniform", {"es_agents": True, "replay": "uniform", "matcher": "co_selection"}),
        ("matcher=max_gain", {"es_agents": True, "matcher": "max_gain"}),
        ("admission=accept_all", {"es_agents": False, "admission": "accept_all"}),
    ],
)
def test_ablations_by_override(override, expect, tmp_path):
    cfg = compose_cfg(["algo=ucms_maddpg", *UCMS_TINY, override])
    summary = run(cfg, tmp_path, algo="ucms_maddpg")
    used = json.loads((tmp_path / "config.json").read_text())
    env_kwargs = used["env_kwargs"]
    assert env_kwargs["es_agents"] is expect["es_agents"]
    for key in ("matcher", "admission"):
        if key in expect:
            assert env_kwargs[key] == expect[key]
    if "replay" in expect:
        assert used["replay"]["name"] == expect["replay"]
    assert summary["updates"] > 0 and summary["eval"]["cost"] > 0  # the UD learners train
    assert ("es_q_params" in used) is expect["es_agents"]


def test_five_algorithms_multirun_train_and_evaluate_from_the_cli(tmp_path):
    sweep = tmp_path / "sweep"
    run_cli(
        ["-m", f"algo={','.join(PAPER_ALGOS)}", *TINY, f"hydra.sweep.dir={sweep}",
         "hydra.launcher.n_jobs=2"],
        cwd=tmp_path, timeout=300,
    )  # fmt: skip
    summaries = {json.loads(p.read_text())["algo"]: p.parent for p in sweep.glob("*/summary.json")}
    assert sorted(summaries) == sorted(PAPER_ALGOS)
    for algo, run_dir in summaries.items():
        assert json.loads((run_dir / "summary.json").read_text())["updates"] > 0
        result = evaluate.run_evaluation(
            ["--checkpoint", str(run_dir / "checkpoint.pt"), "--episodes", "2"]
        )
        assert result["algo"] == algo and 0 < result["metrics"]["cost"]["mean"] < 10
    # one evaluation through the console entry point itself
    out = run_cli(
        ["--checkpoint", str(summaries["ucms_maddpg"] / "checkpoint.pt"), "--episodes", "2"],
        cwd=tmp_path, module="ucms_marl.evaluate",
    )  # fmt: skip
    assert "| participation_rate" in out.stdout


# ---------------------------------------------------------------------- the ES decision
def test_select_approvals_prefers_higher_scores_within_k_and_storage():
    score = torch.tensor([[0.1, 0.9, 0.5, 0.7, 0.3]])
    want = torch.tensor([[True, True, True, True, False]])
    size = torch.tensor([[1.0, 3.0, 1.0, 2.0, 1.0]])
    # K binds: the two best wanted places (1, 3)
    got = select_approvals(score, want, size, torch.tensor([2.0]), torch.tensor([100.0]))
    assert got.tolist() == [[False, True, False, True, False]]
    # D_m binds: 1 (3.0) fits, 3 (2.0) would exceed 4.0 and is skipped, 2 (1.0) still fits
    got = select_approvals(score, want, size, torch.tensor([5.0]), torch.tensor([4.0]))
    assert got.tolist() == [[False, True, True, False, False]]
    # an unwanted place (a UD that did not request) is never approved, whatever its score
    got = select_approvals(score * 0 + 1, want, size, torch.tensor([5.0]), torch.tensor([99.0]))
    assert not got[0, 4]


class StubQ(torch.nn.Module):
    """A stand-in ES Q-network: q(reject) = 0, q(approve) = 1 + slope · (place's task size).

    Column 1 of a member's input is its task size β (the ES observation place comes first).
    """

    def __init__(self, slope: float = 1.0) -> None:
        super().__init__()
        self.slope = slope

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        approve = 1.0 + self.slope * rows[:, 1]  # > 0: every request is wanted
        return torch.stack([torch.zeros_like(approve), approve], dim=-1)[None]


def learner_and_envs(overrides: list[str], env_overrides: dict | None = None):
    cfg = compose_cfg(["algo=ucms_maddpg", *UCMS_TINY, *overrides])
    learner, env_kwargs, _ = build(cfg)
    kwargs = {**env_kwargs, **(env_overrides or {})}
    preset = kwargs.pop("preset")
    envs = VectorMECEnv(lambda: mec_env.parallel_env(preset=preset, **kwargs), 2)
    return learner, envs


@pytest.mark.parametrize(
    ("explore", "warmup"), [(False, 0), (True, 0), (True, 10)],
    ids=["greedy", "epsilon_1", "warmup"],
)  # fmt: skip
def test_approvals_fit_k_and_storage_and_only_requests_are_approved(explore, warmup):
    # storage small enough to bind on `small` (D_m = 60 KB against tasks of 1-50 KB)
    learner, envs = learner_and_envs(
        [f"learner.es_warmup_steps={warmup * 10}"], {"storage_bytes": 60_000}
    )
    learner.es_q = StubQ()  # every request wanted, larger tasks first
    learner.es_epsilon = 1.0  # used only when exploring: every request decided by a coin
    cfg = envs.envs[0].unwrapped.config
    rng = np.random.default_rng(0)
    obs = envs.reset([0, 1])
    checked = cut_by_k = cut_by_d = 0
    for slot in range(40):
        ud = rng.random((2, envs.spec.n_uds, 3)).astype(np.float32)
        ud[:, :, 0] = np.where(rng.random((2, envs.spec.n_uds)) < 0.8, 1.0, 0.0)
        bits = learner.act_es(obs, ud, explore=explore)
        for e, view in enumerate(obs.slots):
            sizes = view.current_slot.bits
            for m in range(cfg.n_servers):
                members = obs.members[e, m]
                requests = [u for u in members if u >= 0 and ud[e, u, 0] >= 0.5]
                approved = [u for u, b in zip(members, bits[e, m], strict=True) if u >= 0 and b]
                assert set(approved) <= set(requests)
                assert len(approved) <= cfg.subchannels[m]
                assert sizes[approved].sum() <= cfg.storage_bits[m]
                checked += 1
                if len(requests) > len(approved):
                    cut_by_k += len(approved) == cfg.subchannels[m]
                    cut_by_d += len(approved) < cfg.subchannels[m]
        result = envs.step(Actions(ud, bits))
        assert all(s["admission_cuts"] == 0 for s in result.slot)  # the safety net never cuts
        obs = result.next_obs if not result.truncated.all() else envs.reset([slot, slot + 1])
    assert checked == 40 * 2 * cfg.n_servers
    if not explore:
        assert cut_by_k and cut_by_d  # both capacities did bind


@pytest.mark.parametrize("slope", [0.5, -0.5], ids=["larger_first", "smaller_first"])
def test_higher_q_request_is_preferred_when_capacity_binds(slope):
    learner, envs = learner_and_envs([], {"storage_bytes": 10**9})  # only K binds
    learner.es_q = StubQ(slope)
    k = int(envs.envs[0].unwrapped.config.subchannels[0])
    ud = np.ones((2, envs.spec.n_uds, 3), dtype=np.float32)  # every matched UD requests
    binding = 0
    for seed in range(5):
        obs = envs.reset([seed, seed + 10])
        bits = learner.act_es(obs, ud, explore=False)
        for e in range(2):
            for m in range(envs.spec.n_servers):
                members = obs.members[e, m]
                places = np.flatnonzero(members >= 0)
                if len(places) <= k:
                    continue
                binding += 1
                sizes = obs.es_obs[e, m, : 6 * len(members)].reshape(-1, 6)[:, 1]
                best = places[np.argsort(-slope * sizes[places], kind="stable")[:k]]
                assert set(np.flatnonzero(bits[e, m])) == set(best.tolist())
    assert binding


# ---------------------------------------------------------------------- Algorithm 2
def hand_made_batch(learner: UCMS, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    spec = learner.spec
    data = {}
    for key, (shape, dtype) in learner.transition_spec().items():
        data[key] = rng.random((rows, *shape)).astype(dtype)
    m, z, n = spec.n_servers, spec.z_cap, spec.n_uds
    data["members"] = np.stack([rng.permutation(m * z).reshape(m, z) for _ in range(rows)])
    data["members"][data["members"] >= n] = -1
    data["next_members"] = data["members"][::-1].copy()
    data["es_action"] = (rng.random((rows, m, z)) < 0.5).astype(np.int8)
    data["ud_requested"] = rng.random((rows, n)) < 0.6
    data["ud_reward"] = -rng.random((rows, n)).astype(np.float32)
    data["es_reward"] = np.repeat(data["ud_reward"].mean(1, keepdims=True), m, axis=1)
    data["terminated"][:] = 0
    return data


def test_composite_priority_of_a_hand_made_batch():
    learner, _ = learner_and_envs(["learner.batch_size=8"])
    with torch.no_grad():  # zero ES head: q ≡ 0, so y = R and δ = R exactly
        for net in (learner.es_q, learner.es_q_target):
            net.head.weight.zero_()
            net.head.bias.zero_()
    upsilon_r, eps = 0.3, 1e-3
    replay = RewardTDPriorityReplay(
        64, learner.transition_spec(), np.random.default_rng(0), upsilon_r=upsilon_r, epsilon=eps
    )
    data = hand_made_batch(learner, 8)
    replay.add(data)
    sample = replay.sample(8)
    _, td_abs = learner.update(sample)
    replay.update_priorities(sample.indices, td_abs)
    r = data["ud_reward"][sample.indices]
    reward_part = np.abs(r).mean(axis=1)  # one priority per joint transition: mean over UDs
    delta = np.abs(data["es_reward"][sample.indices].mean(axis=1))
    expected = upsilon_r * (reward_part + eps) + (1 - upsilon_r) * (delta + eps)
    np.testing.assert_allclose(td_abs[:, 0], delta, rtol=1e-5)
    np.testing.assert_allclose(replay._eta[sample.indices], expected, rtol=1e-5)


@pytest.mark.parametrize("mode", ["es", "es_for_approved", "own"])
def test_ud_critic_target_is_the_es_target_for_approved_requests(mode):
    learner, _ = learner_and_envs(
        ["learner.batch_size=16", f"learner.ud_critic_target={mode}", "learner.critic=per_agent"]
    )
    data = hand_made_batch(learner, 16, seed=1)
    batch = {k: torch.as_tensor(v) for k, v in data.items()}
    y_es = learner.es_target(batch)  # eq. 32, before the update moves anything
    own = MADDPG.critic_targets(learner, batch)  # each UD's own MADDPG target
    approved = learner.approved_uds(batch)
    assert approved.any() and (~approved).any()

    seen = {}
    original = learner.critic_targets

    def spy(b):
        seen["y"] = original(b)
        return seen["y"]

    learner.critic_targets = spy
    learner.update(Sample(np.arange(16), data, None))
    y = seen["y"]  # (N, B): what the UD critics regressed
    es = y_es[None].expand_as(y)
    a = approved.T
    if mode == "own":
        torch.testing.assert_close(y, own)
        return
    torch.testing.assert_close(y[a], es[a])  # eq. 34: approved requests regress the ES target
    torch.testing.assert_close(y[~a], es[~a] if mode == "es" else own[~a])
    # approved = the UD requested and its ES set its bit
    members, bits = data["members"], data["es_action"]
    for b, m, j in np.argwhere((members >= 0) & (bits == 1))[:20]:
        u = members[b, m, j]
        assert approved[b, u] == bool(data["ud_requested"][b, u])


def test_ucms_checkpoint_round_trip_and_determinism(tmp_path):
    overrides = ["algo=ucms_maddpg", *UCMS_TINY, "episodes=6", "learner.es_warmup_steps=20"]
    a = run(compose_cfg(overrides), tmp_path / "a")
    b = run(compose_cfg(overrides), tmp_path / "b")
    assert a["eval"] == b["eval"]
    assert (tmp_path / "a" / "metrics.jsonl").read_text() == (
        tmp_path / "b" / "metrics.jsonl"
    ).read_text()
    learner, _, _ = build(compose_cfg(overrides))
    state = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["learner"]
    learner.load_state_dict(state)
    assert learner.es_epsilon == state["es_epsilon"] < compose_cfg(overrides).learner.es_epsilon
    assert learner.env_steps == 60  # 6 episodes of 10 slots


def test_es_warmup_approves_what_fits_then_the_q_network_decides():
    """During the warm-up an exploring ES approves every request that fits, whatever its Q
    values; evaluation and the episodes after the warm-up follow the Q-network."""
    learner, envs = learner_and_envs(["learner.es_warmup_steps=30", "learner.es_epsilon=0"])
    learner.es_q = StubQ(slope=-100.0)  # q(approve) < q(reject) for any real task: reject all
    obs = envs.reset([0, 1])
    ud = np.ones((2, envs.spec.n_uds, 3), dtype=np.float32)  # everyone requests
    assert learner.act_es(obs, ud, explore=True).sum() > 0  # warm-up: approved
    assert learner.act_es(obs, ud, explore=False).sum() == 0  # evaluation: the Q-network
    for episode in range(1, 4):
        learner.end_episode(10 * episode)  # env-steps after each 10-slot episode
    assert learner.es_epsilon == 0 and learner.env_steps == 30
    assert learner.act_es(obs, ud, explore=True).sum() == 0  # after the warm-up
    state = learner.state_dict()
    learner.env_steps = 0
    learner.load_state_dict(state)
    assert learner.env_steps == 30


def test_per_ud_targets_need_per_agent_critics():
    with pytest.raises(ValueError, match="learner.ud_critic_target=es_for_approved needs"):
        build(
            compose_cfg(
                ["algo=ucms_maddpg", *UCMS_TINY, "learner.ud_critic_target=es_for_approved"]
            )
        )


@pytest.mark.parametrize("critic", ["decomposed", "factored"])
def test_per_ud_share_critics_need_their_own_targets(critic):
    """The ES target (eq. 34) is a team-level value; a critic of per-UD shares cannot take it."""
    with pytest.raises(ValueError, match=f"learner.critic={critic} regresses each UD's own"):
        build(compose_cfg(["algo=ucms_maddpg", *UCMS_TINY, f"learner.critic={critic}"]))
    build(
        compose_cfg(
            [
                "algo=ucms_maddpg",
                *UCMS_TINY,
                f"learner.critic={critic}",
                "learner.ud_critic_target=own",
            ]
        )
    )

"""Throughput of the MADDPG update at the paper's sizes, and a paper-scale projection.

    python benchmarks/train_throughput.py            # N = 48, M = 3, batch 64 (paper)
    python benchmarks/train_throughput.py --n-uds 12 --repeats 5

Prints one table:

* the time of one update of all N UD learners (critic + actor + soft targets), batched
  (:class:`ucms_marl.learners.maddpg.MADDPG`) against a per-agent Python loop over N
  ``nn.Sequential`` actor/critic pairs doing the same maths with the same (fused) Adam, written
  as per-agent code normally is (the actor loss re-runs agent i's critic on the joint input
  with its own action replaced);
* the update's matmul FLOP count (analytic) over this machine's measured matmul rate (a large
  square SGEMM): the floor, and how far the batched update is above it;
* one full UCMS_MADDPG update (:class:`ucms_marl.learners.ucms.UCMS`: the ES Q-network's
  target, loss and step over every (ES, member place), then the same UD update) against the
  MADDPG-only update, measured alternately in the same run;
* the environment + acting cost per slot, measured on real ``paper_kb`` episodes;
* the projected wall time of a paper-scale run (2000 episodes × 10 slots) of the default
  config (``experiment=paper``) for several ``updates_per_episode`` values.

Targets on 2 cores (issue 3): batched ≥ 5× the loop, within 2× of the floor, the default
paper-scale run ≤ 30 minutes.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from hydra import compose, initialize_config_module
from torch import nn

from ucms_marl.learners.maddpg import MADDPG
from ucms_marl.learners.ucms import UCMS
from ucms_marl.replay import ReplayBuffer
from ucms_marl.rollout import evaluate, make_vector_env, play_episodes
from ucms_marl.train import build


def timed(fn, repeats: int, warmup: int = 2) -> float:
    """Best of ``repeats`` (timeit's habit: on a shared machine, noise only ever adds time)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def timed_pair(fn_a, fn_b, repeats: int) -> tuple[float, float]:
    """Best times of two functions measured alternately, so machine load hits both alike."""
    fn_a(), fn_b()
    a, b = [], []
    for _ in range(repeats):
        for fn, out in ((fn_a, a), (fn_b, b)):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return min(a), min(b)


def matmul_rate(size: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / timed(lambda: a @ b, repeats)


def mlp_flops(widths: list[int]) -> int:
    """Multiply-adds ×2 of one forward pass of one sample through an MLP."""
    return sum(2 * a * b for a, b in zip(widths[:-1], widths[1:], strict=True))


def update_flops(
    n: int, batch: int, obs: int, state: int, actor_h: list[int], critic_h: list[int]
) -> int:
    """Matmul FLOPs of one MADDPG update as ucms_marl implements it (elementwise ops excluded)."""
    act = 3
    actor = [obs, *actor_h, act]
    critic = [state + n * act, *critic_h, 1]
    fa, fc = mlp_flops(actor), mlp_flops(critic)
    fc_rest = mlp_flops(critic[1:])  # critic layers after the first
    fa_rest = mlp_flops(actor[1:])
    per_sample = (
        fa + fc  # targets: μ'(o'), Q'(s', a')
        + fc  # critic forward
        + fc + fc_rest  # critic backward: weight grads, input grads past layer 1
        + fa  # actor forward μ(o)
        + 2 * 2 * act * critic[1]  # own-action correction, forward and backward
        + 2 * fc_rest  # critic layers 2+ forward, input grads back to the correction
        + fa + fa_rest  # actor backward: weight grads, input grads past layer 1
    )  # fmt: skip
    return n * batch * per_sample


def fake_transitions(spec: dict, rows: int, rng: np.random.Generator, n_uds: int) -> dict:
    """Random rows of a transition spec; ES member lists are valid assignments of the UDs."""
    fake = {key: rng.random((rows, *shape)).astype(dtype) for key, (shape, dtype) in spec.items()}
    fake["terminated"][:] = 0
    if "members" in fake:
        m, z = spec["members"][0]
        for key in ("members", "next_members"):
            places = np.stack([rng.permutation(m * z) for _ in range(rows)]).reshape(rows, m, z)
            fake[key] = np.where(places < n_uds, places, -1)
        fake["es_action"] = (rng.random((rows, m, z)) < 0.6).astype(np.int8)
        fake["ud_requested"] = rng.random((rows, n_uds)) < 0.6
    return fake


class LoopMADDPG:
    """The slow reference: N separate actor/critic modules and optimisers, one agent at a time."""

    def __init__(
        self, n, obs, state, actor_h, critic_h, lr_a=1e-4, lr_c=1e-3, gamma=0.99, tau=0.01
    ):
        def mlp(widths, out_act=None):
            layers: list[nn.Module] = []
            for a, b in zip(widths[:-1], widths[1:], strict=True):
                layers += [nn.Linear(a, b), nn.ReLU()]
            layers = layers[:-1] + ([nn.Sigmoid()] if out_act else [])
            return nn.Sequential(*layers)

        self.n, self.gamma, self.tau = n, gamma, tau
        self.actors = [mlp([obs, *actor_h, 3], out_act=True) for _ in range(n)]
        self.critics = [mlp([state + 3 * n, *critic_h, 1]) for _ in range(n)]
        self.actor_t = [mlp([obs, *actor_h, 3], out_act=True) for _ in range(n)]
        self.critic_t = [mlp([state + 3 * n, *critic_h, 1]) for _ in range(n)]
        for t, s in zip(self.actor_t + self.critic_t, self.actors + self.critics, strict=True):
            t.load_state_dict(s.state_dict())
        self.opt_a = [torch.optim.Adam(a.parameters(), lr=lr_a, fused=True) for a in self.actors]
        self.opt_c = [torch.optim.Adam(c.parameters(), lr=lr_c, fused=True) for c in self.critics]

    def update(self, b: dict[str, torch.Tensor]) -> None:
        s, o, a, r = b["state"], b["ud_obs"], b["ud_action"], b["ud_reward"]
        s2, o2, done = b["next_state"], b["next_ud_obs"], b["terminated"]
        with torch.no_grad():
            a2 = torch.stack([self.actor_t[i](o2[:, i]) for i in range(self.n)], 1)
            joint2 = torch.cat([s2, a2.flatten(1)], 1)
        joint = torch.cat([s, a.flatten(1)], 1)
        for i in range(self.n):  # same maths as MADDPG.update: both losses, then both steps
            with torch.no_grad():
                y = r[:, i] + self.gamma * (1 - done) * self.critic_t[i](joint2).squeeze(-1)
            loss = (y - self.critics[i](joint).squeeze(-1)).pow(2).mean()
            a_i = a.clone()
            a_i[:, i] = self.actors[i](o[:, i])
            self.critics[i].requires_grad_(False)
            actor_loss = -self.critics[i](torch.cat([s, a_i.flatten(1)], 1)).mean()
            self.critics[i].requires_grad_(True)
            self.opt_c[i].zero_grad()
            self.opt_a[i].zero_grad()
            (loss + actor_loss).backward()
            self.opt_c[i].step()
            self.opt_a[i].step()
            with torch.no_grad():
                for t, m in (
                    (self.critic_t[i], self.critics[i]),
                    (self.actor_t[i], self.actors[i]),
                ):
                    torch._foreach_lerp_(list(t.parameters()), list(m.parameters()), self.tau)


ROWS = 1024  # fake transitions in each replay buffer the updates sample from
SMALL_CRITIC = [64, 64]  # where per-call overhead rather than FLOPs rules


def compose_paper(algo: str, n_uds: int) -> Any:
    """The config of ``algo`` at the paper's budget (``experiment=paper``) with N = ``n_uds``."""
    with initialize_config_module("ucms_marl.conf", version_base="1.3"):
        return compose(
            "config", overrides=[f"algo={algo}", "experiment=paper", f"env.n_uds={n_uds}"]
        )


@dataclass(frozen=True)
class UpdateTimes:
    """Seconds per update: batched vs the per-agent loop, at the config's critic and a small one."""

    batched: float
    loop: float
    small_batched: float
    small_loop: float


@dataclass(frozen=True)
class UCMSTimes:
    """A full UCMS update against the MADDPG-only one, and the ES Q-network's size."""

    ucms: float
    maddpg: float
    es_rows: int
    es_hidden: list[int]
    es_params: int


@dataclass(frozen=True)
class EpisodeTimes:
    """Seconds per training episode (env + act + store) and per evaluation episode."""

    train: float
    eval: float
    n_slots: int


def time_updates(cfg: Any, learner: MADDPG, spec: Any, replay: ReplayBuffer, repeats: int):
    """The batched update against :class:`LoopMADDPG`, measured alternately, with the config's
    critic and with :data:`SMALL_CRITIC`."""
    n, batch = spec.n_uds, learner.batch_size
    actor_h = list(cfg.learner.actor_hidden)

    def batched_vs_loop(learner, critic_h, repeats) -> tuple[float, float]:
        loop = LoopMADDPG(n, spec.ud_obs_dim, spec.state_dim, actor_h, critic_h)

        def loop_update():
            sample = replay.sample(batch)
            loop.update({k: torch.as_tensor(v) for k, v in sample.data.items()})

        return timed_pair(lambda: learner.update(replay.sample(batch)), loop_update, repeats)

    t_batched, t_loop = batched_vs_loop(learner, list(cfg.learner.critic_hidden), repeats)
    t_batched = min(t_batched, timed(lambda: learner.update(replay.sample(batch)), repeats))
    small_cfg = cfg.copy()
    small_cfg.learner.critic_hidden = SMALL_CRITIC
    small_learner, _, _ = build(small_cfg)
    t_small_batched, t_small_loop = batched_vs_loop(small_learner, SMALL_CRITIC, repeats)
    return UpdateTimes(t_batched, t_loop, t_small_batched, t_small_loop)


def time_ucms(
    n_uds: int, learner: MADDPG, replay: ReplayBuffer, rng: np.random.Generator, repeats: int
) -> UCMSTimes:
    """One full UCMS update (ES Q-network + the same UD learners) against the MADDPG-only one."""
    ucms_cfg = compose_paper("ucms_maddpg", n_uds)
    ucms, _, ucms_probe = build(ucms_cfg)
    assert isinstance(ucms, UCMS) and ucms.es_q is not None
    batch = learner.batch_size
    ucms_replay = ReplayBuffer(4096, ucms.transition_spec(), rng)
    ucms_replay.add(fake_transitions(ucms.transition_spec(), ROWS, rng, n_uds))
    t_ucms, t_maddpg = timed_pair(
        lambda: ucms.update(ucms_replay.sample(batch)),
        lambda: learner.update(replay.sample(batch)),
        repeats,
    )
    return UCMSTimes(
        ucms=t_ucms,
        maddpg=t_maddpg,
        es_rows=batch * ucms_probe.spec.n_servers * ucms_probe.spec.z_cap,
        es_hidden=list(ucms_cfg.learner.es_hidden),
        es_params=sum(p.numel() for p in ucms.es_q.parameters()),
    )


def time_episodes(
    cfg: Any, env_kwargs: dict, learner: MADDPG, replay: ReplayBuffer
) -> EpisodeTimes:
    """Environment + acting: real episodes of the default config, with exploration."""
    envs = make_vector_env(env_kwargs, cfg.num_envs)
    _, steps = play_episodes(envs, learner, [0] * cfg.num_envs, explore=True)  # warm-up
    n_slots = steps // cfg.num_envs
    episodes = 5
    t0 = time.perf_counter()
    for e in range(episodes):
        play_episodes(envs, learner, [e + 1] * cfg.num_envs, explore=True, replay=replay)
    t_episode = (time.perf_counter() - t0) / (episodes * cfg.num_envs)
    t0 = time.perf_counter()
    evaluate(envs, learner, 4, cfg.eval_seed)
    return EpisodeTimes(train=t_episode, eval=(time.perf_counter() - t0) / 4, n_slots=n_slots)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n-uds", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    cfg = compose_paper("maddpg", args.n_uds)
    learner, env_kwargs, probe = build(cfg)
    assert isinstance(learner, MADDPG)
    spec = probe.spec
    rng = np.random.default_rng(0)
    replay = ReplayBuffer(4096, learner.transition_spec(), rng)
    replay.add(fake_transitions(learner.transition_spec(), ROWS, rng, spec.n_uds))

    rate_before = matmul_rate()
    updates = time_updates(cfg, learner, spec, replay, args.repeats)
    ucms = time_ucms(args.n_uds, learner, replay, rng, args.repeats)
    actor_h, critic_h = list(cfg.learner.actor_hidden), list(cfg.learner.critic_hidden)
    flops = update_flops(
        spec.n_uds, learner.batch_size, spec.ud_obs_dim, spec.state_dim, actor_h, critic_h
    )
    rate = max(rate_before, matmul_rate())  # the machine's best: the floor must be a floor
    episodes = time_episodes(cfg, env_kwargs, learner, replay)
    print_report(cfg, learner, spec, updates, ucms, flops, rate, episodes)


def print_report(
    cfg: Any,
    learner: MADDPG,
    spec: Any,
    updates: UpdateTimes,
    ucms: UCMSTimes,
    flops: int,
    rate: float,
    episodes: EpisodeTimes,
) -> None:
    """The table, with the paper-scale projection for several ``updates_per_episode``."""
    n_eval = (
        cfg.episodes // cfg.eval_every * cfg.eval_episodes if cfg.eval_every else cfg.eval_episodes
    )
    n_slots, t_batched = episodes.n_slots, updates.batched

    def projected(updates_per_episode: int) -> float:
        n_updates = updates_per_episode * max(0, cfg.episodes - cfg.learning_starts // n_slots)
        return cfg.episodes * episodes.train + n_eval * episodes.eval + n_updates * t_batched

    actor_h, critic_h = list(cfg.learner.actor_hidden), list(cfg.learner.critic_hidden)
    print(
        f"# MADDPG update throughput, N={spec.n_uds} UDs, M={spec.n_servers}, "
        f"batch={learner.batch_size}, state={spec.state_dim}, obs={spec.ud_obs_dim}, "
        f"torch threads={torch.get_num_threads()}"
    )
    print(
        f"# actor {actor_h}, critic {critic_h}, "
        f"{sum(p.numel() for p in learner.critic.parameters()) / 1e6:.1f} M critic params"
    )
    rows_out = _table_rows(updates, ucms, flops, rate, episodes)
    for ups in (1, 2, 4, 8):
        mark = "  <- default" if ups == round(cfg.updates_per_step * n_slots) else ""
        rows_out.append(
            (f"paper-scale run, {ups} updates per episode", f"{projected(ups) / 60:.1f} min{mark}")
        )
    width = max(len(r[0]) for r in rows_out)
    print(f"| {'quantity':<{width}} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for name, value in rows_out:
        print(f"| {name:<{width}} | {value} |")
    print(
        f"# paper-scale = {cfg.episodes} episodes x {n_slots} slots, learning_starts="
        f"{cfg.learning_starts}, {n_eval} evaluation episodes, default updates_per_step="
        f"{cfg.updates_per_step} ({round(cfg.updates_per_step * n_slots)} per episode)"
    )


def _table_rows(
    u: UpdateTimes, ucms: UCMSTimes, flops: int, rate: float, episodes: EpisodeTimes
) -> list[tuple[str, str]]:
    """The measured rows of the table (the projection rows follow)."""
    floor = flops / rate
    return [
        ("update, batched (ucms_marl)", f"{u.batched * 1e3:.1f} ms"),
        ("update, per-agent Python loop", f"{u.loop * 1e3:.1f} ms"),
        ("speed-up batched / loop", f"{u.loop / u.batched:.1f}x   (target >= 5x)"),
        (
            f"same with critic {SMALL_CRITIC}: batched / loop",
            f"{u.small_batched * 1e3:.1f} / {u.small_loop * 1e3:.1f} ms = "
            f"{u.small_loop / u.small_batched:.1f}x",
        ),
        ("update matmul FLOPs", f"{flops / 1e9:.2f} GFLOP"),
        ("measured matmul rate (2048^3 SGEMM, best)", f"{rate / 1e9:.1f} GFLOP/s"),
        ("floor = FLOPs / rate", f"{floor * 1e3:.1f} ms"),
        ("batched / floor", f"{u.batched / floor:.2f}x   (target <= 2x)"),
        (
            f"UCMS update (ES Q {ucms.es_hidden}, {ucms.es_rows} member places + UD learners)",
            f"{ucms.ucms * 1e3:.1f} ms",
        ),
        ("MADDPG-only update, measured alternately", f"{ucms.maddpg * 1e3:.1f} ms"),
        (
            "UCMS / MADDPG-only update",
            f"{ucms.ucms / ucms.maddpg:.2f}x   (ES Q-network {ucms.es_params / 1e3:.0f} k params)",
        ),
        ("training episode (10 slots, env + act + store)", f"{episodes.train * 1e3:.1f} ms"),
        ("evaluation episode", f"{episodes.eval * 1e3:.1f} ms"),
    ]


if __name__ == "__main__":
    main()

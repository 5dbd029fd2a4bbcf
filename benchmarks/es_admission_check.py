"""The UCMS ES Q-network on its own: does the learned admission reach the saving-first rule?

    python benchmarks/es_admission_check.py                       # paper_kb, 150 episodes
    python benchmarks/es_admission_check.py --episodes 300 learner.gamma=0

The UD side is fixed to the ``all_offload`` reference policy (every matched UD requests, at
its cost-optimal transmit power, with its best local frequency as the fallback), so only the
ES decides. With those UD actions the ``saving_first`` admission makes exactly ``greedy``'s
decisions (it rejects every request that saves nothing and admits the rest in descending
saving within K and D_m), and ``accept_all`` admits in arrival order. The script trains the
UCMS ES Q-network (same network, target, loss, ε-greedy and priority replay as
``algo=ucms_maddpg``; the UD learners are not updated) and prints one table of mean
evaluation cost on the fixed evaluation episodes: untrained ES, trained ES, arrival order,
saving-first. Trailing ``key=value``
arguments are trainer overrides (``learner.*``, ``replay.*``, ``env.*``, budgets).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

import mec_env
from mec_env.policies import make_policy
from ucms_marl.learners import LEARNERS
from ucms_marl.learners.heuristic import HeuristicLearner, _stack_actions
from ucms_marl.learners.ucms import UCMS
from ucms_marl.networks import soft_update_
from ucms_marl.rollout import Actions, VectorMECEnv, evaluate, mean_metrics
from ucms_marl.train import run


@LEARNERS.register("ucms_es_only")
class ESOnly(UCMS):
    """UCMS with the UD actions of ``all_offload``; only the ES Q-network learns."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._policy = None  # all_offload is stateless: one for every copy

    def act(self, obs, *, explore: bool) -> Actions:
        if self._policy is None:
            self._policy = make_policy("all_offload", config=obs.slots[0].config, seed=0)
        dicts = [self._policy.act(view) for view in obs.slots]
        ud = _stack_actions(dicts, obs).ud
        return Actions(ud, self.act_es(obs, ud, explore=explore))

    def update(self, sample):
        batch, weights = self._tensors(sample), self._weights(sample)
        td = self.es_target(batch) - self.es_q_taken(batch)
        loss = (weights * td.pow(2)).mean()
        self.es_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.es_opt.step()
        soft_update_(self.es_q_target, self.es_q, self.tau)
        return {"es_loss": loss.item()}, td.detach().abs()[:, None].cpu().numpy()


def rule_cost(cfg, admission: str) -> float:
    """Mean evaluation cost of ``all_offload`` UDs with an admission rule (ES agents off)."""
    kwargs = {"matcher": cfg.matcher, "es_agents": False, "admission": admission}
    envs = VectorMECEnv(lambda: mec_env.parallel_env(preset=cfg.env.preset, **kwargs), 5)
    policy = OmegaConf.create({"name": "heuristic", "policy": "all_offload"})
    learner = HeuristicLearner(policy, envs.spec, device=torch.device("cpu"), seed=0)
    return mean_metrics(evaluate(envs, learner, cfg.eval_episodes, cfg.eval_seed))["cost"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=150)
    parser.add_argument("--updates-per-step", type=float, default=0.4)  # 4 per 10-slot episode
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    overrides = [
        "algo=ucms_maddpg", "learner.name=ucms_es_only", f"episodes={args.episodes}",
        f"updates_per_step={args.updates_per_step}", f"seed={args.seed}",
        "eval_every=0", "eval_episodes=10", "checkpoint_every=0", "save_replay=false",
        "progress_bar=false", *args.overrides,
    ]  # fmt: skip
    with initialize_config_module("ucms_marl.conf", version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    untrained = run(compose_untrained(cfg), tempfile.mkdtemp(), algo="es_only")["eval"]["cost"]
    t0 = time.perf_counter()
    trained = run(cfg, tempfile.mkdtemp(), algo="es_only")["eval"]["cost"]
    wall = time.perf_counter() - t0
    rows = [
        ("learned ES Q-network, untrained", untrained),
        (f"learned ES Q-network, {args.episodes} episodes ({wall / 60:.1f} min)", trained),
        ("accept_all (arrival order)", rule_cost(cfg, "accept_all")),
        ("saving_first (greedy's admission rule)", rule_cost(cfg, "saving_first")),
    ]
    print(
        f"# ES admission alone: {cfg.env.preset}, matcher {cfg.matcher}, UDs play all_offload, "
        f"{cfg.eval_episodes} evaluation episodes, seed {args.seed}, "
        f"{args.updates_per_step} updates/env-step, gamma {cfg.learner.gamma}"
    )
    print("| ES admission | mean cost per UD-slot |\n|---|---|")
    for name, cost in rows:
        print(f"| {name} | {cost:.4f} |")


def compose_untrained(cfg):
    untrained = cfg.copy()
    untrained.episodes = 1
    return untrained


if __name__ == "__main__":
    main()

"""Our MADDPG against a peer MADDPG built from TorchRL's parts, measured in the same run.

    python benchmarks/peer_maddpg.py --setting saving_first --env-steps 3000 --seeds 0
    python benchmarks/peer_maddpg.py --setting accept_all --env-steps 10000 --json out.json
    pip install -e .[peers]      # torchrl (the peer); nothing else is needed

Both trainers learn on the same environment (``mec_env.parallel_env(preset="paper_kb",
matcher="max_gain", es_agents=False, admission=<setting>)``), with the same run seed, the same
training-episode reset seeds and the same budget of env-steps (one env-step = one slot of the
whole environment, all 48 UDs), and are evaluated at the same env-step marks on the same fixed
evaluation seeds: episode j on seed ``1_000_000 + j``, 10 episodes, no exploration noise,
cost = mean over slots of ``infos["ud_0"]["slot_mean_cost"]``, averaged over episodes.

* **ours**: ``ucms_marl.train.run`` with ``algo=maddpg`` and the learner's current defaults
  (whatever ``ucms_marl/conf`` says when this runs); its curve is read from the run's
  ``metrics.jsonl`` (rows with ``"phase": "eval"``; episodes x slots per episode = env-steps).
* **peer**: TorchRL's multi-agent DDPG recipe (``tutorials/sphinx-tutorials/
  multiagent_competitive_ddpg.py``, ``sota-implementations/multiagent/maddpg_iddpg.py``):
  one ``MultiAgentMLP`` policy shared by all UDs (decentralised, 2 x 256 ReLU) squashed into
  [0, 1] by a ``TanhModule``; a centralised ``MultiAgentMLP`` critic shared by all UDs over all
  observations and actions (2 x 256 ReLU); ``DDPGLoss`` (target networks, TD(0), gamma 0.99)
  with ``SoftUpdate(tau=0.005)``; a ``ReplayBuffer`` on a ``LazyTensorStorage`` of 30,000
  transitions; Adam 3e-4 (actor) / 1e-3 (critic); batch 128; rewards x 10;
  ``AdditiveGaussianModule`` noise, sigma 0.5 annealed to 0.05 over 40,000 env-steps; a
  collector batch of 100 env-steps followed by 20 updates.

The environment is driven here with the plain PettingZoo API (reset/step/state), as when the
measurement in docs/peers.md was taken. ``torchrl.envs.PettingZooWrapper`` runs mec_env too
(docs/ecosystem.md); it failed then, when mec_env's ``infos`` differed in keys between
``reset`` and ``step``.

Prints, per setting and seed, one table (env-steps | ours cost | peer cost, then each one's
evaluation ``offload_rate``, the share of UDs whose task ran on an ES), the reference policies'
costs on the same evaluation seeds and each trainer's wall time (training and its
evaluations); ``--json PATH`` writes the same numbers. ``docs/peers.md`` holds a measurement.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

import mec_env
from ucms_marl.rollout import episode_seed  # the trainer's: both see the same episodes

EVAL_SEED = 1_000_000
EVAL_EPISODES = 10
SETTINGS = ("saving_first", "accept_all")
REFERENCES = ("greedy", "all_offload", "all_local")


def env_kwargs_for(setting: str) -> dict[str, Any]:
    return {"preset": "paper_kb", "matcher": "max_gain", "es_agents": False, "admission": setting}


def make_env(env_kwargs: Mapping[str, Any]) -> Any:
    kwargs = dict(env_kwargs)
    return mec_env.parallel_env(preset=kwargs.pop("preset"), **kwargs)


# ------------------------------------------------------------------ the environment loop
class Driver:
    """One mec_env ParallelEnv stepped through the PettingZoo API, UD arrays stacked."""

    def __init__(self, env_kwargs: Mapping[str, Any]) -> None:
        self.env = make_env(env_kwargs)
        self.agents = [a for a in self.env.possible_agents if a.startswith("ud_")]
        if len(self.agents) != len(self.env.possible_agents):
            raise ValueError("the benchmark needs es_agents=False (UD agents only)")
        self.n_agents = len(self.agents)
        self.obs_dim = int(np.prod(self.env.observation_space(self.agents[0]).shape))
        self.act_dim = int(np.prod(self.env.action_space(self.agents[0]).shape))

    def stack(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.stack([obs[a] for a in self.agents]).astype(np.float32)

    def reset(self, seed: int) -> np.ndarray:
        obs, _ = self.env.reset(seed=int(seed))
        return self.stack(obs)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool, bool, dict]:
        """``action`` (N, act_dim) in [0, 1] -> next obs (N, obs_dim), rewards (N,),
        terminated, episode over (terminated or truncated), the slot metrics
        (``mec_env.slot_metrics(infos["ud_0"])``: ``mean_cost``, ``offload_rate``, ...)."""
        act = {a: action[i].astype(np.float32) for i, a in enumerate(self.agents)}
        obs, rew, term, trunc, info = self.env.step(act)
        terminated = any(term[a] for a in self.agents)
        over = terminated or any(trunc[a] for a in self.agents)
        reward = np.array([rew[a] for a in self.agents], dtype=np.float32)
        slot = mec_env.slot_metrics(info[self.agents[0]])
        return self.stack(obs), reward, terminated, over, slot


def evaluate(driver: Driver, policy: Callable[[np.ndarray], np.ndarray]) -> dict[str, float]:
    """Mean over the fixed evaluation episodes (noise-free ``policy``) of the episode means
    over slots of the slot's ``mean_cost`` (-> ``cost``) and ``offload_rate``."""
    episodes = []
    for j in range(EVAL_EPISODES):
        obs = driver.reset(EVAL_SEED + j)
        slots, over = [], False
        while not over:
            obs, _, _, over, slot = driver.step(policy(obs))
            slots.append((slot["mean_cost"], slot["offload_rate"]))
        episodes.append(np.mean(slots, axis=0))
    cost, offload_rate = np.mean(episodes, axis=0)
    return {"cost": float(cost), "offload_rate": float(offload_rate)}


def reference_costs(env_kwargs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The reference heuristics on the benchmark's env and evaluation seeds: with each
    policy's own env settings through ``ucms_marl.summary`` when it exists (``settings``
    names what it changed), and always on exactly the benchmark's env (``cost_here``)."""
    from mec_env.policies import make_policy

    out: dict[str, dict[str, Any]] = {}
    try:
        from ucms_marl.summary import reference_costs as summary_references

        for name, ref in summary_references(env_kwargs, EVAL_EPISODES, EVAL_SEED).items():
            out[name] = {"cost": ref["cost"], "settings": ref.get("settings", {})}
    except ImportError:
        pass
    for name in REFERENCES:
        driver = Driver(env_kwargs)
        policy = make_policy(name, driver.env)

        def act(_obs: np.ndarray, policy=policy, driver=driver) -> np.ndarray:
            actions = policy()
            return np.stack([actions[a] for a in driver.agents])

        out.setdefault(name, {})["cost_here"] = evaluate(driver, act)["cost"]
    return out


# ------------------------------------------------------------------ the peer (TorchRL)
class PeerMADDPG:
    """TorchRL's MADDPG recipe for one group of homogeneous agents (see the module doc)."""

    GROUP = "agents"

    def __init__(
        self,
        n_agents: int,
        obs_dim: int,
        act_dim: int,
        *,
        hidden: int = 256,
        depth: int = 2,
        lr_actor: float = 3e-4,
        lr_critic: float = 1e-3,
        gamma: float = 0.99,
        tau: float = 0.005,
        buffer_size: int = 30_000,
        batch_size: int = 128,
        sigma_init: float = 0.5,
        sigma_end: float = 0.05,
        anneal_env_steps: int = 40_000,
    ) -> None:
        from tensordict.nn import TensorDictSequential
        from torchrl.data import LazyTensorStorage, RandomSampler, ReplayBuffer

        self.n_agents, self.obs_dim, self.act_dim = n_agents, obs_dim, act_dim
        # built in this order (actor, noise, critic, loss): torch's generator draws the weights
        self.actor = self._make_actor(hidden, depth)
        self.noise = self._make_noise(sigma_init, sigma_end, anneal_env_steps)
        self.explore = TensorDictSequential(self.actor, self.noise)
        self.critic = self._make_critic(hidden, depth)
        self.loss, self.target_update = self._make_loss(gamma, tau)
        self.optimisers = {
            "loss_actor": torch.optim.Adam(
                self.loss.actor_network_params.flatten_keys().values(), lr=lr_actor
            ),
            "loss_value": torch.optim.Adam(
                self.loss.value_network_params.flatten_keys().values(), lr=lr_critic
            ),
        }
        self.replay = ReplayBuffer(
            storage=LazyTensorStorage(buffer_size),
            sampler=RandomSampler(),
            batch_size=batch_size,
        )

    def _make_actor(self, hidden: int, depth: int) -> Any:
        """A decentralised actor shared by the agents, squashed to [0, 1] by a tanh."""
        from tensordict.nn import TensorDictModule, TensorDictSequential
        from torchrl.modules import MultiAgentMLP, TanhModule

        g = self.GROUP
        actor_net = MultiAgentMLP(
            n_agent_inputs=self.obs_dim,
            n_agent_outputs=self.act_dim,
            n_agents=self.n_agents,
            centralised=False,
            share_params=True,
            depth=depth,
            num_cells=hidden,
            activation_class=torch.nn.ReLU,
        )
        return TensorDictSequential(
            TensorDictModule(actor_net, in_keys=[(g, "observation")], out_keys=[(g, "param")]),
            TanhModule(in_keys=[(g, "param")], out_keys=[(g, "action")], low=0.0, high=1.0),
        )

    def _make_noise(self, sigma_init: float, sigma_end: float, anneal_env_steps: int) -> Any:
        """Additive Gaussian exploration noise, annealed over ``anneal_env_steps``."""
        from torchrl.data import Bounded
        from torchrl.modules import AdditiveGaussianModule

        action_spec = Bounded(low=0.0, high=1.0, shape=(self.n_agents, self.act_dim))
        return AdditiveGaussianModule(
            spec=action_spec,
            sigma_init=sigma_init,
            sigma_end=sigma_end,
            annealing_num_steps=anneal_env_steps,
            action_key=(self.GROUP, "action"),
        )

    def _make_critic(self, hidden: int, depth: int) -> Any:
        """A centralised critic over every agent's observation and action, shared."""
        from tensordict.nn import TensorDictModule, TensorDictSequential
        from torchrl.modules import MultiAgentMLP

        g = self.GROUP
        critic_net = MultiAgentMLP(
            n_agent_inputs=self.obs_dim + self.act_dim,
            n_agent_outputs=1,
            n_agents=self.n_agents,
            centralised=True,
            share_params=True,
            depth=depth,
            num_cells=hidden,
            activation_class=torch.nn.ReLU,
        )
        return TensorDictSequential(
            TensorDictModule(
                lambda obs, action: torch.cat([obs, action], dim=-1),
                in_keys=[(g, "observation"), (g, "action")],
                out_keys=[(g, "obs_action")],
            ),
            TensorDictModule(
                critic_net, in_keys=[(g, "obs_action")], out_keys=[(g, "state_action_value")]
            ),
        )

    def _make_loss(self, gamma: float, tau: float) -> tuple[Any, Any]:
        """TorchRL's DDPG loss (TD(0) targets, delayed value network) and its soft update."""
        from torchrl.objectives import DDPGLoss, SoftUpdate, ValueEstimators

        g = self.GROUP
        loss = DDPGLoss(
            actor_network=self.actor,
            value_network=self.critic,
            delay_value=True,
            loss_function="l2",
        )
        loss.set_keys(
            state_action_value=(g, "state_action_value"),
            reward=(g, "reward"),
            done=(g, "done"),
            terminated=(g, "terminated"),
        )
        loss.make_value_estimator(ValueEstimators.TD0, gamma=gamma)
        return loss, SoftUpdate(loss, tau=tau)

    @torch.no_grad()
    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        from tensordict import TensorDict
        from torchrl.envs.utils import ExplorationType, set_exploration_type

        td = TensorDict({(self.GROUP, "observation"): torch.from_numpy(obs)}, batch_size=[])
        mode = ExplorationType.RANDOM if explore else ExplorationType.DETERMINISTIC
        with set_exploration_type(mode):
            td = (self.explore if explore else self.actor)(td)
        return td.get((self.GROUP, "action")).numpy()

    def store(self, rows: list[tuple[np.ndarray, ...]]) -> None:
        """Append transitions (obs, action, reward, next_obs, terminated, done)."""
        from tensordict import TensorDict

        g = self.GROUP
        obs, act, rew, nxt, term, done = (np.stack(x) for x in zip(*rows))
        n = len(rows)

        def per_agent_flag(flags: np.ndarray) -> torch.Tensor:
            t = torch.from_numpy(flags.astype(bool)).view(n, 1, 1)
            return t.expand(n, self.n_agents, 1).clone()

        td = TensorDict(
            {
                (g, "observation"): torch.from_numpy(obs),
                (g, "action"): torch.from_numpy(act.astype(np.float32)),
                ("next", g, "observation"): torch.from_numpy(nxt),
                ("next", g, "reward"): torch.from_numpy(rew).unsqueeze(-1),
                ("next", g, "terminated"): per_agent_flag(term),
                ("next", g, "done"): per_agent_flag(done),
            },
            batch_size=[n],
        )
        self.replay.extend(td)

    def update(self) -> dict[str, float]:
        sample = self.replay.sample()
        losses = self.loss(sample)
        out = {}
        for name, optimiser in self.optimisers.items():
            loss = losses[name]
            loss.backward()
            optimiser.step()
            optimiser.zero_grad()
            out[name] = float(loss.detach())
        self.target_update.step()
        return out


def train_peer(
    env_kwargs: Mapping[str, Any],
    seed: int,
    env_steps: int,
    eval_every: int,
    *,
    frames_per_batch: int = 100,
    updates_per_batch: int = 20,
    reward_scale: float = 10.0,
) -> dict[str, Any]:
    """Train the peer for ``env_steps`` env-steps; evaluate every ``eval_every`` and at the end."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - third-party code may draw from it
    train_env, eval_env = Driver(env_kwargs), Driver(env_kwargs)
    agent = PeerMADDPG(train_env.n_agents, train_env.obs_dim, train_env.act_dim)
    curve: list[dict[str, float]] = []
    t0 = time.perf_counter()
    steps, updates, episode, over = 0, 0, 0, True
    obs = None
    while steps < env_steps:
        rows = []
        for _ in range(min(frames_per_batch, env_steps - steps)):
            if over:
                obs = train_env.reset(episode_seed(seed, episode))
                episode += 1
            action = agent.act(obs, explore=True)
            nxt, reward, terminated, over, _ = train_env.step(action)
            rows.append((obs, action, reward * reward_scale, nxt, terminated, over))
            obs = nxt
        before, steps = steps, steps + len(rows)
        agent.store(rows)
        for _ in range(updates_per_batch):
            agent.update()
            updates += 1
        agent.noise.step(frames=len(rows))
        if (eval_every > 0 and steps // eval_every > before // eval_every) or steps >= env_steps:
            metrics = evaluate(eval_env, lambda o: agent.act(o, explore=False))
            curve.append({"env_steps": steps, **metrics})
    return {
        "curve": curve,
        "wall_time_s": time.perf_counter() - t0,
        "updates": updates,
        "episodes": episode,
        "final_sigma": float(agent.noise.sigma),
    }


# ------------------------------------------------------------------ ours (ucms_marl)
def train_ours(
    setting: str, seed: int, env_steps: int, eval_every: int, slots: int, run_dir: Path
) -> dict[str, Any]:
    from hydra import compose, initialize_config_module

    from ucms_marl.train import run

    if env_steps % slots or eval_every % slots:
        raise ValueError(f"--env-steps and --eval-every must be multiples of {slots} (slots)")
    overrides = [
        "algo=maddpg", f"admission={setting}", f"seed={seed}", f"episodes={env_steps // slots}",
        f"eval_every={eval_every // slots}", f"eval_episodes={EVAL_EPISODES}",
        f"eval_seed={EVAL_SEED}", "progress_bar=false", "torch_threads=1", "checkpoint_every=0",
        "save_replay=false",
    ]  # fmt: skip
    with initialize_config_module("ucms_marl.conf", version_base="1.3"):
        try:
            cfg = compose("config", overrides=[*overrides, "references=false"])
        except Exception:  # an older config without the `references` key
            cfg = compose("config", overrides=overrides)
    summary = run(cfg, run_dir, algo="maddpg")
    curve = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("phase") == "eval":
            curve.append(
                {
                    "env_steps": int(row["episode"]) * slots,
                    "cost": float(row["cost"]),
                    "offload_rate": float(row.get("offload_rate", math.nan)),
                }
            )
    config = json.loads((run_dir / "config.json").read_text())
    return {
        "curve": curve,
        "wall_time_s": float(summary["wall_time_s"]),
        "updates": int(summary["updates"]),
        "episodes": int(summary["episodes"]),
        "env_kwargs": config.get("env_kwargs"),
        "learner": config.get("learner"),
        "updates_per_step": config.get("updates_per_step"),
        "learning_starts": config.get("learning_starts"),
        "replay": config.get("replay"),
    }


# ------------------------------------------------------------------ the report
def source_digest() -> str:
    """sha256 (12 hex digits) of ucms_marl's .py and .yaml files: which version of our trainer
    (committed or not) a measurement ran."""
    import hashlib

    import ucms_marl

    root = Path(ucms_marl.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted([*root.rglob("*.py"), *root.rglob("*.yaml")]):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "torch": torch.__version__}
    for name in ("torchrl", "tensordict", "numpy", "pettingzoo"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            out[name] = "not installed"
    out["ucms_marl sources"] = source_digest()
    return out


def fmt(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"


def _table_notes(result: Mapping[str, Any]) -> list[str]:
    """The lines under the table: the references, each side's wall time or failure, and
    our learner's defaults."""
    lines = []
    refs = []
    for name, ref in result["references"].items():
        text = f"{name} {fmt(ref.get('cost_here'))}"
        if "cost" in ref and ref.get("settings"):
            changed = ", ".join(f"{k}={v}" for k, v in ref["settings"].items())
            text += f" (with {changed}: {fmt(ref['cost'])})"
        refs.append(text)
    lines.append(
        f"references on this env, same {EVAL_EPISODES} evaluation seeds: {'; '.join(refs)}"
    )
    for who in ("ours", "peer"):
        r = result[who]
        if "error" in r:
            lines.append(f"{who}: FAILED: {r['error']}")
        else:
            lines.append(
                f"{who}: wall time {r['wall_time_s']:.0f} s (training + evaluations), "
                f"{r['updates']} updates, {r['episodes']} episodes"
            )
    if result["ours"].get("learner"):  # the defaults move: say which ones were measured
        learner = {k: v for k, v in result["ours"]["learner"].items() if k != "name"}
        for key in ("updates_per_step", "learning_starts"):
            learner[key] = result["ours"].get(key)
        lines.append("ours (defaults): " + ", ".join(f"{k}={v}" for k, v in learner.items()))
    return lines


def table(result: Mapping[str, Any]) -> str:
    ours = {p["env_steps"]: p for p in result["ours"].get("curve", [])}
    peer = {p["env_steps"]: p for p in result["peer"].get("curve", [])}
    lines = [
        f"setting {result['setting']}, seed {result['seed']}: "
        f"{', '.join(f'{k}={v}' for k, v in result['env_kwargs'].items())}",
        "",
        "| env-steps | ours cost | peer cost | ours offload rate | peer offload rate |",
        "|---:|---:|---:|---:|---:|",
    ]
    for step in sorted(set(ours) | set(peer)):
        row = [fmt(c.get(step, {}).get(k)) for k in ("cost", "offload_rate") for c in (ours, peer)]
        lines.append(f"| {step} | {' | '.join(row)} |")
    lines.append("")
    lines += _table_notes(result)
    return "\n".join(lines)


def bench(
    setting: str,
    seed: int,
    env_steps: int,
    eval_every: int,
    run_root: Path,
    save: Callable[[dict[str, Any]], None] = lambda result: None,
) -> dict[str, Any]:
    """One setting and seed: references, ours, then the peer; ``save(result)`` after each."""
    env_kwargs = env_kwargs_for(setting)
    slots = int(make_env(env_kwargs).unwrapped.config.n_slots)
    result: dict[str, Any] = {
        "setting": setting, "seed": seed, "env_steps": env_steps, "eval_every": eval_every,
        "env_kwargs": env_kwargs, "eval_seed": EVAL_SEED, "eval_episodes": EVAL_EPISODES,
    }  # fmt: skip
    result["references"] = reference_costs(env_kwargs)
    save(result)
    try:
        result["ours"] = train_ours(
            setting, seed, env_steps, eval_every, slots, run_root / f"ours_{setting}_seed{seed}"
        )
        if result["ours"]["env_kwargs"] not in (None, env_kwargs):
            print(f"warning: our run used env {result['ours']['env_kwargs']}, not {env_kwargs}")
    except Exception as err:  # the trainer is edited by others: report, keep the peer's row
        result["ours"] = {"error": f"{type(err).__name__}: {err}"}
    save(result)
    result["peer"] = train_peer(env_kwargs, seed, env_steps, eval_every)
    save(result)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setting", nargs="+", choices=SETTINGS, default=["saving_first"])
    parser.add_argument("--env-steps", type=int, default=3000, help="training env-steps")
    parser.add_argument("--eval-every", type=int, default=500, help="env-steps between evals")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument(
        "--run-root", type=Path, default=None, help="keep our run directories here (default: tmp)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    import ucms_marl.train  # noqa: F401 - load our trainer now, when its sources are digested

    command = sys.argv[1:] if argv is None else argv
    out: dict[str, Any] = {"versions": versions(), "argv": command, "results": []}
    print("versions: " + ", ".join(f"{k} {v}" for k, v in out["versions"].items()))

    def save(partial: dict[str, Any] | None = None) -> None:
        """Write the JSON so far (a run cut short keeps what it measured)."""
        if args.json is not None:
            results = out["results"] + ([partial] if partial is not None else [])
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({**out, "results": results}, indent=2, default=str))

    with tempfile.TemporaryDirectory(prefix="peer_maddpg_") as tmp:
        run_root = args.run_root or Path(tmp)
        for setting in args.setting:
            for seed in args.seeds:
                result = bench(setting, seed, args.env_steps, args.eval_every, run_root, save)
                out["results"].append(result)
                print()
                print(table(result), flush=True)
    if source_digest() != out["versions"]["ucms_marl sources"]:
        print("note: ucms_marl's sources changed on disk during this run (measured: as digested)")
    save()
    return out


if __name__ == "__main__":
    main()

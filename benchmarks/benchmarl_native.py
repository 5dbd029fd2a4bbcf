"""BenchMARL's MADDPG on mec_env two ways, in one run: the native batched adapter against
``PettingZooWrapper``.

    python benchmarks/benchmarl_native.py                       # small preset, 2 x 1000 frames
    python benchmarks/benchmarl_native.py --preset paper_kb --iterations 3 --json out.json

Not run in CI. BenchMARL 1.5.2 (its latest release) needs ``torchrl>=0.10,<0.12``, which
cannot share an environment with the torchrl 0.14 of this project's ``peers`` extra; run it
in a virtual environment of its own (docs/ecosystem.md, BenchMARL):

    python -m venv bm && . bm/bin/activate
    pip install torch==2.13.0 && echo "torch==2.13.0" > pin.txt
    pip install -c pin.txt benchmarl==1.5.2 "torchrl>=0.10,<0.12" -e .

Both routes train the same BenchMARL experiment (MADDPG, MLP actor and critic from
BenchMARL's default YAMLs, ``--envs`` copies, ``--frames`` frames per iteration, 20
optimiser steps per iteration, two evaluation episodes after each iteration, seed 0) on the
same environment (``es_action_space="box"``: BenchMARL's continuous-action algorithms need
every group in a Box):

* **native**: :class:`MECNativeTask` returns :class:`mec_env.torchrl_env.MECTorchRLEnv` with
  ``num_envs`` copies, an ``EnvBase`` whose batch size is the number of copies; BenchMARL
  treats it as an already vectorised env (as it does VMAS) and steps all copies in one call
  of the batched core.
* **wrapper**: :class:`MECWrapperTask` returns ``PettingZooWrapper(parallel_env(...))``, one
  copy; BenchMARL puts ``--envs`` of them in a ``SerialEnv``, and each step loops over agents
  in Python.

Prints one table: route, wall time, frames per second, the mean episode return of the last
collected batch (BenchMARL's progress-bar figure) and the wall-time ratio, measured in the
same run.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarl.algorithms import MaddpgConfig
from benchmarl.environments.common import Task, TaskClass
from benchmarl.experiment import Experiment, ExperimentConfig
from benchmarl.models.mlp import MlpConfig
from torchrl.data import Composite
from torchrl.envs import EnvBase, PettingZooWrapper

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mec_env  # noqa: E402
from mec_env.torchrl_env import MECTorchRLEnv  # noqa: E402


class _MECClass(TaskClass):
    """What the two routes share: continuous actions, no render, specs read from the env."""

    def supports_continuous_actions(self) -> bool:
        return True

    def supports_discrete_actions(self) -> bool:
        return False

    def has_render(self, env: EnvBase) -> bool:
        return False

    def max_steps(self, env: EnvBase) -> int:
        config = dict(self.config)
        return mec_env.make_config(config.pop("preset", "paper_kb"), **config).n_slots

    def action_mask_spec(self, env: EnvBase) -> None:
        return None


class MECNativeClass(_MECClass):
    """The batched core as one vectorised ``EnvBase`` (groups ``ud`` and ``es``)."""

    def get_env_fun(self, num_envs: int, continuous_actions: bool, seed: int | None, device):
        config = dict(self.config)

        def make() -> EnvBase:
            env = MECTorchRLEnv(num_envs=num_envs, device=device, infos=False, **config)
            if seed is not None:
                env.set_seed(seed)
            return env

        return make

    def group_map(self, env: EnvBase) -> dict[str, list[str]]:
        actions = env.full_action_spec_unbatched
        return {g: [f"{g}_{i}" for i in range(actions[g, "action"].shape[0])] for g in actions}

    def observation_spec(self, env: EnvBase) -> Composite:
        spec = env.full_observation_spec_unbatched.clone()
        for key in [k for k in spec.keys() if k not in self.group_map(env)]:
            del spec[key]  # the global state goes to state_spec
        return spec

    def info_spec(self, env: EnvBase) -> None:
        return None

    def state_spec(self, env: EnvBase) -> Composite:
        return Composite(state=env.full_observation_spec_unbatched["state"].clone())

    def action_spec(self, env: EnvBase) -> Composite:
        return env.full_action_spec_unbatched

    @staticmethod
    def env_name() -> str:
        return "mec_native"


class MECWrapperClass(_MECClass):
    """One ``parallel_env`` behind TorchRL's ``PettingZooWrapper``; BenchMARL batches copies."""

    def get_env_fun(self, num_envs: int, continuous_actions: bool, seed: int | None, device):
        config = dict(self.config)
        return lambda: PettingZooWrapper(
            env=mec_env.parallel_env(**config), return_state=True, seed=seed, device=device
        )

    def group_map(self, env: EnvBase) -> dict[str, list[str]]:
        return env.group_map

    def observation_spec(self, env: EnvBase) -> Composite:
        spec = env.observation_spec.clone()
        for group in self.group_map(env):
            if "info" in spec[group]:
                del spec[(group, "info")]
        del spec["state"]
        return spec

    def info_spec(self, env: EnvBase) -> None:
        return None

    def state_spec(self, env: EnvBase) -> Composite:
        return Composite(state=env.observation_spec["state"].clone())

    def action_spec(self, env: EnvBase) -> Composite:
        return env.full_action_spec

    @staticmethod
    def env_name() -> str:
        return "mec_wrapper"


class MECNativeTask(Task):
    MEC = None

    @staticmethod
    def associated_class():
        return MECNativeClass


class MECWrapperTask(Task):
    MEC = None

    @staticmethod
    def associated_class():
        return MECWrapperClass


def run(task_enum: type[Task], env_config: dict[str, Any], args: argparse.Namespace) -> dict:
    """Train one BenchMARL MADDPG experiment; its wall time, frames and last evaluation."""
    cfg = ExperimentConfig.get_from_yaml()
    cfg.max_n_frames = args.frames * args.iterations
    cfg.off_policy_collected_frames_per_batch = args.frames
    cfg.off_policy_n_envs_per_worker = args.envs
    cfg.off_policy_n_optimizer_steps = 20
    cfg.evaluation_interval = args.frames
    cfg.evaluation_episodes = 2
    cfg.render = False
    cfg.loggers = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg.save_folder = tmp
        start = time.perf_counter()
        experiment = Experiment(
            task=task_enum.MEC.get_task(config=env_config),
            algorithm_config=MaddpgConfig.get_from_yaml(),
            model_config=MlpConfig.get_from_yaml(),
            critic_model_config=MlpConfig.get_from_yaml(),
            seed=0,
            config=cfg,
        )
        experiment.run()
        wall = time.perf_counter() - start
    return {
        "wall_s": wall,
        "frames": int(experiment.total_frames),
        "iterations": int(experiment.n_iters_performed),
        "frames_per_s": experiment.total_frames / wall,
        "last_batch_mean_return": float(experiment.mean_return),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="small")
    p.add_argument("--envs", type=int, default=10, help="env copies per collector batch")
    p.add_argument("--frames", type=int, default=1000, help="frames per iteration")
    p.add_argument("--iterations", type=int, default=2)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    env_config = {"preset": args.preset, "es_action_space": "box"}
    rows = {
        "native": run(MECNativeTask, env_config, args),
        "wrapper": run(MECWrapperTask, env_config, args),
    }
    base = rows["native"]["wall_s"]
    machine = platform.processor() or platform.machine()
    print(f"\nBenchMARL MADDPG, {args.preset}, {args.iterations} x {args.frames} frames, "
          f"{args.envs} env copies, seed 0 ({machine})")  # fmt: skip
    print("| route | wall s | frames/s | mean return, last batch | wall / native |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['wall_s']:.1f} | {r['frames_per_s']:.0f} | "
              f"{r['last_batch_mean_return']:.3f} | {r['wall_s'] / base:.1f}x |")  # fmt: skip
    if args.json:
        args.json.write_text(
            json.dumps({"args": vars(args) | {"json": str(args.json)}, **rows}, indent=1)
        )


if __name__ == "__main__":
    main()

"""Run logging: TensorBoard, a JSON-lines file, and a tqdm progress bar.

TensorBoard namespaces (step = training episodes done):

* ``train/episodic_return``, ``train/env_steps``, ``train/noise_std`` …  per training
  episode (``env_steps``: training env-steps collected by its end, the schedules' clock)
* ``mec/<metric>``     the MEC metrics of each training episode: cost, delay_s, energy_j,
  timeout_rate, participation_rate, below_battery_rate, offload_rate, admission_cuts
* ``eval/<metric>``    the same metrics (and ``eval/return``) averaged over the fixed
  evaluation episodes; ``eval/best_cost`` and ``eval/best_episode``: the best evaluation so
  far (``policy_best.pt``)
* ``losses/<name>``    learner losses averaged over the updates after each episode batch
* ``perf/env_steps_per_s``, ``perf/updates_per_s``, ``perf/episodes_per_s``
* ``hparams``          the resolved config as a text table (and hparams at the end)

``metrics.jsonl`` in the run directory holds one JSON object per line with the same numbers:
``{"phase": "train", "episode": k, ...}`` per training episode and ``{"phase": "eval", ...}``
per evaluation, for plotting without TensorBoard (``pandas.read_json(path, lines=True)``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ucms_marl.paths import METRICS_FILE, TENSORBOARD_DIR
from ucms_marl.rollout import EPISODE_METRICS

# the MEC metrics of an episode, logged under mec/ (and eval/): every episode metric but the return
MEC_KEYS = tuple(k for k in EPISODE_METRICS if k != "return")
# beside each evaluation's metrics: the best evaluation so far (lowest cost) and its episode
BEST_KEYS = ("best_cost", "best_episode")


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{key}."))
        else:
            out[key] = v
    return out


def truncate_jsonl(path: Path, last_episode: int) -> None:
    """Drop records past ``last_episode`` (the episodes a resumed run will play again)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill
            continue
        if record.get("episode", 0) <= last_episode:
            kept.append(line)
    path.write_text("".join(f"{line}\n" for line in kept))


class RunLogger:
    """Writes every metric to TensorBoard and ``metrics.jsonl``; drives the progress bar."""

    def __init__(
        self,
        run_dir: Path,
        *,
        hparams: Mapping[str, Any],
        total_episodes: int,
        start_episode: int = 0,
        progress_bar: bool = True,
        tensorboard: bool = True,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl_path = self.run_dir / METRICS_FILE
        truncate_jsonl(self.jsonl_path, start_episode)
        self._jsonl = self.jsonl_path.open("a")
        self.hparams = _flatten(hparams)
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step drops the events a killed run wrote past its last checkpoint: those
            # of the episodes after start_episode (the checkpoint's own are kept)
            tb_dir = str(self.run_dir / TENSORBOARD_DIR)
            self.writer = SummaryWriter(tb_dir, purge_step=start_episode + 1)
            if start_episode == 0:
                rows = "\n".join(f"|{k}|{v}|" for k, v in sorted(self.hparams.items()))
                self.writer.add_text("hparams", f"|param|value|\n|-|-|\n{rows}")
        self.bar = None
        if progress_bar:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total_episodes, initial=start_episode, unit="ep", dynamic_ncols=True
            )

    def last_eval(self) -> tuple[int, dict[str, Any]] | None:
        """The last evaluation already in ``metrics.jsonl`` (kept from before a resume)."""
        self._jsonl.flush()
        found = None
        for line in self.jsonl_path.read_text().splitlines():
            record = json.loads(line)
            if record.get("phase") == "eval":
                found = record
        if found is None:
            return None
        values = {k: v for k, v in found.items() if k not in ("phase", "episode", *BEST_KEYS)}
        return int(found["episode"]), values

    def scalars(self, prefix: str, values: Mapping[str, float], step: int) -> None:
        if self.writer is None:
            return
        for k, v in values.items():
            if v is not None and math.isfinite(float(v)):
                self.writer.add_scalar(f"{prefix}/{k}", float(v), step)

    def record(self, phase: str, episode: int, values: Mapping[str, Any]) -> None:
        record = {
            "phase": phase,
            "episode": int(episode),
            **{k: _jsonable(v) for k, v in values.items()},
        }
        self._jsonl.write(json.dumps(record) + "\n")

    def train_episode(
        self, episode: int, metrics: Mapping[str, float], extra: Mapping[str, float]
    ) -> None:
        self.scalars("train", {"episodic_return": metrics["return"], **extra}, episode)
        self.scalars("mec", {k: metrics[k] for k in MEC_KEYS}, episode)
        self.record("train", episode, {**metrics, **extra})

    def eval(
        self, episode: int, metrics: Mapping[str, float], best: Mapping[str, float] | None = None
    ) -> None:
        """An evaluation's metrics, and ``best`` (:data:`BEST_KEYS`: the best cost so far and
        its episode) beside them."""
        self.scalars("eval", {**metrics, **(best or {})}, episode)
        self.record("eval", episode, {**metrics, **(best or {})})

    def progress(self, episodes: int, postfix: Mapping[str, float]) -> None:
        if self.bar is not None:
            self.bar.update(episodes)
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()}, refresh=False)

    def flush(self) -> None:
        self._jsonl.flush()
        if self.writer is not None:
            self.writer.flush()

    def close(self, final_metrics: Mapping[str, float] | None = None) -> None:
        if self.writer is not None and final_metrics:
            hp = {
                k: (v if isinstance(v, int | float | str | bool) else str(v))
                for k, v in self.hparams.items()
            }
            hp = {k: ("null" if v is None else v) for k, v in hp.items()}
            self.writer.add_hparams(
                hp, {f"hparam/eval_{k}": float(v) for k, v in final_metrics.items()}, run_name="."
            )
        if self.bar is not None:
            self.bar.close()
        self._jsonl.close()
        if self.writer is not None:
            self.writer.close()


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v

"""The files ``ucms_marl.train`` writes into a run directory (docs/training.md, "What one run
does"), named once, and the settings part of a run folder's name (:func:`settings_suffix`).
Torch-free, so that ``experiments/`` plans, prunes and aggregates runs without importing
torch."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

METRICS_FILE = "metrics.jsonl"  # one JSON object per training episode and per evaluation
CHECKPOINT_NAME = "checkpoint.pt"  # everything to resume exactly
POLICY_NAME = "policy.pt"  # the actors only: to share, deploy or evaluate
BEST_POLICY_NAME = "policy_best.pt"  # policy.pt's format: the policy of the best evaluation
CONFIG_FILE = "config.json"  # the resolved config, the env kwargs used, parameter counts
SUMMARY_FILE = "summary.json"  # final evaluation, episodes, updates, wall time, references
TENSORBOARD_DIR = "tb"  # TensorBoard events

# top-level keys that change what a run computes without being a config group: with the
# env.* keys, their overrides name the run's folder (settings_suffix)
SETTING_KEYS = ("matcher", "admission", "es_agents")
MAX_SUFFIX = 48  # a longer settings suffix is replaced by a hash of it


def settings_suffix(overrides: Iterable[str]) -> str:
    """The part of a run folder's env name that names the overrides changing the environment
    (``env.<key>=``) or the algorithm's matcher, admission or ES agents: ``""``, or e.g.
    ``",admission=saving_first,n_uds=24"`` (sorted by key), or ``",settings-<8 hex>"`` when
    that is longer than ``MAX_SUFFIX`` characters. Runs with other settings then do not
    collide: ``runs/maddpg/paper_kb,n_uds=24/quick/seed_0``."""
    named = {}
    for item in overrides:
        key, sep, value = str(item).lstrip("+").partition("=")
        name = key.removeprefix("env.")
        if sep and (key.startswith("env.") or key in SETTING_KEYS):
            named[name] = value.replace("/", "_").replace(" ", "")
    text = "".join(f",{k}={v}" for k, v in sorted(named.items()))
    if len(text) > MAX_SUFFIX:
        return ",settings-" + hashlib.sha1(text.encode()).hexdigest()[:8]
    return text

"""The files ``ucms_marl.train`` writes into a run directory (docs/training.md, "What one run
does"), named once. Torch-free, so that ``experiments/`` plans, prunes and aggregates runs
without importing torch."""

from __future__ import annotations

METRICS_FILE = "metrics.jsonl"  # one JSON object per training episode and per evaluation
CHECKPOINT_NAME = "checkpoint.pt"  # everything to resume exactly
POLICY_NAME = "policy.pt"  # the actors only: to share, deploy or evaluate
CONFIG_FILE = "config.json"  # the resolved config, the env kwargs used, parameter counts
SUMMARY_FILE = "summary.json"  # final evaluation, episodes, updates, wall time, references
TENSORBOARD_DIR = "tb"  # TensorBoard events

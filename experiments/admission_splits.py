"""Does admission matter more when requests store activations instead of whole tasks?

Issue 22 asks what changes for UCMS (whose ES agents learn admission) when the ES stores a DNN
activation β(s) rather than the task's input. This measures the question with fixed rules, on
the trainer's 10 evaluation episodes (seeds 1,000,000 + j), ES agents off: the same UD policy
under each ES admission rule (``accept_all``: in order of arrival; ``saving_first``: in
descending saving against running locally; ``deadline_first``), on ``paper_kb`` (whole tasks of
1-50 KB) and ``dnn_split`` (the same devices and ESs, DNN tasks whose 150 KB input or smaller
activation is stored). Per row: cost per UD-slot, and the requests cut by K and D_m (of those
made). The learned side (UCMS_MADDPG with and without its ES agents) is in
``python -m experiments.scenarios`` (``dnn_split-ucms_maddpg``,
``dnn_split-ucms_maddpg-accept_all``).

    python -m experiments.admission_splits           # ~2 minutes; prints a markdown table
"""

from __future__ import annotations

import sys

import numpy as np

import mec_env
from mec_env.policies import make_policy

EVAL_SEED = 1_000_000
EPISODES = 10
RULES = ("accept_all", "saving_first", "deadline_first")
ROWS = (("paper_kb", "all_offload"), ("dnn_split", "all_offload"), ("dnn_split", "best_split"))


def measure(preset: str, policy: str, admission: str) -> tuple[float, int, int]:
    """(mean cost per UD-slot, requests cut, requests made) over the evaluation episodes."""
    costs, cut, made = [], 0, 0
    for j in range(EPISODES):
        env = mec_env.parallel_env(preset, es_agents=False, admission=admission)
        act = make_policy(policy, env, seed=j)
        env.reset(seed=EVAL_SEED + j)
        total, slots = 0.0, 0
        while env.agents:
            env.step(act())
            s = env.unwrapped.last_step
            total += float(s["cost"].mean())
            slots += 1
            made += int(s["requested"].sum())
            cut += int((s["requested"] & ~s["offloaded"]).sum())
        costs.append(total / slots)
    return float(np.mean(costs)), cut, made


def main() -> int:
    print("| preset | UD policy | admission | cost per UD-slot | vs accept_all | requests cut |")
    print("|---|---|---|---|---|---|")
    for preset, policy in ROWS:
        base = None
        for rule in RULES:
            cost, cut, made = measure(preset, policy, rule)
            base = cost if base is None else base
            print(f"| `{preset}` | `{policy}` | `{rule}` | {cost:.4f} | {cost / base - 1:+.0%} "
                  f"| {cut} of {made} |", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Three components defined outside mec_env and ucms_marl, used by import path:

    mec_env.parallel_env(matcher="tests.plugin_example.components:fastest_server",
                         admission="tests.plugin_example.components:shortest_job_first")
    ucms-train learner=heuristic learner.name=tests.plugin_example.components:ConstantLearner \\
        matcher=tests.plugin_example.components:fastest_server \\
        admission=tests.plugin_example.components:shortest_job_first

With keys of its own, the learner needs one more file outside the repository, its config
group option (``conf/learner/constant.yaml``):

    ucms-train --config-dir tests/plugin_example/conf learner=constant

docs/extending.md explains each; tests/test_plugins.py and tests/test_entry_points.py run them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mec_env.admission import AdmissionContext
from mec_env.matching import SlotState, propose_and_accept
from ucms_marl.learners.base import Learner
from ucms_marl.rollout_types import Actions, Observation


def fastest_server(slot: SlotState, rng: np.random.Generator) -> np.ndarray:
    """Each UD proposes to the open server where its task would be done soonest (upload at
    full power plus processing, τ^o + τ^p, with an empty queue); an oversubscribed server keeps
    the proposers it would finish soonest. Returns the server of each UD (N,), −1 unmatched."""
    tau_o, tau_p, _ = slot.offload_estimates(slot.config.p_max_w)
    done = tau_o + tau_p  # (N, M) s
    round_open: list[np.ndarray] = []  # the open servers of the current round

    def scores(cand: np.ndarray, open_servers: np.ndarray, server: np.ndarray) -> np.ndarray:
        round_open[:] = [open_servers]
        return done[cand][:, open_servers]

    def priority(cand: np.ndarray, col: np.ndarray) -> np.ndarray:
        return done[cand, round_open[0][col]]  # col indexes this round's open servers

    return propose_and_accept(slot.config.z_max, slot.n_uds, scores, priority)


def shortest_job_first(ctx: AdmissionContext) -> np.ndarray:
    """Admit requests in ascending processing time τ^p at the server (s): short jobs first."""
    return ctx.processing_s


class ConstantLearner(Learner):
    """Every UD requests, at mid local frequency and full power: the action (1, 0.5, 1), or
    the learner config's ``action`` key when it has one (conf/learner/constant.yaml). With
    ES agents, every request is approved. Does not learn."""

    is_learning = False

    @property
    def action(self) -> list[float]:
        return [float(x) for x in getattr(self.cfg, "action", None) or (1.0, 0.5, 1.0)]

    def act(self, obs: Observation, *, explore: bool) -> Actions:
        envs, n = obs.ud_obs.shape[0], self.spec.n_uds
        ud = np.tile(np.array(self.action, dtype=np.float32), (envs, n, 1))
        es = None if obs.members is None else (obs.members >= 0).astype(np.int8)
        return Actions(ud, es)

    def hparams(self) -> dict[str, Any]:
        return {"action": self.action}

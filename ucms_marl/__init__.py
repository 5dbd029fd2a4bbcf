"""ucms_marl: the Hydra trainer for the MEC offloading environment (`mec_env`).

Entry points: ``python -m ucms_marl.train`` (console script ``ucms-train``) and
``python -m ucms_marl.evaluate`` (``ucms-eval``). See ``docs/training.md``.

The pluggable parts live in registries so a user can add one without editing the library:
:data:`ucms_marl.learners.LEARNERS` and :data:`ucms_marl.replay.REPLAYS`.
"""

__version__ = "0.1.0"

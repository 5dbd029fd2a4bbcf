"""An out-of-tree package of MEC components: a matcher, an admission rule and a learner that
``ucms-train`` and ``mec_env.parallel_env`` use by import path (docs/extending.md)."""

"""The environment's adapters: thin layers that present the simulator
(:class:`mec_env.sim.core.BatchCore`) through an RL API, each built from one config, one core and
the shared :mod:`mec_env.spec`.

* :mod:`mec_env.adapters.parallel`: PettingZoo ``ParallelEnv`` (``mec_env.parallel_env``), the
  environment's reference page;
* :mod:`mec_env.adapters.aec`: PettingZoo AEC (``mec_env.env``, ``mec_env.raw_env``);
* :mod:`mec_env.adapters.vector`: B copies as arrays, a gymnasium ``VectorEnv``
  (``mec_env.vector_env``);
* :mod:`mec_env.adapters.torchrl`: a native TorchRL ``EnvBase`` (the ``torchrl`` extra;
  imported as ``mec_env.torchrl_env``).

This package imports none of them, so importing one never imports another's dependencies.
"""

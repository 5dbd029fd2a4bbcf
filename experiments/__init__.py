"""The paper's Figures 4-11 as Hydra multiruns of ``ucms_marl.train``, plus their plots.

Modules, in the order a figure passes through them:

* :mod:`experiments.catalog`  - the algorithms (one list), sweeps and figures;
* :mod:`experiments.profiles` - named budgets: smoke, short, medium, paper;
* :mod:`experiments.launch`   - job lists, Hydra command lines, launching, resuming;
* :mod:`experiments.timing`   - measured per-episode costs and time estimates;
* :mod:`experiments.aggregate` - metrics.jsonl -> means, 95% t-intervals, smoothing, verdicts;
* :mod:`experiments.records`  - the typed records of an aggregated figure and their JSON;
* :mod:`experiments.plotting` - PNG figures;
* :mod:`experiments.report`   - docs/results.md, from ``templates/results.md.tmpl``;
* :mod:`experiments.cli`      - ``python -m experiments``.
"""

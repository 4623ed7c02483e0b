"""Experiments: compare policy mixes, run batch parameter sweeps, sensitivity analysis.

``compare([base, other, ...])`` runs scenarios on common random numbers and returns effects
against the first with 95% intervals; ``run_sweep(SWEEP.toml)`` runs a design of parameter
points into a resumable sweep directory on a local process pool or a Dask cluster;
``load_sweep(DIR)`` and ``query(DIR, sql)`` read it back; ``sensitivity(DIR, outputs)``
computes Sobol or Morris indices; ``discover(DIR, output, threshold)`` finds the parameter
ranges where an output crosses a threshold (PRIM, CART, EMA Workbench) and ``to_ema(scenario,
...)`` exposes the model as an EMA Workbench model; ``run_optimisation(FILE)`` searches policy
levers for a Pareto front over several objectives across uncertain worlds (Optuna NSGA-II).
See docs/experiments.md.

Run summaries (``<outcome>_<scope>`` columns) come from the outcome registry,
:mod:`sn_sim.observe.outcomes`. The heavy optional libraries (SALib, dask, duckdb, matplotlib)
are imported only when used.
"""

from __future__ import annotations

from sn_sim.lazy import lazy_package

# name -> the module that defines it, loaded on first use (sn_sim/lazy.py): the CLI imports this
# package for its commands' parsers and must not pay for pandas, SALib or Optuna to do so.
_EXPORTS = {
    "compare": "sn_sim.experiment.compare", "ComparisonResult": "sn_sim.experiment.compare",
    "sensitivity": "sn_sim.experiment.sensitivity", "SensitivityResult": "sn_sim.experiment.sensitivity",
    "discover": "sn_sim.experiment.discovery", "DiscoveryResult": "sn_sim.experiment.discovery",
    "to_ema": "sn_sim.experiment.ema",
    "run_optimisation": "sn_sim.experiment.optimise", "plan_optimisation": "sn_sim.experiment.optimise",
    "OptimiseResult": "sn_sim.experiment.optimise",
    **{name: "sn_sim.experiment.executors"
       for name in ("DaskExecutor", "Executor", "LocalPoolExecutor", "RunTask", "run_task")},
    **{name: "sn_sim.experiment.sweep"
       for name in ("SweepPlan", "SweepResult", "load_failures", "load_sweep", "plan_sweep", "query", "run_sweep")},
}
__getattr__, __dir__ = lazy_package(__name__, _EXPORTS)

__all__ = [
    "compare", "ComparisonResult", "run_sweep", "plan_sweep", "load_sweep", "load_failures", "query",
    "SweepPlan", "SweepResult", "sensitivity", "SensitivityResult", "Executor", "LocalPoolExecutor",
    "DaskExecutor", "RunTask", "run_task", "discover", "DiscoveryResult", "to_ema",
    "run_optimisation", "plan_optimisation", "OptimiseResult",
]

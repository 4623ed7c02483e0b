"""Batch parameter sweeps: a sweep file, a design, a resumable sweep directory.

A sweep file (TOML) names a base scenario, the parameters to vary, a design and the outputs
to keep; see ``docs/experiments.md`` for the format. :func:`plan_sweep` reads and validates
it completely -- every sample point is turned into a scenario and validated -- before
anything is written. :func:`run_sweep` then hands one :class:`~sn_sim.experiment.executors.RunTask`
per (point, replicate) to an executor and a single collector writes each result as it
arrives into the sweep directory; :func:`load_sweep`, :func:`load_failures` and :func:`query`
read it back.

Modules, by concern:

``spec``
    the sweep file schema, swept parameters and derived-parameter expressions;
``design``
    grid / LHS / Sobol / Morris designs, points, seeds and the :class:`SweepPlan`;
``directory``
    the sweep directory: layout, manifest, finished and failed runs, resume checks, run files;
``run``
    :func:`run_sweep` and :class:`SweepResult`;
``read``
    :func:`load_sweep`, :func:`load_failures`, :func:`query`.
"""

from .design import SweepPlan, plan_from_manifest, plan_sweep, point_seed
from .directory import MANIFEST, failed_runs, finished_runs, read_manifest
from .read import load_failures, load_sweep, query
from .run import SweepResult, run_sweep
from .spec import DESIGNS, Expression, Parameter, SweepFile, read_sweep_file

__all__ = [
    "plan_sweep", "plan_from_manifest", "run_sweep", "load_sweep", "load_failures", "query", "read_manifest",
    "finished_runs", "failed_runs", "point_seed", "SweepPlan", "SweepResult", "SweepFile", "Parameter",
    "Expression", "read_sweep_file", "DESIGNS", "MANIFEST",
]

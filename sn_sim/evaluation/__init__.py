"""Evaluation and monitoring: the strategy's fourth stage as a laboratory.

For any run, a counterfactual *twin* (the same scenario and seed with no neighbourhood ever
selected, on common random numbers) gives the true effect of the strategy on every
neighbourhood and week. An INEI-style yearly survey and the police's recorded crime give what
an evaluator would see; difference-in-differences estimators run on those data exactly as on
real data, and ``evaluate`` writes their estimates next to the truth, with each estimator's
bias, the spillovers, effects by stage and pillar, and cost-effectiveness.

Submodules: ``measures`` (the outcomes evaluated, defined through the outcome registry
``sn_sim.observe.outcomes``), ``twins`` (counterfactual runs, true effects), ``survey``
(sampled survey), ``data`` (the run, the administrative and survey data sets),
``estimators`` (TWFE, event studies, Gardner's two-stage DiD, Callaway & Sant'Anna, matched
controls), ``spillovers`` (displacement or diffusion next door), ``effects`` (estimated
against true effects, stage/pillar and cost tables), ``figures`` (plots), ``report``
(``evaluate``, ``evaluate_many``: orchestration, Markdown, the output directory), ``diagnosis``
(``run_diagnosis``: bias, coverage, power and MDE across replicate worlds, survey sizes and
rollout designs; ``sn-sim diagnose``), ``cli`` (``sn-sim evaluate``). Heavy dependencies (pyfixest, matplotlib) load only when an
estimator or report is used, so importing this package (the CLI does) stays cheap.
"""

from __future__ import annotations

from sn_sim.errors import SnSimError
from sn_sim.lazy import lazy_package


# Fewer replicates than this and coverage and RMSE say little (a rule of thumb: with 20, one
# interval more or less that covers the truth moves coverage by 5 points): ``evaluate`` says so,
# and ``diagnose`` runs this many by default.
FEW_REPLICATES = 20


class EvaluationError(SnSimError):
    """A run directory cannot be evaluated (missing, incomplete, or its twin does not match)."""


_EXPORTS = {
    "evaluate": "sn_sim.evaluation.report",
    "evaluate_many": "sn_sim.evaluation.report",
    "run_diagnosis": "sn_sim.evaluation.diagnosis",
    "Evaluation": "sn_sim.evaluation.report",
    "OUTCOMES": "sn_sim.evaluation.measures",
    "load_evaluation_inputs": "sn_sim.evaluation.data",
    "twin_scenario": "sn_sim.evaluation.twins",
    "run_twin": "sn_sim.evaluation.twins",
    "true_effects": "sn_sim.evaluation.twins",
    "draw_survey": "sn_sim.evaluation.survey",
    "twfe_did": "sn_sim.evaluation.estimators",
    "event_study": "sn_sim.evaluation.estimators",
    "did2s": "sn_sim.evaluation.estimators",
    "callaway_santanna": "sn_sim.evaluation.estimators",
    "group_time_att": "sn_sim.evaluation.estimators",
    "sun_abraham": "sn_sim.evaluation.estimators",
    "imputation": "sn_sim.evaluation.estimators",
    "bacon_decomposition": "sn_sim.evaluation.estimators",
    "honest_did": "sn_sim.evaluation.estimators",
    "matched_did": "sn_sim.evaluation.estimators",
    "match_controls": "sn_sim.evaluation.estimators",
    "dose_response": "sn_sim.evaluation.estimators",
    "stage_effects": "sn_sim.evaluation.estimators",
    "estimate_all": "sn_sim.evaluation.estimators",
    "neighbourhood_spillovers": "sn_sim.evaluation.spillovers",
    "block_spillovers": "sn_sim.evaluation.spillovers",
}

__all__ = ["EvaluationError", *_EXPORTS]


__getattr__, __dir__ = lazy_package(__name__, _EXPORTS)  # sn_sim/lazy.py

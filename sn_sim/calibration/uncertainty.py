"""How uncertain the calibrated parameters are: an approximate posterior around the fit.

The fit (``calibrate.py``) gives one point. Comparisons and optimisations that should carry the
calibration's uncertainty need a distribution to draw from. This module gives the
linearised (Laplace) approximation used for simulated-method-of-moments estimators, on the
parameters rescaled to [0, 1] within their bounds (``z``):

    moments      m(z): replicate means of the fitted targets' simulated moments
    J            dm/dz by central differences around the fit (common random numbers, so the
                 difference is the parameter's effect, not noise)
    Sigma        diag(s_target^2 + s_sim^2): the target figure's own uncertainty plus the
                 simulation noise of the fit's moments (the variance of one run across
                 replicates, divided by the replicates the fit averaged: the (1 + 1/S)
                 factor of simulated-moment estimators)
    precision    J' Sigma^-1 J + 12 I
    covariance   precision^-1   (then mapped back to parameter units)

``12 I`` is the precision of the flat prior over the bounds (a uniform on [0, 1] has variance
1/12): a parameter no target moves keeps its prior spread instead of an infinite variance, and
``1 - posterior variance / prior variance`` says how much the targets taught about it.

The result is a :class:`sn_sim.scenario.posterior.ParameterPosterior`: written beside the fit
(``calibrated_uncertainty.toml``), read and drawn from by any layer.

The target's own uncertainty is read from its acceptance band (``targets.toml``): a point
target's band is taken as a 95% interval (s = half band / 1.96), a range target as uniform over
the range (s = width / sqrt 12). This is an assumption (the bands mix survey sampling error and
the distance between the survey's definitions and the model's), stated in docs/calibration.md.

It is an approximation: it holds where the moments are close to linear in the parameters over
the posterior's width, and it is Gaussian (truncated to the bounds when drawn). A full ABC or
MCMC posterior would need thousands of evaluations of a model that takes seconds per run;
this needs 2k + 1 (k free parameters). The identification profiles of the fit report show where
the linear picture fails (a flat or kinked profile).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from sn_sim.calibration.calibrate import (JACOBIAN_STEP, FreeParameter, fitted_targets, load_free_parameters,
                                          parameter_overrides, prior_scenario, simulate_many)
from sn_sim.calibration.targets import Target, load_targets
from sn_sim.scenario import Scenario
from sn_sim.scenario.keys import get_key
from sn_sim.scenario.posterior import ParameterPosterior, PosteriorParameter
STEP = JACOBIAN_STEP  # central-difference half step, as a share of each parameter's bound range
Z95 = 1.959963984540054
PRIOR_PRECISION = 12.0  # 1 / variance of a uniform on [0, 1]


def target_sd(target: Target) -> float:
    """The target figure's own uncertainty (standard deviation), read from its band."""
    lo, hi = target.band()
    if target.range is not None:
        return (hi - lo) / np.sqrt(12.0)
    return max((hi - lo) / 2 / Z95, 1e-12)


def current_values(scenario: Scenario, free: list[FreeParameter]) -> np.ndarray:
    """The free parameters' values in ``scenario`` (a multiplier relative to the schema default)."""
    prior = prior_scenario(scenario, free)
    d, p = scenario.to_dict(), prior.to_dict()
    return np.array([get_key(d, f.keys[0]) / get_key(p, f.keys[0]) if f.kind == "multiplier"
                     else get_key(d, f.keys[0]) for f in free], dtype=float)


def estimate_uncertainty(scenario: Scenario, seed: int, replicates: int, executor=None,
                         fit_replicates: int = 1) -> ParameterPosterior:
    """The approximate posterior around the free parameters' values in ``scenario`` (the fit,
    when the scenario extends it), at the scenario's population scale. 2k + 1 points, each run
    ``replicates`` times on ``executor`` (at least 2: their spread is the simulation noise);
    ``fit_replicates``: the replicates each evaluation of the fit averaged."""
    if replicates < 2:
        raise ValueError("estimate_uncertainty: needs at least 2 replicates (their spread is the simulation noise)")
    free = load_free_parameters()
    targets = fitted_targets(load_targets(), include_out_of_sample=True)
    prior = prior_scenario(scenario, free)
    lo = np.array([p.bounds[0] for p in free])
    hi = np.array([p.bounds[1] for p in free])
    x0 = np.clip(current_values(scenario, free), lo, hi)
    z0 = (x0 - lo) / (hi - lo)
    k = len(free)
    # Central differences, shifted inwards at a bound so every point stays inside.
    centres = np.clip(z0, STEP, 1 - STEP)
    points = [z0]
    for i in range(k):
        for sign in (+1, -1):
            z = z0.copy()  # the other parameters stay at the fit
            z[i] = centres[i] + sign * STEP
            points.append(z)
    scenarios = [prior.with_overrides(parameter_overrides(prior, free, lo + z * (hi - lo))) for z in points]
    moments = simulate_many(scenarios, seed, replicates, executor)
    ids = [t.id for t in targets]
    means = np.array([[m.groupby("id")["simulated"].mean().get(i, np.nan) for i in ids] for m in moments])
    base = moments[0]
    # Simulation noise of the fit's moments: one run's variance across replicates (0 where a moment
    # has fewer than two finite replicates) over the replicates the fit averaged.
    spread = base.groupby("id")["simulated"].agg(
        lambda v: np.var(v[np.isfinite(v)], ddof=1) if np.isfinite(v).sum() > 1 else 0.0)
    sim_var = np.array([float(spread.get(i, 0.0)) / fit_replicates for i in ids])
    jac = np.column_stack([(means[1 + 2 * i] - means[2 + 2 * i]) / (2 * STEP) for i in range(k)])
    usable = np.isfinite(means[0]) & np.all(np.isfinite(jac), axis=1)
    sigma2 = np.array([target_sd(t) ** 2 for t in targets]) + np.nan_to_num(sim_var)
    J = jac[usable]
    precision = J.T @ (J / sigma2[usable][:, None]) + PRIOR_PRECISION * np.eye(k)
    cov_z = np.linalg.inv(precision)
    cov_z = (cov_z + cov_z.T) / 2
    span = hi - lo
    defaults = prior.to_dict()
    parameters = [PosteriorParameter(name=p.name, keys=p.keys, kind=p.kind, bounds=p.bounds,
                                     defaults=tuple(float(get_key(defaults, k)) for k in p.keys)
                                     if p.kind == "multiplier" else ()) for p in free]
    return ParameterPosterior(
        parameters=parameters, estimate=x0, covariance=cov_z * np.outer(span, span),
        identified=1 - np.diag(cov_z) * PRIOR_PRECISION, targets=[i for i, u in zip(ids, usable) if u],
        seed=seed, replicates=replicates, scale=float(scenario.population.scale),
        written=dt.date.today().isoformat(), fit_replicates=fit_replicates)


def markdown(u: ParameterPosterior) -> list[str]:
    """The uncertainty table for the fit report."""
    t = u.table()
    lines = ["## Uncertainty of the fitted parameters", "",
             f"Linearised approximation of the posterior around the fit ({len(u.targets)} fitted targets, "
             f"Jacobian from {u.replicates} replicates at scale {u.scale:g}; `sn_sim/calibration/uncertainty.py`): "
             "each target's band read as a 95% interval of the figure (a range as uniform), plus the simulation "
             f"noise of the fit's moments ({u.fit_replicates} replicate(s) per evaluation); a flat prior over the "
             "bounds. *Variance removed* is 1 − posterior / prior "
             "variance: near 0, the targets say little and the bounds carry the uncertainty.", "",
             "| parameter | estimate | sd | 95% interval | bounds | variance removed |", "|---|---|---|---|---|---|"]
    for r in t.itertuples():
        lines.append(f"| {r.parameter} | {r.estimate:.4g} | {r.sd:.3g} | {r.ci95_low:.4g} – {r.ci95_high:.4g} | "
                     f"{r.bound_low:g} – {r.bound_high:g} | {r.prior_variance_removed:.0%} |")
    corr = u.correlation()
    names = u.names
    strong = [(names[i], names[j], corr[i, j]) for i in range(len(names))
              for j in range(i + 1, len(names)) if abs(corr[i, j]) >= 0.5]
    if strong:
        lines += ["", "Strong posterior correlations (|r| ≥ 0.5): "
                  + "; ".join(f"{a} and {b} {r:+.2f}" for a, b, r in strong) + "."]
    return lines


__all__ = ["estimate_uncertainty", "target_sd", "current_values", "markdown"]

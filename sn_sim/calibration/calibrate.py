"""Simulated method of moments on common random numbers.

The free parameters (``free_parameters.toml``) start from their literature priors (the schema
defaults) and are fitted by ``scipy.optimize.differential_evolution`` so that the simulated
moments match the fitted targets. Every evaluation runs the same seed and replicates (common
random numbers), so the objective is a deterministic function of the parameters and the fit is
reproducible from the seed. Evaluations are spread over worker processes with the optimiser's
``workers`` map.

Objective: sum over fitted, in-sample targets of ((simulated mean - target) / half band)^2,
where a range target costs nothing inside its range. A value of 1 puts one target at the edge
of its acceptance band.
"""

from __future__ import annotations

import functools
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import differential_evolution

from sn_sim.api import run
from sn_sim.calibration.targets import Target, load_targets, simulated_moments
from sn_sim.scenario import Scenario


@dataclass(frozen=True)
class FreeParameter:
    name: str
    keys: tuple[str, ...]
    kind: str  # "value" or "multiplier"
    bounds: tuple[float, float]
    informs: str


def load_free_parameters() -> list[FreeParameter]:
    data = tomllib.loads(files("sn_sim.calibration").joinpath("free_parameters.toml").read_text())
    return [FreeParameter(p["name"], tuple(p["keys"]), p["kind"], tuple(p["bounds"]), p["informs"])
            for p in data["parameter"]]


def _get(d: dict, key: str):
    for part in key.split("."):
        d = d[part]
    return d


def prior_scenario(scenario: Scenario, free: list[FreeParameter]) -> Scenario:
    """The scenario with every free parameter back at its schema default (the prior)."""
    defaults = Scenario.model_validate({"districts": scenario.to_dict()["districts"]}).to_dict()
    return scenario.with_overrides({k: _get(defaults, k) for p in free for k in p.keys})


def parameter_overrides(prior: Scenario, free: list[FreeParameter], x) -> dict[str, float]:
    """Scenario keys and values for the parameter vector ``x`` (multipliers act on the prior)."""
    base = prior.to_dict()
    out = {}
    for p, v in zip(free, x):
        for k in p.keys:
            out[k] = float(v) * _get(base, k) if p.kind == "multiplier" else float(v)
    return out


def fitted_targets(targets: list[Target], include_out_of_sample: bool = False) -> list[Target]:
    return [t for t in targets if t.role == "fitted"
            and (include_out_of_sample or t.fit_period != "out-of-sample")]


def loss(target: Target, simulated: float) -> float:
    if not np.isfinite(simulated):
        return 1e6
    if target.range is not None:
        lo, hi = target.range
        gap = max(lo - simulated, 0.0, simulated - hi)
    else:
        gap = simulated - target.value
    return (gap / target.scale()) ** 2


def simulate(scenario: Scenario, seed: int, replicates: int) -> pd.DataFrame:
    """Moments (id x replicate) of one parameter set."""
    results = run(scenario, seed=seed, replicates=replicates)
    return simulated_moments(results.panel, scenario)


def objective(x, prior: Scenario, free: list[FreeParameter], targets: list[Target], seed: int,
              replicates: int) -> float:
    try:
        scenario = prior.with_overrides(parameter_overrides(prior, free, x))
    except Exception:  # a point the schema rejects (cannot happen inside the bounds)
        return 1e9
    m = simulate(scenario, seed, replicates).groupby("id")["simulated"].mean()
    return float(sum(loss(t, m.get(t.id, np.nan)) for t in targets))


@dataclass
class CalibrationResult:
    free: list[FreeParameter]
    x: np.ndarray
    fun: float
    evaluations: int
    wall_s: float
    seed: int
    replicates: int
    scale: float
    prior: Scenario = field(repr=False)

    def overrides(self) -> dict[str, float]:
        return parameter_overrides(self.prior, self.free, self.x)

    def values(self) -> dict[str, float]:
        return {p.name: float(v) for p, v in zip(self.free, self.x)}


def calibrate(scenario: Scenario, seed: int = 2024, replicates: int = 2, scale: float = 0.05,
              workers: int = 1, maxiter: int = 12, popsize: int = 5, tol: float = 0.01,
              progress=None, include_out_of_sample: bool = True, only: list[str] | None = None,
              fixed: dict[str, float] | None = None) -> CalibrationResult:
    """Fit the free parameters of ``scenario`` to the fitted targets.

    include_out_of_sample: also fit the 2018-2019 survey rates (the main fit); False fits on
        2015-2017 figures only (the out-of-sample check).
    only, fixed: fit only the named free parameters, holding the others at ``fixed`` values.
    """
    free_all = load_free_parameters()
    prior = prior_scenario(scenario, free_all).with_overrides({"population.scale": scale})
    if fixed:
        held = [p for p in free_all if p.name in fixed and (only is None or p.name not in only)]
        prior = prior.with_overrides(parameter_overrides(prior, held, [fixed[p.name] for p in held]))
    free = [p for p in free_all if only is None or p.name in only]
    targets = fitted_targets(load_targets(), include_out_of_sample)
    f = functools.partial(objective, prior=prior, free=free, targets=targets, seed=seed, replicates=replicates)
    bounds = [p.bounds for p in free]
    # Seed the population with the prior so the search starts from the literature values.
    x0 = np.clip([_prior_value(prior, p) for p in free], [b[0] for b in bounds], [b[1] for b in bounds])
    t0 = time.perf_counter()
    def callback(*_args, **_kwargs):  # must return None: a true value stops the optimiser
        if progress:
            progress()
    options = dict(x0=x0, seed=seed, maxiter=maxiter, popsize=popsize, tol=tol, polish=False,
                   updating="deferred", callback=callback)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            res = differential_evolution(f, bounds, workers=pool.map, **options)
    else:
        res = differential_evolution(f, bounds, **options)
    return CalibrationResult(free=free, x=np.asarray(res.x), fun=float(res.fun), evaluations=int(res.nfev),
                             wall_s=time.perf_counter() - t0, seed=seed, replicates=replicates, scale=scale,
                             prior=prior)


def _prior_value(prior: Scenario, p: FreeParameter) -> float:
    return 1.0 if p.kind == "multiplier" else float(_get(prior.to_dict(), p.keys[0]))


def write_parameter_file(result: CalibrationResult, path: Path, note: str = "") -> None:
    """Write the calibrated values as a scenario fragment that the default scenarios extend."""
    sections: dict[str, list[tuple[str, float]]] = {}
    for key, value in result.overrides().items():
        section, _, leaf = key.rpartition(".")
        sections.setdefault(section, []).append((leaf, value))
    lines = [
        "# Calibrated parameters, written by `sn-sim calibrate` (do not edit by hand; re-run it).",
        "# Simulated method of moments against sn_sim/calibration/targets.toml; see docs/calibration.md.",
        f"# seed {result.seed}, {result.replicates} replicates at scale {result.scale}, "
        f"{result.evaluations} evaluations, objective {result.fun:.4f}.",
    ]
    if note:
        lines.append(f"# {note}")
    lines.append("# Free parameters: " + ", ".join(f"{k} = {v:.6g}" for k, v in result.values().items()))
    for section, items in sections.items():
        lines += ["", f"[{section}]"] + [f"{leaf} = {value:.6g}" for leaf, value in items]
    path.write_text("\n".join(lines) + "\n")

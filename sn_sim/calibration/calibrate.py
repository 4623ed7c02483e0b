"""Simulated method of moments on common random numbers.

The free parameters (``free_parameters.toml``) start from their literature priors (the schema
defaults) and are fitted so that the simulated moments match the fitted targets, with
``scipy.optimize.least_squares`` (trust-region reflective within the bounds; the default: each
moment is close to monotone in one or two parameters, so a gradient method converges in a few
iterations) or ``scipy.optimize.differential_evolution`` (global, many more evaluations).
Every evaluation runs the same seed and replicates (common random numbers), so the objective is
a deterministic function of the parameters and the fit is reproducible from the seed.
Evaluations run on the experiment layer's executors (``sn_sim.experiment.executors``: in
process, a local process pool, or a Dask cluster), one task per candidate point and replicate:
the finite-difference Jacobian's columns, the polish's candidates, or the evolution's population
are evaluated together. A task's result depends only on its scenario, seed and replicate, and
results are gathered in task order, so the fit is identical for any number of workers.

Objective: sum over fitted, in-sample targets of ((simulated mean - target) / half band)^2,
where a range target costs nothing inside its range. A value of 1 puts one target at the edge
of its acceptance band.
"""

from __future__ import annotations

import time
import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import differential_evolution, least_squares

from sn_sim.calibration.targets import Target, load_targets, simulated_moments
from sn_sim.scenario import Scenario, validate
from sn_sim.scenario.keys import get_key


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


def prior_scenario(scenario: Scenario, free: list[FreeParameter]) -> Scenario:
    """The scenario with every free parameter back at its schema default (the prior)."""
    defaults = Scenario.model_validate({"districts": scenario.to_dict()["districts"]}).to_dict()
    return scenario.with_overrides({k: get_key(defaults, k) for p in free for k in p.keys})


def parameter_overrides(prior: Scenario, free: list[FreeParameter], x) -> dict[str, float]:
    """Scenario keys and values for the parameter vector ``x`` (multipliers act on the prior)."""
    base = prior.to_dict()
    out = {}
    for p, v in zip(free, x):
        for k in p.keys:
            out[k] = float(v) * get_key(base, k) if p.kind == "multiplier" else float(v)
    return out


def fitted_targets(targets: list[Target], include_out_of_sample: bool = False) -> list[Target]:
    return [t for t in targets if t.role == "fitted"
            and (include_out_of_sample or t.fit_period != "out-of-sample")]


RANGE_PULL = 0.2  # weight of the pull towards a range's centre (1 = a point target)
EDGE = 1.0        # the error steepens past the edge of the acceptance band
STEEPNESS = 5.0   # extra slope beyond EDGE: leaving the acceptance band costs far more than moving within it
# Finite-difference step of the fit's Jacobian, as a share of each parameter's bound range (wide on
# purpose: see _least_squares); the uncertainty's central differences use the same step.
JACOBIAN_STEP = 0.04


def residual(target: Target, simulated: float) -> float:
    """Signed error in half-band units, steepened near the band's edges.

    d = (simulated - centre) / half band. A point target contributes d, a range target (fitted
    to the range) only RANGE_PULL * d, so inside a range little more than a gentle pull towards
    the centre remains. Beyond the band's edge both grow by STEEPNESS more per unit: the
    fit prefers every target inside its band to a slightly smaller sum of squares with one
    outside (which matters where two figures are nearly a band apart, like the 2016 and 2017
    insecurity rounds)."""
    if not np.isfinite(simulated):
        return 1e3
    d = (simulated - target.centre) / target.scale()
    weight = RANGE_PULL if target.range is not None else 1.0
    return weight * d + np.sign(d) * STEEPNESS * max(abs(d) - EDGE, 0.0)


def loss(target: Target, simulated: float) -> float:
    return residual(target, simulated) ** 2


# --- Evaluating candidate points on an executor -------------------------------------------------


@dataclass(frozen=True)
class MomentTask:
    """One replicate of one candidate point, as plain picklable data (see ``moment_task``)."""

    scenario: dict  # resolved scenario (Scenario.to_dict()), validated again in the worker
    seed: int
    replicate: int
    key: int = 0  # the candidate point


def moment_task(task: MomentTask) -> pd.DataFrame:
    """Run one replicate (``sn_sim.api.run_replicate``) and compute its moments (id, replicate,
    simulated). Runs in whichever process receives the task."""
    from sn_sim import api

    scenario = validate(task.scenario, source=f"<calibration point {task.key}>")
    panel, _, _ = api.run_replicate(scenario, task.seed, task.replicate)
    return simulated_moments(panel, scenario)


def simulate_many(scenarios: list[Scenario], seed: int, replicates: int, executor=None) -> list[pd.DataFrame]:
    """Moments (id x replicate) of each scenario: one task per scenario and replicate on
    ``executor`` (in this process when None), gathered in task order."""
    from sn_sim.experiment.executors import LocalPoolExecutor

    tasks = [MomentTask(s.to_dict(), seed, r, key=i) for i, s in enumerate(scenarios) for r in range(replicates)]
    own = executor is None
    if own:
        executor = LocalPoolExecutor(1)
    values: list = [None] * len(tasks)
    try:
        for o in executor.run(tasks, fn=moment_task):
            if not o.ok:
                t = tasks[o.index]
                raise RuntimeError(f"calibration: point {t.key} replicate {t.replicate} failed: {o.error}\n"
                                   f"{o.traceback or ''}")
            values[o.index] = o.value
    finally:
        if own:
            executor.close()
    out = []
    for i in range(len(scenarios)):
        frames = values[i * replicates:(i + 1) * replicates]
        # Target by target, replicates in order (the layout of simulated_moments on a multi-replicate panel).
        out.append(pd.concat(frames).sort_index(kind="stable").reset_index(drop=True))
    return out


def simulate(scenario: Scenario, seed: int, replicates: int, executor=None) -> pd.DataFrame:
    """Moments (id x replicate) of one parameter set."""
    return simulate_many([scenario], seed, replicates, executor)[0]


def target_residuals(targets: list[Target], moments: pd.DataFrame) -> np.ndarray:
    """Residuals of the targets against the replicate means of ``moments``."""
    m = moments.groupby("id")["simulated"].mean()
    return np.array([residual(t, m.get(t.id, np.nan)) for t in targets])


@dataclass
class Evaluator:
    """The objective's residuals at many parameter vectors at once, on an executor."""

    prior: Scenario
    free: list[FreeParameter]
    targets: list[Target]
    seed: int
    replicates: int
    executor: object = None
    evaluations: int = 0

    def scenario(self, x) -> Scenario:
        return self.prior.with_overrides(parameter_overrides(self.prior, self.free, x))

    def residuals(self, xs) -> list[np.ndarray]:
        xs = list(xs)
        self.evaluations += len(xs)
        moments = simulate_many([self.scenario(x) for x in xs], self.seed, self.replicates, self.executor)
        return [target_residuals(self.targets, m) for m in moments]

    def objectives(self, xs) -> np.ndarray:
        return np.array([float(np.sum(r ** 2)) for r in self.residuals(xs)])


def residuals(x, prior: Scenario, free: list[FreeParameter], targets: list[Target], seed: int,
              replicates: int, executor=None) -> np.ndarray:
    return Evaluator(prior, free, targets, seed, replicates, executor).residuals([x])[0]


def objective(x, prior: Scenario, free: list[FreeParameter], targets: list[Target], seed: int,
              replicates: int, executor=None) -> float:
    return float(np.sum(residuals(x, prior, free, targets, seed, replicates, executor) ** 2))


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


def calibrate(scenario: Scenario, seed: int = 2024, replicates: int = 1, scale: float = 0.05,
              workers: int | None = 1, maxiter: int = 12, popsize: int = 5, tol: float = 0.01,
              progress=None, include_out_of_sample: bool = True, only: list[str] | None = None,
              fixed: dict[str, float] | None = None, method: str = "least-squares", *,
              scheduler: str | None = None, executor=None) -> CalibrationResult:
    """Fit the free parameters of ``scenario`` to the fitted targets.

    method: "least-squares" (maxiter = iterations) or "differential-evolution" (maxiter =
        generations, popsize = population multiplier).
    include_out_of_sample: also fit the 2018-2019 survey rates (the main fit); False fits on
        2015-2017 figures only (the out-of-sample check).
    only, fixed: fit only the named free parameters, holding the others at ``fixed`` values.
    workers, scheduler: where candidate points run (``make_executor``: local processes, 1 = in
        this process, or a Dask scheduler ``tcp://HOST:PORT``); ``executor``: an Executor to use
        instead. The result does not depend on either.
    """
    from sn_sim.experiment.executors import make_executor

    if method not in ("least-squares", "differential-evolution"):
        raise ValueError(f"unknown calibration method {method!r}")
    free_all = load_free_parameters()
    prior = prior_scenario(scenario, free_all).with_overrides({"population.scale": scale})
    if fixed:
        held = [p for p in free_all if p.name in fixed and (only is None or p.name not in only)]
        prior = prior.with_overrides(parameter_overrides(prior, held, [fixed[p.name] for p in held]))
    free = [p for p in free_all if only is None or p.name in only]
    targets = fitted_targets(load_targets(), include_out_of_sample)
    bounds = [p.bounds for p in free]
    # Start from the prior so the search starts from the literature values.
    x0 = np.clip([_prior_value(prior, p) for p in free], [b[0] for b in bounds], [b[1] for b in bounds])
    own = executor is None
    if own:
        executor = make_executor(workers, scheduler)
    try:
        ev = Evaluator(prior, free, targets, seed, replicates, executor)
        t0 = time.perf_counter()
        if method == "least-squares":
            x, fun = _least_squares(ev, x0, maxiter, progress)
        else:
            def callback(*_args, **_kwargs):  # must return None: a true value stops the optimiser
                if progress:
                    progress()

            # Vectorised: each generation's population is evaluated at once on the executor.
            res = differential_evolution(lambda X: ev.objectives(np.atleast_2d(X.T)), bounds, x0=x0, seed=seed,
                                         maxiter=maxiter, popsize=popsize, tol=tol, polish=False,
                                         updating="deferred", vectorized=True, callback=callback)
            x, fun = np.asarray(res.x), float(res.fun)
        wall = time.perf_counter() - t0
    finally:
        if own:
            executor.close()
    return CalibrationResult(free=free, x=x, fun=fun, evaluations=ev.evaluations, wall_s=wall,
                             seed=seed, replicates=replicates, scale=scale, prior=prior)


def _least_squares(ev: Evaluator, x0, maxiter, progress):
    """Trust-region least squares on parameters rescaled to [0, 1] within their bounds, with a
    forward-difference Jacobian whose columns are evaluated together. The step (4% of each
    range) is wide on purpose: with common random numbers the residuals are deterministic but
    step-like at small scales, and a wide step reads their trend rather than their jumps.
    Returns the parameters and the objective; ``ev.evaluations`` counts distinct points."""
    lo = np.array([p.bounds[0] for p in ev.free])
    hi = np.array([p.bounds[1] for p in ev.free])
    to_x = lambda z: lo + np.clip(z, 0, 1) * (hi - lo)  # noqa: E731
    cache: dict[bytes, np.ndarray] = {}
    step = JACOBIAN_STEP

    def evaluate_many(zs):
        todo = list({z.tobytes(): z for z in zs if z.tobytes() not in cache}.values())
        for z, v in zip(todo, ev.residuals([to_x(z) for z in todo])):
            cache[z.tobytes()] = v
        return [cache[z.tobytes()] for z in zs]

    def fun(z):
        return evaluate_many([np.asarray(z, dtype=float)])[0]

    def jac(z):
        z = np.asarray(z, dtype=float)
        base = fun(z)
        # Step inwards at the upper bound so every point stays inside.
        steps = np.where(z + step <= 1, step, -step)
        points = [z + np.eye(z.size)[i] * steps[i] for i in range(z.size)]
        cols = evaluate_many(points)
        if progress:
            progress()
        return np.column_stack([(c - base) / h for c, h in zip(cols, steps)])

    z0 = (np.asarray(x0) - lo) / (hi - lo)
    res = least_squares(fun, z0, jac=jac, bounds=(0, 1), method="trf", max_nfev=maxiter, x_scale="jac",
                        xtol=1e-6, ftol=1e-8)
    z, cost = _polish(res.x, lambda zs: [float(np.sum(v ** 2)) for v in evaluate_many(zs)])
    return to_x(z), cost


def _polish(z: np.ndarray, costs, rounds: int = 3, grid: int = 6) -> tuple[np.ndarray, float]:
    """Coordinate polish after the gradient steps: for each parameter in turn, try a small grid
    of nearby values (others held) and keep the best. The residuals of a stochastic model are
    step-like, so the trust region can stop on a ledge; a direct search along each axis gets
    over it (e.g. into a band as narrow as the one the 2016 and 2017 insecurity rounds allow)."""
    z = np.asarray(z, dtype=float).copy()
    best = costs([z])[0]
    width = 0.04
    for _ in range(rounds):
        for i in range(z.size):
            offsets = np.linspace(-width, width, grid + 1)
            candidates = []
            for o in offsets:
                c = z.copy()
                c[i] = np.clip(c[i] + o, 0.0, 1.0)
                candidates.append(c)
            values = costs(candidates)
            k = int(np.argmin(values))
            if values[k] < best:
                best, z = values[k], candidates[k]
        width /= 3
    return z, best


def _prior_value(prior: Scenario, p: FreeParameter) -> float:
    return 1.0 if p.kind == "multiplier" else float(get_key(prior.to_dict(), p.keys[0]))


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
        # Full precision (repr), so that the scenario reproduces the fitted runs exactly.
        lines += ["", f"[{section}]"] + [f"{leaf} = {value!r}" for leaf, value in items]
    path.write_text("\n".join(lines) + "\n")

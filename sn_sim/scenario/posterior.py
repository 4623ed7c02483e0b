"""The calibrated parameters' uncertainty, as data a scenario can be drawn from.

``sn-sim calibrate`` estimates an approximate posterior of its free parameters around the fit
(``sn_sim/calibration/uncertainty.py``) and writes it beside the point fit, as
``scenarios/parameters/calibrated_uncertainty.toml``. This module reads that file and draws
from it, so that any layer (an optimisation's worlds, a comparison, a script) can propagate the
calibration's uncertainty without importing the calibration machinery. The file is
self-contained: each parameter names the scenario keys it sets, whether it sets them to its
value or multiplies their schema defaults, and its bounds.

The distribution is Gaussian in the parameters (the linearised approximation), truncated to
the bounds when drawn.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from sn_sim.errors import ScenarioError

FILE_NAME = "calibrated_uncertainty.toml"


@dataclass(frozen=True)
class PosteriorParameter:
    """One free parameter: ``kind = "value"`` sets every key to the parameter's value,
    ``"multiplier"`` multiplies each key's schema default (``defaults``) by it."""

    name: str
    keys: tuple[str, ...]
    kind: str
    bounds: tuple[float, float]
    defaults: tuple[float, ...] = ()

    def overrides(self, value: float) -> dict[str, float]:
        if self.kind == "multiplier":
            return {k: float(value) * d for k, d in zip(self.keys, self.defaults)}
        return {k: float(value) for k in self.keys}


@dataclass
class ParameterPosterior:
    """An approximate posterior of the calibrated parameters: Gaussian, truncated to the bounds."""

    parameters: list[PosteriorParameter]
    estimate: np.ndarray      # parameter units (multipliers as factors)
    covariance: np.ndarray    # parameter units
    identified: np.ndarray    # 1 - posterior variance / prior variance (flat prior over the bounds)
    targets: list[str]
    seed: int
    replicates: int
    scale: float
    written: str = ""
    method: str = "laplace-smm"
    fit_replicates: int = 1   # replicates each evaluation of the fit averaged (its simulation noise)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def lower(self) -> np.ndarray:
        return np.array([p.bounds[0] for p in self.parameters], dtype=float)

    @property
    def upper(self) -> np.ndarray:
        return np.array([p.bounds[1] for p in self.parameters], dtype=float)

    @property
    def sd(self) -> np.ndarray:
        return np.sqrt(np.diag(self.covariance))

    def interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Central interval of the Gaussian, clipped to the bounds."""
        from scipy.stats import norm

        q = norm.ppf(0.5 + level / 2)
        return (np.clip(self.estimate - q * self.sd, self.lower, self.upper),
                np.clip(self.estimate + q * self.sd, self.lower, self.upper))

    def correlation(self) -> np.ndarray:
        sd = self.sd
        return self.covariance / np.outer(sd, sd)

    def table(self) -> pd.DataFrame:
        lo, hi = self.interval()
        return pd.DataFrame({
            "parameter": self.names, "estimate": self.estimate, "sd": self.sd,
            "ci95_low": lo, "ci95_high": hi, "bound_low": self.lower, "bound_high": self.upper,
            "prior_variance_removed": self.identified})

    def draw(self, n: int, seed: int) -> np.ndarray:
        """``n`` parameter vectors (n x k) from the truncated Gaussian (rejection; a draw still
        outside the bounds after 100 rounds is clipped). Deterministic in ``seed``."""
        rng = np.random.default_rng(seed)
        k = len(self.parameters)
        lo, hi = self.lower, self.upper
        chol = np.linalg.cholesky(self.covariance + 1e-18 * np.eye(k))
        out = np.empty((n, k))
        todo = np.arange(n)
        for _ in range(100):
            x = self.estimate + rng.standard_normal((todo.size, k)) @ chol.T
            ok = np.all((x >= lo) & (x <= hi), axis=1)
            out[todo[ok]] = x[ok]
            todo = todo[~ok]
            if todo.size == 0:
                break
        if todo.size:
            out[todo] = np.clip(self.estimate + rng.standard_normal((todo.size, k)) @ chol.T, lo, hi)
        return out

    def overrides(self, x) -> dict[str, float]:
        """Scenario overrides (dotted key -> value) that put the parameters at ``x``."""
        out: dict[str, float] = {}
        for p, v in zip(self.parameters, x):
            out.update(p.overrides(v))
        return out

    def draw_overrides(self, n: int, seed: int) -> list[dict[str, float]]:
        """``n`` sets of scenario overrides drawn from the posterior: what a comparison or an
        optimisation applies to a scenario to carry the calibration's uncertainty."""
        return [self.overrides(x) for x in self.draw(n, seed)]

    def to_toml(self, note: str = "") -> str:
        lines = [
            "# Uncertainty of the calibrated parameters, written by `sn-sim calibrate` (do not edit by hand).",
            "# Linearised (Laplace) approximation of the simulated-method-of-moments posterior around the fit:",
            "# Gaussian in the parameters, truncated to the bounds when drawn.",
            "# See sn_sim/calibration/uncertainty.py and docs/calibration.md.",
            f"# seed {self.seed}, {self.replicates} replicates at scale {self.scale}; {len(self.targets)} fitted targets.",
        ]
        if note:
            lines.append(f"# {note}")
        lines += ["", f'method = "{self.method}"', f'written = "{self.written}"', f"seed = {self.seed}",
                  f"replicates = {self.replicates}", f"fit_replicates = {self.fit_replicates}", f"scale = {self.scale!r}",
                  "targets = [" + ", ".join(f'"{t}"' for t in self.targets) + "]",
                  "estimate = [" + ", ".join(repr(float(v)) for v in self.estimate) + "]",
                  "prior_variance_removed = [" + ", ".join(repr(float(v)) for v in self.identified) + "]",
                  "covariance = ["]
        lines += ["    [" + ", ".join(repr(float(v)) for v in row) + "]," for row in self.covariance]
        lines.append("]")
        for p in self.parameters:
            lines += ["", "[[parameter]]", f'name = "{p.name}"',
                      "keys = [" + ", ".join(f'"{k}"' for k in p.keys) + "]", f'kind = "{p.kind}"',
                      f"bounds = [{p.bounds[0]!r}, {p.bounds[1]!r}]"]
            if p.kind == "multiplier":
                lines.append("defaults = [" + ", ".join(repr(float(d)) for d in p.defaults) + "]")
        return "\n".join(lines) + "\n"


def default_path() -> Path:
    """The shipped file, beside ``parameters/calibrated.toml``."""
    return Path(str(files("sn_sim.scenarios.parameters").joinpath(FILE_NAME)))


def load_posterior(path: str | Path | None = None) -> ParameterPosterior:
    """Read an uncertainty file (default: the shipped one). Errors name the file and the key."""
    path = Path(path) if path is not None else default_path()
    try:
        data = tomllib.loads(path.read_text())
    except (FileNotFoundError, IsADirectoryError):
        raise ScenarioError(f"{path}: no such uncertainty file (written by `sn-sim calibrate --uncertainty-out`)") from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{path}: not valid TOML ({e})") from None
    for key in ("parameter", "estimate", "covariance"):
        if key not in data:
            raise ScenarioError(f"{path}: {key}: missing")
    params = []
    for i, p in enumerate(data["parameter"]):
        try:
            kind = p["kind"]
            if kind not in ("value", "multiplier"):
                raise ScenarioError(f"{path}: parameter.{i}.kind: must be 'value' or 'multiplier' (got {kind!r})")
            params.append(PosteriorParameter(name=p["name"], keys=tuple(p["keys"]), kind=kind,
                                             bounds=(float(p["bounds"][0]), float(p["bounds"][1])),
                                             defaults=tuple(float(d) for d in p.get("defaults", ()))))
        except KeyError as e:
            raise ScenarioError(f"{path}: parameter.{i}.{e.args[0]}: missing") from None
        if kind == "multiplier" and len(params[-1].defaults) != len(params[-1].keys):
            raise ScenarioError(f"{path}: parameter.{i}.defaults: one default per key")
    k = len(params)
    est = np.asarray(data["estimate"], dtype=float)
    cov = np.asarray(data["covariance"], dtype=float)
    if est.shape != (k,) or cov.shape != (k, k):
        raise ScenarioError(f"{path}: estimate, covariance: shapes {est.shape} and {cov.shape} do not match "
                            f"{k} parameters")
    return ParameterPosterior(parameters=params, estimate=est, covariance=cov,
                              identified=np.asarray(data.get("prior_variance_removed", [np.nan] * k), dtype=float),
                              targets=list(data.get("targets", [])), seed=int(data.get("seed", 0)),
                              replicates=int(data.get("replicates", 0)), scale=float(data.get("scale", np.nan)),
                              written=str(data.get("written", "")), method=str(data.get("method", "")),
                              fit_replicates=int(data.get("fit_replicates", 1)))


__all__ = ["ParameterPosterior", "PosteriorParameter", "load_posterior", "default_path", "FILE_NAME"]

"""Global sensitivity: Sobol and Morris indices (SALib) from a sweep directory.

Run a sweep with ``design = "sobol"`` (Saltelli/Sobol' sample) or ``design = "morris"``
(elementary-effect trajectories), then::

    from sn_sim.experiment import sensitivity
    res = sensitivity("sweeps/drivers", ["offences_per_1000_year_all", "trust_police_all"])
    res.indices          # one row per output x parameter
    res.save("sweeps/drivers/sensitivity")

Each point's output is its mean over replicates (the replicates share random numbers across
points when ``random_numbers = "common"``, which keeps the noise out of the indices). Sobol:
first-order ``S1`` and total ``ST`` indices with bootstrap confidence intervals
(``SALib.analyze.sobol``). Morris: ``mu_star`` (mean absolute elementary effect, with its
confidence interval), ``mu`` and ``sigma`` (``SALib.analyze.morris``). Swept parameters that
are lists are indexed 0..n-1 in the design; derived parameters are not inputs of the analysis.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from sn_sim.errors import SnSimError, require_extra
from sn_sim.experiment.sweep import load_sweep, read_manifest

METHODS = ("sobol", "morris")


@dataclass
class SensitivityResult:
    """indices: Sobol -- output, parameter, S1, S1_conf, ST, ST_conf; Morris -- output,
    parameter, mu, mu_star, mu_star_conf, sigma."""

    method: str
    indices: pd.DataFrame
    outputs: list[str]
    points: int
    conf_level: float

    def plot(self, path: str | Path) -> Path:
        """Bar chart per output: S1 and ST (Sobol) or mu* and sigma (Morris) with intervals."""
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

        path = Path(path)
        n = len(self.outputs)
        params = list(dict.fromkeys(self.indices["parameter"]))
        fig = Figure(figsize=(max(6.0, 1.1 * len(params) + 2), 3.2 * n), dpi=110)
        axes = fig.subplots(n, 1, squeeze=False)[:, 0]
        x = np.arange(len(params))
        w = 0.38
        if self.method == "sobol":
            bars = [("S1", "S1_conf", "first order (S1)", "#1f77b4"), ("ST", "ST_conf", "total (ST)", "#ff7f0e")]
        else:
            bars = [("mu_star", "mu_star_conf", "mu* (mean |effect|)", "#1f77b4"), ("sigma", None, "sigma", "#7f7f7f")]
        for ax, out in zip(axes, self.outputs):
            d = self.indices[self.indices["output"] == out].set_index("parameter").loc[params]
            for j, (col, conf, label, colour) in enumerate(bars):
                err = d[conf].to_numpy() if conf else None
                ax.bar(x + (j - 0.5) * w, d[col].to_numpy(), w, yerr=err, capsize=3, label=label, color=colour)
            ax.axhline(0, color="k", lw=0.6)
            ax.set_xticks(x)
            ax.set_xticklabels(params, rotation=20, ha="right", fontsize=8)
            ax.set_title(out, fontsize=10)
            ax.legend(fontsize=8)
        fig.suptitle(f"{self.method.capitalize()} indices ({self.points} points, "
                     f"{int(self.conf_level * 100)}% intervals)", fontsize=11)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
        return path

    def save(self, directory: str | Path, force: bool = False) -> list[Path]:
        """``sensitivity-<method>.csv`` and ``sensitivity-<method>.png``, written whole into a new
        ``directory`` (an earlier sensitivity output there is replaced only with ``force``)."""
        from sn_sim.observe.storage import check_output_dir, staged_directory

        directory = Path(directory)
        check_output_dir(directory, force, kind="sensitivity")
        names = [f"sensitivity-{self.method}.csv", f"sensitivity-{self.method}.png"]
        with staged_directory(directory, "sensitivity") as tmp:
            self.indices.to_csv(tmp / names[0], index=False)
            self.plot(tmp / names[1])
        return [directory / n for n in names]


def sensitivity(sweep_dir: str | Path, outputs: str | Sequence[str], method: str | None = None,
                num_resamples: int = 200, conf_level: float = 0.95, seed: int = 0) -> SensitivityResult:
    """Sobol or Morris indices of summary ``outputs`` from a finished sobol/morris sweep."""
    require_extra("experiments", "SALib", what="sensitivity")
    from SALib.analyze import morris as morris_analyze
    from SALib.analyze import sobol as sobol_analyze

    sweep_dir = Path(sweep_dir)
    m = read_manifest(sweep_dir)
    design = m["design"]
    method = method or design["method"]
    if method not in METHODS:
        raise SnSimError(f"{sweep_dir}: --method: unknown method {method!r} (expected sobol or morris)")
    if design["method"] != method:
        raise SnSimError(f"{sweep_dir}: --method: {method} indices need a sweep with design = \"{method}\" "
                         f"(this sweep used {design['method']})")
    outputs = [outputs] if isinstance(outputs, str) else list(outputs)
    if not outputs:
        raise SnSimError(f"{sweep_dir}: --output: name at least one output")
    known = m["outputs"]["summaries"]
    for o in outputs:
        if o not in known:
            raise SnSimError(f"{sweep_dir}: --output: unknown output {o!r} (the sweep kept: {', '.join(known)})")
    frame = load_sweep(sweep_dir)
    n_points = len(m["points"])
    missing = n_points - (frame["point"].nunique() if len(frame) else 0)
    if missing:
        raise SnSimError(f"{sweep_dir}: {missing} of {n_points} points have no finished run "
                         f"(resume the sweep with --resume; see failures/)")
    means = frame.groupby("point")[outputs].mean().reindex(range(n_points))
    problem = dict(design["problem"])
    problem["bounds"] = [list(b) for b in problem["bounds"]]
    X = np.asarray(design["X"], dtype=float)
    rows = []
    for o in outputs:
        Y = means[o].to_numpy(dtype=float)
        if np.isnan(Y).any():
            raise SnSimError(f"{sweep_dir}: --output: {o} is NaN at {int(np.isnan(Y).sum())} points "
                             f"(e.g. a treated-scope output where nothing is treated)")
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore")  # constant outputs give 0/0 indices: reported as NaN
            if method == "sobol":
                si = sobol_analyze.analyze(problem, Y, calc_second_order=design["second_order"],
                                           num_resamples=num_resamples, conf_level=conf_level, seed=seed)
                for j, name in enumerate(problem["names"]):
                    rows.append({"output": o, "parameter": name, "S1": si["S1"][j], "S1_conf": si["S1_conf"][j],
                                 "ST": si["ST"][j], "ST_conf": si["ST_conf"][j]})
            else:
                si = morris_analyze.analyze(problem, X, Y, num_resamples=num_resamples, conf_level=conf_level,
                                            num_levels=design["levels"], seed=seed)
                for j, name in enumerate(problem["names"]):
                    rows.append({"output": o, "parameter": name, "mu": si["mu"][j], "mu_star": si["mu_star"][j],
                                 "mu_star_conf": si["mu_star_conf"][j], "sigma": si["sigma"][j]})
    return SensitivityResult(method=method, indices=pd.DataFrame(rows), outputs=outputs, points=n_points,
                             conf_level=conf_level)

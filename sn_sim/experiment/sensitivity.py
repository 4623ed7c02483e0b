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

    def plot(self):
        """Bar chart per output as a matplotlib Figure: S1 and ST (Sobol) or mu* and sigma (Morris)
        with their intervals. A bar whose interval includes 0 is hatched and faded: the sweep
        cannot tell that index from 0 (more points would). A negative S1 is sampling noise around
        0 (a variance share cannot be negative), and the figure says so."""
        from matplotlib.patches import Patch

        from sn_sim.observe import style

        n = len(self.outputs)
        params = list(dict.fromkeys(self.indices["parameter"]))
        fig, axes = style.figure(n, 1, (max(8.0, 1.2 * len(params) + 3), 3.4 * n + 1.4))
        axes = axes[:, 0]
        x = np.arange(len(params))
        w = 0.38
        if self.method == "sobol":
            bars = [("S1", "S1_conf", "first order (S1)", style.BLUE),
                    ("ST", "ST_conf", "total (ST)", style.ORANGE)]
            ylabel = "share of output variance"
        else:
            bars = [("mu_star", "mu_star_conf", "mu* (mean |elementary effect|)", style.BLUE),
                    ("sigma", None, "sigma (spread: interactions, non-linearity)", style.GREY)]
            ylabel = "output units per parameter range"
        unclear = negative = False
        for ax, out in zip(axes, self.outputs):
            d = self.indices[self.indices["output"] == out].set_index("parameter").loc[params]
            for j, (col, conf, label, colour) in enumerate(bars):
                v = d[col].to_numpy(dtype=float)
                err = d[conf].to_numpy(dtype=float) if conf else None
                # An index whose interval reaches 0 is not distinguishable from 0.
                zero_in = (v - err <= 0) if err is not None else np.zeros(len(v), dtype=bool)
                unclear |= bool(zero_in.any())
                for k in range(len(params)):
                    ax.bar(x[k] + (j - 0.5) * w, v[k], w, yerr=None if err is None else err[k], capsize=3,
                           color=colour, alpha=0.35 if zero_in[k] else 1.0, hatch="//" if zero_in[k] else None,
                           edgecolor=colour, label=label if k == 0 else None)
                if col == "S1" and (v < 0).any():
                    negative = True
                    for k in np.flatnonzero(v < 0):
                        ax.annotate("< 0: noise", (x[k] + (j - 0.5) * w, 0), xytext=(0, 3), textcoords="offset points",
                                    ha="center", va="bottom", fontsize=7, color=style.GREY)
            style.zero_line(ax)
            ax.set_xticks(x)
            ax.set_xticklabels(params, rotation=20, ha="right", fontsize=8)
            ax.set_ylabel(ylabel, fontsize=8)
            ax.set_title(out, fontsize=10)
            style.tidy(ax)
        handles, labels = axes[0].get_legend_handles_labels()
        handles.append(Patch(facecolor="white", edgecolor=style.GREY, hatch="//"))
        labels.append("hatched: interval includes 0 (not distinguishable from 0)")
        fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=8)
        what = "Sobol indices" if self.method == "sobol" else "Morris elementary effects"
        detail = (f"{what} from {self.points} sweep points, {int(self.conf_level * 100)}% bootstrap intervals (error "
                  "bars)" + ("; some indices cannot be told from 0" if unclear else "")
                  + ("; a negative first-order index is sampling noise around 0 (a share of variance is never "
                     "negative): more points narrow it" if negative else ""))
        style.title(fig, "Which uncertain parameters drive the outcomes?", detail)
        return fig

    def save(self, directory: str | Path, force: bool = False) -> list[Path]:
        """``sensitivity-<method>.csv`` and the figure as ``sensitivity-<method>.png`` and ``.svg``,
        written whole into a new ``directory`` (an earlier sensitivity output there is replaced
        only with ``force``)."""
        from sn_sim.observe.storage import check_output_dir, staged_directory

        directory = Path(directory)
        check_output_dir(directory, force, kind="sensitivity")
        from sn_sim.observe import style

        names = [f"sensitivity-{self.method}.csv"]
        with staged_directory(directory, "sensitivity") as tmp:
            self.indices.to_csv(tmp / names[0], index=False)
            names += [p.name for p in style.save(self.plot(), tmp / f"sensitivity-{self.method}.png")]
        return [directory / n for n in names]


def sensitivity(sweep_dir: str | Path, outputs: str | Sequence[str], method: str | None = None,
                num_resamples: int = 200, conf_level: float = 0.95, seed: int = 0) -> SensitivityResult:
    """Sobol or Morris indices of summary ``outputs`` from a finished sobol/morris sweep."""
    require_extra("experiments", "SALib", what="sensitivity")
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
    indices = salib_indices(method, problem, X, means, outputs, second_order=design.get("second_order", False),
                            levels=design.get("levels", 4), num_resamples=num_resamples, conf_level=conf_level,
                            seed=seed, where=f"{sweep_dir}: --output")
    return SensitivityResult(method=method, indices=indices, outputs=outputs, points=n_points,
                             conf_level=conf_level)


def salib_indices(method: str, problem: dict, X: np.ndarray, means: pd.DataFrame, outputs: Sequence[str], *,
                  second_order: bool = False, levels: int = 4, num_resamples: int = 200, conf_level: float = 0.95,
                  seed: int = 0, where: str = "sensitivity") -> pd.DataFrame:
    """Sobol or Morris indices (the rows of :class:`SensitivityResult`) of each column ``outputs``
    of ``means`` (one row per design point, in the order of ``X``) over the SALib ``problem``."""
    require_extra("experiments", "SALib", what="sensitivity")
    from SALib.analyze import morris as morris_analyze
    from SALib.analyze import sobol as sobol_analyze

    rows = []
    for o in outputs:
        Y = means[o].to_numpy(dtype=float)
        if np.isnan(Y).any():
            raise SnSimError(f"{where}: {o} is NaN at {int(np.isnan(Y).sum())} points "
                             f"(e.g. a treated-scope output where nothing is treated)")
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore")  # constant outputs give 0/0 indices: reported as NaN
            if method == "sobol":
                si = sobol_analyze.analyze(problem, Y, calc_second_order=second_order,
                                           num_resamples=num_resamples, conf_level=conf_level, seed=seed)
                for j, name in enumerate(problem["names"]):
                    rows.append({"output": o, "parameter": name, "S1": si["S1"][j], "S1_conf": si["S1_conf"][j],
                                 "ST": si["ST"][j], "ST_conf": si["ST_conf"][j]})
            else:
                si = morris_analyze.analyze(problem, X, Y, num_resamples=num_resamples, conf_level=conf_level,
                                            num_levels=levels, seed=seed)
                for j, name in enumerate(problem["names"]):
                    rows.append({"output": o, "parameter": name, "mu": si["mu"][j], "mu_star": si["mu_star"][j],
                                 "mu_star_conf": si["mu_star_conf"][j], "sigma": si["sigma"][j]})
    return pd.DataFrame(rows)

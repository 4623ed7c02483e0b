"""The fit report: every target against its simulated mean and 90% band, and identifiability.

For each target: value (or range), simulated mean, 5-95% band across replicates, error,
acceptance band and verdict, role (fitted / structural / context), in- or out-of-sample,
source and status. Identifiability: a profile of the objective around the optimum (each
parameter at 0.75, 0.9, 1.1 and 1.25 times its fitted value, the others held) and the local
elasticities of the fitted moments; a parameter whose profile stays flat is not pinned down by
the targets and remains, in effect, its literature prior.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sn_sim.calibration.calibrate import (
    FreeParameter, fitted_targets, load_free_parameters, loss, parameter_overrides, prior_scenario, simulate,
    simulate_many,
)
from sn_sim.calibration.targets import Target, load_targets
from sn_sim.calibration.uncertainty import current_values, markdown
from sn_sim.observe import style
from sn_sim.scenario import Scenario

PROFILE_FACTORS = (0.75, 0.9, 1.1, 1.25)


def fit_table(scenario: Scenario, seed: int, replicates: int, executor=None) -> pd.DataFrame:
    """Every target against its simulated mean and 5-95% band (replicates on ``executor``)."""
    moments = simulate(scenario, seed, replicates, executor)
    rows = []
    for t in load_targets():
        sim = moments.loc[moments["id"] == t.id, "simulated"].to_numpy(dtype=float)
        mean = float(np.nanmean(sim)) if np.isfinite(sim).any() else np.nan
        lo, hi = (np.nanquantile(sim, [0.05, 0.95]) if np.isfinite(sim).any() else (np.nan, np.nan))
        band = t.band()
        rows.append({
            "id": t.id, "what": t.what, "unit": t.unit, "period": t.period, "scope": t.scope,
            "target": t.value if t.value is not None else f"{t.range[0]:g}-{t.range[1]:g}",
            "simulated_mean": mean, "sim_p05": float(lo), "sim_p95": float(hi),
            "error": (mean - t.value) if t.value is not None else
                     (max(t.range[0] - mean, 0.0, mean - t.range[1]) * np.sign(mean - t.centre)),
            "band_low": band[0], "band_high": band[1],
            "accepted": t.accepted(mean) if np.isfinite(mean) else False,
            "role": t.role,
            "sample": t.fit_period or ("in-sample" if t.role == "fitted" else ""),
            "source": t.source, "status": t.status,
        })
    return pd.DataFrame(rows)


def identifiability(prior: Scenario, free: list[FreeParameter], x: np.ndarray, seed: int, replicates: int,
                    executor=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Profiles of the objective and elasticities of fitted moments around the optimum (the
    objective of the main fit: every fitted target). The points run together on ``executor``."""
    targets = fitted_targets(load_targets(), include_out_of_sample=True)
    points = [np.asarray(x, dtype=float)]
    labels = [("optimum", 1.0)]
    for i, p in enumerate(free):
        for f in PROFILE_FACTORS:
            y = np.array(x, dtype=float)
            y[i] = np.clip(y[i] * f, *p.bounds) if f != 1 else y[i]
            points.append(y)
            labels.append((p.name, f))
    scenarios = [prior.with_overrides(parameter_overrides(prior, free, y)) for y in points]
    out = []
    for m in simulate_many(scenarios, seed, replicates, executor):
        means = m.groupby("id")["simulated"].mean()
        out.append((float(sum(loss(t, means.get(t.id, np.nan)) for t in targets)), means.to_dict()))
    base_obj, base_m = out[0]
    prof_rows, el_rows = [], []
    for (name, f), (obj, m) in zip(labels[1:], out[1:]):
        prof_rows.append({"parameter": name, "factor": f, "objective": obj, "increase": obj - base_obj})
        if f in (0.9, 1.1):
            for t in targets:
                b, v = base_m.get(t.id, np.nan), m.get(t.id, np.nan)
                el = (np.log(v) - np.log(b)) / np.log(f) if b > 0 and v > 0 else np.nan
                el_rows.append({"parameter": name, "factor": f, "target": t.id, "elasticity": el})
    profile = pd.DataFrame(prof_rows)
    el = pd.DataFrame(el_rows).groupby(["parameter", "target"])["elasticity"].mean().unstack()
    return profile, el


def verdicts(profile: pd.DataFrame) -> pd.DataFrame:
    """Pinned down when moving the parameter by 25% pushes some target past its band edge."""
    worst = profile.groupby("parameter")["increase"].max()
    return pd.DataFrame({
        "max_objective_increase": worst,
        "identified": np.where(worst >= 1.0, "pinned down by the targets",
                               np.where(worst >= 0.1, "weakly identified", "not identified (prior)")),
    })


def plot_fit(table: pd.DataFrame, path: Path) -> list[Path]:
    """Save :func:`fit_figure` as PNG and SVG (``path`` with each suffix)."""
    return style.save(fit_figure(table), path)


def fit_figure(table: pd.DataFrame):
    """Each target's simulated mean (5-95% band) in units of its half acceptance band: accepted
    targets as green circles, the others as vermillion crosses (told apart by shape as well)."""
    shown = table[table["simulated_mean"].notna() & (table["role"] != "context")].copy()
    shown = shown[shown["band_high"] > 0]
    fig, axes = style.figure(1, 1, (9, 0.32 * len(shown) + 2.5))
    ax = axes[0, 0]
    y = np.arange(len(shown))
    centre = (shown["band_low"] + shown["band_high"]) / 2
    half = (shown["band_high"] - shown["band_low"]) / 2
    norm = np.where(half > 0, half, np.maximum(centre.abs() * 0.05, 1e-9))
    z = (shown["simulated_mean"] - centre) / norm
    zl = (shown["sim_p05"] - centre) / norm
    zh = (shown["sim_p95"] - centre) / norm
    ax.axvspan(-1, 1, color=style.LIGHT_GREY, label="acceptance band")
    # A mean can fall outside its replicates' 5-95% range (few replicates, skewed counts): the
    # bar then just reaches the mean.
    ax.errorbar(z, y, xerr=[np.clip(z - zl, 0, None), np.clip(zh - z, 0, None)], fmt="none", ecolor=style.GREY,
                capsize=2)
    ok = shown["accepted"].to_numpy(dtype=bool)
    ax.scatter(z[ok], y[ok], color=style.GREEN, marker="o", zorder=3, label="accepted: simulated mean (90% band)")
    ax.scatter(z[~ok], y[~ok], color=style.VERMILLION, marker="X", s=50, zorder=3,
               label="not accepted: simulated mean (90% band)")
    ax.set_yticks(y, [f"{i} ({s})" if s else i for i, s in zip(shown["id"], shown["sample"])], fontsize=8)
    style.zero_line(ax, "x")
    ax.set_xlabel("(simulated - target centre) / half acceptance band (0 = on target, ±1 = band edges)")
    ax.invert_yaxis()
    style.tidy(ax)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=8)
    style.title(fig, "Does the calibrated model reproduce the reported figures?",
                "each target's simulated mean and 5-95% band across replicates, in half acceptance bands")
    return fig


def _fmt(v):
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "–"
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.0f}"
    return str(v)


def write_report(table: pd.DataFrame, out_dir: Path, header: list[str], free: list[FreeParameter],
                 values: dict[str, float], profile: pd.DataFrame | None = None,
                 elasticities: pd.DataFrame | None = None, oos: pd.DataFrame | None = None,
                 oos_values: dict[str, float] | None = None, uncertainty=None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_fit(table, out_dir / "fit.png")
    table.to_csv(out_dir / "fit_table.csv", index=False)
    lines = ["# Calibration fit report", ""] + header + [""]
    lines += ["## Calibrated parameters", "", "| parameter | scenario keys | value | bounds | informed by |", "|---|---|---|---|---|"]
    for p in free:
        lines.append(f"| {p.name} | {', '.join('`' + k + '`' for k in p.keys)} | {values[p.name]:.4g}"
                     f"{' (x prior)' if p.kind == 'multiplier' else ''} | {p.bounds[0]:g}–{p.bounds[1]:g} | {p.informs} |")
    lines += ["", "## Targets", "",
              "Simulated mean and 5–95% band across replicates; *error* is simulated − target (distance "
              "outside the range for range targets). *fitted* targets inform the objective; *sample* marks the "
              "2018–2019 survey rates that the out-of-sample check below leaves out; *structural* targets are "
              "reproduced by construction, *context* ones are outside the model's scope and only reported.", "",
              "![fit](fit.png)", "",
              "| target | period | value | simulated mean | 90% band | error | accepted | role | sample | status | source |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        lines.append(
            f"| {r['id']} | {r['period']} | {_fmt(r['target'])} | {_fmt(r['simulated_mean'])} | "
            f"{_fmt(r['sim_p05'])}–{_fmt(r['sim_p95'])} | {_fmt(r['error'])} | {'yes' if r['accepted'] else '**no**'} | "
            f"{r['role']} | {r['sample']} | {r['status']} | {r['source']} |")
    if oos is not None and len(oos):
        lines += ["", "## Out-of-sample check", "",
                  "The parameters that the survey rates inform (" + ", ".join(f"`{k}` = {v:.4g}" for k, v in
                  (oos_values or {}).items()) + ") were refitted on the 2015–2017 victimisation and reporting "
                  "figures only, the other parameters held at the full fit; the 2018–2019 rates below were not "
                  "used in that refit and are predictions.", "",
                  "| target | value | predicted | error | within ±3 pp |", "|---|---|---|---|---|"]
        for _, r in oos.iterrows():
            lines.append(f"| {r['id']} | {_fmt(r['target'])} | {_fmt(r['simulated_mean'])} | {_fmt(r['error'])} | "
                         f"{'yes' if r['accepted'] else 'no'} |")
    if profile is not None:
        v = verdicts(profile)
        lines += ["", "## Identifiability", "",
                  "Objective increase when one parameter moves to 0.75, 0.9, 1.1 or 1.25 times its fitted value "
                  "(others held; common random numbers). The objective's unit is one target moved by one half "
                  "band; past the edge of its band a target's cost steepens (docs/calibration.md).", "",
                  "| parameter | " + " | ".join(f"×{f}" for f in PROFILE_FACTORS) + " | verdict |",
                  "|---|" + "---|" * len(PROFILE_FACTORS) + "---|"]
        for p in free:
            row = profile[profile["parameter"] == p.name].set_index("factor")["increase"]
            lines.append(f"| {p.name} | " + " | ".join(_fmt(row.get(f, np.nan)) for f in PROFILE_FACTORS)
                         + f" | {v.loc[p.name, 'identified']} |")
        if elasticities is not None and not elasticities.empty:
            lines += ["", "Local elasticities of the fitted moments (d log moment / d log parameter):", "",
                      "| parameter | " + " | ".join(elasticities.columns) + " |",
                      "|---|" + "---|" * len(elasticities.columns)]
            for name, row in elasticities.iterrows():
                lines.append(f"| {name} | " + " | ".join(_fmt(x) for x in row.to_numpy()) + " |")
        lines += ["", "Every parameter not listed above stays at its literature prior (docs/ODD.md parameter "
                  "tables): the targets carry no information about it."]
    if uncertainty is not None:
        lines += [""] + markdown(uncertainty)
    path = out_dir / "fit_report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def fit_report(scenario: Scenario, out_dir: Path, seed: int, replicates: int, header: list[str],
               result=None, identify: bool = True, oos_result=None, executor=None, uncertainty=None) -> Path:
    """Write fit_report.md, fit_table.csv and fit.png (and fit.svg) into ``out_dir``; runs on ``executor``
    (in this process when None). ``uncertainty`` (a ParameterUncertainty) adds its table."""
    free = load_free_parameters()
    table = fit_table(scenario, seed, replicates, executor)
    oos = oos_values = None
    if oos_result is not None:
        oos_scenario = scenario.with_overrides(parameter_overrides(result.prior, oos_result.free, oos_result.x))
        oos_table = fit_table(oos_scenario, seed, replicates, executor)
        oos = oos_table[oos_table["sample"] == "out-of-sample"]
        oos_values = oos_result.values()
    if result is not None:
        values, prior, x = result.values(), result.prior, result.x
    else:
        prior = prior_scenario(scenario, free)
        x = current_values(scenario, free)
        values = {p.name: float(v) for p, v in zip(free, x)}
    profile = el = None
    if identify:
        profile, el = identifiability(prior, free, x, seed, max(2, min(replicates, 2)), executor)
    return write_report(table, out_dir, header, free, values, profile, el, oos, oos_values, uncertainty)


__all__ = ["fit_report", "fit_table", "identifiability", "write_report", "Target"]

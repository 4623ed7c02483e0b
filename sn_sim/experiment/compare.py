"""Compare policy mixes on common random numbers.

``compare([base, other, ...], replicates=5, seed=0)`` runs every scenario with the same seed
and replicate indices, so replicate ``r`` of every scenario draws the same random numbers for
each weekly process (the model keys its streams by seed, process and week). Differences are
then due to the policy, not to luck, and effects are computed replicate by replicate::

    effect_r = outcome(scenario, r) - outcome(base, r)
    effect   = mean_r effect_r,  95% interval = effect +/- t(0.975, n-1) * sd_r / sqrt(n)

Two scopes (see :data:`sn_sim.observe.outcomes.SCOPES`): ``all`` -- the whole candidate pool,
displacement and diffusion included -- and ``treated`` -- the neighbourhoods the compared
scenario treats, in both the scenario and the base (the same neighbourhoods of the same
replicate, so the contrast is paired). Outcomes: :data:`OUTCOMES`.

Costs are reported as the budget spent (``cost_usd``) and the total cost, budget plus in-kind
(``total_cost_usd``: officers on the PNP payroll, Culture Points grants), both over the whole
calendar. Cost per offence averted = extra total cost (budget + in-kind) / offences averted in
the post period, as a ratio of means across replicates with a Fieller 95% interval (NaN when
offences are not averted on average; no interval when it is unbounded because averted offences
are not clearly above 0). Scenarios with ``strategy.resources.like_for_like`` have the same total
cost as their reference mix, so their costs per offence averted compare like with like.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from sn_sim.errors import ScenarioError, SnSimError
from sn_sim.observe import outcomes
from sn_sim.scenario import Scenario, load_scenario

# Outcomes of the effects table: (outcome, label, unit in tables, display factor, decimals). Labels
# come from the outcome registry; the units are the tables' display units (CSVs hold raw values).
CPA = "cost_per_offence_averted"  # a ratio of effects, not a registry outcome
_DISPLAY = [
    ("offences_per_1000_year", "offences", 1.0, 1),
    ("victimisation_12m", "% / pp", 100.0, 2),
    ("trust_police", "% / pp", 100.0, 2),
    ("insecurity", "% / pp", 100.0, 2),
    ("youth_in_gangs", "persons", 1.0, 0),
    ("cost_usd", "USD million", 1e-6, 2),
    ("total_cost_usd", "USD million", 1e-6, 2),
]
OUTCOMES = [(k, outcomes.get(k).label, unit, f, dec) for k, unit, f, dec in _DISPLAY]
OUTCOMES.append((CPA, "Cost per offence averted", "USD", 1.0, 0))  # on the total cost, budget + in-kind
LEVEL_OUTCOMES = [o[0] for o in OUTCOMES if o[0] != CPA]
SCOPE_LABELS = {"all": "all neighbourhoods of the pool", "treated": "neighbourhoods the scenario treats"}


def t_interval(x: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided t-interval across replicates (NaN interval with one replicate)."""
    from scipy import stats

    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    m = float(x.mean())
    if n < 2:
        return (m, math.nan, math.nan)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return (m, m - half, m + half)


def ratio_interval(num: np.ndarray, den: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Ratio of means with Fieller's interval for paired replicates; NaN when den <= 0 on average."""
    from scipy import stats

    ok = ~(np.isnan(num) | np.isnan(den))
    a_, b_ = np.asarray(num, float)[ok], np.asarray(den, float)[ok]
    n = len(a_)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    a, b = float(a_.mean()), float(b_.mean())
    if b <= 0:
        return (math.nan, math.nan, math.nan)
    est = a / b
    if n < 2:
        return (est, math.nan, math.nan)
    t = float(stats.t.ppf(0.5 + level / 2, n - 1))
    vaa, vbb = a_.var(ddof=1) / n, b_.var(ddof=1) / n
    vab = float(np.cov(a_, b_, ddof=1)[0, 1]) / n
    qa = b * b - t * t * vbb
    qb = -2 * (a * b - t * t * vab)
    qc = a * a - t * t * vaa
    disc = qb * qb - 4 * qa * qc
    if qa <= 0 or disc < 0:  # denominator not clearly positive: the interval is unbounded
        return (est, math.nan, math.nan)
    r = math.sqrt(disc)
    return (est, (-qb - r) / (2 * qa), (-qb + r) / (2 * qa))


@dataclass
class ComparisonResult:
    """Effects of each scenario against the first, and what they rest on.

    effects : one row per scenario x scope x outcome: base_mean, mean, effect, ci_low, ci_high, n
    summary : one row per scenario x scope x outcome: the level (mean and 95% interval)
    replicates : one row per scenario x scope x replicate x outcome: base value, value, effect
    series : weekly outcomes per scenario x scope x replicate (for the time-series plot)
    manifest : scenarios, hashes, seed, replicates, post period, package version, git commit and
        library versions (saved with the data files' checksums)
    """

    effects: pd.DataFrame
    summary: pd.DataFrame
    replicates: pd.DataFrame
    series: pd.DataFrame
    manifest: dict
    scenarios: list[Scenario] = field(repr=False, default_factory=list)

    @property
    def base(self) -> str:
        return self.manifest["base"]

    def table(self, scope: str = "all") -> pd.DataFrame:
        """Effects as a wide table: outcomes x scenarios (display units)."""
        rows = []
        e = self.effects[self.effects["scope"] == scope]
        names = [n for n in self.manifest["scenario_names"] if n != self.base]
        for key, label, unit, factor, dec in OUTCOMES:
            sub = e[e["outcome"] == key].set_index("scenario")
            row = {"outcome": f"{label} ({unit})"}
            ratio = key == CPA
            if scope == "all":  # the base's level is one number; for "treated" it depends on the set
                row[f"{self.base} (level)"] = "" if ratio else _fmt(sub.loc[self.base, "base_mean"] * factor, dec)
            for n in names:
                if n in sub.index:
                    r = sub.loc[n]
                    cell = _fmt_effect(r["effect"] * factor, r["ci_low"] * factor, r["ci_high"] * factor, dec,
                                       signed=not ratio)
                    if scope != "all" and not ratio and not pd.isna(r["base_mean"]):
                        cell += f" (base {_fmt(r['base_mean'] * factor, dec)})"
                    row[n] = cell
            rows.append(row)
        return pd.DataFrame(rows)

    def markdown(self) -> str:
        m = self.manifest
        lines = [f"# Effects against {self.base}", "",
                 f"{m['replicates']} replicates on common random numbers (seed {m['seed']}); post period from "
                 f"{m['post_start']} to {m['calendar_end']}. Cells: effect [95% interval] across replicates "
                 f"(treated scope: with the base's level on the same neighbourhoods); shares in percentage "
                 f"points; costs over the whole calendar, total cost = budget spent + in-kind (officers, Culture "
                 f"Points grants); cost per offence averted = extra total cost (budget + in-kind) / offences "
                 f"averted in the post period (Fieller interval; none shown when unbounded).", ""]
        for scope in outcomes.SCOPES:
            lines += [f"## {SCOPE_LABELS[scope].capitalize()}", "", _markdown_table(self.table(scope)), ""]
        return "\n".join(lines)

    def save(self, out: str | Path, force: bool = False, plots: bool = True) -> Path:
        """Write effects.csv/.md, summary.csv, replicates.csv, series.parquet, manifest.json and
        plots/ (time series, forest plot, cost against effect) atomically to ``out``."""
        from sn_sim.observe.storage import check_output_dir, file_checksums, staged_directory

        out = Path(out)
        check_output_dir(out, force, kind="compare")
        with staged_directory(out, "compare") as tmp:
            self.effects.to_csv(tmp / "effects.csv", index=False)
            (tmp / "effects.md").write_text(self.markdown() + "\n")
            self.summary.to_csv(tmp / "summary.csv", index=False)
            self.replicates.to_csv(tmp / "replicates.csv", index=False)
            self.series.to_parquet(tmp / "series.parquet", index=False)
            # The manifest, written after the data files, records their checksums (as a run's does).
            checksums = file_checksums(tmp, ["effects.csv", "effects.md", "summary.csv", "replicates.csv",
                                             "series.parquet"])
            (tmp / "manifest.json").write_text(json.dumps({**self.manifest, "checksums": checksums}, indent=2,
                                                          default=str))
            if plots:
                self.plot(tmp / "plots")
        return out

    def plot(self, directory: str | Path) -> list[Path]:
        """timeseries.png, forest.png and cost_effect.png into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return [plot_series(self, directory / "timeseries.png"), plot_forest(self, directory / "forest.png"),
                plot_cost_effect(self, directory / "cost_effect.png")]


def _fmt(x: float, dec: int) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.{dec}f}"


def _fmt_effect(e: float, lo: float, hi: float, dec: int, signed: bool = True) -> str:
    if math.isnan(e):
        return "n/a"
    sign = "+" if e > 0 and signed else ""
    if math.isnan(lo):
        return f"{sign}{e:,.{dec}f}"
    return f"{sign}{e:,.{dec}f} [{lo:,.{dec}f}, {hi:,.{dec}f}]"


def _markdown_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in df.iterrows():
        out.append("| " + " | ".join("" if pd.isna(row[c]) else str(row[c]) for c in cols) + " |")
    return "\n".join(out)


# --- Running ----------------------------------------------------------------------------------


def _resolve(scenarios, overrides) -> list[Scenario]:
    out = []
    for s in scenarios:
        if isinstance(s, Scenario):
            out.append(s.with_overrides(overrides) if overrides else s)
        else:
            out.append(load_scenario(s, overrides))
    return out


def _unique_names(scs: list[Scenario]) -> list[str]:
    names, seen = [], {}
    for s in scs:
        n = s.name
        seen[n] = seen.get(n, 0) + 1
        names.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
    return names


def check_comparable(scs: list[Scenario], labels: list[str | None] | None = None) -> None:
    """Scenarios compared on common random numbers need one calendar and one candidate pool."""
    base = scs[0]
    labels = labels or [None] * len(scs)
    for s, label in zip(scs[1:], labels[1:]):
        label = label or s.name
        if (s.calendar.start, s.calendar.end) != (base.calendar.start, base.calendar.end):
            raise ScenarioError(f"{label}: calendar: differs from the base scenario's (compare needs one calendar)")
        if [d.model_dump() for d in s.districts] != [d.model_dump() for d in base.districts]:
            raise ScenarioError(f"{label}: districts: differ from the base scenario's (compare needs one candidate pool)")


def compare(scenarios: Sequence[Scenario | str | Path], replicates: int = 5, seed: int = 0,
            out: str | Path | None = None, workers: int | None = None, *, scheduler: str | None = None,
            overrides: dict | list[str] | None = None, force: bool = False, plots: bool = True,
            progress: bool = False, executor=None) -> ComparisonResult:
    """Run every scenario on common random numbers; effects against the first one.

    scenarios : Scenario objects or TOML paths; the first is the base
    replicates, seed : replicate r of every scenario uses run_replicate(scenario, seed, r)
    out : if given, save tables and plots there (see ComparisonResult.save)
    workers : local processes (default: all cores, at most one per run); 1 = in this process
    scheduler : tcp://HOST:PORT of a Dask scheduler instead of the local pool
    overrides : ``--set`` style overrides applied to every scenario (e.g. population.scale)
    """
    if len(scenarios) < 2:
        raise SnSimError("compare: needs at least two scenarios (the base first)")
    if replicates < 1:
        raise SnSimError(f"--replicates: must be at least 1 (got {replicates})")
    scs = _resolve(scenarios, overrides)
    check_comparable(scs, [str(s) if not isinstance(s, Scenario) else None for s in scenarios])
    base = scs[0]
    if out is not None:
        from sn_sim.observe.storage import check_output_dir

        check_output_dir(Path(out), force, kind="compare")  # fail before simulating, not after
    names = _unique_names(scs)
    post_start = outcomes.post_start_for(*scs)
    results = run_on_common_numbers(scs, names, replicates, seed, post_start, workers=workers, scheduler=scheduler,
                                    executor=executor, progress=progress, what="compare")

    effects, summary, reps, series = _analyse(results, names, replicates)
    from sn_sim.api import package_version
    from sn_sim.observe.provenance import provenance

    manifest = {
        "package": "sn_sim", "version": package_version(), "kind": "sn_sim.compare",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "base": names[0], "scenario_names": names, "seed": seed, "replicates": replicates,
        "post_start": post_start.isoformat(), "calendar_end": base.calendar.end.isoformat(),
        "common_random_numbers": "replicate r of every scenario runs run_replicate(scenario, seed, r)",
        "scenarios": [{"name": n, "hash": s.digest(), "scenario": s.to_dict()} for n, s in zip(names, scs)],
        **provenance(),
    }
    res = ComparisonResult(effects=effects, summary=summary, replicates=reps, series=series, manifest=manifest,
                           scenarios=scs)
    if out is not None:
        res.save(out, force=force, plots=plots)
    return res


def run_on_common_numbers(scs: list[Scenario], names: list[str], replicates: int, seed: int, post_start: dt.date, *,
                          workers: int | None = None, scheduler: str | None = None, executor=None,
                          progress: bool = False, what: str = "compare") -> dict[tuple[int, int], dict]:
    """Run replicate r of every scenario with run_replicate(scenario, seed, r) on the local pool,
    a Dask cluster or ``executor``; returns {(scenario index, replicate): per-neighbourhood totals
    and weekly series} (executors.RunTask kind "compare")."""
    from tqdm import tqdm

    from sn_sim.experiment.executors import LocalPoolExecutor, RunTask, default_workers, make_executor

    tasks = [RunTask(scenario=s.to_dict(), seed=seed, replicate=r, post_start=post_start.isoformat(),
                     kind="compare", key=i * replicates + r)
             for i, s in enumerate(scs) for r in range(replicates)]
    own = executor is None
    if own:
        if scheduler:
            executor = make_executor(None, scheduler)
        else:
            executor = LocalPoolExecutor(min(workers or default_workers(), len(tasks)))
        executor.start()
    results: dict[tuple[int, int], dict] = {}
    try:
        with tqdm(total=len(tasks), unit="run", desc=what, disable=not progress, dynamic_ncols=True) as bar:
            for o in executor.run(tasks):
                i, r = divmod(tasks[o.index].key, replicates)
                if not o.ok:
                    raise RuntimeError(f"{what}: {names[i]} replicate {r} failed: {o.error}\n{o.traceback or ''}")
                results[(i, r)] = o.value
                bar.update(1)
    finally:
        if own:
            executor.close()
    return results


def _analyse(results, names, replicates):
    """Replicate-level values and effects, then means and intervals."""
    rows = []
    series = []
    for i, name in enumerate(names):
        for r in range(replicates):
            agg = results[(i, r)]["totals"]
            base_agg = results[(0, r)]["totals"]
            for scope in outcomes.SCOPES:
                mask = None if scope == "all" else agg["treated"].to_numpy()
                if mask is not None and len(mask) != len(base_agg):
                    raise ScenarioError(f"{name}: the candidate pool differs from the base scenario's")
                own = outcomes.summarise_totals(agg, mask)
                ref = outcomes.summarise_totals(base_agg, mask)
                for key in LEVEL_OUTCOMES + ["offences"]:
                    rows.append({"scenario": name, "scope": scope, "replicate": r, "outcome": key,
                                 "base_value": ref[key], "value": own[key], "effect": own[key] - ref[key]})
                # Levels for the summary table: each scenario on its own scope.
            for scope in outcomes.SCOPES:
                s = results[(i, r)][f"series_{scope}"].copy()
                s.insert(0, "scenario", name)
                s.insert(1, "scope", scope)
                s.insert(2, "replicate", r)
                series.append(s)
    reps = pd.DataFrame(rows)

    eff_rows = []
    for (name, scope), g in reps.groupby(["scenario", "scope"], sort=False):
        by = {k: v.sort_values("replicate") for k, v in g.groupby("outcome")}
        for key in LEVEL_OUTCOMES:
            v = by[key]
            e, lo, hi = t_interval(v["effect"].to_numpy())
            eff_rows.append({"scenario": name, "base": names[0], "scope": scope, "outcome": key,
                             "n": int(v["effect"].notna().sum()), "base_mean": v["base_value"].mean(),
                             "mean": v["value"].mean(), "effect": e, "ci_low": lo, "ci_high": hi})
        extra_cost = by["total_cost_usd"]["effect"].to_numpy()
        averted = -by["offences"]["effect"].to_numpy()
        est, lo, hi = ratio_interval(extra_cost, averted) if name != names[0] else (math.nan,) * 3
        eff_rows.append({"scenario": name, "base": names[0], "scope": scope, "outcome": CPA,
                         "n": int((~np.isnan(averted)).sum()), "base_mean": math.nan, "mean": math.nan,
                         "effect": est, "ci_low": lo, "ci_high": hi})
        eff_rows.append({"scenario": name, "base": names[0], "scope": scope, "outcome": "offences_averted",
                         "n": int((~np.isnan(averted)).sum()), "base_mean": by["offences"]["base_value"].mean(),
                         "mean": by["offences"]["value"].mean(), **dict(zip(("effect", "ci_low", "ci_high"),
                                                                            t_interval(averted)))})
    effects = pd.DataFrame(eff_rows)
    labels = {k: lab for k, lab, *_ in OUTCOMES} | {"offences_averted": "Offences averted in the post period"}
    effects.insert(4, "label", effects["outcome"].map(labels))

    # Levels: every scenario on its own treated set for "treated" (the base row uses its own).
    sum_rows = []
    for (name, scope, key), g in reps.groupby(["scenario", "scope", "outcome"], sort=False):
        if key == "offences":
            continue
        m, lo, hi = t_interval(g["value"].to_numpy())
        sum_rows.append({"scenario": name, "scope": scope, "outcome": key, "label": labels[key], "mean": m,
                         "ci_low": lo, "ci_high": hi, "n": int(g["value"].notna().sum())})
    summary = pd.DataFrame(sum_rows)
    return effects, summary, reps, pd.concat(series, ignore_index=True)


# --- Plots ------------------------------------------------------------------------------------

# The weekly series a comparison plots: the registry's series outcomes and the cumulative total
# cost, budget + in-kind (``total_cost_to_date_usd``, the running sum of the weekly cost_usd +
# cost_in_kind_usd); series.parquet also keeps the budget alone (``cost_to_date_usd``).
SERIES = tuple(outcomes.SERIES_OUTCOMES) + ("total_cost_to_date_usd",)
SERIES_LABELS = {n: outcomes.get(n).label + (" (%)" if outcomes.get(n).percent else "")
                 for n in outcomes.SERIES_OUTCOMES} | {
    "total_cost_to_date_usd": "Cumulative cost, budget + in-kind (USD million)"}
SERIES_FACTORS = {n: 100 for n in outcomes.SERIES_OUTCOMES if outcomes.get(n).percent} | {
    "total_cost_to_date_usd": 1e-6}


def _figure(nrows, ncols, size):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=110)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _colours(names):
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def plot_series(res: ComparisonResult, path: Path, scope: str = "all") -> Path:
    """Outcome time series per scenario: mean over replicates with a 95% band (4-week smoothing)."""
    import matplotlib.dates as mdates
    from scipy import stats

    s = res.series[res.series["scope"] == scope]
    names = res.manifest["scenario_names"]
    colours = _colours(names)
    fig, axes = _figure(2, 3, (14, 7.5))
    post = pd.Timestamp(res.manifest["post_start"])
    for ax, col in zip(axes.ravel(), SERIES):
        f = SERIES_FACTORS.get(col, 1)
        for name in names:
            g = s[s["scenario"] == name].pivot(index="date", columns="replicate", values=col).sort_index() * f
            if col != "total_cost_to_date_usd":
                g = g.rolling(4, min_periods=1).mean()
            mean = g.mean(axis=1)
            ax.plot(g.index, mean, color=colours[name], lw=1.4, label=name)
            n = g.shape[1]
            if n > 1:
                half = stats.t.ppf(0.975, n - 1) * g.std(axis=1, ddof=1) / np.sqrt(n)
                ax.fill_between(g.index, mean - half, mean + half, color=colours[name], alpha=0.18, lw=0)
        ax.axvline(post, color="k", ls=":", lw=0.8)
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.set_title(SERIES_LABELS[col], fontsize=10)
        ax.tick_params(labelsize=8)
    axes[0, 0].legend(fontsize=8, loc="best")
    fig.suptitle(f"Outcomes, {SCOPE_LABELS[scope]}: mean of {res.manifest['replicates']} replicates, "
                 f"95% band; dotted line: start of the post period", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_forest(res: ComparisonResult, path: Path) -> Path:
    """Effects with 95% intervals, one panel per outcome; both scopes."""
    names = [n for n in res.manifest["scenario_names"] if n != res.base]
    shown = [o for o in OUTCOMES if o[0] != CPA]
    ncols = 4
    nrows = math.ceil(len(shown) / ncols)
    fig, axes = _figure(nrows, ncols, (15, 2.2 + 0.45 * len(names) * nrows))
    e = res.effects
    markers = {"all": ("o", "#1f77b4", -0.12), "treated": ("s", "#d62728", 0.12)}
    for ax, (key, label, unit, factor, _) in zip(axes.ravel(), shown):
        for scope, (mk, colour, dy) in markers.items():
            sub = e[(e["outcome"] == key) & (e["scope"] == scope)].set_index("scenario")
            for j, n in enumerate(names):
                if n not in sub.index or pd.isna(sub.loc[n, "effect"]):
                    continue
                r = sub.loc[n]
                x = r["effect"] * factor
                lo, hi = r["ci_low"] * factor, r["ci_high"] * factor
                err = None if pd.isna(lo) else [[x - lo], [hi - x]]
                ax.errorbar(x, j + dy, xerr=err, fmt=mk, color=colour, ms=5, capsize=3,
                            label=SCOPE_LABELS[scope] if j == 0 else None)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=8)
        ax.set_ylim(-0.6, len(names) - 0.4)
        ax.invert_yaxis()
        ax.set_title(f"{label}\n({'pp' if unit == '% / pp' else unit})", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
    for ax in axes.ravel()[len(shown):]:
        ax.set_visible(False)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=9)
    fig.suptitle(f"Effects against {res.base} (mean and 95% interval across {res.manifest['replicates']} "
                 f"replicates)", fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path)
    return path


def plot_cost_effect(res: ComparisonResult, path: Path, scope: str = "all") -> Path:
    """Extra cost (budget + in-kind) against offences averted, one point per mix with 95% intervals."""
    names = res.manifest["scenario_names"]
    colours = _colours(names)
    e = res.effects[res.effects["scope"] == scope].set_index(["scenario", "outcome"])
    fig, axes = _figure(1, 1, (8, 6))
    ax = axes[0, 0]
    for name in names:
        a = e.loc[(name, "offences_averted")]
        c = e.loc[(name, "total_cost_usd")]
        x, y = a["effect"], c["effect"] * 1e-6
        xerr = None if pd.isna(a["ci_low"]) else [[x - a["ci_low"]], [a["ci_high"] - x]]
        yerr = None if pd.isna(c["ci_low"]) else [[y - c["ci_low"] * 1e-6], [c["ci_high"] * 1e-6 - y]]
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o", color=colours[name], capsize=3, ms=7)
        cpa = e.loc[(name, CPA), "effect"]
        note = f"{name}" + (f"\n${cpa:,.0f} per offence averted" if not pd.isna(cpa) else "")
        ax.annotate(note, (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.axhline(0, color="k", lw=0.6)
    ax.axvline(0, color="k", lw=0.6)
    ax.set_xlabel(f"Offences averted in the post period ({SCOPE_LABELS[scope]})")
    ax.set_ylabel("Extra total cost, budget + in-kind (USD million)")
    ax.set_title(f"Cost against effect, relative to {res.base}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    return path

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

The effects on the mean trust and insecurity scores are also taken apart by mechanism (contacts
by quality, raids, victims with and without a response, visible patrol; offence rate, disorder,
own victimisation), from the scores' ledger (:mod:`sn_sim.experiment.scores`): ``scores``.
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
from sn_sim.experiment import scores as score_sources
from sn_sim.experiment.paired import (  # noqa: F401  (re-exported: the comparison's public names)
    CPA, LEVEL_OUTCOMES, OUTCOMES, SCOPE_LABELS, markdown_table, ratio_interval,
    run_on_common_numbers, t_interval,
)
from sn_sim.observe import outcomes
from sn_sim.scenario import Scenario, load_scenario

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
    # With channels=True: each treating scenario's effects taken apart by channel (scenario name
    # -> channels.Decomposition), on the same seed and replicates.
    channels: dict = field(default_factory=dict)
    # Effects on the mean trust and insecurity scores by source: one row per scenario x scope x
    # score x source (experiment/scores.py); empty for comparisons saved before version 0.5.
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)

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
                    cell = format_effect(r["effect"] * factor, r["ci_low"] * factor, r["ci_high"] * factor, dec,
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
            lines += [f"## {SCOPE_LABELS[scope].capitalize()}", "", markdown_table(self.table(scope)), ""]
        if not self.scores.empty:
            treated = self.scores[self.scores["scope"] == "treated"]
            lines += ["## Trust and insecurity by mechanism, in the neighbourhoods each scenario treats", "",
                      score_sources.NOTE, "", score_sources.markdown(treated, "scenario", heading="###")]
        return "\n".join(lines)

    def save(self, out: str | Path, force: bool = False, plots: bool = True) -> Path:
        """Write effects.csv/.md, summary.csv, replicates.csv, series.parquet, manifest.json and
        plots/ (paired effects over time, forest plot, cost against effect; PNG and SVG)
        atomically to ``out``."""
        from sn_sim.observe.storage import check_output_dir, file_checksums, safe_name, staged_directory

        out = Path(out)
        check_output_dir(out, force, kind="compare")
        with staged_directory(out, "compare") as tmp:
            self.effects.to_csv(tmp / "effects.csv", index=False)
            self.scores.to_csv(tmp / "scores.csv", index=False)
            (tmp / "effects.md").write_text(self.markdown() + "\n")
            self.summary.to_csv(tmp / "summary.csv", index=False)
            self.replicates.to_csv(tmp / "replicates.csv", index=False)
            self.series.to_parquet(tmp / "series.parquet", index=False)
            # The manifest, written after the data files, records their checksums (as a run's does).
            checksums = file_checksums(tmp, COMPARE_FILES)
            (tmp / "manifest.json").write_text(json.dumps({**self.manifest, "checksums": checksums}, indent=2,
                                                          default=str))
            if plots:
                self.write_figures(tmp / "plots")
            if self.channels:
                (tmp / "channels").mkdir()
            for name, decomposition in self.channels.items():
                decomposition.save(tmp / "channels" / safe_name(name), plots=plots)
        return out

    def plot(self, name: str = "effects_over_time", scope: str = "all"):
        """One comparison figure as a matplotlib Figure (shown inline in a notebook): ``name`` is
        ``effects_over_time`` (paired effects week by week, whole pool), ``forest`` (effects with
        intervals, both scopes), ``cost_effect`` (extra cost against offences averted) or
        ``scores_by_source`` (waterfalls of the effects on trust and insecurity by mechanism);
        ``scope`` ``all`` or ``treated`` for ``cost_effect`` and ``scores_by_source``."""
        if name not in FIGURES:
            raise SnSimError(f"plot: unknown figure {name!r} (expected one of {', '.join(FIGURES)})")
        if scope not in outcomes.SCOPES:
            raise SnSimError(f"plot: unknown scope {scope!r} (expected one of {', '.join(outcomes.SCOPES)})")
        if name == "cost_effect":
            return cost_effect_figure(self, scope)
        if name == "scores_by_source":
            return scores_figure(self, scope)
        if scope != "all":
            raise SnSimError(f"plot: {name} has no scope (effects over time: the whole pool, whose weeks are "
                             "paired; forest: both scopes)")
        return forest_figure(self) if name == "forest" else effects_over_time_figure(self)

    def figures(self) -> dict:
        """Every comparison figure (name -> Figure): on the whole pool, the mechanisms on the
        treated neighbourhoods (where they act); none for a comparison saved without scores."""
        return {name: self.plot(name, "treated" if name == "scores_by_source" else "all") for name in FIGURES
                if name != "scores_by_source" or not self.scores.empty}

    def write_figures(self, directory: str | Path) -> list[Path]:
        """Save every figure into ``directory`` as PNG and SVG; return the paths."""
        from sn_sim.observe import style

        paths = []
        for name, fig in self.figures().items():
            paths += style.save(fig, Path(directory) / f"{name}.png")
            fig.clear()
        return paths


def _fmt(x: float, dec: int) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.{dec}f}"


def format_effect(e: float, lo: float, hi: float, dec: int, signed: bool = True) -> str:
    if math.isnan(e):
        return "n/a"
    sign = "+" if e > 0 and signed else ""
    if math.isnan(lo):
        return f"{sign}{e:,.{dec}f}"
    return f"{sign}{e:,.{dec}f} [{lo:,.{dec}f}, {hi:,.{dec}f}]"


# --- Reading a saved comparison -------------------------------------------------------------

COMPARE_FILES = ("effects.csv", "effects.md", "summary.csv", "replicates.csv", "series.parquet", "scores.csv")


def load_comparison(path: str | Path, verify: bool = True) -> ComparisonResult:
    """Read a directory written by :meth:`ComparisonResult.save` (``sn-sim compare``).

    With ``verify`` (the default) every data file must match the checksum its manifest records.
    Anything else -- not a directory, no or another kind of manifest, a missing, changed or
    unreadable file -- raises :class:`SnSimError` in one line naming the file."""
    from sn_sim.observe.storage import reading, verify_checksums

    path = Path(path)
    if not path.is_dir():
        raise SnSimError(f"{path}: compare directory not found" if not path.exists() else
                         f"{path}: not a directory (expected a compare directory written by 'sn-sim compare')")
    mpath = path / "manifest.json"
    if not mpath.is_file():
        raise SnSimError(f"{path}: not a compare directory (missing manifest.json)")
    with reading(mpath):
        text = mpath.read_bytes()
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise SnSimError(f"{mpath}: not valid JSON ({exc})"[:300]) from None
    if not isinstance(manifest, dict) or manifest.get("kind") != "sn_sim.compare":
        raise SnSimError(f"{mpath}: not a compare manifest (kind is not sn_sim.compare)")
    for key, kind in (("base", str), ("scenario_names", list), ("seed", int), ("replicates", int),
                      ("post_start", str), ("calendar_end", str), ("scenarios", list)):
        if not isinstance(manifest.get(key), kind) or isinstance(manifest.get(key), bool):
            raise SnSimError(f"{mpath}: {key}: missing or not a {kind.__name__}")
    if manifest["base"] not in manifest["scenario_names"] or not all(
            isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(s.get("scenario"), dict)
            for s in manifest["scenarios"]):
        raise SnSimError(f"{mpath}: scenarios: not the scenarios of this comparison (base, names, resolved scenarios)")
    if verify:
        verify_checksums(path, manifest)
    frames = {}
    for name in ("effects.csv", "summary.csv", "replicates.csv", "series.parquet"):
        if not (path / name).is_file():
            raise SnSimError(f"{path}: not a compare directory (missing {name})")
        with reading(path / name):
            frames[name] = (pd.read_parquet(path / name) if name.endswith(".parquet")
                            else pd.read_csv(path / name, keep_default_na=False, na_values=[""]))
    series = frames["series.parquet"]
    if "date" in series.columns:
        series["date"] = pd.to_datetime(series["date"])
    by_source = pd.DataFrame()
    if (path / "scores.csv").is_file():  # comparisons saved before version 0.5 have none
        with reading(path / "scores.csv"):
            by_source = pd.read_csv(path / "scores.csv", keep_default_na=False, na_values=[""])
    try:
        return ComparisonResult(effects=frames["effects.csv"], summary=frames["summary.csv"],
                                replicates=frames["replicates.csv"], series=series, manifest=manifest,
                                scores=by_source)
    except (KeyError, TypeError) as exc:
        raise SnSimError(f"{mpath}: incomplete compare manifest ({exc})") from None


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
            progress: bool = False, executor=None, channels: bool = False) -> ComparisonResult:
    """Run every scenario on common random numbers; effects against the first one.

    scenarios : Scenario objects or TOML paths; the first is the base
    replicates, seed : replicate r of every scenario uses run_replicate(scenario, seed, r)
    out : if given, save tables and plots there (see ComparisonResult.save)
    workers : local processes (default: all cores, at most one per run); 1 = in this process
    scheduler : tcp://HOST:PORT of a Dask scheduler instead of the local pool
    overrides : ``--set`` style overrides applied to every scenario (e.g. population.scale)
    channels : also take each other scenario that treats neighbourhoods apart by channel
        (``channels.decompose``, same seed and replicates; saved under ``channels/<name>/``)
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
    by_source = _scores(results, names, replicates)
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
    decompositions = {}
    if channels:
        from sn_sim.experiment.channels import decompose
        from sn_sim.observe.storage import safe_name

        for name, sc in zip(names[1:], scs[1:]):
            if sc.strategy.rollout:  # a scenario that treats nobody has no effect to take apart
                decompositions[name] = decompose(sc, replicates=replicates, seed=seed, workers=workers,
                                                 scheduler=scheduler, executor=executor, progress=progress)
        manifest["channels"] = {n: f"channels/{safe_name(n)}" for n in decompositions}
    res = ComparisonResult(effects=effects, summary=summary, replicates=reps, series=series, manifest=manifest,
                           scenarios=scs, channels=decompositions, scores=by_source)
    if out is not None:
        res.save(out, force=force, plots=plots)
    return res


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


def _scores(results, names, replicates) -> pd.DataFrame:
    """Effects on the mean trust and insecurity scores by source, each scenario against the base
    on its own scope (as the effects table)."""
    rows = []
    for i, name in enumerate(names[1:], start=1):
        for r in range(replicates):
            agg, base_agg = results[(i, r)]["totals"], results[(0, r)]["totals"]
            for scope in outcomes.SCOPES:
                mask = None if scope == "all" else agg["treated"].to_numpy()
                own = outcomes.summarise_totals(agg, mask, outcomes.LEDGER_OUTCOMES)
                ref = outcomes.summarise_totals(base_agg, mask, outcomes.LEDGER_OUTCOMES)
                rows += [{"scenario": name, "scope": scope, "replicate": r, **row}
                         for row in score_sources.replicate_rows(own, ref)]
    return score_sources.summarise(pd.DataFrame(rows), ["scenario", "scope"]) if rows else pd.DataFrame()


# --- Plots ------------------------------------------------------------------------------------

# The weekly series a comparison plots: the registry's series outcomes and the cumulative total
# cost, budget + in-kind (``total_cost_to_date_usd``, the running sum of the weekly cost_usd +
# cost_in_kind_usd); series.parquet also keeps the budget alone (``cost_to_date_usd``).
SERIES = tuple(outcomes.SERIES_OUTCOMES) + ("total_cost_to_date_usd",)
SERIES_LABELS = {n: outcomes.get(n).label for n in outcomes.SERIES_OUTCOMES} | {
    "total_cost_to_date_usd": "Cumulative cost, budget + in-kind"}
# Units of an effect (a difference): shares in percentage points, costs in USD million.
SERIES_UNITS = {n: ("percentage points" if outcomes.get(n).percent else outcomes.get(n).unit)
                for n in outcomes.SERIES_OUTCOMES} | {"total_cost_to_date_usd": "USD million"}
SERIES_FACTORS = {n: 100 for n in outcomes.SERIES_OUTCOMES if outcomes.get(n).percent} | {
    "total_cost_to_date_usd": 1e-6}
SMOOTH_WEEKS = 4
FIGURES = ("effects_over_time", "forest", "cost_effect", "scores_by_source")


def _date_axis(ax) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def paired_effects_over_time(res: ComparisonResult, col: str) -> dict[str, pd.DataFrame]:
    """Week by week, each scenario minus the base over the whole pool, replicate by replicate
    (common random numbers), smoothed per replicate over 4 weeks (not the cumulative cost); per
    scenario a frame indexed by date with the mean effect and its 95% t-interval across
    replicates (display units). Only the whole pool: the weekly series of the "treated" scope
    are each scenario's own treated neighbourhoods, not the same neighbourhoods in the base."""
    from scipy import stats

    s = res.series[res.series["scope"] == "all"]
    f = SERIES_FACTORS.get(col, 1)

    def wide(name):
        g = s[s["scenario"] == name].pivot(index="date", columns="replicate", values=col).sort_index() * f
        return g if col == "total_cost_to_date_usd" else g.rolling(SMOOTH_WEEKS, min_periods=1).mean()

    base = wide(res.base)
    out = {}
    for name in res.manifest["scenario_names"]:
        if name == res.base:
            continue
        d = wide(name) - base  # same replicate r in both: the paired difference
        n = d.notna().sum(axis=1)
        mean = d.mean(axis=1)
        t = stats.t.ppf(0.975, np.maximum(n - 1, 1))
        half = pd.Series(np.where(n > 1, t * d.std(axis=1, ddof=1) / np.sqrt(n), np.nan), index=d.index)
        out[name] = pd.DataFrame({"effect": mean, "lo": mean - half, "hi": mean + half, "n": n})
    return out


def effects_over_time_figure(res: ComparisonResult):
    """Paired effects over time on the whole pool: each scenario minus the base, mean and 95%
    interval across replicates, one panel per outcome; 0 = no difference from the base."""
    from sn_sim.observe import style

    others = [n for n in res.manifest["scenario_names"] if n != res.base]
    looks = style.series_styles(others)
    effects = {col: paired_effects_over_time(res, col) for col in SERIES}
    # A scenario whose effect is exactly 0 on every outcome and week is the base again: listed, not drawn.
    same = [n for n in others if all(style.all_zero(effects[c][n]["effect"]) for c in SERIES)]
    fig, axes = style.figure(2, 3, (14, 7.5), sharex=True)
    post = pd.Timestamp(res.manifest["post_start"])
    for ax, col in zip(axes.ravel(), SERIES):
        for name in others:
            if name in same:
                continue
            e = effects[col][name]
            look = dict(looks[name])
            look["markevery"] = max(len(e) // 8, 1)
            ax.plot(e.index, e["effect"], lw=1.5, ms=4, label=name, **look)
            if e["n"].max() > 1:
                ax.fill_between(e.index, e["lo"], e["hi"], color=look["color"], alpha=0.15, lw=0)
        style.zero_line(ax)
        style.include_zero(ax)
        ax.axvline(post, color=style.BLACK, ls=":", lw=0.8)
        _date_axis(ax)
        ax.set_title(SERIES_LABELS[col], fontsize=10)
        ax.set_ylabel(f"difference ({SERIES_UNITS[col]})", fontsize=8)
        ax.tick_params(labelsize=8)
        style.tidy(ax)
    if len(others) > len(same):
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), fontsize=9)
    n = res.manifest["replicates"]
    detail = (f"{SCOPE_LABELS['all']}: each scenario minus {res.base}, replicate by replicate on common random "
              f"numbers; line = mean of {n} replicates, band = 95% interval"
              + ("" if n > 1 else " (none with one replicate)")
              + f"; {SMOOTH_WEEKS}-week rolling mean (cost: cumulative); 0 = same as {res.base}; "
              "dotted line: start of the post period"
              + (f"; identical to {res.base} throughout, not drawn: {', '.join(same)}" if same else ""))
    style.title(fig, f"How much does each mix change crime, victimisation, trust, insecurity, youth in gangs "
                f"and cost compared with {res.base}, week by week?", detail)
    return fig


def forest_figure(res: ComparisonResult):
    """Effects with 95% intervals, one panel per outcome; both scopes."""
    from matplotlib.ticker import MaxNLocator

    from sn_sim.observe import style

    names = [n for n in res.manifest["scenario_names"] if n != res.base]
    shown = [o for o in OUTCOMES if o[0] != CPA]
    ncols = 4
    nrows = math.ceil(len(shown) / ncols)
    fig, axes = style.figure(nrows, ncols, (15, 2.6 + 0.45 * max(len(names), 1) * nrows))
    e = res.effects
    markers = {"all": ("o", style.BLUE, -0.12), "treated": ("s", style.VERMILLION, 0.12)}
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
        style.zero_line(ax, "x")
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=8)
        ax.set_ylim(-0.6, len(names) - 0.4)
        ax.invert_yaxis()
        ax.set_title(f"{label}", fontsize=9)
        ax.set_xlabel(f"difference ({'percentage points' if unit == '% / pp' else unit})", fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(4))  # narrow panels: few ticks, so labels never run together
        style.tidy(ax)
    for ax in axes.ravel()[len(shown):]:
        ax.set_visible(False)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=9)
    style.title(fig, f"Which mixes change which outcome, compared with {res.base}, and how surely?",
                f"effect = scenario minus {res.base}: mean and 95% interval across {res.manifest['replicates']} "
                "paired replicates; an interval that crosses 0 is no clear difference; post period (costs: whole "
                "calendar)")
    return fig


def cost_effect_figure(res: ComparisonResult, scope: str = "all"):
    """Extra cost (budget + in-kind) against offences averted, one marker per mix with 95%
    intervals. The mixes are told apart by colour and marker and named in the legend with their
    cost per offence averted, so no label can print over another or off the axes."""
    from matplotlib.ticker import StrMethodFormatter

    from sn_sim.observe import style

    names = [n for n in res.manifest["scenario_names"] if n != res.base]
    looks = style.series_styles(names)
    e = res.effects[res.effects["scope"] == scope].set_index(["scenario", "outcome"])
    fig, axes = style.figure(1, 1, (9, 6.5))
    ax = axes[0, 0]
    ax.plot([0], [0], marker="o", ms=8, color=style.BLACK, mfc="white", ls="none", label=f"{res.base} (the base)")
    for name in names:
        a = e.loc[(name, "offences_averted")]
        c = e.loc[(name, "total_cost_usd")]
        x, y = a["effect"], c["effect"] * 1e-6
        xerr = None if pd.isna(a["ci_low"]) else [[x - a["ci_low"]], [a["ci_high"] - x]]
        yerr = None if pd.isna(c["ci_low"]) else [[y - c["ci_low"] * 1e-6], [c["ci_high"] * 1e-6 - y]]
        cpa, lo, hi = (e.loc[(name, CPA), k] for k in ("effect", "ci_low", "ci_high"))
        if pd.isna(cpa):
            note = "averts no offences on average"
        else:
            note = f"USD {cpa:,.0f}" + ("" if pd.isna(lo) else f" [{lo:,.0f}, {hi:,.0f}]") + " per offence averted"
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt=looks[name]["marker"], color=looks[name]["color"],
                    capsize=3, ms=8, label=f"{name}: {note}")
    style.zero_line(ax, "y")
    style.zero_line(ax, "x")
    ax.margins(0.15)  # room around the outermost intervals
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_xlabel(f"Offences averted in the post period (offences; {SCOPE_LABELS[scope]})")
    ax.set_ylabel("Extra total cost, budget + in-kind (USD million)")
    style.tidy(ax)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=1, fontsize=8)
    style.title(fig, f"What does each offence averted cost, compared with {res.base}?",
                f"mean and 95% interval across {res.manifest['replicates']} paired replicates; cost per offence "
                "averted = extra total cost / offences averted (Fieller interval; none when unbounded); right = "
                "more offences averted, up = more spent")
    return fig


def scores_figure(res: ComparisonResult, scope: str = "treated"):
    """Waterfalls of the effects on the mean trust and insecurity scores by mechanism, one row per
    scenario (experiment/scores.py)."""
    if res.scores.empty:
        raise SnSimError("plot: this comparison has no scores by source (saved before version 0.5)")
    t = res.scores[res.scores["scope"] == scope]
    where = "in the neighbourhoods each scenario treats" if scope == "treated" else "over the whole pool"
    return score_sources.figure(t, "scenario", f"Which mechanisms moved trust and insecurity, {where}?",
                                f"against {res.base}, at the end of the run: " + score_sources.FIGURE_NOTE)

"""Effects taken apart by channel: which of the Strategy's lines of action produced which part of
an effect.

``decompose(scenario)`` runs a chain of worlds on common random numbers (replicate r of every
world draws the same random numbers): W0 with every channel of ``strategy.channels`` switched off
(the same neighbourhoods get the same money, which buys nothing that acts), then W1, W2, ... each
switching one more channel on, up to the full scenario. Channel k's contribution in replicate r is

    c_k,r = outcome(W_k, r) - outcome(W_k-1, r)

over the neighbourhoods the full scenario treats (and over the whole pool), so the contributions
add up exactly to the total effect outcome(W_K, r) - outcome(W_0, r). This is a sequential
decomposition: where channels interact (e.g. patrol deters offenders whom a program has already
made less likely to offend), a channel's contribution depends on the channels switched on before
it; ``order`` changes the order, and comparing two orders shows how large the interactions are.
Means and 95% intervals are taken across replicates, as in ``compare``.

The same differences are also kept neighbourhood by neighbourhood and week by week
(``neighbourhood_weeks``: offences, violent offences, victims, recorded crimes and displaced
offences added (+) or prevented (-) by each channel), so one can see where a channel's effect
falls: a channel that lowers offences in the neighbourhoods it treats and raises them next door
displaces crime; one that lowers them next door too diffuses its benefits.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from sn_sim.errors import SnSimError
from sn_sim.experiment.executors import NEIGHBOURHOOD_FLOWS
from sn_sim.experiment.paired import OUTCOMES, markdown_table, run_on_common_numbers, t_interval
from sn_sim.observe import outcomes
from sn_sim.scenario import Scenario, validate
from sn_sim.scenario.calendar import WEEKS_PER_YEAR
from sn_sim.scenario.schema import Channels

CHANNELS: tuple[str, ...] = tuple(Channels.model_fields)  # the default order
CHANNEL_LABELS = {
    "patrol": "Extra patrol (deterrence, displacement, diffusion)",
    "operations": "Intelligence operations (incapacitation, raids)",
    "community_policing": "Community-police contacts",
    "programs": "Sectoral programs",
    "culture_points": "Culture Points",
    "juntas": "Juntas and community activities",
    "spaces": "Recovered public spaces",
    "alcohol": "Alcohol control",
}
# The outcomes decomposed: compare's outcomes without the costs (money is spent in every world).
DECOMPOSED = [o for o in OUTCOMES if o[0] in ("offences_per_1000_year", "victimisation_12m", "trust_police",
                                               "insecurity", "youth_in_gangs")]


def parse_order(text: str | Sequence[str] | None) -> list[str]:
    """The channel order: every channel once (missing ones follow in the default order)."""
    if text is None:
        return list(CHANNELS)
    names = [x.strip() for x in (text.split(",") if isinstance(text, str) else text) if x.strip()]
    unknown = [x for x in names if x not in CHANNELS]
    if unknown:
        raise SnSimError(f"--order: unknown channel {unknown[0]!r} (channels: {', '.join(CHANNELS)})")
    if len(set(names)) != len(names):
        raise SnSimError("--order: a channel is named twice")
    return names + [c for c in CHANNELS if c not in names]


def chain(scenario: Scenario, order: Sequence[str]) -> list[tuple[str, Scenario]]:
    """(name, world) for W0 (every channel off) and one more channel on at each step. Channels
    the scenario cannot use (Culture Points without districts) are left out: they add nothing.
    Channels missing from ``order`` follow in the default order."""
    used = [c for c in parse_order(order) if c != "culture_points" or scenario.culture_points.districts]
    data = scenario.to_dict()
    worlds = []
    on: set[str] = set()
    for step in [None] + used:
        if step is not None:
            on.add(step)
        flags = {c: c in on for c in CHANNELS}
        d = {**data, "strategy": {**data["strategy"], "channels": flags},
             "name": f"{scenario.name}+{step}" if step else f"{scenario.name}:no_channel"}
        worlds.append((step or "none", validate(d, source="channel decomposition")))
    return worlds


@dataclass
class Decomposition:
    """Contributions of each channel to a scenario's effects.

    table : one row per scope x outcome x channel (and "total"): effect, ci_low, ci_high, n, and
        the all-channels-off level ``base_mean``
    replicates : one row per scope x outcome x channel x replicate: contribution
    manifest : scenario, its hash, channel order, seed, replicates, provenance
    neighbourhood_weeks : one row per replicate x channel x week x neighbourhood: each weekly flow
        of :data:`NEIGHBOURHOOD_FLOWS` in the world with the channel on minus the world before it
        (inhabitant units), and whether the full scenario treats the neighbourhood (``treated``)
    """

    table: pd.DataFrame
    replicates: pd.DataFrame
    manifest: dict
    scenario: Scenario | None = field(repr=False, default=None)
    neighbourhood_weeks: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)

    def where(self) -> pd.DataFrame:
        """Offences each channel added (+) or prevented (-) per year of the post period, in the
        neighbourhoods the scenario treats and in the others (displacement or diffusion), as means
        across replicates."""
        nw = self.neighbourhood_weeks
        if nw.empty:
            return pd.DataFrame()
        post = nw[nw["week"] >= self.manifest["post_start_week"]]
        years = post["week"].nunique() / WEEKS_PER_YEAR
        g = post.groupby(["channel", "treated", "replicate"], observed=True)["offences"].sum().groupby(
            ["channel", "treated"], observed=True).mean().unstack("treated").reindex(self.manifest["order"])
        def per_year(treated: bool) -> np.ndarray:  # a pool the scenario treats whole has no "other"
            return (g[treated].to_numpy() if treated in g.columns else np.zeros(len(g))) / years

        return pd.DataFrame({"channel": [CHANNEL_LABELS[c] for c in g.index],
                             "treated neighbourhoods": per_year(True), "other neighbourhoods": per_year(False)})

    def wide(self, scope: str = "treated") -> pd.DataFrame:
        """Channels x outcomes in display units: 'contribution [95% interval]'."""
        t = self.table[self.table["scope"] == scope]
        rows = []
        for ch in self.manifest["order"] + ["total"]:
            sub = t[t["channel"] == ch].set_index("outcome")
            if sub.empty:
                continue
            row = {"channel": CHANNEL_LABELS.get(ch, "Total effect")}
            for key, label, unit, factor, dec in DECOMPOSED:
                r = sub.loc[key]
                row[f"{label} ({unit})"] = _cell(r["effect"] * factor, r["ci_low"] * factor, r["ci_high"] * factor, dec)
            rows.append(row)
        return pd.DataFrame(rows)

    def markdown(self) -> str:
        m = self.manifest
        lines = [f"# {m['scenario_name']}: effects by channel", "",
                 f"{m['replicates']} replicates on common random numbers (seed {m['seed']}); post period from "
                 f"{m['post_start']}. Each channel's contribution is the change when it is switched on after the "
                 f"channels above it (every world spends the same money); contributions add up to the total "
                 f"effect against the world with every channel off. Cells: contribution [95% interval] across "
                 f"replicates; shares in percentage points.", ""]
        for scope, title in (("treated", "Neighbourhoods the scenario treats"), ("all", "All neighbourhoods of the pool")):
            lines += [f"## {title}", "", markdown_table(self.wide(scope)), ""]
        where = self.where()
        if not where.empty:
            shown = where.assign(**{c: where[c].map(lambda x: f"{x:+,.0f}") for c in where.columns[1:]})
            lines += ["## Where the offences fall", "",
                      "Offences each channel added (+) or prevented (-) per year of the post period, in the "
                      "neighbourhoods the scenario treats and in all the others (+ there: displacement; -: diffusion "
                      "of benefits); means across replicates, inhabitant units. Week by week and neighbourhood by "
                      "neighbourhood in neighbourhood_weeks.parquet.", "", markdown_table(shown), ""]
        return "\n".join(lines)

    def plot(self, scope: str = "treated"):
        """A waterfall per outcome as a matplotlib Figure: each channel's contribution stacked to
        the total effect (colours and title from :mod:`sn_sim.observe.style`)."""
        from sn_sim.observe import style

        t = self.table[self.table["scope"] == scope]
        order = [c for c in self.manifest["order"] if c in set(t["channel"])]
        cols = 3
        rows = -(-len(DECOMPOSED) // cols)
        fig, axes = style.figure(rows, cols, (5.2 * cols, 4.2 * rows + 0.4))
        axes = axes.ravel()
        for ax in axes[len(DECOMPOSED):]:
            ax.set_visible(False)
        for ax, (key, label, unit, factor, dec) in zip(axes, DECOMPOSED):
            sub = t[t["outcome"] == key].set_index("channel")
            vals = np.array([sub.loc[c, "effect"] for c in order]) * factor
            lo = np.array([sub.loc[c, "ci_low"] for c in order]) * factor
            hi = np.array([sub.loc[c, "ci_high"] for c in order]) * factor
            style.waterfall(ax, [CHANNEL_LABELS[c].split(" (")[0] for c in order], vals, lo, hi,
                            sub.loc["total", "effect"] * factor)
            ax.set_title(f"{label}\n({unit}; change against no channel)", fontsize=9)
        style.title(fig, f"Which of the Strategy's channels produced the effect of {self.manifest['scenario_name']}?",
                    f"{'treated neighbourhoods' if scope == 'treated' else 'whole pool'}: each channel's contribution "
                    "(blue: down, vermillion: up) with its 95% interval across replicates, stacked to the total "
                    "effect (hatched) against the world with every channel off")
        return fig

    def save(self, out: str | Path, force: bool = False, plots: bool = True) -> Path:
        """channels.csv, channels.md, replicates.csv, neighbourhood_weeks.parquet, manifest.json
        (with checksums) and plots/waterfall.png/.svg, written atomically to ``out``."""
        from sn_sim.observe.storage import check_output_dir, file_checksums, staged_directory

        out = Path(out)
        check_output_dir(out, force, kind="decompose")
        with staged_directory(out, "decompose") as tmp:
            self.table.to_csv(tmp / "channels.csv", index=False)
            (tmp / "channels.md").write_text(self.markdown() + "\n")
            self.replicates.to_csv(tmp / "replicates.csv", index=False)
            self.neighbourhood_weeks.to_parquet(tmp / "neighbourhood_weeks.parquet", index=False)
            checksums = file_checksums(tmp, ["channels.csv", "channels.md", "replicates.csv",
                                             "neighbourhood_weeks.parquet"])
            (tmp / "manifest.json").write_text(json.dumps({**self.manifest, "checksums": checksums}, indent=2,
                                                          default=str))
            if plots:
                from sn_sim.observe import style

                for scope, stem in (("treated", "waterfall"), ("all", "waterfall_pool")):
                    style.save(self.plot(scope), tmp / "plots" / f"{stem}.png")
        return out


def _cell(e: float, lo: float, hi: float, dec: int) -> str:
    if np.isnan(e):
        return ""
    text = f"{e:+,.{dec}f}"
    return text if np.isnan(lo) else f"{text} [{lo:,.{dec}f}, {hi:,.{dec}f}]"


def decompose(scenario: Scenario, replicates: int = 5, seed: int = 0, order: Sequence[str] | str | None = None,
              out: str | Path | None = None, *, workers: int | None = None, scheduler: str | None = None,
              executor=None, force: bool = False, plots: bool = True, progress: bool = False) -> Decomposition:
    """Take the scenario's effects apart by channel (module docstring)."""
    if replicates < 1:
        raise SnSimError(f"--replicates: must be at least 1 (got {replicates})")
    if not scenario.strategy.rollout:
        raise SnSimError(f"{scenario.name}: the scenario treats no neighbourhood (strategy.rollout is empty); "
                         f"there is no effect to decompose")
    order = parse_order(order)
    if out is not None:
        from sn_sim.observe.storage import check_output_dir

        check_output_dir(Path(out), force, kind="decompose")  # fail before simulating, not after
    worlds = chain(scenario, order)
    steps = [name for name, _ in worlds]
    scs = [w for _, w in worlds]
    post_start = outcomes.post_start_for(scenario)
    results = run_on_common_numbers(scs, [w.name for w in scs], replicates, seed, post_start, workers=workers,
                                    scheduler=scheduler, executor=executor, progress=progress, what="decompose",
                                    kind="decompose")

    keys = [o[0] for o in DECOMPOSED]
    rows = []
    for r in range(replicates):
        full = results[(len(scs) - 1, r)]["totals"]
        for scope in outcomes.SCOPES:
            # The full scenario's treated neighbourhoods in every world, so contributions telescope.
            mask = None if scope == "all" else full["treated"].to_numpy()
            levels = [outcomes.summarise_totals(results[(i, r)]["totals"], mask) for i in range(len(scs))]
            for key in keys:
                for k in range(1, len(scs)):
                    rows.append({"scope": scope, "outcome": key, "channel": steps[k], "replicate": r,
                                 "base_value": levels[0][key], "contribution": levels[k][key] - levels[k - 1][key]})
                rows.append({"scope": scope, "outcome": key, "channel": "total", "replicate": r,
                             "base_value": levels[0][key], "contribution": levels[-1][key] - levels[0][key]})
    reps = pd.DataFrame(rows)
    table = []
    for (scope, key, ch), g in reps.groupby(["scope", "outcome", "channel"], sort=False):
        e, lo, hi = t_interval(g["contribution"].to_numpy())
        table.append({"scope": scope, "outcome": key, "channel": ch, "label": CHANNEL_LABELS.get(ch, "Total effect"),
                      "effect": e, "ci_low": lo, "ci_high": hi, "n": int(g["contribution"].notna().sum()),
                      "base_mean": g["base_value"].mean()})

    from sn_sim.api import package_version
    from sn_sim.observe.provenance import provenance

    manifest = {
        "package": "sn_sim", "version": package_version(), "kind": "sn_sim.decompose",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "scenario_name": scenario.name, "scenario_hash": scenario.digest(), "scenario": scenario.to_dict(),
        "order": steps[1:], "seed": seed, "replicates": replicates, "post_start": post_start.isoformat(),
        "common_random_numbers": "replicate r of every world runs run_replicate(world, seed, r)",
        **provenance(),
    }
    # The first week whose Monday (calendar.start + 7 x week) is in the post period.
    manifest["post_start_week"] = -(-(post_start - scenario.calendar.start).days // 7)
    res = Decomposition(table=pd.DataFrame(table), replicates=reps, manifest=manifest, scenario=scenario,
                        neighbourhood_weeks=_neighbourhood_weeks(results, steps, replicates))
    if out is not None:
        res.save(out, force=force, plots=plots)
    return res


def _neighbourhood_weeks(results, steps: list[str], replicates: int) -> pd.DataFrame:
    """Each channel's change to every neighbourhood's weekly flows: world k minus world k-1, on
    the same replicate (the rows of every world's flows are in the same panel order)."""
    frames = []
    for r in range(replicates):
        flows = [results[(i, r)]["flows"] for i in range(len(steps))]
        treated = results[(len(steps) - 1, r)]["totals"]["treated"].to_numpy()
        keys = flows[0][["week", "neighbourhood"]].reset_index(drop=True)
        for k in range(1, len(steps)):
            change = {c: flows[k][c].to_numpy() - flows[k - 1][c].to_numpy() for c in NEIGHBOURHOOD_FLOWS}
            frames.append(pd.DataFrame({"replicate": np.int32(r), "channel": steps[k], **keys,
                                        "treated": treated[keys["neighbourhood"].to_numpy()], **change}))
    out = pd.concat(frames, ignore_index=True)
    out["channel"] = pd.Categorical(out["channel"], categories=steps[1:])
    return out

"""Tables, figures and the Markdown report of a screening (``sn-sim screen``).

Every statement of the report is computed from the runs: which pillar effects keep their sign
across the points of both designs, how often the ranking of the pillars changes, how large the
Monte Carlo noise is. Only the sentences on what evidence would pin a parameter down are text,
chosen by the parameter's section (and a few keys) from :data:`EVIDENCE`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from sn_sim.observe import outcomes

from .screening import (
    BEST_CHANGED, EFFECT_OUTCOMES, KENDALL, ONLY, ScreenResult, Stage, assumed_table, effect_column, plan_screen,
)

HOLDS = 0.9  # a conclusion "holds" when it is the same at this share of the points or more
TOP_SHOWN = 20  # parameters in the Morris table and figure
FILES = ("parameters.csv", "excluded.csv", "nominal.csv", "morris_points.csv", "sobol_points.csv", "morris.csv",
         "sobol.csv", "robustness.csv", "sensitivity.md")
UNITS = {"offences_per_1000_year": ("offences per 1,000 residents a year", 1.0),
         "victimisation_12m": ("percentage points", 100.0), "trust_police": ("percentage points", 100.0),
         "insecurity": ("percentage points", 100.0)}

# What evidence would pin a parameter down: by key, else by section.
EVIDENCE = {
    "crime.displacement_share": "before/after offence counts in the blocks next to patrolled hot spots "
                                "(geocoded PNP complaints), as in the displacement studies Guerette & Bowers review",
    "crime.diffusion_weight": "the same geocoded counts around treated neighbourhoods: a fall next door is diffusion",
    "crime.patrol_max_deterrence": "a randomised or staggered change of patrol hours in Peruvian hot spots, with "
                                   "offences by block before and after",
    "crime.patrol_half_hours": "the same patrol experiment at several intensities (the dose-response curve)",
    "police.contact_gain": "repeated trust surveys of residents with and without good contacts with community police",
    "police.contact_loss": "the same surveys for residents after bad contacts (Skogan's asymmetry in Lima)",
    "police.implementation_quality": "observations or resident ratings of community-police contacts in treated "
                                     "neighbourhoods",
    "youth.peer_effect": "panel data on gang involvement of youths by the involvement of their peers "
                         "(a longitudinal youth survey in treated neighbourhoods)",
    "budget.usd_per_neighbourhood_year": "the program's audited spending per neighbourhood and year",
}
SECTION_EVIDENCE = {
    "calendar": "a longer spin-up or measurement window in a test run (a numerical setting, not evidence about Peru)",
    "population": "household survey microdata (ENAHO) on the distribution of risk factors by neighbourhood",
    "districts": "district crime statistics (INEI, PNP complaints) relative to the national urban rate",
    "land_use": "a block-level land-use map (municipal cadastre, OpenStreetMap) with geocoded offences",
    "crime": "geocoded offence records (PNP complaints) and ENAPRES victimisation at neighbourhood level, "
             "before and after the Strategy",
    "reporting": "PNP and judiciary records: complaints, clearances, convictions and sentence lengths",
    "trust": "repeated ENAPRES trust-in-police questions in treated and control neighbourhoods",
    "insecurity": "repeated ENAPRES perceived-insecurity questions in treated and control neighbourhoods",
    "youth": "a longitudinal survey of youths in treated neighbourhoods (onset, recruitment, exit from gangs)",
    "police": "PNP deployment and activity records of the Strategy (hours, contacts, operations, costs)",
    "programs": "the sectors' program evaluations and enrolment records (participants, completion, effects)",
    "culture_points": "evaluations of the Culture Points projects (participation, completion, youth outcomes)",
    "community": "the program's community-component records (juntas, recovered spaces, alcohol operations) and "
                 "resident surveys of collective efficacy",
    "strategy": "the program's selection records and implementation timeline per neighbourhood",
}


def evidence(key: str) -> str:
    return EVIDENCE.get(key) or SECTION_EVIDENCE.get(key.split(".")[0], "a direct measurement of it in Peru")


# --- Robustness: computed from the runs -------------------------------------------------------------


def all_points(res: ScreenResult) -> pd.DataFrame:
    """The per-point outputs of both designs (every point is one world of assumptions)."""
    return pd.concat([res.morris_stage.outputs.assign(design="morris"),
                      res.sobol_stage.outputs.assign(design="sobol")], ignore_index=True)


def robustness(res: ScreenResult) -> pd.DataFrame:
    """Per pillar and outcome: the effect at the calibrated point (mean, sd across replicates),
    and across the points of both designs the share where it keeps its sign, its range."""
    pts = all_points(res)
    n = len(res.nominal)
    rows = []
    for p in res.plan.pillars:
        for o in EFFECT_OUTCOMES:
            col = effect_column(p, o)
            v = pts[col].to_numpy(dtype=float)
            m, sd = float(res.nominal[col].mean()), float(res.nominal[col].std(ddof=1))
            sign = float(np.sign(m))
            rows.append({"scenario": p, "outcome": o, "nominal_effect": m, "nominal_sd": sd,
                         "nominal_clear": bool(abs(m) > 2 * sd / math.sqrt(n)),
                         "same_sign_share": float(np.mean(np.sign(v) == sign)) if sign else float("nan"),
                         "min": float(v.min()), "median": float(np.median(v)), "max": float(v.max()),
                         "points": len(v)})
    return pd.DataFrame(rows)


def ranking_summary(res: ScreenResult) -> dict:
    pts = all_points(res)
    best = pts.apply(lambda r: min(res.plan.pillars, key=lambda q: (r[effect_column(q, "offences_per_1000_year")],
                                                                   res.plan.pillars.index(q))), axis=1)
    return {"reference": res.reference, "points": len(pts),
            "same_order_share": float((pts[KENDALL] == 0).mean()),
            "best_changed_share": float(pts[BEST_CHANGED].mean()),
            "mean_kendall": float(pts[KENDALL].mean()),
            "best_counts": {p: int((best == p).sum()) for p in res.plan.pillars}}


def noise_floor(res: ScreenResult) -> dict[str, float]:
    """mu* an output's Monte Carlo noise alone would give, at most: the mean |difference| of two
    independent replicates over the Morris step (common random numbers make it smaller)."""
    levels = res.plan.spec.morris.levels
    delta = levels / (2 * (levels - 1))
    sd = res.nominal.std(ddof=1) / math.sqrt(res.plan.spec.replicates)
    return {c: float(2 * sd[c] / (delta * math.sqrt(math.pi))) for c in res.nominal.columns}


# --- Formatting --------------------------------------------------------------------------------------


def _f(x: float, dec: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.{dec}f}"


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.0f}%"


def _table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(r[c]).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines)


def _effect(o: str, x: float) -> str:
    unit, f = UNITS[o]
    return f"{x * f:+,.2f}"


def markdown(res: ScreenResult, img: str) -> str:
    """The report; figures linked under ``img`` (a path relative to the report)."""
    m, plan, spec = res.manifest, res.plan, res.plan.spec
    rob, rank, floor = robustness(res), ranking_summary(res), noise_floor(res)
    outputs = plan.outputs()
    pillars = plan.pillars
    kinds = pd.Series([p.kind for p in plan.parameters]).value_counts()
    cmd = (f"sn-sim screen {m['spec']} --out {m.get('out', 'DIR')}"
           + (f" --doc {m['doc']}" if m.get("doc") else "") + " --force")
    wall = m["wall_s"]
    L = ["# Sensitivity of the policy answers to every assumed parameter", "",
         f"Generated by `{cmd}` (issue 14, deliverable 3): do not edit by hand; re-run the command. "
         f"Spec `{m['spec']}` ({plan.name}), sn_sim {m['version']}, commit {str(m.get('git_commit'))[:10]}"
         f"{' (uncommitted changes)' if m.get('git_dirty') else ''}, created {m['created']}.", "",
         *([f"**Reduced screening**: only the {len(plan.parameters)} assumed parameters the spec's "
            f"`parameters.only` names, of the {len(plan.parameters) + int((plan.excluded['reason'] == ONLY).sum())} "
            "screenable ones; the conclusions below are about these parameters alone.", ""]
           if spec.parameters.only else []),
         "## Settings and run time", "",
         f"- Scenarios: base `{plan.names[0]}`, compared: {', '.join(f'`{p}`' for p in pillars)}; calendar "
         f"{m['calendar'][0]} to {m['calendar'][1]} (post period from {m['post_start']}); population scale "
         f"{m['scale']:g}; seed {spec.seed}; {spec.replicates} replicate(s) per point on common random numbers, "
         f"{spec.nominal_replicates} at the calibrated point.",
         f"- Morris: {spec.morris.trajectories} trajectories, {spec.morris.levels} levels, "
         f"{len(plan.parameters)} parameters -> {len(res.morris_stage.values)} points; Sobol (Saltelli, first "
         f"order and total): N = {spec.sobol.samples} over the top {spec.sobol.top} -> "
         f"{len(res.sobol_stage.values)} points. Each point runs all {len(plan.names)} scenarios.",
         f"- Runs: {m['runs']['total']:,} ({m['runs']['calibrated_point']} at the calibrated point, "
         f"{m['runs']['morris']:,} Morris, {m['runs']['sobol']:,} Sobol) in {wall['total'] / 60:.1f} min wall time "
         f"on {m['executor']}{'' if not m.get('workers') else ' with ' + str(m['workers']) + ' workers'} "
         f"(calibrated point {wall['calibrated_point']:.0f} s, Morris {wall['morris']:.0f} s, Sobol "
         f"{wall['sobol']:.0f} s; {60 * m['runs']['total'] / max(wall['total'], 1e-9):.1f} runs/min).",
         "- Monte Carlo error, plainly: each point is "
         f"{'one replicate' if spec.replicates == 1 else f'the mean of {spec.replicates} replicates'} at a small "
         "scale, so an elementary effect carries run-to-run noise. The noise floor under the Morris table is the mu* "
         "noise alone would give at most (from the spread of the replicates at the calibrated point; common random "
         "numbers make it smaller); a mu* at or below it (marked ~) is not a finding. Sobol indices from so few points have wide bootstrap intervals "
         "(sobol.csv): read them as a ranking, not as shares. Larger settings are in the spec file's comments.", ""]

    L += ["## What was screened", "",
          f"{len(plan.parameters)} parameters whose value is assumed ({', '.join(f'{n} {k}' for k, n in kinds.items())}"
          "; source kinds from the schema, `sn-sim schema`), each over its plausible range, at the calibrated "
          f"point; `parameters.csv` lists them. {len(plan.excluded)} assumed parameters were left out "
          "(`excluded.csv`): "
          + "; ".join(f"{n} {r}" for r, n in plan.excluded.assign(
              r=plan.excluded["reason"].str.replace(r"^set by .*", "set by a compared scenario file, the calibration "
                                                    "or the spec (the policy compared, fitted values)", regex=True))
                      ["r"].value_counts().items()) + ".",
          "Shares that must sum to 1 (police splits, community splits, program shares) are renormalised after "
          "sampling.", ""]

    L += ["## Effects at the calibrated point", "",
          f"Treated-neighbourhood effect of each scenario against `{plan.names[0]}` (mean and standard deviation "
          f"over {len(res.nominal)} paired replicates). Ranking by the effect on offences (largest fall first): "
          + " > ".join(f"`{p}`" for p in res.reference) + ".", ""]
    rows = []
    for p in pillars:
        r = {"scenario": p}
        for o in EFFECT_OUTCOMES:
            x = rob[(rob.scenario == p) & (rob.outcome == o)].iloc[0]
            r[f"{o} ({UNITS[o][0]})"] = f"{_effect(o, x.nominal_effect)} (sd {x.nominal_sd * UNITS[o][1]:.2f})"
        rows.append(r)
    L += [_table(pd.DataFrame(rows)), ""]

    L += ["## Which policy conclusions hold across the ranges", "",
          f"Over all {rank['points']} points of both designs (each a combination of assumed values; Morris points "
          "lie on a grid of each range, Sobol points fill the top parameters' box). A conclusion holds when it is "
          f"the same at {HOLDS:.0%} of the points or more.", ""]
    for _, x in rob.iterrows():
        word = "falls" if x.nominal_effect < 0 else "rises"
        what = f"`{x.scenario}`: {outcomes.get(x.outcome).label.lower()} {word} in treated neighbourhoods"
        if not x.nominal_clear:
            L.append(f"- {what} at the calibrated point, but not clearly ({_effect(x.outcome, x.nominal_effect)}, "
                     f"within two standard errors of 0): no conclusion to hold; the sign is the same at "
                     f"{_pct(x.same_sign_share)} of the points.")
        else:
            verdict = "**holds**" if x.same_sign_share >= HOLDS else "**flips**"
            L.append(f"- {what}: {verdict} -- same sign at {_pct(x.same_sign_share)} of the points (range "
                     f"{_effect(x.outcome, x['min'])} to {_effect(x.outcome, x['max'])} {UNITS[x.outcome][0]}).")
    best = res.reference[0]
    keeps = 1 - rank["best_changed_share"]
    L += ["", f"- The ranking of the scenarios on offences ({' > '.join(res.reference)}) is the same at "
          f"{_pct(rank['same_order_share'])} of the points (mean Kendall distance {rank['mean_kendall']:.2f} of at "
          f"most {len(pillars) * (len(pillars) - 1) // 2}); `{best}` stays the best on offences at {_pct(keeps)} "
          f"of the points: **{'holds' if keeps >= HOLDS else 'flips'}**. Best scenario by point: "
          + ", ".join(f"`{p}` {n}" for p, n in rank["best_counts"].items()) + ".", ""]

    L += ["## Morris screening", "",
          f"Influence score = mu* over the largest mu* of the same output, averaged over the {len(outputs)} outputs "
          f"(each pillar's four effects, the Kendall distance and whether the best pillar changes). The "
          f"{min(TOP_SHOWN, len(res.scores))} most influential; all in `morris.csv`. mu* in the outputs' raw units "
          "(shares as fractions) per Morris step of the range; ~: at or below the noise floor.", ""]
    shown = list(res.scores.index[:TOP_SHOWN])
    mi = res.morris.set_index(["parameter", "output"])
    by_key = {p.key: p for p in plan.parameters}
    cols = [effect_column(p, "offences_per_1000_year") for p in pillars] + [KENDALL]
    rows = []
    for k in shown:
        p = by_key[k]
        r = {"parameter": f"`{k}`", "kind": p.kind, "range": f"[{p.low:g}, {p.high:g}]", "score": _f(res.scores[k], 2)}
        for c in cols:
            mu = mi.loc[(k, c), "mu_star"]
            r[f"mu* {c}"] = _f(mu, 2) + (" ~" if c in floor and mu <= floor[c] else "")
        rows.append(r)
    L += [_table(pd.DataFrame(rows)), "",
          "Noise floor of mu*: " + ", ".join(f"{c} {_f(floor[c], 2)}" for c in cols if c in floor) + ".", "",
          f"![Morris screening]({img}/morris.png)", ""]

    L += ["## Sobol indices of the top parameters", "",
          f"Total (ST) and first-order (S1) indices over the top {spec.sobol.top} parameters, the others at the "
          "calibrated point; ST on each pillar's offence effect and on the ranking distance (all outputs and "
          "intervals in `sobol.csv`).", ""]
    si = res.sobol.set_index(["parameter", "output"])
    rows = []
    for k in res.top:
        r = {"parameter": f"`{k}`"}
        for c in cols:
            r[f"ST {c}"] = f"{_f(si.loc[(k, c), 'ST'], 2)} ± {_f(si.loc[(k, c), 'ST_conf'], 2)}"
        rows.append(r)
    big = res.sobol[res.sobol["ST"] > 1]
    L += [_table(pd.DataFrame(rows)), ""]
    if len(big):
        L += [f"{len(big)} total indices exceed 1, which a share of variance cannot: with N = {spec.sobol.samples} "
              "they are sampling noise, and so are the others of the same size; only the order of the largest says "
              "something.", ""]
    L += [f"![Sobol indices]({img}/sobol.png)", ""]

    L += ["## What would pin down the top parameters", ""]
    for k in res.top:
        p = by_key[k]
        L.append(f"- `{k}` ({p.description.rstrip('.')}; {p.kind}, plausible [{p.low:g}, {p.high:g}] {p.unit}): "
                 f"{evidence(k)}.")
    L.append("")
    return "\n".join(L)


# --- Figures and saving ------------------------------------------------------------------------------


def figures(res: ScreenResult) -> dict:
    from .sensitivity import SensitivityResult

    outs = [effect_column(p, "offences_per_1000_year") for p in res.plan.pillars] + [KENDALL]
    shown = list(res.scores.index[:TOP_SHOWN])
    mo = res.morris[res.morris["parameter"].isin(shown) & res.morris["output"].isin(outs)]
    mo = mo.set_index("parameter").loc[shown].reset_index()  # most influential first
    so = res.sobol[res.sobol["output"].isin(outs)]
    so = so.set_index("parameter").loc[res.top].reset_index()
    return {"morris": SensitivityResult("morris", mo, outs, len(res.morris_stage.values), 0.95).plot(),
            "sobol": SensitivityResult("sobol", so, outs, len(res.sobol_stage.values), 0.95).plot()}


def check_doc(doc: Path, force: bool) -> None:
    """The report copy may replace a file only with --force, and never a directory."""
    from sn_sim.observe.storage import OutputError

    if doc.suffix != ".md":
        raise OutputError(f"{doc}: --doc: expected a Markdown file (.md)")
    if doc.is_dir() or doc.is_symlink():
        raise OutputError(f"{doc}: --doc: is a directory or a symbolic link")
    if doc.exists() and not force:
        raise OutputError(f"{doc}: --doc: already exists (use --force to replace it)")
    if not doc.parent.is_dir():
        raise OutputError(f"{doc}: --doc: {doc.parent} is not a directory")


def save(res: ScreenResult, out: str | Path, force: bool = False, doc: str | Path | None = None) -> Path:
    """Write the tables, figures, report and manifest whole into ``out`` (an earlier screening
    there is replaced only with ``force``); with ``doc``, the report also goes there."""
    out, doc = Path(out), None if doc is None else Path(doc)
    from sn_sim.observe import style
    from sn_sim.observe.storage import check_output_dir, file_checksums, staged_directory

    check_output_dir(out, force, kind="screen")
    if doc is not None:
        check_doc(doc, force)
    res.manifest.update({"out": str(out), "doc": None if doc is None else str(doc)})
    with staged_directory(out, "screen") as tmp:
        assumed_table(res.plan.parameters).to_csv(tmp / "parameters.csv", index=False)
        res.plan.excluded.to_csv(tmp / "excluded.csv", index=False)
        res.nominal.rename_axis("replicate").to_csv(tmp / "nominal.csv")
        for st in (res.morris_stage, res.sobol_stage):
            pd.concat([st.values, st.outputs], axis=1).rename_axis("point").to_csv(tmp / f"{st.method}_points.csv")
        res.morris.merge(res.scores.rename("score"), left_on="parameter", right_index=True).to_csv(
            tmp / "morris.csv", index=False)
        res.sobol.to_csv(tmp / "sobol.csv", index=False)
        rob = robustness(res)
        rob.to_csv(tmp / "robustness.csv", index=False)
        for name, fig in figures(res).items():
            style.save(fig, tmp / "plots" / f"{name}.png")
        (tmp / "sensitivity.md").write_text(markdown(res, "plots") + "\n")
        checksums = file_checksums(tmp, FILES)
        res.manifest["ranking"] = ranking_summary(res)
        (tmp / "manifest.json").write_text(json.dumps({**res.manifest, "checksums": checksums}, indent=2,
                                                      default=str))
    if doc is not None:  # the same report, its figure links relative to the doc's folder
        img = os.path.relpath(out / "plots", doc.parent)
        part = doc.with_name(f".{doc.name}.tmp")
        part.write_text(markdown(res, Path(img).as_posix()) + "\n")
        os.replace(part, doc)
    return out


def load_screen(directory: str | Path) -> ScreenResult:
    """A saved screening read back (its spec planned again), to write its report anew without
    running it: ``save(load_screen(DIR), DIR, force=True, doc=...)``. The data files must match
    the checksums of the manifest."""
    from sn_sim.errors import SnSimError
    from sn_sim.observe.storage import reading, verify_checksums

    directory = Path(directory)
    mpath = directory / "manifest.json"
    if not mpath.is_file():
        raise SnSimError(f"{directory}: not a screening directory (missing manifest.json)")
    with reading(mpath):
        manifest = json.loads(mpath.read_text())
    if manifest.get("kind") != "sn_sim.screen":
        raise SnSimError(f"{mpath}: not a screening manifest (kind is not sn_sim.screen)")
    verify_checksums(directory, manifest)
    plan = plan_screen(manifest["spec"])
    keys = [p.key for p in plan.parameters]
    stages = {}
    for method in ("morris", "sobol"):
        with reading(directory / f"{method}_points.csv"):
            pts = pd.read_csv(directory / f"{method}_points.csv", index_col="point")
        values = pts[[c for c in pts.columns if c in keys]]
        stages[method] = Stage(method, {}, values.to_numpy(), values, pts.drop(columns=values.columns),
                               runs=manifest["runs"][method], wall_s=manifest["wall_s"][method])
    morris = pd.read_csv(directory / "morris.csv")
    scores = morris.drop_duplicates("parameter").set_index("parameter")["score"].sort_values(ascending=False,
                                                                                           kind="stable")
    manifest.pop("checksums", None)
    return ScreenResult(plan=plan, nominal=pd.read_csv(directory / "nominal.csv", index_col="replicate"),
                        reference=list(manifest["ranking"]["reference"]), morris_stage=stages["morris"],
                        morris=morris.drop(columns="score"), scores=scores, sobol_stage=stages["sobol"],
                        sobol=pd.read_csv(directory / "sobol.csv"), manifest=manifest)

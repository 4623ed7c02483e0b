"""Build and write the one-page HTML report (see :mod:`sn_sim.report`)."""

from __future__ import annotations

import base64
import html
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from sn_sim.errors import OutputError, SnSimError
from sn_sim.experiment.compare import (CPA, OUTCOMES as EFFECT_OUTCOMES, SCOPE_LABELS, ComparisonResult, format_effect,
                                       load_comparison, t_interval)
from sn_sim.observe import outcomes, style
from sn_sim.observe.results import Results, load_results
from sn_sim.observe.storage import output_kind
from sn_sim.scenario import Scenario, validate
from sn_sim.scenario.keys import flatten

GENERATOR = "sn-sim report"  # in a <meta name="generator">: --force replaces only pages carrying it
REPORT_NAME = "report.html"
# Outcomes in the key numbers, with the compare tables' labels, units and display factors.
KEY_OUTCOMES = ("offences_per_1000_year", "victimisation_12m", "trust_police", "insecurity", "youth_in_gangs",
                "total_cost_usd")
_DISPLAY = {o[0]: o for o in EFFECT_OUTCOMES}

CAVEATS = [
    ("It is not a forecast.",
     "It simulates synthetic neighbourhoods, blocks and people whose rates are calibrated to the figures the "
     "programme and INEI reported for 2015–2019; it does not predict what will happen in a particular real "
     "neighbourhood."),
    ("It is not an evaluation of the real Barrio Seguro.",
     "Effects here are what the model's mechanisms produce from parameters taken from the literature and the "
     "calibration. They are as good as those assumptions (the model's documentation, docs/ODD.md, lists each "
     "one and its source)."),
    ("The intervals are not the whole uncertainty.",
     "A 95% interval here spans the simulation noise across replicates run on common random numbers. It does not "
     "include the uncertainty of the parameters or of the model's structure, which is larger: a difference whose "
     "interval excludes 0 is a clear difference in the model, not a proven effect in the world."),
    ("Costs are the model's accounting.",
     "Budget spent plus the value of in-kind resources (officers on the police payroll, Culture Points grants) "
     "as the scenario prices them; not audited spending."),
    ("Scaled-down runs are noisier.",
     "A run at population scale below 1 simulates fewer people; rates stay per-capita correct but vary more "
     "from replicate to replicate."),
    ("What is not in the model is not in the results.",
     "Only the mechanisms documented in docs/ODD.md act: anything else that changed in Peru over the period "
     "(economy, other programmes, policing elsewhere, reporting campaigns) is held fixed."),
]


# --- entry points -----------------------------------------------------------------------------------


def source_kind(directory: str | Path) -> str:
    """``run`` or ``compare``: what ``directory`` holds; one-line :class:`SnSimError` otherwise."""
    d = Path(directory)
    if not d.exists():
        raise SnSimError(f"{d}: not found (expected a directory written by 'sn-sim run' or 'sn-sim compare')")
    if not d.is_dir():
        raise SnSimError(f"{d}: not a directory (expected a directory written by 'sn-sim run' or 'sn-sim compare')")
    kind = output_kind(d)
    if kind in ("run", "compare"):
        return kind
    if kind is None:  # written before output markers: recognised by its files
        if (d / "panel.parquet").is_file():
            return "run"
        if (d / "effects.csv").is_file():
            return "compare"
    what = f"an sn-sim {kind} output" if kind else "not an sn-sim output"
    raise SnSimError(f"{d}: not a run or compare directory ({what}; the report reads what 'sn-sim run' or "
                     "'sn-sim compare' wrote)")


def default_output(directory: str | Path) -> Path:
    return Path(directory) / REPORT_NAME


def check_report_file(out: str | Path, force: bool) -> None:
    """Refuse an existing ``out`` without ``force``; with it, replace only a page this command
    wrote (never a directory, a symbolic link or another file); refuse a place we cannot write."""
    out = Path(out)
    if out.is_symlink():
        raise OutputError(f"{out}: --out: is a symbolic link (give a real file)")
    if out.exists():
        if out.is_dir():
            raise OutputError(f"{out}: --out: is a directory (give the report's file name)")
        if not force:
            raise OutputError(f"{out}: --out: already exists (use --force to replace it)")
        try:
            head = out.read_bytes()[:4096].decode("utf-8", "replace")
        except OSError as exc:
            raise OutputError(f"{out}: --out: cannot read it ({exc.strerror or exc})") from None
        if f'<meta name="generator" content="{GENERATOR}' not in head:
            raise OutputError(f"{out}: --out: not a page written by sn-sim report; --force replaces only those: "
                              "remove it yourself or choose another file")
    parent = out.parent if str(out.parent) else Path(".")
    ancestor = parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{out}: --out: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK):
        raise OutputError(f"{out}: --out: {ancestor} is not writable")


def write_report(directory: str | Path, out: str | Path | None = None, force: bool = False) -> Path:
    """Write the report of run or compare ``directory`` to ``out`` (default
    ``DIRECTORY/report.html``): checked first, written whole (a temporary file renamed into place)."""
    out = Path(out) if out is not None else default_output(directory)
    source_kind(directory)
    check_report_file(out, force)
    page = build_report(directory)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.tmp-", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(page)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def build_report(directory: str | Path) -> str:
    """The HTML page of run or compare ``directory`` (data verified against their checksums)."""
    directory = Path(directory)
    if source_kind(directory) == "run":
        results = load_results(directory)
        return _page(_run_sections(directory, results, _twin(directory, results)), results.manifest)
    res = load_comparison(directory)
    return _page(_compare_sections(res), res.manifest)


def _twin(directory: Path, results: Results) -> Results | None:
    """The run's counterfactual twin in ``DIRECTORY/twin/`` (``sn-sim run --twin``), checked to be
    this run's twin; None when there is none."""
    if not (directory / "twin" / "manifest.json").is_file():
        return None
    from sn_sim.evaluation.twins import check_twin

    twin = load_results(directory / "twin")
    check_twin(results, twin)
    return twin


# --- the run page --------------------------------------------------------------------------------------


def _scenario(data: dict, where: str) -> Scenario:
    try:
        return validate(data, source=where)
    except SnSimError as exc:
        raise SnSimError(f"{where}: the resolved scenario does not validate ({exc})") from None


def _run_sections(directory: Path, results: Results, twin: Results | None) -> dict:
    m = results.manifest
    scenario = _scenario(m.get("scenario") or {}, str(directory / "manifest.json"))
    post = outcomes.post_start_for(scenario)
    n = int(results.panel["replicate"].nunique())
    name = scenario.name
    title = f"What happens to crime and trust under “{name}”?"
    rows = _run_numbers(results, twin, post)
    cols = ["treated neighbourhoods", "all neighbourhoods of the pool"]
    if twin is not None:
        cols += ["effect on the treated (vs twin)", "effect on the pool (vs twin)"]
    table = _table(["outcome"] + cols, [[label] + [row.get(c, "") for c in cols] for label, row in rows])
    if twin is not None:
        twin_text = ("The twin is the same scenario, seed and replicates without the Strategy (no cohort selected, no "
                     "Culture Points): the effect is this run minus its twin, replicate by replicate, with a 95% "
                     "interval across replicates.")
    else:
        twin_text = ("This run has no counterfactual twin, so the page shows levels only: the never-treated "
                     "neighbourhoods in the figures are a comparison group, not what the treated ones would have been "
                     "without the Strategy. Run with <code>sn-sim run --twin</code> to simulate the twin as well and "
                     "get effects with intervals.")
    intro = (f"{_n_replicates(n)} of the scenario (seed {html.escape(str(m.get('seed')))}). Post period "
             f"from {post.isoformat()} (the first launch) to {scenario.calendar.end.isoformat()}; costs over the "
             "whole calendar. Cells: mean [95% interval across replicates]; shares in %, effects on shares in "
             "percentage points, costs in USD million.")
    figures = results.figures(twin)
    captions = {
        "crime_trust_treated_vs_control": "Treated vs never-treated neighbourhoods" +
                                          (" and the treated ones without the Strategy (twin)." if twin else "."),
        "crime_by_cohort": "Offences and trust by year of selection.",
        "stage_timeline": "Each treated neighbourhood's stage, week by week (first replicate).",
        "youth_and_effort": "Youth in gangs, activities by pillar and cumulative cost.",
    }
    return {
        "title": title,
        "lede": _scenario_words(scenario),
        "numbers": (intro, table, twin_text),
        "differences": None,
        "figures": [(name_, captions[name_], fig) for name_, fig in figures.items()],
    }


def _run_numbers(results: Results, twin: Results | None, post) -> list[tuple[str, dict]]:
    """Per key outcome: post-period levels (treated, pool) and, with a twin, paired effects."""
    by_rep = {r: p for r, p in results.panel.groupby("replicate", sort=True)}
    twin_by_rep = {r: p for r, p in twin.panel.groupby("replicate", sort=True)} if twin is not None else {}
    values: dict[tuple[str, str], list[float]] = {}
    for r, panel in by_rep.items():
        totals = outcomes.neighbourhood_totals(panel, post)
        mask = totals["treated"].to_numpy()
        for scope, sel in (("treated", mask), ("all", None)):
            own = outcomes.summarise_totals(totals, sel)
            for k in KEY_OUTCOMES:
                values.setdefault((scope, k), []).append(own[k])
            if r in twin_by_rep:
                ref = outcomes.summarise_totals(outcomes.neighbourhood_totals(twin_by_rep[r], post), sel)
                for k in KEY_OUTCOMES:
                    values.setdefault((f"effect_{scope}", k), []).append(own[k] - ref[k])
    rows = []
    for k in KEY_OUTCOMES:
        _, label, unit, factor, dec = _DISPLAY[k]
        row = {}
        for col, key, signed in (("treated neighbourhoods", "treated", False),
                                 ("all neighbourhoods of the pool", "all", False),
                                 ("effect on the treated (vs twin)", "effect_treated", True),
                                 ("effect on the pool (vs twin)", "effect_all", True)):
            if (key, k) in values:
                m, lo, hi = (v * factor for v in t_interval(np.array(values[(key, k)])))
                unit_note = "pp" if unit == "% / pp" and signed else ""
                row[col] = format_effect(m, lo, hi, dec, signed=signed) + (f" {unit_note}" if unit_note else "")
        rows.append((f"{label} ({_unit(unit)})", row))
    return rows


def _unit(unit: str) -> str:
    return "%" if unit == "% / pp" else unit


def _n_replicates(n: int) -> str:
    return f"{n} replicate{'s' if n != 1 else ''}" if n > 1 else "One replicate (no interval)"


def _scenario_words(s: Scenario) -> str:
    """The scenario in a few sentences, from its resolved values."""
    parts = []
    if getattr(s, "description", None):
        parts.append(html.escape(s.description.rstrip(".")) + ".")
    n_nb = sum(d.neighbourhoods for d in s.districts)
    parts.append(f"Calendar {s.calendar.start.isoformat()} to {s.calendar.end.isoformat()}; a pool of {n_nb} candidate "
                 f"neighbourhoods in {len(s.districts)} district{'s' if len(s.districts) != 1 else ''}, simulated at "
                 f"{s.population.scale:g} agents per inhabitant.")
    parts.append(_rollout_words(s.to_dict()["strategy"]["rollout"]) + ".")
    mix = s.strategy.mix
    parts.append(f"Budget split: police {mix.police:.0%}, social {mix.social:.0%}, community {mix.community:.0%}"
                 + ("; like-for-like resources (the same total as its reference mix)" if s.strategy.resources.like_for_like
                    else "") + ".")
    cp = s.to_dict().get("culture_points", {}).get("districts") or []
    if cp:
        parts.append("Culture Points in " + ", ".join(html.escape(str(d)) for d in cp) + ".")
    return " ".join(parts)


def _rollout_words(rollout: list[dict]) -> str:
    if not rollout:
        return "No neighbourhood is selected: the Strategy is never rolled out"
    cohorts = [f"{c['neighbourhoods']} in {c['year']} (from {c['launch']})" for c in rollout]
    total = sum(int(c["neighbourhoods"]) for c in rollout)
    return f"Rollout: {', '.join(cohorts)}; {total} neighbourhoods in all"


# --- the compare page ------------------------------------------------------------------------------


def _compare_sections(res: ComparisonResult) -> dict:
    m = res.manifest
    names = m["scenario_names"]
    base = res.base
    others = [n for n in names if n != base]
    n = int(m["replicates"])
    table = res.table("all")
    cols = list(table.columns)
    html_table = _table(cols, table.astype(str).to_numpy().tolist())
    intro = (f"{_n_replicates(n)} of every scenario on common random numbers (seed {m['seed']}): replicate r of each "
             f"scenario draws the same random numbers, so each difference is the policy's, not luck's. Effect = "
             f"scenario minus {html.escape(base)} [95% interval across replicates], over {SCOPE_LABELS['all']}; post "
             f"period {m['post_start']} to {m['calendar_end']}; shares in percentage points, costs over the whole "
             "calendar in USD million (total cost = budget + in-kind).")
    findings = "".join(_findings(res, name) for name in others)
    return {
        "title": f"What do the policy mixes change, compared with “{base}”?",
        "lede": _compare_lede(res),
        "numbers": (intro, html_table, findings),
        "differences": _differences(m),
        "figures": [
            ("effects_over_time", "Paired effects week by week: each scenario minus the base, with 95% intervals.",
             res.plot("effects_over_time")),
            ("forest", "Effects with 95% intervals, over the whole pool and over the neighbourhoods each scenario "
                       "treats.", res.plot("forest")),
            ("cost_effect", "Extra cost against offences averted, with the cost per offence averted.",
             res.plot("cost_effect")),
        ] + ([("scores_by_source", "Which mechanisms moved trust and insecurity in the neighbourhoods each scenario "
                                   "treats: each mechanism's part of the effect on the mean score (points of a 0–100 "
                                   "score), adding up to the effect.", res.plot("scores_by_source", "treated"))]
             if not res.scores.empty else []),
    }


def _compare_lede(res: ComparisonResult) -> str:
    scen = {s["name"]: s["scenario"] for s in res.manifest.get("scenarios", [])}
    out = []
    for name in res.manifest["scenario_names"]:
        desc = (scen.get(name) or {}).get("description") or ""
        role = " (the base)" if name == res.base else ""
        out.append(f"<li><b>{html.escape(name)}</b>{role}{': ' + html.escape(desc) if desc else ''}</li>")
    return "<ul>" + "".join(out) + "</ul>"


def _findings(res: ComparisonResult, name: str) -> str:
    """What the effects say, in words, for one scenario (whole pool)."""
    e = res.effects[(res.effects["scope"] == "all") & (res.effects["scenario"] == name)].set_index("outcome")
    items = []
    for k in KEY_OUTCOMES + (CPA,):
        if k not in e.index:
            continue
        _, label, unit, factor, dec = _DISPLAY[k]
        r = e.loc[k]
        est, lo, hi = (float(r[c]) * factor if not _nan(r[c]) else math.nan for c in ("effect", "ci_low", "ci_high"))
        if k == CPA:
            if math.isnan(est):
                items.append(f"{label}: none (it does not avert offences on average).")
            else:
                items.append(f"{label}: USD {format_effect(est, lo, hi, 0, signed=False)}"
                             + (" (interval unbounded: offences averted are not clearly above 0)" if math.isnan(lo)
                                else "") + ".")
            continue
        unit_text = "percentage points" if unit == "% / pp" else unit
        value = format_effect(est, lo, hi, dec)
        items.append(f"{label}: {value} {unit_text} — {_verdict(est, lo, hi, res.base)}.")
    lis = "".join(f"<li>{html.escape(i)}</li>" for i in items)
    return f"<h3>{html.escape(name)} against {html.escape(res.base)}</h3><ul>{lis}</ul>"


def _verdict(est: float, lo: float, hi: float, base: str) -> str:
    if math.isnan(est):
        return "not available"
    if est == 0 and (math.isnan(lo) or (lo == 0 and hi == 0)):
        return f"the same as under {base}"
    if math.isnan(lo):
        return f"{'higher' if est > 0 else 'lower'} than under {base} (one replicate: no interval)"
    if lo > 0:
        return f"clearly higher than under {base} (the 95% interval excludes 0)"
    if hi < 0:
        return f"clearly lower than under {base} (the 95% interval excludes 0)"
    return f"no clear difference from {base} (the 95% interval includes 0)"


def _nan(x) -> bool:
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return True


# --- scenario differences in words ----------------------------------------------------------------

_SKIP = {"name", "description"}


def _differences(manifest: dict) -> str:
    """How each scenario's resolved values differ from the base's, key by key, with the schema's
    description of the key."""
    scen = [(s["name"], s["scenario"]) for s in manifest.get("scenarios", [])]
    if len(scen) < 2:
        return ""
    base_name, base = scen[0]
    flat_base = flatten(base)
    out = []
    for name, data in scen[1:]:
        flat = flatten(data)
        keys = [k for k in dict.fromkeys(list(flat_base) + list(flat))
                if k.split(".")[0] not in _SKIP and flat.get(k) != flat_base.get(k)]
        if not keys:
            out.append(f"<p><b>{html.escape(name)}</b>: identical to {html.escape(base_name)} in every value (its "
                       "effects are exactly 0: a check of the common random numbers).</p>")
            continue
        lis = []
        for k in keys:
            desc = _describe(k)
            lis.append(f"<li><code>{html.escape(k)}</code>{' — ' + html.escape(desc) if desc else ''}: "
                       f"{html.escape(_value_words(k, flat_base.get(k)))} in {html.escape(base_name)} → "
                       f"<b>{html.escape(_value_words(k, flat.get(k)))}</b></li>")
        out.append(f"<p><b>{html.escape(name)}</b> differs from {html.escape(base_name)} in {len(keys)} "
                   f"value{'s' if len(keys) != 1 else ''}:</p><ul>{''.join(lis)}</ul>")
    return "".join(out)


def _describe(key: str) -> str:
    """The schema's description of a dotted scenario key (of the deepest field it reaches)."""
    from pydantic import BaseModel

    model: Any = Scenario
    desc = ""
    for part in key.split("."):
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            break
        info = fields[part]
        desc = info.description or desc
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            break
    return desc


def _value_words(key: str, value) -> str:
    if value is None:
        return "not set"
    if key == "strategy.rollout":
        return _rollout_words(value)
    if key == "districts" and isinstance(value, list):
        return f"{len(value)} districts, {sum(int(d.get('neighbourhoods', 0)) for d in value)} neighbourhoods"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        text = json.dumps(value, default=str, ensure_ascii=False)
        return text if len(text) <= 200 else text[:197] + "..."
    return str(value)


# --- HTML ---------------------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _figure_html(name: str, caption: str, fig) -> str:
    """The figure as an SVG image inside the page (a data URL: nothing to fetch, and the SVG's
    element ids cannot clash with another figure's)."""
    svg = style.render(fig, "svg")
    fig.clear()
    data = base64.b64encode(svg).decode("ascii")
    return (f'<figure id="fig-{html.escape(name)}"><img src="data:image/svg+xml;base64,{data}" '
            f'alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}</figcaption></figure>')


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1a1a1a;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:1.6em}h3{font-size:1.05em}
.meta{color:#555;font-size:.9em}
table{border-collapse:collapse;font-size:.88em;margin:.6em 0}th,td{border:1px solid #ccc;padding:.3em .5em;
text-align:left;vertical-align:top}th{background:#f2f2f2}.scroll{overflow-x:auto}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#444}
.caveats li{margin-bottom:.4em}
code{background:#f4f4f4;padding:0 .2em}
@media print{figure{page-break-inside:avoid}}
"""


def _page(sections: dict, manifest: dict) -> str:
    from sn_sim.api import package_version

    intro, table, extra = sections["numbers"]
    figures = "".join(_figure_html(*f) for f in sections["figures"])
    caveats = "".join(f"<li><b>{html.escape(h)}</b> {html.escape(t)}</li>" for h, t in CAVEATS)
    differences = (f"<h2>How the scenarios differ</h2>{sections['differences']}" if sections["differences"]
                   else "")
    hashes = manifest.get("scenario_hash") or ", ".join(
        f"{s['name']} {str(s.get('hash', ''))[:12]}" for s in manifest.get("scenarios", []))
    created = f" created {html.escape(str(manifest['created']))}" if manifest.get("created") else ""
    provenance = (f"Written by {GENERATOR} {html.escape(package_version())} from an output of sn_sim "
                  f"{html.escape(str(manifest.get('version', '?')))}{created}; git commit {html.escape(str(manifest.get('git_commit') or 'n/a'))}; scenario hash "
                  f"{html.escape(str(hashes)[:300])}; seed {html.escape(str(manifest.get('seed')))}. Every data file "
                  "was verified against its checksum before this page was drawn.")
    title = html.escape(sections["title"])
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="{GENERATOR} {html.escape(package_version())}">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>{title}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p class="meta">Safe Neighborhood (Barrio Seguro) agent-based model — a simulation, not data from the field.</p>
</header>
<section id="scenario"><h2>The scenario{'s' if sections['differences'] is not None else ''}</h2>{_block(sections['lede'])}</section>
<section id="numbers"><h2>Key numbers</h2><p>{intro}</p>{table}{_block(extra)}</section>
{('<section id="differences">' + differences + '</section>') if differences else ''}
<section id="figures"><h2>Figures</h2>{figures}</section>
<section id="caveats" class="caveats"><h2>What this model is not</h2><ul>{caveats}</ul></section>
<footer><p class="meta">{provenance}</p></footer>
</body>
</html>
"""


def _block(text: str) -> str:
    return text if text.lstrip().startswith("<") else f"<p>{text}</p>"

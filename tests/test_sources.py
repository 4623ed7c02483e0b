"""Every parameter says what supports it, and every work docs/ODD.md cites is in its reference list.

A parameter's source is one of three kinds (``SOURCE_KINDS`` in sn_sim/scenario/schema.py): the
value is taken from a work or data ("value: ..."), the work supports only the mechanism
("mechanism: ...; value assumed"), or the value is a plain assumption ("assumption: ..."). An
assumed value (the last two kinds) carries a plausible range that holds its default. The checkers
below return the problems they find, and the last tests feed them broken inputs to show they fail.
"""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path

import annotated_types as at
import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from sn_sim import scenario as sc
from sn_sim.scenario.schema import SOURCE_KINDS, Field, P, Police, Program, _default_programs, source_kind

ODD = Path(__file__).resolve().parents[1] / "docs" / "ODD.md"

# Fields that name or label things rather than parameterise the model: they need no source.
IDENTIFIERS = {"name", "description", "districts[].name", "districts[].city", "strategy.rollout[].year"}


# --- the schema's fields ---------------------------------------------------------------------------------


def _model(annotation) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def schema_fields(model: type[BaseModel] = sc.Scenario, prefix: str = ""):
    """(dotted key, FieldInfo) of every leaf field; list items as ``key[].field``, programs as
    ``programs.<sector>.field``."""
    for name, info in model.model_fields.items():
        key, ann = f"{prefix}{name}", info.annotation
        args = typing.get_args(ann)
        if _model(ann):
            yield from schema_fields(ann, f"{key}.")
        elif typing.get_origin(ann) is dict and len(args) == 2 and _model(args[1]):
            yield from schema_fields(args[1], f"{key}.<sector>.")
        elif typing.get_origin(ann) is list and args and _model(args[0]):
            yield from schema_fields(args[0], f"{key}[].")
        else:
            yield key, info


def _bounds(info: FieldInfo) -> tuple[float, float]:
    lo, hi = float("-inf"), float("inf")
    for m in info.metadata:
        if isinstance(m, (at.Ge, at.Gt)):
            lo = m.ge if isinstance(m, at.Ge) else m.gt
        elif isinstance(m, (at.Le, at.Lt)):
            hi = m.le if isinstance(m, at.Le) else m.lt
    return lo, hi


def source_problems(fields) -> list[str]:
    """What is wrong with the sources of ``fields`` ((key, FieldInfo) pairs)."""
    problems = []
    for key, info in fields:
        if key in IDENTIFIERS:
            continue
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        source, kind = extra.get("source"), extra.get("source_kind")
        if not source:
            problems.append(f"{key}: no source")
            continue
        if kind not in SOURCE_KINDS or not source.startswith(f"{kind}: ") or len(source) < len(kind) + 8:
            problems.append(f"{key}: source kind {kind!r} is not one of {SOURCE_KINDS} or does not begin "
                            f"the source text {source!r}")
            continue
        if kind == "mechanism" and "value assumed" not in source:
            problems.append(f"{key}: a mechanism-only source must say 'value assumed'")
        numeric = info.annotation in (int, float)
        band = extra.get("plausible")
        # (a required field is scenario data, e.g. a district's candidate neighbourhoods: no default to range)
        if numeric and kind != "value" and not band and not info.is_required():
            problems.append(f"{key}: assumed value ({kind}) without a plausible range")
        if band:
            lo, hi = band
            blo, bhi = _bounds(info)
            if not (blo <= lo < hi <= bhi):
                problems.append(f"{key}: plausible range {band} is empty or outside the bounds [{blo}, {bhi}]")
            if info.default is not None and isinstance(info.default, (int, float)) and not lo <= info.default <= hi:
                problems.append(f"{key}: default {info.default} outside its plausible range {band}")
    return problems


def test_every_parameter_has_a_source_of_one_of_the_three_kinds():
    fields = list(schema_fields())
    assert len(fields) > 150
    assert not source_problems(fields), "\n".join(source_problems(fields))


def test_each_kind_is_used_and_assumed_values_dominate_effect_sizes():
    kinds = {k: (info.json_schema_extra or {}).get("source_kind") for k, info in schema_fields()}
    assert set(kinds.values()) - {None} == set(SOURCE_KINDS)
    # The effect sizes issue 14 found presented as sourced are labelled as assumed.
    for key in ("crime.risk_effect", "youth.peer_effect", "crime.diffusion_weight", "crime.patrol_max_deterrence",
                "community.efficacy_junta_gain", "crime.alcohol_violence", "crime.former_prisoner_multiplier",
                "crime.displacement_share", "culture_points.risk_reduction", "community.alcohol_control_effect"):
        assert kinds[key] in ("mechanism", "assumption"), key


def test_default_programs_lie_in_the_plausible_ranges():
    fields = dict(schema_fields(Program))
    for sector, program in _default_programs().items():
        for name, info in fields.items():
            band = (info.json_schema_extra or {}).get("plausible")
            value = getattr(program, name)
            if band:
                assert band[0] <= value <= band[1], (sector, name, value, band)


def test_skogan_asymmetry_holds_at_the_defaults():
    """A bad contact weighs 4-14 times a good one, and the gain's plausible range reaches zero."""
    police = sc.Scenario.model_fields["police"].default_factory()
    assert 4 <= police.contact_loss / police.contact_gain <= 14
    gain = Police.model_fields["contact_gain"].json_schema_extra["plausible"]
    assert gain[0] == 0 and gain[1] <= police.contact_loss / 4
    q = police.implementation_quality
    assert q * police.contact_gain - (1 - q) * police.contact_loss < 0  # contacts do not build trust by construction


def test_schema_markdown_shows_kind_and_plausible_range():
    cli = Path(sys.executable).parent / "sn-sim"  # the installed command, as a user runs it
    proc = subprocess.run([str(cli), "schema", "--markdown"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "| parameter | unit | default | range | plausible | description | kind | source |" in proc.stdout
    row = next(line for line in proc.stdout.splitlines() if line.startswith("| `crime.displacement_share` |"))
    cells = [c.strip() for c in row.strip("|").split(" | ")]
    assert cells[4] == "[0, 0.6]" and cells[6] == "assumption"


# --- citations and the reference list --------------------------------------------------------------------

NAME = r"[A-Z][\w'’\-]+"
# "Surname 2006", "Surname & Other 2009", "Surname, Other & Third 2014", "Surname et al. 2014, 2003"
CITATION = re.compile(rf"\b({NAME})((?:(?:, {NAME})* & {NAME})?)((?: et al\.)?) ((?:19|20)\d\d)((?:, (?:19|20)\d\d)*)\b")
# Capitalised words before a year that are not authors: data series cited by name (see GREY), the
# 2005 Convention, "Culture Points 2019", dates.
NOT_AUTHORS = {"Censo", "ENAPRES", "ENAHO", "ENEV", "UNESCO", "Points", "Abastos"}
MONTH = re.compile(r"(January|February|March|April|May|June|July|August|September|October|November|December)\b")
# Grey sources cited by name: each must have an entry in the reference list.
GREY = {"Censo 2017": "Censos Nacionales 2017", "ENAPRES": "ENAPRES", "ENAHO": "ENAHO",
        "program report": "the program report", "Supreme Decree": "Supreme Decree 008-2017-IN, approving",
        "Basombrío": "Basombrío, C.", "DIRSEG": "DIRSEG",
        "Mercados de Abastos": "Censo Nacional de Mercados de Abastos 2016", "INPE": "INPE, Instituto Nacional Penitenciario"}
YEAR = re.compile(r"\((?:c\. )?((?:19|20)\d\d)(?:[–-](?:19|20)\d\d)?[a-z]?\)\.")


def split_references(text: str) -> tuple[str, list[str]]:
    """The document's body (without the reference list) and the reference entries, one string each."""
    head, _, refs = text.partition("\n## References\n")
    entries, current = [], None
    for line in refs.splitlines():
        if line.startswith("- "):
            current = [line[2:].strip()]
            entries.append(current)
        elif line.startswith("  ") and current is not None:
            current.append(line.strip())
        else:
            current = None
    return head, [" ".join(e) for e in entries]


def parse_reference(entry: str) -> dict | None:
    """authors, year, title, venue of an entry ``Authors (Year). Title. Venue...``, or None."""
    m = YEAR.search(entry)
    if not m:
        return None
    authors, rest = entry[:m.start()].strip(), entry[m.end():].strip()
    italic = re.match(r"\*([^*]+)\*[.,]?\s*(.*)", rest)
    if italic:
        title, venue = italic.groups()
    else:
        parts = re.split(r"(?<=[.?!\]])\s+", rest, maxsplit=1)
        title, venue = (parts + [""])[:2]
    return {"authors": authors, "first": authors.split(",")[0].strip(), "year": m.group(1),
            "title": title.strip(), "venue": venue.strip()}


def reference_problems(text: str) -> list[str]:
    """Citations missing from the reference list, and incomplete entries."""
    body, entries = split_references(text)
    problems, keys = [], set()
    for entry in entries:
        ref = parse_reference(entry)
        if ref is None:
            problems.append(f"reference without a year: {entry[:70]}")
            continue
        for field in ("authors", "title", "venue"):
            if len(re.findall(r"[^\W\d_]", ref[field])) < 3:
                problems.append(f"reference without {field}: {entry[:70]}")
        keys.add((ref["first"], ref["year"]))
    for m in CITATION.finditer(" ".join(body.split())):  # citations broken over lines
        first, years = m.group(1), [m.group(4)] + re.findall(r"\d{4}", m.group(5))
        if first in NOT_AUTHORS or MONTH.match(first):
            continue
        for year in years:
            if (first, year) not in keys:
                problems.append(f"cited but not in the reference list: {m.group(0)!r} ({first}, {year})")
    listed = " ".join(entries)
    for name, entry in GREY.items():
        if name in body and entry not in listed:
            problems.append(f"grey source {name!r} is cited but the reference list has no {entry!r} entry")
    return problems


def test_every_citation_in_the_odd_is_in_its_complete_reference_list():
    text = ODD.read_text(encoding="utf-8")
    _, entries = split_references(text)
    assert len(entries) > 60
    problems = reference_problems(text)
    assert not problems, "\n".join(problems)


# --- the checkers can fail ------------------------------------------------------------------------------


def test_source_checker_catches_unlabelled_unranged_and_misplaced_sources():
    class Broken(BaseModel):
        plain: float = Field(0.5, json_schema_extra={"unit": "share", "source": "Skogan 2006"})
        unranged: float = P(0.5, unit="share", description="d", source="assumption: a guess")
        outside: float = P(0.5, ge=0, le=1, unit="share", description="d", source="assumption: a guess",
                                     plausible=(0.6, 2.0))
        unsourced: float = Field(0.5)

    problems = "\n".join(source_problems(schema_fields(Broken)))
    assert "plain: source kind None" in problems
    assert "unranged: assumed value (assumption) without a plausible range" in problems
    assert "outside: plausible range [0.6, 2.0] is empty or outside the bounds" in problems
    assert "outside: default 0.5 outside its plausible range" in problems
    assert "unsourced: no source" in problems


@pytest.mark.parametrize("source", ["Skogan 2006", "value:Skogan", "guess: 0.5", "mechanism: Skogan 2006"])
def test_a_source_without_a_proper_kind_is_refused_at_declaration(source):
    with pytest.raises(ValueError, match="source"):
        source_kind(source)


def test_reference_checker_catches_missing_and_incomplete_references():
    text = ("Body cites Skogan 2006, Hirschi & Gottfredson 1983 and Tolan et al. 2014, 2016, and the program report.\n"
            "\n## References\n\n"
            "- Skogan, W. G. (2006). Asymmetry in the impact of encounters with police. *Policing & Society*,\n"
            "  16(2), 99–126.\n"
            "- Tolan, P. H., et al. (2014). Mentoring programs to affect delinquency.\n"
            "- Weisburd, D. (2015). *Criminology*.\n")
    problems = "\n".join(reference_problems(text))
    assert "Skogan" not in problems
    assert "(Hirschi, 1983)" in problems
    assert "(Tolan, 2016)" in problems and "(Tolan, 2014)" not in problems
    assert "reference without venue: Tolan" in problems
    assert "reference without venue: Weisburd" in problems
    assert "grey source 'program report'" in problems

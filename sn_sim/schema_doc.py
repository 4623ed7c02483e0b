"""Markdown parameter tables generated from the scenario schema.

``parameter_table()`` walks the pydantic :class:`~sn_sim.scenario.Scenario` model and returns
one Markdown table per section (dotted key, unit, default, range, plausible range, description, source
kind, source), read
straight from each field's ``FieldInfo``: ``default``/``default_factory``, the annotated_types
bounds in ``metadata`` (``Ge``/``Gt``/``Le``/``Lt``), ``description`` and the ``unit``,
``source``, ``source_kind`` and ``plausible`` in ``json_schema_extra``. Lists of tables (``districts``, ``strategy.rollout``) are
described in prose, with their item fields as a list; the ``programs`` dict documents the
Program fields once plus a table of the per-program defaults.

``sn-sim schema --markdown`` prints it; docs/ODD.md embeds that output verbatim, so the
parameter documentation cannot drift from the code as long as it is regenerated.
"""

from __future__ import annotations

import datetime as dt
import sys
import typing
from pathlib import Path
from typing import Any

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from sn_sim import scenario as sc
from sn_sim.scenario.loading import MAX_EXTENDS, MAX_FILE_BYTES

# Cross-field rules enforced by model validators (they cannot be read from field metadata).
SECTION_RULES: dict[str, list[str]] = {
    "calendar": ["`calendar.end` must be after `calendar.start`; every cohort launch must fall inside the calendar."],
    "population": ["`population.inhabitants_max` must be at least `population.inhabitants_min`."],
    "youth": ["`youth.max_age` must exceed `youth.min_age`."],
    "police": ["`police.split_patrol + police.split_community_policing + police.split_intelligence` must sum to 1."],
    "programs": ["The `share` of all programs must sum to 1 (when any program is defined)."],
    "community": ["`community.split_activities + community.split_space + community.split_alcohol` must sum to 1."],
    "strategy": ["Cohort years must be increasing and unique; their neighbourhoods together may not exceed the "
                 "candidate pool; named districts must exist in `districts`; `one_per_district` needs as many "
                 "districts as neighbourhoods."],
    "strategy.mix": ["`strategy.mix.police + strategy.mix.social + strategy.mix.community` must sum to 1."],
    "culture_points": ["`culture_points.districts` must name districts of `districts`; an empty list switches "
                       "Culture Points off."],
}

HEADER = ("| parameter | unit | default | range | plausible | description | kind | source |\n"
          "|---|---|---|---|---|---|---|---|")


# --- formatting ------------------------------------------------------------------------------


def _num(x: Any) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e9:
        x = int(x)
    if isinstance(x, int):
        # TOML-style digit grouping: readable and still pasteable into a scenario file.
        return f"{x:_}" if abs(x) >= 10_000 else str(x)
    if isinstance(x, float):
        text = f"{x:.10g}"
        if "e+" in text:
            mantissa, exp = text.split("e+")
            text = f"{mantissa}e{int(exp)}"
        return text
    return str(x)


def _cell(text: Any) -> str:
    """One Markdown table cell: no pipes or line breaks."""
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _extra(info: FieldInfo) -> dict:
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _default(info: FieldInfo) -> Any:
    if info.default is not PydanticUndefined:
        return info.default
    if info.default_factory is not None:
        return info.default_factory()
    return PydanticUndefined


def _format_default(value: Any) -> str:
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format_default(v) for v in value) + "]"
    return _num(value)


def _literal_values(annotation: Any) -> list | None:
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    return None


def _range(info: FieldInfo) -> str:
    """Interval from the annotated_types bounds: [a, b], (a, b], >= a, ... ; allowed values for Literals."""
    values = _literal_values(info.annotation)
    if values is not None:
        return "one of " + ", ".join(f"`{v}`" for v in values)
    if info.annotation is bool:
        return "true / false"
    lo = hi = None
    lo_open = hi_open = False
    for m in info.metadata:
        if isinstance(m, at.Ge):
            lo, lo_open = m.ge, False
        elif isinstance(m, at.Gt):
            lo, lo_open = m.gt, True
        elif isinstance(m, at.Le):
            hi, hi_open = m.le, False
        elif isinstance(m, at.Lt):
            hi, hi_open = m.lt, True
    if lo is None and hi is None:
        return ""
    if lo is not None and hi is not None:
        return f"{'(' if lo_open else '['}{_num(lo)}, {_num(hi)}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '≥'} {_num(lo)}"
    return f"{'<' if hi_open else '≤'} {_num(hi)}"


def _plausible(extra: dict) -> str:
    """The plausible range of an assumed value, ``[a, b]``, or "" where the value is taken from a source."""
    band = extra.get("plausible")
    return f"[{_num(band[0])}, {_num(band[1])}]" if band else ""


def _source_text(extra: dict) -> str:
    """The source without its kind prefix (the kind has its own column)."""
    text, kind = extra.get("source", ""), extra.get("source_kind")
    return text[len(kind) + 2:] if kind and text.startswith(f"{kind}: ") else text


def _row(key: str, info: FieldInfo, default: Any = None, use_default: bool = False) -> str:
    extra = _extra(info)
    value = default if use_default else _default(info)
    unit = extra.get("unit", "")
    if not unit and info.annotation is bool:
        unit = "flag"
    cells = [f"`{key}`", unit, _format_default(value), _range(info), _plausible(extra), info.description or "",
             extra.get("source_kind", ""), _source_text(extra)]
    return "| " + " | ".join(_cell(c) or "—" for c in cells) + " |"


# --- walking the schema ----------------------------------------------------------------------


def _model_class(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _list_item_model(annotation: Any) -> type[BaseModel] | None:
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation) or (None,)
        return _model_class(item)
    return None


def _dict_value_model(annotation: Any) -> type[BaseModel] | None:
    if typing.get_origin(annotation) is dict:
        args = typing.get_args(annotation)
        return _model_class(args[1]) if len(args) == 2 else None
    return None


def _item_fields(model: type[BaseModel]) -> list[str]:
    """Fields of a list item as Markdown bullets (for lists of tables, described in prose)."""
    lines = []
    for name, info in model.model_fields.items():
        extra = _extra(info)
        bits = []
        if extra.get("unit"):
            bits.append(extra["unit"])
        rng = _range(info)
        if rng:
            bits.append(rng)
        value = _default(info)
        bits.append("required" if value is PydanticUndefined else f"default {_format_default(value)}")
        if extra.get("plausible"):
            bits.append(f"plausible {_plausible(extra)}")
        if extra.get("source"):
            bits.append(f"source ({extra.get('source_kind', '?')}): {_source_text(extra)}")
        lines.append(f"  - `{name}` ({'; '.join(bits)}): {info.description or ''}")
    return lines


def _list_prose(key: str, info: FieldInfo, item: type[BaseModel]) -> list[str]:
    default = _default(info)
    n = len(default) if isinstance(default, list) else 0
    lines = [
        f"`{key}` is a list of tables ({'`[[' + key + ']]`'} in TOML), not a single value: "
        f"{info.description or ''}. Default: {'empty' if n == 0 else f'{n} entries'}; "
        f"scenarios supply it. Each entry has:",
        "",
    ]
    return lines + _item_fields(item) + [""]


def _section(title: str, model: type[BaseModel], prefix: str, out: list[str]) -> None:
    rows: list[str] = []
    prose: list[str] = []
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        sub = _model_class(info.annotation)
        item = _list_item_model(info.annotation)
        if sub is not None:
            nested.append((key, sub))
        elif item is not None:
            prose += _list_prose(key, info, item)
        else:
            rows.append(_row(key, info))
    out.append(f"### {title}")
    out.append("")
    if rows:
        out += [HEADER, *rows, ""]
    out += prose
    for rule in SECTION_RULES.get(title, []):
        out += [f"Rule: {rule}", ""]
    for key, sub in nested:
        _section(key, sub, f"{key}.", out)


def _programs(key: str, info: FieldInfo, program: type[BaseModel], out: list[str]) -> None:
    defaults: dict[str, BaseModel] = _default(info) or {}
    out += [f"### {key}", ""]
    out.append(
        f"`{key}` is a table of programs keyed by sector ({info.description or ''}); every program has the "
        f"fields below, written `{key}.<sector>.<field>`. The *default* column is the value a newly "
        "declared program takes for a field it does not set; the programs a scenario gets by default, "
        "and their own values, are in the second table. Declaring `[programs.<sector>]` in a scenario "
        "adds or changes that program; the shares of all programs must sum to 1."
    )
    out += ["", HEADER]
    for name, finfo in program.model_fields.items():
        out.append(_row(f"{key}.<sector>.{name}", finfo))
    out.append("")
    if defaults:
        names = list(program.model_fields)
        out += [f"Default programs ({len(defaults)}):", ""]
        out.append("| program | " + " | ".join(names) + " |")
        out.append("|---" * (len(names) + 1) + "|")
        for sector, spec in defaults.items():
            vals = [_format_default(getattr(spec, n)) for n in names]
            out.append(f"| `{sector}` | " + " | ".join(_cell(v) for v in vals) + " |")
        out.append("")
    for rule in SECTION_RULES.get(key, []):
        out += [f"Rule: {rule}", ""]


def parameter_table() -> str:
    """All scenario parameters as Markdown: one table per section of the Scenario schema.

    Returns
    -------
    str
        Markdown with a ``###`` heading per section and columns parameter (dotted key), unit,
        default, range (interval from the ge/gt/le/lt bounds), description and source.
    """
    out: list[str] = [
        "<!-- Generated by `sn-sim schema --markdown` (sn_sim/schema_doc.py) from sn_sim/scenario/schema.py; "
        "do not edit by hand. -->",
        "",
        "Ranges are the validation bounds: `[a, b]` closed, `(a, b]` excluding `a`. Units are the ones "
        "the code uses; *inhabitant units* means counts per real inhabitant, whatever `population.scale`.",
        "",
        "*Kind* says what the source gives: `value` -- the value is taken from the cited work or data (or "
        "fitted by the calibration to the named targets); `mechanism` -- the work supports the mechanism, "
        "the value is assumed; `assumption` -- no work supports the value. *Plausible* is the range an "
        "assumed value could honestly take (sensitivity analyses vary it over that range); empty where the "
        "value is taken from a source.",
        "",
    ]
    top_rows: list[str] = []
    prose: list[tuple[str, FieldInfo]] = []
    sections: list[tuple[str, FieldInfo]] = []
    for name, info in sc.Scenario.model_fields.items():
        if _model_class(info.annotation) is not None or _dict_value_model(info.annotation) is not None:
            sections.append((name, info))
        elif _list_item_model(info.annotation) is not None:
            prose.append((name, info))
        else:
            top_rows.append(_row(name, info))
    out += ["### scenario", "", HEADER, *top_rows, ""]
    out += ['A scenario file may start with `extends = "other.toml"` (a `.toml` path relative to the file, or '
            "the name of a shipped scenario): the parent is read first and the child's tables are merged into it "
            f"key by key. A chain may take at most {MAX_EXTENDS} `extends` steps and may not loop; each file must be "
            f"a regular file of at most {MAX_FILE_BYTES // 2**20} MiB. Types are strict: a number is not written in quotes, a boolean is `true` or "
            "`false`, `calendar.start` is a Monday. `--set section.key=value` overrides any key of the resolved "
            "scenario, defaults included.", ""]
    for name, info in prose:
        out += _list_prose(name, info, _list_item_model(info.annotation))
    for name, info in sections:
        program = _dict_value_model(info.annotation)
        if program is not None:
            _programs(name, info, program, out)
        else:
            _section(name, _model_class(info.annotation), f"{name}.", out)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


# docs/ODD.md embeds the table between these markers; ``update_document`` refreshes it.
BEGIN_MARKER = "<!-- BEGIN generated: sn-sim schema --markdown -->"
END_MARKER = "<!-- END generated: sn-sim schema --markdown -->"


def update_document(path: str | Path) -> bool:
    """Replace the text between BEGIN_MARKER and END_MARKER in ``path`` with ``parameter_table()``.

    Returns True if the file changed. Raises ValueError if the markers are missing.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    start, end = text.find(BEGIN_MARKER), text.find(END_MARKER)
    if start < 0 or end < start:
        raise ValueError(f"{path}: markers {BEGIN_MARKER!r} ... {END_MARKER!r} not found")
    head = text[: start + len(BEGIN_MARKER)]
    new = f"{head}\n\n{parameter_table()}\n{text[end:]}"
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


if __name__ == "__main__":  # pragma: no cover
    # python -m sn_sim.schema_doc                     print the tables (same as sn-sim schema --markdown)
    # python -m sn_sim.schema_doc --update docs/ODD.md refresh the embedded copy
    if len(sys.argv) == 3 and sys.argv[1] == "--update":
        print(f"{sys.argv[2]}: {'updated' if update_document(sys.argv[2]) else 'already up to date'}")
    else:
        print(parameter_table(), end="")

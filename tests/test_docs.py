"""The documents stay true to the code: parameter tables and the data dictionary."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sn_sim.observe import columns, dictionary, outcomes
from sn_sim.schema_doc import parameter_table

DOCS = Path(__file__).resolve().parents[1] / "docs"
REGISTRY = {"panel": columns.PANEL, "blocks": columns.BLOCKS, "neighbourhoods": columns.NEIGHBOURHOODS}


def test_odd_parameter_tables_match_the_schema():
    assert parameter_table().strip() in (DOCS / "ODD.md").read_text(), (
        "docs/ODD.md is stale: run `python -m sn_sim.schema_doc --update docs/ODD.md`")


# --- the data dictionary is generated from the registries ----------------------------------------------


def test_checked_in_data_dictionary_is_the_generated_one():
    assert (DOCS / "data_dictionary.md").read_text(encoding="utf-8") == dictionary.markdown(), (
        "docs/data_dictionary.md is stale: run `python -m sn_sim.observe.dictionary > docs/data_dictionary.md`")


def test_data_dictionary_module_prints_the_document():
    proc = subprocess.run([sys.executable, "-m", "sn_sim.observe.dictionary"], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode("utf-8") == dictionary.markdown()


@pytest.mark.parametrize("table", list(REGISTRY))
def test_run_tables_have_exactly_the_registry_columns_and_dtypes(tiny_results, table):
    frame = getattr(tiny_results, table)
    defined = {c.name: c.dtype for c in REGISTRY[table]}
    produced = {c: str(t) for c, t in frame.dtypes.items()}
    assert sorted(produced) == sorted(defined), (
        f"{table}: produced but not defined {sorted(set(produced) - set(defined))}; "
        f"defined but not produced {sorted(set(defined) - set(produced))}")
    assert produced == defined


def test_manifest_has_exactly_the_registry_fields(tiny_results):
    assert sorted(tiny_results.manifest) == sorted(f.name for f in columns.MANIFEST)


def test_every_registry_entry_is_fully_defined():
    for table, cols in REGISTRY.items():
        for c in cols:
            for attr in ("dtype", "unit", "population", "definition"):
                assert getattr(c, attr).strip(), (table, c.name, attr)
            assert c.kind in columns.KINDS
    for o in outcomes.OUTCOMES.values():
        assert o.label and o.unit and o.population, o.name
        assert set(o.columns) <= {c.name for c in columns.PANEL}, (o.name, o.columns)


def test_recorder_columns_come_from_the_registry():
    from sn_sim.observe import recorder

    assert recorder.FLOW_COLUMNS is columns.FLOW_COLUMNS and recorder.STOCK_COLUMNS is columns.STOCK_COLUMNS
    flows = {c.name for c in columns.PANEL if c.kind == "flow"}
    assert set(columns.FLOW_COLUMNS) == flows


def test_data_dictionary_defines_every_output_column_and_outcome(tiny_results):
    text = (DOCS / "data_dictionary.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", text, flags=re.MULTILINE))
    for frame in (tiny_results.panel, tiny_results.blocks, tiny_results.neighbourhoods):
        missing = [c for c in frame.columns if c not in documented]
        assert not missing, f"docs/data_dictionary.md lacks {missing}"
    assert not [k for k in tiny_results.manifest if k not in documented]
    assert not [o for o in outcomes.OUTCOMES if o not in documented]

"""The documents stay true to the code: parameter tables and the data dictionary."""

import re
from pathlib import Path

from sn_sim.schema_doc import parameter_table

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_odd_parameter_tables_match_the_schema():
    assert parameter_table().strip() in (DOCS / "ODD.md").read_text(), (
        "docs/ODD.md is stale: run `python -m sn_sim.schema_doc --update docs/ODD.md`")


def test_data_dictionary_defines_every_output_column(tiny_results):
    text = (DOCS / "data_dictionary.md").read_text()
    documented = set(re.findall(r"`([a-z0-9_]+)`", text))
    for frame in (tiny_results.panel, tiny_results.blocks, tiny_results.neighbourhoods):
        missing = [c for c in frame.columns if c not in documented]
        assert not missing, f"docs/data_dictionary.md lacks {missing}"
    assert not [k for k in tiny_results.manifest if k not in documented]

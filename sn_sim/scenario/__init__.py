"""Scenarios: the validated, typed description of one simulation, and how files become one.

- :mod:`~sn_sim.scenario.schema` -- every section and parameter (unit, default, range, source);
- :mod:`~sn_sim.scenario.keys` -- dotted keys, the one way to address a scenario value;
- :mod:`~sn_sim.scenario.loading` -- files, ``extends`` chains, ``--set`` overrides, shipped scenarios.
"""

from sn_sim.scenario.keys import MISSING, apply_overrides, flatten, get_key, parse_assignments, set_key
from sn_sim.scenario.loading import (
    load_scenario, read_toml, scenario_json_schema, scenario_path, shipped_dir, shipped_path,
    shipped_scenario_names,
)
from sn_sim.scenario.schema import Scenario, format_validation_error, validate, without_trends

__all__ = [
    "Scenario", "load_scenario", "validate", "format_validation_error", "scenario_json_schema",
    "apply_overrides", "get_key", "set_key", "flatten", "parse_assignments", "MISSING", "read_toml",
    "scenario_path", "shipped_dir", "shipped_path", "shipped_scenario_names", "without_trends",
]

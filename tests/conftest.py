"""Shared fixtures: a tiny scenario (9 neighbourhoods, 3 % scale, two simulated years) and the
runs several test modules read. Everything heavy is session-scoped so the suite stays fast."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sn_sim.api import run
from sn_sim.model import SafeNeighbourhoodModel
from sn_sim.scenario import Scenario, load_scenario

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"

# Three districts in two cities, nine candidate neighbourhoods. A pilot cohort of one neighbourhood
# in each of two named districts (like the 2016 pilot), then a free cohort of three. The national
# budget is set low enough that it binds once five neighbourhoods are active.
TINY_TOML = textwrap.dedent(
    """\
    name = "tiny"
    description = "test scenario: 9 candidates, 2 cohorts, 2 years"

    [calendar]
    start = 2016-01-04
    end = 2017-12-25
    burn_in_weeks = 8

    [population]
    scale = 0.03

    [budget]
    usd_per_year = 100000
    usd_per_neighbourhood_year = 75000

    [culture_points]
    districts = ["Alpha"]
    training_start = 2017-03-06
    financing_start = 2017-06-05
    financing_end = 2017-10-30
    orgs_trained = 2

    [[strategy.rollout]]
    year = 2016
    neighbourhoods = 2
    launch = 2016-04-04
    districts = ["Alpha", "Beta"]
    one_per_district = true

    [[strategy.rollout]]
    year = 2017
    neighbourhoods = 3
    launch = 2017-04-03

    [[districts]]
    name = "Alpha"
    city = "Lima"
    neighbourhoods = 3
    lima = true

    [[districts]]
    name = "Beta"
    city = "Lima"
    neighbourhoods = 3
    crime_level = 1.2
    lima = true

    [[districts]]
    name = "Gamma"
    city = "Trujillo"
    neighbourhoods = 3
    """
)

TINY_SEED = 11
TINY_ROLLOUT = {2016: 2, 2017: 3}
TINY_NEIGHBOURHOODS = 9


def write_scenario(directory: Path, text: str = TINY_TOML, name: str = "tiny.toml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path



@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory) -> Path:
    return write_scenario(tmp_path_factory.mktemp("scenario"))


@pytest.fixture(scope="session")
def tiny_scenario(tiny_path) -> Scenario:
    return load_scenario(tiny_path)


@pytest.fixture(scope="session")
def tiny_results(tiny_scenario):
    """Two replicates of the tiny scenario (shared by invariant and determinism tests)."""
    return run(tiny_scenario, seed=TINY_SEED, replicates=2)


@pytest.fixture(scope="session")
def quiet_scenario(tiny_path) -> Scenario:
    """The tiny pool with no Strategy at all and 5 % scale: a controlled bed for mechanism tests."""
    return load_scenario(tiny_path, ["strategy.rollout=[]", "culture_points.districts=[]", "population.scale=0.05"])


def make_model(scenario: Scenario, seed: int = 0) -> SafeNeighbourhoodModel:
    """A model after its burn-in, ready for direct calls to the mechanism functions."""
    return SafeNeighbourhoodModel(scenario, rng=seed)


# Tests scheduled one by one under pytest-xdist (nodeid prefixes): the README's independent command
# chains (test_readme.py), each long enough that keeping them on one worker would leave the other
# idle at the end. Every other test stays on the worker of its file, as with --dist loadfile.
SPREAD = ("tests/test_readme.py::test_every_readme_command_works_as_written[",)


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` (pyproject.toml), except for the tests of ``SPREAD``. (xdist's
    ``loadgroup`` would do this with marks, but it renames test ids in a way pytest 9.2 ignores.)"""
    if config.getvalue("dist") != "loadfile":
        return None  # what the user asked for
    from xdist.scheduler import LoadFileScheduling

    class FilesAndSpreadTests(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return nodeid if nodeid.startswith(SPREAD) else super()._split_scope(nodeid)

    return FilesAndSpreadTests(config, log)

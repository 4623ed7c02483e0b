"""sn_sim: an agent-based model of Peru's Safe Neighborhood (Barrio Seguro) strategy.

Library first: ``run(scenario, seed=...)`` returns Results; the CLI is a thin layer over it.
"""

from sn_sim.api import package_version, run
from sn_sim.errors import OutputError, ScenarioError, SnSimError
from sn_sim.model import SafeNeighbourhoodModel
from sn_sim.results import Results, load_results
from sn_sim.scenario import Scenario, load_scenario

__version__ = package_version()

__all__ = [
    "run", "Results", "load_results", "Scenario", "load_scenario", "SafeNeighbourhoodModel",
    "ScenarioError", "OutputError", "SnSimError", "__version__",
]

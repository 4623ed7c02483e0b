"""sn_sim: an agent-based model of Peru's Safe Neighborhood (Barrio Seguro) strategy.

Library first: ``run(scenario, seed=...)`` returns Results; the CLI is a thin layer over it.
"""

from sn_sim.api import package_version, replicate_streams, run
from sn_sim.errors import OutputError, ScenarioError, SnSimError
from sn_sim.model import SafeNeighbourhoodModel
from sn_sim.observe import outcomes
from sn_sim.observe.results import Results, load_results
from sn_sim.observe.storage import check_output_dir, staged_directory
from sn_sim.scenario import Scenario, load_scenario, shipped_scenario_names, validate
from sn_sim.world.blocks import block_layer
from sn_sim.world.neighbourhoods import STAGES

__version__ = package_version()

# Layers above the model, loaded on first use so `import sn_sim` stays light:
# sn_sim.compare / load_sweep / run_sweep / discover / to_ema / run_optimisation (experiments),
# sn_sim.evaluate (evaluation),
# sn_sim.calibrate (calibration).
_LAYERS = {
    "compare": "sn_sim.experiment",
    "run_sweep": "sn_sim.experiment",
    "load_sweep": "sn_sim.experiment",
    "discover": "sn_sim.experiment",
    "to_ema": "sn_sim.experiment",
    "run_optimisation": "sn_sim.experiment",
    "evaluate": "sn_sim.evaluation",
    "calibrate": "sn_sim.calibration",
}


def __getattr__(name):
    if name in _LAYERS:
        import importlib

        return getattr(importlib.import_module(_LAYERS[name]), name)
    raise AttributeError(f"module 'sn_sim' has no attribute {name!r}")


__all__ = [
    "run", "Results", "load_results", "Scenario", "load_scenario", "validate", "shipped_scenario_names",
    "SafeNeighbourhoodModel", "outcomes", "check_output_dir", "staged_directory", "replicate_streams",
    "STAGES", "block_layer", "package_version", "ScenarioError", "OutputError", "SnSimError", "__version__",
    *_LAYERS,
]

"""sn_sim: an agent-based model of Peru's Safe Neighborhood (Barrio Seguro) strategy.

Library first: ``run(scenario, seed=...)`` returns Results; the CLI is a thin layer over it.

Every name below is loaded on first use (PEP 562), so that importing a submodule -- every
``sn-sim`` command starts with ``import sn_sim.cli`` -- does not pay for the model, Mesa and
pandas until a command needs them: ``sn-sim --help`` and a one-line input error stay quick.
"""

from importlib.metadata import PackageNotFoundError, version

from sn_sim.lazy import lazy_package

try:
    __version__ = version("sn_sim")
except PackageNotFoundError:  # a source tree that is not installed (as sn_sim.api.package_version)
    __version__ = "0+unknown"

# name -> module that defines it.
_NAMES = {
    "run": "sn_sim.api", "package_version": "sn_sim.api", "replicate_streams": "sn_sim.api",
    "OutputError": "sn_sim.errors", "ScenarioError": "sn_sim.errors", "SnSimError": "sn_sim.errors",
    "SafeNeighbourhoodModel": "sn_sim.model",
    "Results": "sn_sim.observe.results", "load_results": "sn_sim.observe.results",
    "check_output_dir": "sn_sim.observe.storage", "staged_directory": "sn_sim.observe.storage",
    "Scenario": "sn_sim.scenario", "load_scenario": "sn_sim.scenario",
    "shipped_scenario_names": "sn_sim.scenario", "validate": "sn_sim.scenario",
    "block_layer": "sn_sim.world.blocks", "STAGES": "sn_sim.world.neighbourhoods",
    # The layers above the model:
    "compare": "sn_sim.experiment", "run_sweep": "sn_sim.experiment", "load_sweep": "sn_sim.experiment",
    "discover": "sn_sim.experiment", "to_ema": "sn_sim.experiment", "run_optimisation": "sn_sim.experiment",
    "evaluate": "sn_sim.evaluation",
    "calibrate": "sn_sim.calibration",
}
_MODULES = {"outcomes": "sn_sim.observe.outcomes"}


__getattr__, __dir__ = lazy_package(__name__, _NAMES, _MODULES)  # sn_sim/lazy.py


__all__ = [*_NAMES, *_MODULES, "__version__"]

"""Calibration: reported figures as targets, simulated method of moments, fit report."""

from __future__ import annotations

from sn_sim.lazy import lazy_package

# Loaded on first use (sn_sim/lazy.py): the CLI imports this package for the `calibrate` parser,
# which needs neither SciPy's optimisers nor the model.
_EXPORTS = {
    "calibrate": "sn_sim.calibration.calibrate", "CalibrationResult": "sn_sim.calibration.calibrate",
    "load_free_parameters": "sn_sim.calibration.calibrate",
    "Target": "sn_sim.calibration.targets", "load_targets": "sn_sim.calibration.targets",
    "simulated_moments": "sn_sim.calibration.targets",
}
__getattr__, __dir__ = lazy_package(__name__, _EXPORTS)

__all__ = ["calibrate", "CalibrationResult", "load_free_parameters", "load_targets", "simulated_moments", "Target"]

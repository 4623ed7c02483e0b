"""Calibration: reported figures as targets, simulated method of moments, fit report."""

from sn_sim.calibration.calibrate import CalibrationResult, calibrate, load_free_parameters
from sn_sim.calibration.targets import Target, load_targets, simulated_moments

__all__ = ["calibrate", "CalibrationResult", "load_free_parameters", "load_targets", "simulated_moments", "Target"]

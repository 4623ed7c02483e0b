"""Observations: the panel recorder, the outcome registry, results and their I/O, plots."""

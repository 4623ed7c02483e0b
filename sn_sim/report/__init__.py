"""A one-page HTML report of a run or a comparison, for a policy team to open offline and forward.

``sn-sim report RUN_OR_COMPARE_DIR [--out FILE] [--force]`` (or :func:`write_report`) reads a
directory written by ``sn-sim run`` or ``sn-sim compare`` -- verifying every data file against
the checksum its manifest records -- and writes one self-contained HTML file: the figures
embedded as SVG images (no file beside it, no network), the key numbers with their 95%
intervals, what the scenarios are and how they differ in words (from the resolved scenarios
in the manifest), and a fixed section on what this model is not.

The report layer sits above the experiment and evaluation layers: it reads their outputs
(a comparison through :mod:`sn_sim.experiment.compare`, a run's counterfactual twin through
:mod:`sn_sim.evaluation.twins`) and draws the figures again from the verified data, so the
page can never show pictures of other numbers than the ones it prints.
"""

from __future__ import annotations

from sn_sim.lazy import lazy_package

# Loaded on first use (sn_sim/lazy.py): the CLI imports this package for the `report` and
# `diagnose` parsers.
__getattr__, __dir__ = lazy_package(__name__, {"build_report": "sn_sim.report.page",
                                               "write_report": "sn_sim.report.page"})

__all__ = ["build_report", "write_report"]

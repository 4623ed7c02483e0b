"""Results of a run: the weekly panel, block-year crime counts, neighbourhoods and the manifest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sn_sim.observe.storage import check_output_dir, staged_directory


@dataclass
class Results:
    """Everything one ``run`` produced.

    Attributes
    ----------
    panel : DataFrame, one row per replicate x neighbourhood x week (docs/data_dictionary.md)
    blocks : DataFrame, offences per block per calendar year and replicate
    manifest : dict, package version, resolved scenario, its hash, seeds, wall time
    neighbourhoods : DataFrame, one row per replicate x neighbourhood: static facts,
        adjacency, and the Ministry's selection (cohort, launch date, control, diagnosis score)
    """

    panel: pd.DataFrame
    blocks: pd.DataFrame
    manifest: dict
    neighbourhoods: pd.DataFrame = field(default_factory=pd.DataFrame)
    scenario: object = field(repr=False, default=None)

    def save(self, out: str | Path, force: bool = False, plots: bool = True) -> Path:
        """Write panel.parquet, blocks.parquet, neighbourhoods.parquet, manifest.json and plots/
        atomically to ``out``."""
        out = Path(out)
        check_output_dir(out, force, kind="run")
        with staged_directory(out, "run") as tmp:
            self.panel.to_parquet(tmp / "panel.parquet", index=False)
            self.blocks.to_parquet(tmp / "blocks.parquet", index=False)
            self.neighbourhoods.to_parquet(tmp / "neighbourhoods.parquet", index=False)
            (tmp / "manifest.json").write_text(json.dumps(self.manifest, indent=2, default=str))
            if plots:
                from sn_sim.observe.plots import write_plots

                write_plots(self.panel, tmp / "plots")
        return out


def load_results(path: str | Path) -> Results:
    path = Path(path)
    return Results(
        panel=pd.read_parquet(path / "panel.parquet"),
        blocks=pd.read_parquet(path / "blocks.parquet"),
        manifest=json.loads((path / "manifest.json").read_text()),
        neighbourhoods=pd.read_parquet(path / "neighbourhoods.parquet"),
    )


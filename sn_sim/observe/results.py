"""Results of a run: the weekly panel, block-year crime counts, neighbourhoods and the manifest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sn_sim.errors import SnSimError
from sn_sim.observe.storage import check_output_dir, file_checksums, reading, staged_directory, verify_checksums

MANIFEST = "manifest.json"
# The data files of a run directory, in the order they are written; the manifest, written after
# them, records their checksums (plots are pictures of the panel, not data, and are not recorded).
DATA_FILES = ("panel.parquet", "blocks.parquet", "neighbourhoods.parquet")


@dataclass
class Results:
    """Everything one ``run`` produced.

    Attributes
    ----------
    panel : DataFrame, one row per replicate x neighbourhood x week (docs/data_dictionary.md)
    blocks : DataFrame, offences per block per calendar year and replicate
    manifest : dict, package version, resolved scenario, its hash, seeds, wall time, the
        source's git commit and library versions; once saved, the data files' checksums
    neighbourhoods : DataFrame, one row per replicate x neighbourhood: static facts,
        adjacency, and the Ministry's selection (cohort, launch date, control, diagnosis score)
    """

    panel: pd.DataFrame
    blocks: pd.DataFrame
    manifest: dict
    neighbourhoods: pd.DataFrame = field(default_factory=pd.DataFrame)
    scenario: object = field(repr=False, default=None)

    def figures(self, twin: "Results | None" = None) -> dict:
        """Every run figure (name -> matplotlib Figure; :mod:`sn_sim.observe.plots`). ``twin``:
        the run's counterfactual twin (same scenario and seed without the Strategy), drawn as a
        third line on the treated-vs-control figures."""
        from sn_sim.observe.plots import run_figures

        return run_figures(self.panel, None if twin is None else twin.panel)

    def plot(self, name: str = "crime_trust_treated_vs_control", twin: "Results | None" = None):
        """One run figure as a matplotlib Figure (shown inline in a notebook): ``name`` is one of
        :data:`sn_sim.observe.plots.FIGURES`; ``twin`` as in :meth:`figures`."""
        from sn_sim.observe.plots import FIGURES

        if name not in FIGURES:
            raise SnSimError(f"plot: unknown figure {name!r} (expected one of {', '.join(FIGURES)})")
        from sn_sim.observe.plots import run_figures

        return run_figures(self.panel, None if twin is None else twin.panel, (name,))[name]

    def save(self, out: str | Path, force: bool = False, plots: bool = True, twin: "Results | None" = None) -> Path:
        """Write panel.parquet, blocks.parquet, neighbourhoods.parquet, manifest.json (with the
        data files' checksums) and plots/ (each figure as PNG and SVG) atomically to ``out``;
        with ``twin`` (the run's counterfactual twin) also ``twin/`` (a run directory of its
        own), and the plots show it."""
        out = Path(out)
        check_output_dir(out, force, kind="run")
        with staged_directory(out, "run") as tmp:
            for name, frame in zip(DATA_FILES, (self.panel, self.blocks, self.neighbourhoods)):
                frame.to_parquet(tmp / name, index=False)
            manifest = {**self.manifest, "checksums": file_checksums(tmp, DATA_FILES)}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
            if twin is not None:
                twin.save(tmp / "twin", plots=False)
            if plots:
                from sn_sim.observe.plots import write_plots

                write_plots(self.panel, tmp / "plots", None if twin is None else twin.panel)
        return out


def check_run_directory(path: str | Path) -> Path:
    """Cheap check, before any work, that ``path`` is a run directory: it exists and holds the
    manifest and data files (:func:`load_results` reads and verifies them)."""
    path = Path(path)
    if not path.is_dir():
        raise SnSimError(f"{path}: run directory not found" if not path.exists() else
                         f"{path}: not a directory (expected a run directory written by 'sn-sim run')")
    for name in (MANIFEST,) + DATA_FILES:
        if not (path / name).is_file():
            raise SnSimError(f"{path}: not a run directory (missing {name})")
    return path


def read_run_manifest(path: str | Path) -> dict:
    """The manifest of run directory ``path`` (:func:`check_run_directory` first), which must
    be a JSON object; one-line :class:`SnSimError` otherwise."""
    path = check_run_directory(path)
    with reading(path / MANIFEST):
        text = (path / MANIFEST).read_bytes()
    try:
        manifest = json.loads(text)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise SnSimError(f"{path / MANIFEST}: not valid JSON ({exc})"[:300]) from None
    if not isinstance(manifest, dict):
        raise SnSimError(f"{path / MANIFEST}: not a run manifest (expected a JSON object)")
    return manifest


def load_results(path: str | Path, verify: bool = True) -> Results:
    """Read a run directory written by :meth:`Results.save` (``sn-sim run``).

    With ``verify`` (the default) each data file must match the checksum its manifest records,
    so a file corrupted or changed since the run is refused instead of read as numbers. A run
    directory written before checksums were recorded (no ``checksums`` in its manifest) is
    read without verification. Every problem -- missing directory or file, a manifest that is
    not a JSON object, a checksum mismatch, an unreadable parquet file -- raises
    :class:`SnSimError` with one line naming the file.
    """
    path = Path(path)
    manifest = read_run_manifest(path)
    if verify:
        verify_checksums(path, manifest, MANIFEST)
    frames = []
    for name in DATA_FILES:
        with reading(path / name):
            frames.append(pd.read_parquet(path / name))
    panel, blocks, neighbourhoods = frames
    return Results(panel=panel, blocks=blocks, manifest=manifest, neighbourhoods=neighbourhoods)

"""Sensitivity: Sobol and Morris indices from sweep directories, plots, and refusals."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from sn_sim.cli import main
from sn_sim.errors import OutputError, SnSimError
from sn_sim.experiment import run_sweep, sensitivity

from mini import mini_scenario

pytest.importorskip("SALib")

SCENARIO = mini_scenario()

# The offending rate triples across its range; the trust relaxation barely touches crime.
SWEEP = textwrap.dedent(
    """\
    base = "mini.toml"
    seed = 2
    design = {{method = "{method}", samples = {n}}}
    [parameters]
    "crime.offending_rate" = {{min = 0.02, max = 0.06}}
    "trust.relaxation" = {{min = 0.0, max = 0.02}}
    [outputs]
    summaries = ["offences_per_1000_year_all", "trust_police_all", "trust_police_treated"]
    """
)


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sensitivity")
    (d / "mini.toml").write_text(SCENARIO)
    out = {}
    for method, n in (("sobol", 8), ("morris", 3)):
        path = d / f"{method}.toml"
        path.write_text(SWEEP.format(method=method, n=n))
        out[method] = d / f"{method}-sweep"
        res = run_sweep(path, out[method], workers=2, progress=False)
        assert res.failed == 0
    return out


def test_sobol_indices_rank_the_driver(sweeps, tmp_path):
    res = sensitivity(sweeps["sobol"], ["offences_per_1000_year_all", "trust_police_all"])
    idx = res.indices
    assert list(idx.columns) == ["output", "parameter", "S1", "S1_conf", "ST", "ST_conf"]
    assert len(idx) == 4 and res.points == 8 * (2 + 2)
    crime = idx[idx["output"] == "offences_per_1000_year_all"].set_index("parameter")
    assert crime.loc["crime.offending_rate", "ST"] > crime.loc["trust.relaxation", "ST"]
    assert crime.loc["crime.offending_rate", "ST"] > 0.5 and crime.loc["trust.relaxation", "ST"] < 0.05
    assert np.isfinite(idx[["S1", "ST", "S1_conf", "ST_conf"]].to_numpy()).all()
    paths = res.save(tmp_path / "sens")
    assert [p.name for p in paths] == ["sensitivity-sobol.csv", "sensitivity-sobol.png", "sensitivity-sobol.svg"]
    assert paths[1].stat().st_size > 10_000 and paths[2].read_text().lstrip().startswith("<?xml")
    # The figure, for a notebook: one panel per output, and every index whose interval includes 0
    # is flagged (hatched) -- trust.relaxation barely matters, so some interval must reach 0.
    fig = res.plot()
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["offences_per_1000_year_all", "trust_police_all"]
    bars = [p for ax in panels for p in ax.patches]
    hatched = [b for b in bars if b.get_hatch()]
    expected = int((idx["S1"] - idx["S1_conf"] <= 0).sum() + (idx["ST"] - idx["ST_conf"] <= 0).sum())
    assert len(bars) == 2 * len(idx) and len(hatched) == expected > 0
    assert all(ax.get_ylabel() == "share of output variance" for ax in panels)
    # A second save never overwrites without force; with force it replaces its own output whole.
    with pytest.raises(OutputError, match="already exists"):
        res.save(tmp_path / "sens")
    assert res.save(tmp_path / "sens", force=True) == paths
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(OutputError, match="not written by sn-sim"):
        res.save(tmp_path / "mine", force=True)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_morris_indices(sweeps):
    res = sensitivity(sweeps["morris"], "offences_per_1000_year_all")
    idx = res.indices.set_index("parameter")
    assert list(res.indices.columns) == ["output", "parameter", "mu", "mu_star", "mu_star_conf", "sigma"]
    assert res.points == 3 * (2 + 1)
    assert idx.loc["crime.offending_rate", "mu_star"] > idx.loc["trust.relaxation", "mu_star"]


def test_cli_sensitivity(sweeps, capsys):
    code = main(["sensitivity", str(sweeps["sobol"]), "--output", "offences_per_1000_year_all",
                 "--output", "trust_police_all"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "crime.offending_rate" in captured.out
    out = sweeps["sobol"] / "sensitivity"
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "sensitivity-sobol.csv", "sensitivity-sobol.png", "sensitivity-sobol.svg"]
    before = (out / "sensitivity-sobol.csv").read_bytes()
    again = ["sensitivity", str(sweeps["sobol"]), "--output", "trust_police_all"]
    assert main(again) == 2  # refused before any work: the earlier output stays
    assert "already exists (use --force" in capsys.readouterr().err
    assert (out / "sensitivity-sobol.csv").read_bytes() == before
    assert main(again + ["--force"]) == 0
    assert (out / "sensitivity-sobol.csv").read_bytes() != before


@pytest.mark.parametrize("which,args,expected", [
    ("morris", ["--output", "offences_per_1000_year_all", "--method", "sobol"],
     "sobol indices need a sweep with design = \"sobol\" (this sweep used morris)"),
    ("sobol", ["--output", "crime"], "unknown output 'crime'"),
])
def test_cli_sensitivity_refusals(sweeps, capsys, tmp_path, which, args, expected):
    assert main(["sensitivity", str(sweeps[which]), "--out", str(tmp_path / "s")] + args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err
    assert not (tmp_path / "s").exists()


def test_incomplete_sweeps_and_other_designs_are_refused(sweeps, tmp_path):
    import shutil

    partial = tmp_path / "partial"
    shutil.copytree(sweeps["sobol"], partial)
    (partial / "runs" / "run-000003.parquet").unlink()
    with pytest.raises(SnSimError, match="1 of 32 points have no finished run"):
        sensitivity(partial, "offences_per_1000_year_all")
    with pytest.raises(SnSimError, match="not a sweep directory"):
        sensitivity(tmp_path, "offences_per_1000_year_all")

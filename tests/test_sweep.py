"""Sweeps: sweep files and designs, the sweep directory, resume after a kill, failures, bad input."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sn_sim import api
from sn_sim.cli import main
from sn_sim.experiment import load_failures, load_sweep, plan_sweep, query, run_sweep
from sn_sim.observe.outcomes import summarise
from sn_sim.scenario import load_scenario

from mini import mini_scenario

SCENARIO = mini_scenario()

# 3 police shares x 2 officer levels x 2 replicates = 12 runs on a fixed budget.
GRID = textwrap.dedent(
    """\
    name = "grid"
    base = "mini.toml"
    seed = 5
    replicates = 2
    design = "grid"

    [parameters]
    "strategy.mix.police" = {min = 0.0, max = 1.0, num = 3}
    "police.extra_officers" = [0, 20]

    [derived]
    "strategy.mix.social" = "(1 - strategy.mix.police) * 0.35 / 0.6"
    "strategy.mix.community" = "(1 - strategy.mix.police) * 0.25 / 0.6"

    [outputs]
    summaries = ["offences_per_1000_year_all", "trust_police_all", "cost_usd_all", "offences_per_1000_year_treated"]
    """
)

VALUES = ["run", "point", "replicate", "seed", "strategy.mix.police", "police.extra_officers",
          "strategy.mix.social", "strategy.mix.community", "offences_per_1000_year_all", "trust_police_all",
          "cost_usd_all", "offences_per_1000_year_treated"]


def results(frame: pd.DataFrame) -> pd.DataFrame:
    """Everything but the timing column, which is the only thing allowed to differ."""
    return frame.drop(columns=["run_seconds"]).sort_values("run", ignore_index=True)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("sweep")
    (d / "mini.toml").write_text(SCENARIO)
    (d / "grid.toml").write_text(GRID)
    return d


@pytest.fixture(scope="module")
def reference(folder) -> pd.DataFrame:
    """The grid sweep run once, uninterrupted, in this process."""
    res = run_sweep(folder / "grid.toml", folder / "reference", workers=1, progress=False)
    assert (res.done, res.failed, res.skipped) == (12, 0, 0)
    return load_sweep(folder / "reference")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


# --- Plans and designs ------------------------------------------------------------------------


def test_grid_plan_expands_derives_and_seeds(folder):
    plan = plan_sweep(folder / "grid.toml")
    assert len(plan.points) == 6 and len(plan.runs) == 12
    shares = sorted({p["strategy.mix.police"] for p in plan.points})
    assert shares == [0.0, 0.5, 1.0]
    for p in plan.points:
        total = p["strategy.mix.police"] + p["strategy.mix.social"] + p["strategy.mix.community"]
        assert total == pytest.approx(1.0)
        assert isinstance(p["police.extra_officers"], int)
    # Common random numbers: every run's seed is the sweep seed; run k = point * replicates + replicate.
    assert {r["seed"] for r in plan.runs} == {5}
    assert [(r["point"], r["replicate"]) for r in plan.runs[:4]] == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_sampled_designs(folder):
    base = """\
        base = "mini.toml"
        seed = 9
        design = {{method = "{method}", samples = {n}}}
        random_numbers = "independent"
        [parameters]
        "crime.offending_rate" = {{min = 0.02, max = 0.06}}
        "police.extra_officers" = {{min = 0, max = 30}}
        "youth.onset_rate" = [0.002, 0.004, 0.008]
        """
    lhs = plan_sweep(write(folder, "lhs.toml", base.format(method="lhs", n=10)))
    assert len(lhs.points) == 10
    rates = np.array([p["crime.offending_rate"] for p in lhs.points])
    assert ((rates >= 0.02) & (rates <= 0.06)).all()
    # Latin hypercube: one point in each tenth of every range.
    assert sorted(np.floor((rates - 0.02) / 0.004).astype(int)) == list(range(10))
    assert all(isinstance(p["police.extra_officers"], int) and 0 <= p["police.extra_officers"] <= 30
               for p in lhs.points)
    assert {p["youth.onset_rate"] for p in lhs.points} <= {0.002, 0.004, 0.008}
    assert plan_sweep(folder / "lhs.toml").points == lhs.points  # seeded
    seeds = [r["seed"] for r in lhs.runs]
    assert len(set(seeds)) == 10 and all(0 <= s < 2**63 for s in seeds)

    sobol = plan_sweep(write(folder, "sobol.toml", base.format(method="sobol", n=8)))
    assert len(sobol.points) == 8 * (3 + 2)
    assert sobol.design["problem"]["names"] == ["crime.offending_rate", "police.extra_officers",
                                                 "youth.onset_rate"]
    morris = plan_sweep(write(folder, "morris.toml", base.format(method="morris", n=4)))
    assert len(morris.points) == 4 * (3 + 1)
    assert len(morris.design["X"]) == len(morris.points)


def test_unquoted_dotted_keys_work_too(folder):
    path = write(folder, "dotted.toml", """\
        base = "mini.toml"
        design = "grid"
        [set]
        population.scale = 0.02
        [parameters]
        crime.offending_rate = [0.03, 0.05]
        """)
    plan = plan_sweep(path)
    assert plan.parameters == ["crime.offending_rate"]
    assert plan.base.population.scale == 0.02


# --- Bad input: one line, exit 2, nothing written ---------------------------------------------

BAD = {
    "unknown parameter": ('"crime.offending_rat" = [0.03, 0.05]', "parameters.crime.offending_rat: unknown scenario key"),
    "empty range": ('"crime.offending_rate" = {min = 0.05, max = 0.05, num = 3}', "parameters.crime.offending_rate: empty range"),
    "empty list": ('"crime.offending_rate" = []', "parameters.crime.offending_rate: empty list"),
    "invalid point": ('"strategy.mix.police" = [0.4, 0.9]', "point 1 (strategy.mix.police=0.9): strategy.mix: pillar shares must sum to 1"),
    "out of range": ('"crime.offending_rate" = [0.03, 0.5]', "point 1 (crime.offending_rate=0.5): crime.offending_rate:"),
    "table": ('"strategy.mix" = [1, 2]', "parameters.strategy.mix: is a table or a list"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_sweep_parameters(folder, tmp_path, monkeypatch, capsys, case):
    line, expected = BAD[case]
    path = write(tmp_path, "bad.toml", f"""\
        base = "{folder / 'mini.toml'}"
        design = "grid"
        [parameters]
        {line}
        """)
    assert_refused(path, expected, tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize("case,top,tables,expected", [
    ("bad design", 'design = "factorial"', "", "design.method: unknown design 'factorial' (expected one of grid, lhs, sobol, morris)"),
    ("no samples", 'design = "lhs"', "", "design.samples: the lhs design needs samples"),
    ("sobol samples", 'design = {method = "sobol", samples = 10}', "", "design.samples: sobol needs a power of 2 (got 10)"),
    ("unknown key", 'design = "grid"\nreplicas = 3', "", "replicas: unknown key"),
    ("bad output", 'design = "grid"', '[outputs]\nsummaries = ["crime_all"]', "outputs.summaries: unknown summary 'crime_all'"),
    ("bad set", 'design = "grid"', '[set]\n"population.scales" = 0.1', "set.population.scales: unknown scenario key"),
])
def test_bad_sweep_file(folder, tmp_path, monkeypatch, capsys, case, top, tables, expected):
    path = tmp_path / "bad.toml"
    path.write_text(f'base = "{folder / "mini.toml"}"\n{top}\n[parameters]\n"crime.offending_rate" = [0.03]\n{tables}\n')
    assert_refused(path, expected, tmp_path, monkeypatch, capsys)


def test_bad_derived_and_missing_base(folder, tmp_path, monkeypatch, capsys):
    path = write(tmp_path, "bad.toml", f"""\
        base = "{folder / 'mini.toml'}"
        design = "grid"
        [parameters]
        "strategy.mix.police" = [0.4]
        [derived]
        "strategy.mix.social" = "1 - strategy.mix.polic"
        """)
    assert_refused(path, "derived.strategy.mix.social: unknown name 'strategy.mix.polic'", tmp_path, monkeypatch, capsys)
    path = write(tmp_path, "bad.toml", """\
        base = "nowhere.toml"
        design = "grid"
        [parameters]
        "strategy.mix.police" = [0.4]
        """)
    assert_refused(path, "nowhere.toml: file not found", tmp_path, monkeypatch, capsys)


def assert_refused(path, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code = main(["sweep", str(path), "--workers", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("sn-sim: error: "), err
    assert expected in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no sweeps/, no output


# --- The sweep directory ----------------------------------------------------------------------


def test_directory_layout_and_readers(folder, reference):
    d = folder / "reference"
    assert sorted(p.name for p in (d / "runs").iterdir()) == [f"run-{k:06d}.parquet" for k in range(12)]
    assert not any((d / "failures").iterdir())
    m = json.loads((d / "manifest.json").read_text())
    assert m["kind"] == "sn_sim.sweep" and m["design"]["method"] == "grid"
    assert len(m["points"]) == 6 and len(m["runs"]) == 12 and m["seeds"]["sweep_seed"] == 5
    assert m["base_scenario"]["name"] == "mini" and m["version"]
    assert m["sweep"]["derived"]["strategy.mix.social"].startswith("(1 - strategy.mix.police)")
    assert list(reference.columns) == VALUES + ["run_seconds"]
    assert reference["run"].tolist() == list(range(12))
    # DuckDB over runs/*.parquet.
    q = query(d, 'SELECT "strategy.mix.police" AS police, count(*) AS n, avg(cost_usd_all) AS cost '
                 'FROM runs GROUP BY 1 ORDER BY 1')
    assert q["police"].tolist() == [0.0, 0.5, 1.0] and q["n"].tolist() == [4, 4, 4]
    assert (q["cost"] > 0).all()


def test_run_values_match_the_api(folder, reference):
    """A run file holds exactly what run_replicate + summarise give for its point and seed."""
    base = load_scenario(folder / "mini.toml")
    row = reference.iloc[7]
    scenario = base.with_overrides({k: row[k] for k in VALUES[4:8]})
    panel, _, _ = api.run_replicate(scenario, int(row["seed"]), int(row["replicate"]))
    expected = summarise(panel, post_start="2016-03-07")
    for name in VALUES[8:]:
        assert row[name] == expected[name]


def test_existing_directory_is_refused_then_forced(folder, tmp_path, capsys):
    small = write(folder, "small.toml", """\
        base = "mini.toml"
        design = "grid"
        [parameters]
        "police.extra_officers" = [10]
        """)
    out = tmp_path / "s"
    assert main(["sweep", str(small), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    stamp = (out / "runs" / "run-000000.parquet").stat().st_mtime_ns
    code = main(["sweep", str(small), "--out", str(out), "--workers", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "already exists (use --resume to continue it or --force to start over)" in err
    assert (out / "runs" / "run-000000.parquet").stat().st_mtime_ns == stamp
    # --resume on a complete sweep runs nothing; --force starts over.
    assert main(["sweep", str(small), "--out", str(out), "--resume", "--quiet"]) == 0
    assert (out / "runs" / "run-000000.parquet").stat().st_mtime_ns == stamp
    assert main(["sweep", str(small), "--out", str(out), "--force", "--workers", "1", "--quiet"]) == 0
    assert (out / "runs" / "run-000000.parquet").stat().st_mtime_ns != stamp
    # --force never deletes a directory that is not a sweep.
    other = tmp_path / "precious"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    assert main(["sweep", str(small), "--out", str(other), "--force", "--quiet"]) == 2
    assert (other / "keep.txt").exists()


def test_resume_after_lost_runs(folder, reference, tmp_path):
    out = tmp_path / "s"
    shutil.copytree(folder / "reference", out)
    for k in (1, 6, 11):  # runs that never finished, a half-written file, a failed attempt
        (out / "runs" / f"run-{k:06d}.parquet").unlink()
    (out / "runs" / ".run-000006.parquet.tmp-999").write_bytes(b"partial")
    (out / "failures" / "run-000011.json").write_text(json.dumps({"run": 11, "error": "earlier"}))
    assert len(load_failures(out)) == 1
    res = run_sweep(folder / "grid.toml", out, workers=1, resume=True, progress=False)
    assert (res.skipped, res.done, res.failed) == (9, 3, 0)
    names = sorted(p.name for p in (out / "runs").iterdir())
    assert names == [f"run-{k:06d}.parquet" for k in range(12)]  # each run exactly once, no temporaries
    assert not any((out / "failures").iterdir())
    pd.testing.assert_frame_equal(results(load_sweep(out)), results(reference))


def test_resume_after_kill(folder, reference, tmp_path):
    """Kill a sweep process mid-way (SIGKILL), resume it: same results as an uninterrupted sweep."""
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "sn_sim.cli", "sweep", str(folder / "grid.toml"),
                             "--out", str(out), "--workers", "1", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / "runs").is_dir() and len(list((out / "runs").glob("run-*.parquet"))) >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = len(list((out / "runs").glob("run-*.parquet")))
    assert 3 <= finished < 12, "the sweep was not killed mid-way"
    # Resume from the directory alone (the manifest holds the resolved sweep).
    assert main(["sweep", str(out), "--resume", "--workers", "1", "--quiet"]) == 0
    names = sorted(p.name for p in (out / "runs").iterdir())
    assert names == [f"run-{k:06d}.parquet" for k in range(12)]
    pd.testing.assert_frame_equal(results(load_sweep(out)), results(reference))


def test_resume_refuses_a_changed_sweep(folder, reference, capsys):
    out = folder / "reference"
    before = sorted(p.stat().st_mtime_ns for p in (out / "runs").iterdir())
    changed = write(folder, "grid2.toml", GRID.replace("seed = 5", "seed = 6"))
    code = main(["sweep", str(changed), "--out", str(out), "--resume", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "changed since this sweep started" in err
    assert sorted(p.stat().st_mtime_ns for p in (out / "runs").iterdir()) == before


def test_failed_run_is_recorded_and_the_sweep_goes_on(folder, reference, tmp_path, monkeypatch, capsys):
    real = api.run_replicate

    def flaky(scenario, seed, replicate, progress=None):
        if scenario.strategy.mix.police == 1.0 and scenario.police.extra_officers == 20:
            raise FloatingPointError("simulated model failure")
        return real(scenario, seed, replicate, progress)

    monkeypatch.setattr(api, "run_replicate", flaky)
    out = tmp_path / "s"
    code = main(["sweep", str(folder / "grid.toml"), "--out", str(out), "--workers", "1", "--quiet"])
    assert code == 1  # finished, with failures
    assert "2 runs failed" in capsys.readouterr().err
    frame = load_sweep(out)
    assert len(frame) == 10 and set(frame["run"]) == set(range(12)) - {10, 11}
    fails = load_failures(out)
    assert fails["run"].tolist() == [10, 11]
    assert fails["error"].str.contains("FloatingPointError: simulated model failure").all()
    assert fails["parameters"][0]["strategy.mix.police"] == 1.0
    assert "Traceback" in fails["traceback"][0]
    # The model is fixed: --resume retries only the failed runs.
    monkeypatch.setattr(api, "run_replicate", real)
    res = run_sweep(folder / "grid.toml", out, workers=1, resume=True, progress=False)
    assert (res.skipped, res.done, res.failed) == (10, 2, 0)
    assert len(load_failures(out)) == 0
    pd.testing.assert_frame_equal(results(load_sweep(out)), results(reference))


def test_full_panel_output(folder, tmp_path):
    path = write(folder, "panel.toml", """\
        base = "mini.toml"
        design = "grid"
        [parameters]
        "police.extra_officers" = [0, 20]
        [outputs]
        panel = true
        summaries = ["offences_all"]
        """)
    out = tmp_path / "p"
    run_sweep(path, out, workers=1, progress=False)
    runs = load_sweep(out)
    panel = load_sweep(out, panel=True)
    assert sorted(p.name for p in (out / "panels").iterdir()) == ["run-000000.parquet", "run-000001.parquet"]
    assert len(panel) == 2 * 6 * 104
    assert {"run", "point", "police.extra_officers", "offences", "trust_police"} <= set(panel.columns)
    post = panel[panel["date"] >= "2016-03-07"]
    totals = post.groupby("run")["offences"].sum()
    assert np.allclose(totals.to_numpy(), runs["offences_all"].to_numpy())
    q = query(out, "SELECT run, count(*) AS n FROM panels GROUP BY run ORDER BY run")
    assert q["n"].tolist() == [624, 624]

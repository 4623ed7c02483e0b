"""Outputs are verified before they are trusted (issue 11, deliverable 4) and manifests say
where they came from (part of deliverable 7).

Every data file is recorded with its checksum when written; ``evaluate``, ``load_results`` and
``load_sweep`` refuse a corrupt or truncated file in one line (exit code 2 from the command
line, nothing written), ``sweep --resume`` runs a corrupt run again, and malformed run
directories are one-line errors too. Manifests record the git commit of the source checkout
and the versions of the libraries that shape results."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pytest

from sn_sim.cli import main
from sn_sim.errors import SnSimError
from sn_sim.experiment import load_sweep, run_sweep
from sn_sim.observe import provenance
from sn_sim.observe.results import load_results
from sn_sim.observe.storage import file_checksum

from mini import mini_scenario

REPO = Path(__file__).resolve().parents[1]
SN_SIM = Path(sys.executable).parent / "sn-sim"

# 2 officer levels x 2 replicates = 4 runs, panels kept (so panel files are verified too).
SWEEP = textwrap.dedent(
    """\
    name = "small"
    base = "mini.toml"
    seed = 5
    replicates = 2
    design = "grid"
    [parameters]
    "police.extra_officers" = [0, 20]
    [outputs]
    panel = true
    summaries = ["offences_all", "trust_police_all"]
    """
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("integrity")
    (d / "mini.toml").write_text(mini_scenario())
    (d / "small.toml").write_text(SWEEP)
    return d


@pytest.fixture(scope="module")
def run_dir(folder) -> Path:
    """One replicate of the mini scenario, written by ``sn-sim run`` (tests work on copies)."""
    out = folder / "run"
    assert main(["run", str(folder / "mini.toml"), "--out", str(out), "--no-plots", "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def sweep_dir(folder) -> Path:
    """The small sweep, uninterrupted (tests work on copies)."""
    out = folder / "sweep"
    res = run_sweep(folder / "small.toml", out, workers=1, progress=False)
    assert (res.done, res.failed) == (4, 0)
    return out


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def corrupt(path: Path, n: int = 2000) -> None:
    """Overwrite ``n`` bytes in the middle of a file (its size unchanged)."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(max(0, size // 2 - n // 2))
        f.write(bytes((i * 37 + 11) % 256 for i in range(min(n, size))))


def truncate(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)


def listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and lines[0].startswith("sn-sim: error: "), err
    return lines[0]


def without_timing(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["run_seconds"]).sort_values("run", ignore_index=True)


# --- Run directories --------------------------------------------------------------------------


def test_run_manifest_records_checksums_git_commit_and_libraries(run_dir):
    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["checksums"] == {name: file_checksum(run_dir / name)
                              for name in ("panel.parquet", "blocks.parquet", "neighbourhoods.parquet")}
    assert all(v.startswith("sha256:") and len(v) == 7 + 64 for v in m["checksums"].values())
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0 and (REPO / "sn_sim").resolve() == Path(provenance.__file__).resolve().parent.parent:
        assert m["git_commit"] == head.stdout.strip() and isinstance(m["git_dirty"], bool)
    for name in ("numpy", "scipy", "pandas", "pyarrow", "mesa", "pydantic", "networkx"):
        assert m["libraries"][name] == version(name)
    assert {"pyfixest", "SALib", "dask", "distributed"} <= set(m["libraries"])


def test_corrupt_panel_is_refused_by_evaluate_in_one_line(run_dir, tmp_path):
    """2,000 corrupted bytes in panel.parquet: exit 2, one line naming the file, nothing written."""
    bad = copy(run_dir, tmp_path / "run")
    corrupt(bad / "panel.parquet")
    before = listing(bad)
    out = subprocess.run([str(SN_SIM), "evaluate", str(bad), "--quiet"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 2, out.stderr
    line = one_line(out.stderr)
    assert "panel.parquet" in line and "does not match its checksum" in line
    assert listing(bad) == before  # no evaluation/, no twin simulated and saved
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_several_run_directories_are_all_verified_before_any_work(run_dir, tmp_path, capsys):
    good, bad = copy(run_dir, tmp_path / "a"), copy(run_dir, tmp_path / "b")
    corrupt(bad / "neighbourhoods.parquet", n=100)
    assert main(["evaluate", str(good), str(bad), "--out", str(tmp_path / "ev"), "--quiet"]) == 2
    assert "neighbourhoods.parquet: does not match its checksum" in one_line(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # the good run was not evaluated either
    assert listing(good) == listing(run_dir)


def test_load_results_verifies_checksums(run_dir, tmp_path):
    assert len(load_results(run_dir).panel) > 0
    bad = copy(run_dir, tmp_path / "run")
    corrupt(bad / "blocks.parquet", n=200)
    with pytest.raises(SnSimError, match=r"blocks\.parquet: does not match its checksum in manifest\.json"):
        load_results(bad)
    truncate(bad / "panel.parquet")
    with pytest.raises(SnSimError, match=r"panel\.parquet: does not match"):
        load_results(bad)
    # Opting out skips the checksums, not the one-line error of an unreadable file.
    with pytest.raises(SnSimError, match=r"panel\.parquet: cannot read"):
        load_results(bad, verify=False)


def test_run_directory_without_checksums_loads_unverified(run_dir, tmp_path):
    """Run directories written before checksums were recorded still load."""
    old = copy(run_dir, tmp_path / "old")
    m = json.loads((old / "manifest.json").read_text())
    del m["checksums"]
    (old / "manifest.json").write_text(json.dumps(m))
    pd.testing.assert_frame_equal(load_results(old).panel, load_results(run_dir).panel)


def _no_manifest(d):
    (d / "manifest.json").unlink()


def _empty_manifest(d):
    (d / "manifest.json").write_text("{}")


def _manifest_not_json(d):
    (d / "manifest.json").write_text('{"seed": 0,')


def _manifest_not_an_object(d):
    (d / "manifest.json").write_text("[1, 2]")


def _no_seed(d):
    m = json.loads((d / "manifest.json").read_text())
    del m["seed"]
    (d / "manifest.json").write_text(json.dumps(m))


def _no_panel(d):
    (d / "panel.parquet").unlink()


def _unreadable_unverified_panel(d):
    m = json.loads((d / "manifest.json").read_text())
    del m["checksums"]
    (d / "manifest.json").write_text(json.dumps(m))
    (d / "panel.parquet").write_bytes(b"not a parquet file")


@pytest.mark.parametrize("damage, expected", [
    (_no_manifest, "not a run directory (missing manifest.json)"),
    (_empty_manifest, "manifest.json: scenario, seed, replicates: missing"),
    (_manifest_not_json, "manifest.json: not valid JSON"),
    (_manifest_not_an_object, "manifest.json: not a run manifest"),
    (_no_seed, "manifest.json: seed: missing"),
    (_no_panel, "not a run directory (missing panel.parquet)"),
    (_unreadable_unverified_panel, "panel.parquet: cannot read"),
])
def test_malformed_run_directory_is_one_line(run_dir, tmp_path, capsys, damage, expected):
    bad = copy(run_dir, tmp_path / "run")
    damage(bad)
    before = listing(bad)
    assert main(["evaluate", str(bad), "--quiet"]) == 2
    assert expected in one_line(capsys.readouterr().err)
    assert listing(bad) == before


# --- Sweeps -----------------------------------------------------------------------------------


def test_sweep_records_a_checksum_for_every_run_file(sweep_dir):
    m = json.loads((sweep_dir / "manifest.json").read_text())
    assert m["checksums"] == "checksums.jsonl" and "git_commit" in m and m["libraries"]["numpy"]
    records = [json.loads(line) for line in (sweep_dir / "checksums.jsonl").read_text().splitlines()]
    assert sorted(r["run"] for r in records) == [0, 1, 2, 3]
    for r in records:
        for name, checksum in r["checksums"].items():
            assert file_checksum(sweep_dir / name) == checksum
        assert set(r["checksums"]) == {f"runs/run-{r['run']:06d}.parquet", f"panels/run-{r['run']:06d}.parquet"}


def test_resume_redoes_truncated_and_corrupt_runs(folder, sweep_dir, tmp_path, capsys):
    out = copy(sweep_dir, tmp_path / "s")
    truncate(out / "runs" / "run-000001.parquet")
    corrupt(out / "panels" / "run-000002.parquet")
    intact = {k: (out / "runs" / f"run-{k:06d}.parquet").stat().st_mtime_ns for k in (0, 3)}
    # The readers refuse them in one line...
    with pytest.raises(SnSimError, match=r"runs/run-000001\.parquet: does not match its checksum.*--resume"):
        load_sweep(out)
    with pytest.raises(SnSimError, match=r"run-000001\.parquet: does not match"):
        load_sweep(out, panel=True)
    # ... and --resume runs exactly those again: the sweep equals the uninterrupted one.
    assert main(["sweep", str(out), "--resume", "--workers", "1", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "run-000001.parquet" in err and "panels/run-000002.parquet" in err and err.count("\n") == 2, err
    assert {k: (out / "runs" / f"run-{k:06d}.parquet").stat().st_mtime_ns for k in (0, 3)} == intact
    pd.testing.assert_frame_equal(without_timing(load_sweep(out)), without_timing(load_sweep(sweep_dir)))
    pd.testing.assert_frame_equal(load_sweep(out, panel=True).drop(columns=["run_seconds"], errors="ignore"),
                                  load_sweep(sweep_dir, panel=True).drop(columns=["run_seconds"], errors="ignore"))
    assert sorted(p.name for p in (out / "runs").iterdir()) == [f"run-{k:06d}.parquet" for k in range(4)]


def test_resume_redoes_a_run_without_a_recorded_checksum(folder, sweep_dir, tmp_path):
    out = copy(sweep_dir, tmp_path / "s")
    ledger = out / "checksums.jsonl"
    ledger.write_text("".join(line + "\n" for line in ledger.read_text().splitlines()
                              if json.loads(line)["run"] != 3))
    with pytest.raises(SnSimError, match=r"run-000003\.parquet: no checksum recorded in checksums\.jsonl"):
        load_sweep(out)
    res = run_sweep(out, resume=True, workers=1, progress=False)
    assert (res.skipped, res.done, res.redone) == (3, 1, [3])
    pd.testing.assert_frame_equal(without_timing(load_sweep(out)), without_timing(load_sweep(sweep_dir)))


def test_sweep_written_before_checksums_loads_unverified(sweep_dir, tmp_path):
    out = copy(sweep_dir, tmp_path / "old")
    m = json.loads((out / "manifest.json").read_text())
    del m["checksums"]
    (out / "manifest.json").write_text(json.dumps(m))
    (out / "checksums.jsonl").unlink()
    pd.testing.assert_frame_equal(load_sweep(out), load_sweep(sweep_dir))


# --- Provenance -------------------------------------------------------------------------------


def test_git_runs_once_per_process_and_is_null_outside_a_checkout(monkeypatch, tmp_path):
    calls = []
    real = subprocess.run

    def counting(args, **kwargs):
        calls.append(args)
        return real(args, **kwargs)

    monkeypatch.setattr(provenance.subprocess, "run", counting)
    provenance.git_state.cache_clear()
    try:
        first = [provenance.provenance() for _ in range(5)]
        assert len(calls) <= 3 and all(p == first[0] for p in first)  # cached, not once per call
        monkeypatch.setattr(provenance, "_PACKAGE_DIR", tmp_path)  # not a git checkout
        provenance.git_state.cache_clear()
        p = provenance.provenance()
        assert (p["git_commit"], p["git_dirty"]) == (None, None)
        monkeypatch.setenv("PATH", str(tmp_path))  # no git at all
        provenance.git_state.cache_clear()
        assert provenance.git_state() == (None, None)
    finally:
        monkeypatch.undo()
        provenance.git_state.cache_clear()

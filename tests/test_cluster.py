"""The cluster path, as a user runs it: a real `dask scheduler` and `dask worker` (separate
processes on 127.0.0.1) and the `sn-sim` command line in subprocesses.

Each command runs twice, on the cluster and locally with ``--workers 1``, and the numbers must
be identical (docs/cluster.md). The two runs of a pair go at the same time: the cluster's work
happens in the worker process, so the pair costs about one run's time. A bad or unreachable
``--scheduler`` must fail in one line, within 10 s, with exit code 2 and nothing written.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from mini import LHS_SWEEP, mini_scenario


@pytest.fixture(autouse=True, scope="module")
def _needs_distributed():
    """Skipped without distributed; imported when this file runs, not when the suite is collected
    (every worker collects every file)."""
    pytest.importorskip("distributed")


BIN = Path(sys.executable).parent
DASK = shutil.which("dask", path=str(BIN)) or shutil.which("dask")
pytestmark = pytest.mark.skipif(DASK is None, reason="the `dask` command line is not installed")

SWEEP = LHS_SWEEP
POLICE = mini_scenario("police") + "[strategy.mix]\npolice = 1.0\nsocial = 0.0\ncommunity = 0.0\n"
# The cheapest real fit: a generation of differential evolution at a tiny scale (and its
# out-of-sample refit and a one-replicate report).
# --no-uncertainty: the posterior's points run on the same executor path as the fit's, which this
# test holds equal on the cluster and locally (test_calibration.py covers the uncertainty).
CALIBRATE = ["--method", "differential-evolution", "--maxiter", "1", "--popsize", "1", "--scale", "0.002",
             "--report-replicates", "1", "--report-scale", "0.002", "--no-identifiability", "--no-uncertainty",
             "--quiet"]


def _start(args: list[str], log: Path, cwd: Path) -> subprocess.Popen:
    # A session of its own, so that teardown can end the process and its children (the worker's
    # nanny starts the worker) by the group id it was given, and nothing else.
    with open(log, "wb") as f:
        return subprocess.Popen(args, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    """End the process group ``proc`` leads: politely, then by force."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.time() + 10
        while time.time() < deadline:
            proc.poll()  # reap the leader, so that only live members keep the group alive
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            continue
        break
    proc.wait(5)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A `dask scheduler` and one single-threaded `dask worker`, both bound to 127.0.0.1 (every
    listening port, dashboards included, chosen free by the system). Yields the scheduler's
    address and a function giving the number of tasks the worker has run so far."""
    from distributed import Client

    d = tmp_path_factory.mktemp("cluster")
    started: list[subprocess.Popen] = []
    client = None
    try:
        started.append(_start([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address",
                               "127.0.0.1:0", "--scheduler-file", str(d / "scheduler.json")], d / "scheduler.log", d))
        deadline = time.time() + 60
        while not (d / "scheduler.json").exists():
            assert started[0].poll() is None, (d / "scheduler.log").read_text()
            assert time.time() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        time.sleep(0.1)  # written whole, but give the writer its moment
        address = json.loads((d / "scheduler.json").read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        started.append(_start([DASK, "worker", address, "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1",
                               "--dashboard-address", "127.0.0.1:0", "--local-directory", str(d / "worker")],
                              d / "worker.log", d))
        client = Client(address, set_as_default=False, timeout="30s")
        client.wait_for_workers(1, timeout=60)

        def executed() -> int:
            return sum(client.run(lambda dask_worker: dask_worker.state.executed_count).values())

        yield address, executed
    finally:
        if client is not None:
            client.close()
        for proc in reversed(started):
            _stop(proc)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("inputs")
    (d / "mini.toml").write_text(mini_scenario())
    (d / "police.toml").write_text(POLICE)
    (d / "lhs.toml").write_text(SWEEP)
    return d


def sn_sim(*args: str, cwd: Path) -> subprocess.Popen:
    """`sn-sim ARGS` as a user runs it (the venv's script; `python -m sn_sim.cli` without one)."""
    script = BIN / "sn-sim"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "sn_sim.cli"]
    return subprocess.Popen(cmd + list(args), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def both(args: list[str], cwd: Path, scheduler: str) -> tuple[str, str]:
    """Run ``args`` locally (--workers 1, into local/) and on the cluster (into cluster/) at the
    same time; both must succeed. Returns the two standard outputs."""
    procs = {"local": sn_sim(*args, "--out", "local", "--workers", "1", cwd=cwd),
             "cluster": sn_sim(*args, "--out", "cluster", "--scheduler", scheduler, cwd=cwd)}
    outs = {}
    for label, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{label}: exit {proc.returncode}\n{err}"
        assert "Traceback" not in err
        outs[label] = out
    return outs["local"], outs["cluster"]


def same_files(a: Path, b: Path, names: list[str]) -> None:
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_sweep_on_the_cluster_equals_a_local_sweep(cluster, folder, tmp_path):
    from sn_sim.experiment import load_sweep

    address, executed = cluster
    shutil.copy(folder / "mini.toml", tmp_path)
    shutil.copy(folder / "lhs.toml", tmp_path)
    before = executed()
    local, remote = both(["sweep", "lhs.toml"], tmp_path, address)
    assert executed() - before == 6  # 3 points x 2 replicates, all on the worker
    assert "6 runs finished, 0 failed, 0 already done (of 6)" in remote and f"on Dask cluster {address}" in remote
    frames = [load_sweep(tmp_path / d).drop(columns=["run_seconds"]).sort_values("run", ignore_index=True)
              for d in ("local", "cluster")]
    assert len(frames[0]) == 6 and frames[0]["seed"].nunique() == 3
    pd.testing.assert_frame_equal(frames[0], frames[1])
    manifests = [json.loads((tmp_path / d / "manifest.json").read_text()) for d in ("local", "cluster")]
    for m in manifests:
        m.pop("created")
    assert manifests[0] == manifests[1]


def test_compare_on_the_cluster_equals_a_local_compare(cluster, folder, tmp_path):
    address, executed = cluster
    before = executed()
    both(["compare", str(folder / "mini.toml"), str(folder / "police.toml"), "--replicates", "2", "--seed", "4",
          "--no-plots", "--quiet"], tmp_path, address)
    assert executed() - before == 4  # 2 scenarios x 2 replicates
    same_files(tmp_path / "local", tmp_path / "cluster", ["effects.csv", "effects.md", "summary.csv", "replicates.csv"])
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "local" / "series.parquet"),
                                  pd.read_parquet(tmp_path / "cluster" / "series.parquet"))


def test_calibrate_on_the_cluster_equals_a_local_calibration(cluster, folder, tmp_path):
    address, executed = cluster
    before = executed()
    local, remote = both(["calibrate", str(folder / "mini.toml")] + CALIBRATE, tmp_path, address)
    assert executed() - before > 16  # the fit's evaluations, its out-of-sample refit, the report
    assert "on Dask cluster" in remote and "on in-process" in local
    # The fit (objective, evaluations), the fitted parameters and the report's table agree.
    assert local.split(" in ")[0] == remote.split(" in ")[0]
    same_files(tmp_path / "local", tmp_path / "cluster", ["calibrated.toml", "fit_table.csv"])


@pytest.mark.parametrize("command, address", [
    (["sweep", "lhs.toml"], "tcp://127.0.0.1:1"),  # nothing listens on port 1
    (["compare", "mini.toml", "police.toml", "--no-plots"], "not a url"),
    (["calibrate", "mini.toml"] + CALIBRATE, "foo://x"),
], ids=["sweep-unreachable", "compare-not-a-url", "calibrate-unknown-protocol"])
def test_a_bad_scheduler_fails_in_one_line_and_writes_nothing(folder, tmp_path, command, address):
    for name in ("mini.toml", "police.toml", "lhs.toml"):
        shutil.copy(folder / name, tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    t0 = time.perf_counter()
    proc = sn_sim(*command, "--scheduler", address, "--out", "out", cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 2, err
    assert err.startswith("sn-sim: error: --scheduler:") and err.count("\n") == 1, err
    assert "Traceback" not in err and out == ""
    assert seconds < 10, f"took {seconds:.1f} s"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output directory, no lock left


def test_workers_must_run_this_sn_sim_version(cluster, monkeypatch):
    """A worker on another sn_sim version could give other numbers: refused when connecting."""
    from sn_sim import api
    from sn_sim.errors import SnSimError
    from sn_sim.experiment.executors import DaskExecutor

    address, _ = cluster
    with DaskExecutor(address) as ex:  # the same version: accepted
        assert "1 workers, 1 threads" in ex.description
    monkeypatch.setattr(api, "package_version", lambda: "0.0.0+other")
    with pytest.raises(SnSimError, match=r"--scheduler: worker tcp://127\.0\.0\.1:\d+ runs sn_sim .*, "
                                         r"this is sn_sim 0\.0\.0\+other; install the same version"):
        DaskExecutor(address)

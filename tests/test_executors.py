"""Executors: one interface, identical results in-process, on a local pool and on Dask."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd
import pytest

from sn_sim.cli import main
from sn_sim.errors import SnSimError
from sn_sim.experiment import compare, load_sweep, run_sweep
from sn_sim.experiment.executors import (
    CONNECT_TIMEOUT_S,
    DaskExecutor,
    LocalPoolExecutor,
    RunTask,
    check_scheduler_address,
    connect_timeout,
    make_executor,
    run_task,
)
from sn_sim.scenario import load_scenario

from mini import LHS_SWEEP, mini_scenario

distributed = pytest.importorskip("distributed")

SCENARIO = mini_scenario()

SWEEP = LHS_SWEEP


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("executors")
    (d / "mini.toml").write_text(SCENARIO)
    (d / "lhs.toml").write_text(SWEEP)
    return d


@pytest.fixture(scope="module")
def cluster():
    """A Dask cluster of two worker processes on the loopback interface. Its client is not the
    default client, like the CLI's: Dask helpers that look for a default client would fail."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cl, Client(cl, set_as_default=False) as client:
        yield cl, client


def drop_timing(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["run_seconds"]).sort_values("run", ignore_index=True)


def test_same_outcomes_on_every_executor(cluster):
    """Errors are outcomes, not exceptions; values and order-independence are the same everywhere."""
    _, client = cluster
    tasks = [4.0, -1.0, 9.0, 16.0]
    executors = [LocalPoolExecutor(1), LocalPoolExecutor(2), DaskExecutor(client=client)]
    seen = []
    for ex in executors:
        with ex:
            out = sorted(ex.run(tasks, fn=math.sqrt), key=lambda o: o.index)
        assert [o.index for o in out] == [0, 1, 2, 3]
        assert [o.ok for o in out] == [True, False, True, True]
        assert "ValueError: math domain error" in out[1].error and "Traceback" in out[1].traceback
        seen.append([o.value for o in out])
    assert seen[0] == seen[1] == seen[2] == [2.0, None, 3.0, 4.0]


def test_run_task_is_the_api(folder):
    """A task's summary equals the API's run of the same scenario, seed and replicate."""
    from sn_sim import api
    from sn_sim.observe.outcomes import summarise

    sc = load_scenario(folder / "mini.toml")
    task = RunTask(scenario=sc.to_dict(), seed=3, replicate=1, post_start="2016-03-07")
    panel, _, _ = api.run_replicate(sc, 3, 1)
    assert run_task(task)["summary"] == summarise(panel, "2016-03-07")


def test_sweep_identical_on_1_and_2_workers_and_dask(folder, cluster, tmp_path):
    cl, _ = cluster
    frames = {}
    for label, kwargs in {"one": {"workers": 1}, "two": {"workers": 2},
                          "dask": {"scheduler": cl.scheduler_address}}.items():
        res = run_sweep(folder / "lhs.toml", tmp_path / label, progress=False, **kwargs)
        assert (res.done, res.failed) == (6, 0)
        frames[label] = drop_timing(load_sweep(tmp_path / label))
    assert frames["dask"]["seed"].nunique() == 3  # independent seeds per point
    pd.testing.assert_frame_equal(frames["one"], frames["two"])
    pd.testing.assert_frame_equal(frames["one"], frames["dask"])
    # The manifests agree too (apart from when they were written).
    import json

    m = [json.loads((tmp_path / k / "manifest.json").read_text()) for k in frames]
    for x in m:
        x.pop("created")
    assert m[0] == m[1] == m[2]


def test_cli_sweep_on_dask_resumes_a_local_sweep(folder, cluster, tmp_path, capsys):
    """One code path: start locally, finish on the cluster, get the local answer."""
    cl, _ = cluster
    ref = tmp_path / "ref"
    run_sweep(folder / "lhs.toml", ref, workers=1, progress=False)
    out = tmp_path / "mixed"
    run_sweep(folder / "lhs.toml", out, workers=1, progress=False)
    for k in (0, 3, 5):
        (out / "runs" / f"run-{k:06d}.parquet").unlink()
    code = main(["sweep", str(folder / "lhs.toml"), "--out", str(out), "--resume",
                 "--scheduler", cl.scheduler_address])
    captured = capsys.readouterr()
    assert code == 0
    assert "3 runs finished, 0 failed, 3 already done" in captured.out and "Dask cluster" in captured.out
    assert "failed=0" in captured.err  # the progress bar reports failures
    pd.testing.assert_frame_equal(drop_timing(load_sweep(out)), drop_timing(load_sweep(ref)))


def test_compare_identical_on_dask(folder, cluster):
    _, client = cluster
    police = load_scenario(folder / "mini.toml", ["strategy.mix.police=1.0", "strategy.mix.social=0.0",
                                                   "strategy.mix.community=0.0"])
    scs = [load_scenario(folder / "mini.toml"), police]
    local = compare(scs, replicates=2, seed=4, workers=1)
    with DaskExecutor(client=client) as ex:
        dask = compare(scs, replicates=2, seed=4, executor=ex)
    pd.testing.assert_frame_equal(local.effects, dask.effects)
    pd.testing.assert_frame_equal(local.replicates, dask.replicates)


def test_a_dead_worker_is_a_failed_run_and_the_pool_recovers():
    with LocalPoolExecutor(2) as ex:
        out = list(ex.run([3, 3], fn=os._exit))
        assert [o.ok for o in out] == [False, False]
        assert all("worker process died" in o.error for o in out)
        again = sorted(ex.run([1.0, 4.0], fn=math.sqrt), key=lambda o: o.index)
        assert [o.value for o in again] == [1.0, 2.0]


def test_unreachable_scheduler_is_one_line_and_writes_nothing(folder, tmp_path, capsys):
    with pytest.raises(SnSimError, match="--scheduler: cannot connect to tcp://127.0.0.1:9"):
        DaskExecutor("tcp://127.0.0.1:9", timeout="1s")
    import dask

    out = tmp_path / "never"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = main(["sweep", str(folder / "lhs.toml"), "--out", str(out), "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("sn-sim: error: --scheduler: cannot connect") and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "tls://node-1.example.org:8786", "tcp://[::1]:8786",
                                     " tcp://10.0.0.5:8786/ "])
def test_scheduler_addresses_of_the_right_form_pass(address):
    assert check_scheduler_address(address) == address.strip().rstrip("/")


@pytest.mark.parametrize("address, reason", [
    ("not a url", "is not a scheduler address"),
    ("127.0.0.1:8786", "is not a scheduler address"),  # dask would guess tcp://; we ask for it
    ("foo://x", "unsupported protocol 'foo://'"),
    ("http://127.0.0.1:8787", "unsupported protocol 'http://'"),
    ("tcp://127.0.0.1", "is not a scheduler address"),
    ("tcp://127.0.0.1:0", "is not a scheduler address"),
    ("tcp://127.0.0.1:99999", "is not a scheduler address"),
    ("tcp://:8786", "is not a scheduler address"),
    ("tcp://127.0.0.1:8786/status", "is not a scheduler address"),
])
def test_scheduler_addresses_of_the_wrong_form_fail_before_connecting(address, reason):
    with pytest.raises(SnSimError, match=f"^--scheduler: '{address}'(: | ){reason}.*expected tcp://HOST:PORT"):
        check_scheduler_address(address)
    with pytest.raises(SnSimError, match=reason):
        DaskExecutor(address)


def test_connect_timeout_is_short_unless_dask_is_told_otherwise():
    """5 s by default (dask's own 30 s suits clusters still starting, not a mistyped address);
    dask's setting wins when it is set (DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=...)."""
    import dask

    assert connect_timeout() == CONNECT_TIMEOUT_S == 5.0
    with dask.config.set({"distributed.comm.timeouts.connect": "12s"}):
        assert connect_timeout() == 12.0


def test_a_tls_address_needs_tls_settings():
    import dask

    unset = {"distributed.comm.tls.ca-file": None, "distributed.comm.tls.client.cert": None,
             "distributed.comm.tls.client.key": None}
    needs = "tls:// address needs the CA and a client certificate: set DASK_DISTRIBUTED__COMM__TLS__CA_FILE"
    with dask.config.set(unset), pytest.raises(SnSimError, match=needs):
        DaskExecutor("tls://127.0.0.1:9")


def test_a_malformed_scheduler_fails_before_any_work(folder, tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["sweep", str(folder / "lhs.toml"), "--out", str(out), "--scheduler", "foo://x"]) == 2
    assert main(["compare", str(folder / "mini.toml"), str(folder / "mini.toml"), "--out", str(out),
                 "--scheduler", "not a url"]) == 2
    assert main(["calibrate", str(folder / "mini.toml"), "--out", str(out), "--scheduler", "tcp://h"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("sn-sim: error: --scheduler: '") for line in err)
    assert sorted(tmp_path.iterdir()) == []


def test_a_scheduler_without_workers_is_a_note_not_an_error(capsys):
    """Workers may still be starting (the quick start runs the scheduler first): runs wait for them."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cl:
        with make_executor(scheduler=cl.scheduler_address) as ex:
            assert ex.description.endswith("(0 workers, 0 threads)")
    err = capsys.readouterr().err
    assert err == f"sn-sim: note: the Dask scheduler at {cl.scheduler_address} has no workers yet; runs start when " \
                  "workers join\n"


def test_workers_must_be_positive(folder, tmp_path, capsys):
    assert main(["sweep", str(folder / "lhs.toml"), "--out", str(tmp_path / "x"), "--workers", "0"]) == 2
    assert "--workers: must be at least 1 (got 0)" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_workers_die_with_a_killed_sweep(tmp_path):
    """SIGKILL of `sn-sim sweep --workers 2` leaves no worker, forkserver or tracker behind."""
    import os
    import signal
    import subprocess
    import sys
    import time
    import uuid
    from pathlib import Path

    from sn_sim.scenario import shipped_path

    tag = f"SN_SIM_TEST_TAG={uuid.uuid4().hex}".encode()

    def tagged() -> list[int]:
        found = []
        for p in Path("/proc").iterdir():
            if p.name.isdigit():
                try:
                    if tag in (p / "environ").read_bytes():
                        found.append(int(p.name))
                except OSError:
                    pass
        return found

    sweep = tmp_path / "s.toml"
    sweep.write_text(f'name = "s"\nbase = "{shipped_path("no_intervention")}"\ndesign = "grid"\nreplicates = 4\n'
                     '[set]\n"population.scale" = 0.05\n[parameters]\n"police.hot_zone_share" = [0.1, 0.2, 0.3]\n')
    env = {**os.environ, tag.decode().split("=")[0]: tag.decode().split("=")[1]}
    proc = subprocess.Popen([sys.executable, "-m", "sn_sim.cli", "sweep", str(sweep), "--workers", "2",
                             "--out", str(tmp_path / "out")], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while len(tagged()) < 4 and time.time() < deadline:  # the command, its tracker, forkserver, a worker
            time.sleep(0.2)
        assert len(tagged()) >= 4, "the pool did not start"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 15
        while tagged() and time.time() < deadline:
            time.sleep(0.2)
        assert tagged() == [], "processes outlived the killed sweep"
    finally:
        for pid in tagged():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

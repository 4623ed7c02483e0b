"""A normal (non-editable) install works from any directory: the shipped scenarios and
parameter files are package data, and nothing looks for the repository's folders.

The wheel is built from the checkout and installed into a temporary folder; the commands run
with that folder first on the path, from an empty working directory, and must use the
installed copy (not this checkout)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("install")
    # Build from a copy: pip builds a local project in place, and a test must not leave build
    # folders in the checkout. Symlinks stay links (sn_sim/scenarios -> ../scenarios).
    src = tmp / "src"
    shutil.copytree(REPO, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "runs", "sweeps", "*.egg-info", "__pycache__", ".pytest_cache"))
    wheels = tmp / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), str(src)],
                   check=True, capture_output=True, timeout=600)
    wheel = next(wheels.glob("sn_sim-*.whl"))
    site = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    work = tmp / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "MPLBACKEND": "Agg"}
    return site, work, env


def sn_sim(installed, *args, **kw):
    site, work, env = installed
    # -P: do not put the working directory first on sys.path (it is empty anyway).
    return subprocess.run([sys.executable, "-P", "-m", "sn_sim.cli", *args], cwd=work, env=env,
                          capture_output=True, text=True, **kw)


def test_the_installed_copy_is_used(installed):
    site, work, env = installed
    out = subprocess.run([sys.executable, "-P", "-c", "import sn_sim; print(sn_sim.__file__)"],
                         cwd=work, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().startswith(str(site))
    assert (site / "sn_sim" / "scenarios" / "national_rollout.toml").is_file()
    assert (site / "sn_sim" / "scenarios" / "parameters" / "calibrated.toml").is_file()
    # Every subcommand's module is in the wheel (the CLI skips a layer that is not installed).
    assert (site / "sn_sim" / "report" / "page.py").is_file() and (site / "sn_sim" / "observe" / "style.py").is_file()


def test_run_a_shipped_scenario_by_name(installed):
    out = sn_sim(installed, "run", "national_rollout", "--scale", "0.003", "--no-plots", "--quiet",
                 "--out", "national", timeout=600)
    assert out.returncode == 0, out.stderr
    manifest = json.loads((installed[1] / "national" / "manifest.json").read_text())
    assert manifest["scenario_name"] == "national_rollout"


def test_bench_runs_the_shipped_scenario(installed):
    out = sn_sim(installed, "bench", "--scale", "0.003", "--weeks", "2", timeout=600)
    assert out.returncode == 0, out.stderr
    assert "resident-steps/s" in out.stdout


def test_app_serves_the_page(installed):
    pytest.importorskip("solara")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    site, work, env = installed
    proc = subprocess.Popen([sys.executable, "-P", "-m", "sn_sim.cli", "app", "--port", str(port), "--scale", "0.005"],
                            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    assert r.status == 200
                    break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise AssertionError(f"app did not serve: {proc.stdout.read() if proc.poll() is not None else 'timeout'}")
                time.sleep(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

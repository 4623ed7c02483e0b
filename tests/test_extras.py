"""A command whose optional extra is not installed says which extra in one line (exit 2), before
any work: the core install (`pip install .`) must never end in a ModuleNotFoundError traceback.

The extras' packages are hidden from a fresh interpreter (``sys.modules[name] = None`` makes
``import name`` fail exactly as when it is not installed), which then runs the CLI as the
``sn-sim`` script does.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from mini import mini_scenario

RUNNER = textwrap.dedent("""\
    import sys
    hidden, argv = sys.argv[1].split(","), sys.argv[2:]
    for name in hidden:
        sys.modules[name] = None
    from sn_sim.cli import main
    sys.exit(main(argv))
""")

SOBOL_SWEEP = textwrap.dedent("""\
    base = "mini.toml"
    design = {method = "sobol", samples = 2}
    [parameters]
    "crime.offending_rate" = {min = 0.02, max = 0.06}
""")


def sn_sim_without(hidden: list[str], *argv: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", RUNNER, ",".join(hidden), *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("hidden,argv,extra", [
    (["pyfixest"], ["evaluate", "runs/whatever"], "evaluation"),
    (["SALib"], ["sensitivity", "sweeps/whatever", "--output", "offences_per_1000_year_all"], "experiments"),
    (["SALib"], ["sweep", "sobol.toml", "--workers", "1"], "experiments"),
    (["distributed", "dask"], ["sweep", "sobol.toml", "--scheduler", "tcp://127.0.0.1:8786"], "experiments"),
    (["optuna"], ["optimise", "whatever.toml"], "experiments"),
    (["solara"], ["app"], "app"),
    (["ema_workbench"], ["discover", "sweeps/whatever", "--output", "trust_police_all", "--threshold", "median"],
     "discovery"),
])
def test_a_missing_extra_is_one_line_naming_it(tmp_path, hidden, argv, extra):
    (tmp_path / "mini.toml").write_text(mini_scenario())
    (tmp_path / "sobol.toml").write_text(SOBOL_SWEEP)
    start = time.monotonic()
    out = sn_sim_without(hidden, *argv, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sn-sim: error:"), out.stderr
    assert extra in lines[0] and "pip install" in lines[0]
    assert time.monotonic() - start < 30  # before any simulation
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mini.toml", "sobol.toml"]  # nothing written

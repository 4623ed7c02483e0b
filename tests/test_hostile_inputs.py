"""Hostile input: every bad file or argument is one line, exit code 2, and nothing written.

The corpus is ``tests/hostile/`` (see its README): one small file per case, whose first line
``# expect: TEXT`` gives what the error line must say. Each case runs through the command line
from a copy of the corpus, which is compared before and after: a refusal creates, changes or
removes nothing. Cases run in this process (fast); the few that would hang or fill the memory
if their guard broke run in a subprocess with a timeout.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest

from sn_sim import arguments
from sn_sim.cli import main
from sn_sim.experiment import plan_sweep
from sn_sim.scenario import load_scenario

from conftest import TINY_TOML, write_scenario
from test_output_safety import one_line_refusal, sn_sim

CORPUS = Path(__file__).resolve().parent / "hostile"
KINDS = {"scenario": "*.toml", "sweep": "*.toml", "cli": "*.args"}
CASES = [f"{kind}/{p.name}" for kind, pattern in KINDS.items() for p in sorted((CORPUS / kind).glob(pattern))]

# A broken guard would make these hang (a pipe, a power tower) or allocate gigabytes (a device,
# a design of 10^7 points): in a subprocess, a regression is a failed test, not a stuck suite.
IN_SUBPROCESS = {"scenario/extends_fifo.toml", "scenario/extends_symlink_dev_zero.toml", "cli/scenario_fifo.args",
                 "cli/sweep_fifo.args", "sweep/derived_power_tower.toml", "sweep/huge_lhs.toml"}

CHAIN = 1_200  # files in the generated extends chain (RecursionError before the depth limit)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A copy of the corpus plus what cannot be checked in (see tests/hostile/README.md)."""
    root = tmp_path_factory.mktemp("hostile") / "hostile"
    shutil.copytree(CORPUS, root)
    write_scenario(root, TINY_TOML, "ok.toml")
    scenarios = root / "scenario"
    os.mkfifo(scenarios / "fifo.toml")
    (scenarios / "zero.toml").symlink_to("/dev/zero")
    (scenarios / "folder.toml").mkdir()
    (scenarios / "big.toml").write_text(("# " + "x" * 1022 + "\n") * 2048)
    chain = scenarios / "chain"
    write_scenario(chain, 'extends = "../../ok.toml"\n', "c0.toml")
    for i in range(1, CHAIN):
        (chain / f"c{i}.toml").write_text(f'extends = "c{i - 1}.toml"\n')
    return root


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` with its type, size and modification time."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(Path(dirpath) / name)
            out[os.path.relpath(Path(dirpath) / name, root)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def expectation(path: Path) -> str:
    """The ``# expect: TEXT`` of a corpus file (after a byte-order mark, if any)."""
    first = path.read_bytes().removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode()
    assert first.startswith("# expect: "), f"{path}: the first line must be '# expect: ...'"
    return first.removeprefix("# expect: ")


def argv_of(case: str, path: Path) -> list[str]:
    kind = case.split("/")[0]
    if kind == "cli":
        lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
        return shlex.split(lines[0])
    if expectation(path) == "ok":
        return ["validate", path.name]
    if kind == "scenario":
        return ["run", path.name, "--quiet", "--no-plots"]
    return ["sweep", path.name, "--workers", "1", "--quiet"]


@pytest.mark.parametrize("case", CASES)
def test_hostile_input(case, corpus, monkeypatch, capsys):
    path = corpus / case
    expected = expectation(path)
    argv = argv_of(case, path)
    before = snapshot(corpus)
    if case in IN_SUBPROCESS:
        line = one_line_refusal(sn_sim(*argv, cwd=path.parent))
    else:
        monkeypatch.chdir(path.parent)
        code = main(argv)
        err = capsys.readouterr().err
        if expected == "ok":
            assert code == 0, err
            assert snapshot(corpus) == before
            return
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
        line = lines[0]
    assert line.startswith("sn-sim: error: "), line
    assert expected in line, line
    assert snapshot(corpus) == before, "a refused input created, changed or removed files"


def test_the_corpus_covers_every_kind():
    """A typo in a glob must not leave the corpus silently unchecked."""
    counts = {kind: sum(c.startswith(kind + "/") for c in CASES) for kind in KINDS}
    assert counts["scenario"] >= 30 and counts["sweep"] >= 30 and counts["cli"] >= 20, counts


# --- The limits can be raised, and the floors of a small scale are told ---------------------------


def test_the_replicate_limit_is_raised_by_its_variable(monkeypatch):
    with pytest.raises(argparse.ArgumentTypeError, match="at most 1,000"):
        arguments.replicates("1001")
    monkeypatch.setenv("SN_SIM_MAX_REPLICATES", "2000")
    assert arguments.replicates("1001") == 1001
    monkeypatch.setenv("SN_SIM_MAX_REPLICATES", "many")
    with pytest.raises(argparse.ArgumentTypeError, match="SN_SIM_MAX_REPLICATES: not a whole number"):
        arguments.replicates("2")


def test_the_run_limit_is_raised_by_its_variable(corpus, monkeypatch):
    monkeypatch.setenv("SN_SIM_MAX_RUNS", "200000")
    plan = plan_sweep(corpus / "sweep" / "huge_replicates.toml")
    assert len(plan.points) == 2 and len(plan.runs) == 200_000


def test_a_scale_below_one_agent_per_block_is_told_in_one_line(corpus):
    """At scale 0.002 a neighbourhood of 10,000-20,000 has 20-40 agents for 60 blocks: the
    floor of one agent per block inflates the population; the user is told once, not per replicate."""
    out = sn_sim("run", "ok.toml", "--scale", "0.002", "--replicates", "2", "--quiet", "--no-plots",
                 "--out", "small", cwd=corpus)
    assert out.returncode == 0, out.stderr
    notes = [line for line in out.stderr.splitlines() if "population.scale" in line]
    assert len(notes) == 1 and notes[0].startswith("sn-sim: warning: population.scale: 0.002 "), out.stderr
    assert "use a scale of at least 0.006" in notes[0] and "Traceback" not in out.stderr
    shutil.rmtree(corpus / "small")
    quiet = sn_sim("run", "ok.toml", "--scale", "0.006", "--quiet", "--no-plots", "--out", "small", cwd=corpus)
    assert quiet.returncode == 0 and "population.scale" not in quiet.stderr, quiet.stderr
    shutil.rmtree(corpus / "small")


def test_numpy_values_from_designs_and_frames_still_validate(corpus):
    """Sweeps, calibration and data frames hand NumPy scalars to a strict schema."""
    base = load_scenario(corpus / "ok.toml")
    same = base.with_overrides({"police.extra_officers": np.float64(20.0), "crime.offending_rate": np.float64(0.04),
                                "police.hot_zone_blocks": np.int64(6), "strategy.community_police": np.bool_(True)})
    assert same.digest() == base.digest()

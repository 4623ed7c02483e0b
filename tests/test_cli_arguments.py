"""Bad numbers on the command line: one line, exit code 2, before any work starts."""

from __future__ import annotations

import pytest

from sn_sim.cli import main


@pytest.mark.parametrize("argv, fragment", [
    (["run", "no_intervention", "--seed", "-1"], "argument --seed: must be between 0 and 2**63 - 1"),
    (["run", "no_intervention", "--seed", str(2**63)], "argument --seed: must be between 0 and 2**63 - 1"),
    (["run", "no_intervention", "--seed", "1.5"], "argument --seed: not a whole number"),
    (["run", "no_intervention", "--replicates", "0"], "argument --replicates: must be at least 1"),
    (["compare", "no_intervention", "police_only", "--replicates", "0"], "argument --replicates: must be at least 1"),
    (["compare", "no_intervention", "police_only", "--workers", "0"], "argument --workers: must be at least 1"),
    (["calibrate", "--replicates", "0"], "argument --replicates: must be at least 1"),
    (["calibrate", "--maxiter", "0"], "argument --maxiter: must be at least 1"),
    (["calibrate", "--seed", "-5"], "argument --seed"),
    (["bench", "--weeks", "-3"], "argument --weeks: must be at least 1"),
    (["bench", "--pool-factor", "0"], "argument --pool-factor: must be at least 1"),
    (["app", "--port", "70000"], "argument --port: must be between 0 and 65535"),
])
def test_bad_numbers_are_one_line_and_exit_2(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("sn-sim ")

"""The README's first hour works as written: every `sn-sim` command and Python snippet in it is
extracted and run, in order, from a fresh working directory holding copies of `scenarios/` and
`experiments/` (what a user has after cloning).

Only sizes are shrunk, so that the whole sequence takes about a minute: `--scale` becomes 0.003,
`--replicates` 2 (1 for `decompose`, which runs nine worlds per replicate), `bench --weeks` 2, the
burn-in before 2015 8 weeks instead of 104 (`--set calendar.burn_in_weeks=8` where a command takes
`--set`, in `[set]` of the copied sweep and optimisation files), and the copied sweep and
optimisation files simulate 0.003 of the population, one replicate and the smallest designs (six
points for a Latin hypercube; two candidates in one world for an optimisation). Some commands
change beyond size or are run elsewhere, and say why below: `calibrate` runs `--report-only
--no-uncertainty` (a fit, or the parameters' uncertainty, takes minutes even at this scale; both
paths are tested in test_calibration.py); `app` is not started here (test_install.py and
test_app_browser.py serve it); the cluster quick start's sweep is run by test_cluster.py against a
real scheduler and worker; `diagnose` is run end to end by test_diagnose.py on a tiny scenario (on
the national rollout, even shrunk, its dozens of estimator fits per replicate would add half a
minute here). Everything else — command names, options, paths, the order in which one command's
output feeds the next — is the README's.
"""

from __future__ import annotations

import re
import shlex
import shutil
import tomllib
from pathlib import Path

import pytest

from sn_sim.cli import main

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SCALE = "0.003"
SHRINK = {"--scale": SCALE, "--replicates": "2", "--weeks": "2"}
CALIBRATE_SMALL = ["--report-only", "--report-scale", SCALE, "--report-replicates", "1", "--no-identifiability",
                   "--no-uncertainty", "--workers", "1"]
BURN_IN = "calendar.burn_in_weeks=8"  # the shipped scenarios settle for 104 weeks before 2015


def readme_commands() -> list[list[str]]:
    """Every `.venv/bin/sn-sim ...` command of the README's bash blocks, in order, as argv."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                argv = shlex.split(part, comments=True)
                if argv and argv[0] == ".venv/bin/sn-sim":
                    commands.append(argv[1:])
    return commands


def readme_python() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def shrink(argv: list[str]) -> list[str]:
    """The same command at small size (see the module docstring)."""
    out = list(argv)
    for i, arg in enumerate(out[:-1]):
        if arg in SHRINK:
            out[i + 1] = SHRINK[arg]
    if out[0] in ("run", "compare", "bench") and "--scale" not in out:
        out += ["--scale", SCALE]
    if out[0] == "bench" and "--weeks" not in out:
        out += ["--weeks", "2"]
    if out[0] == "calibrate":
        out += CALIBRATE_SMALL
    if out[0] in ("run", "compare", "decompose"):
        out += ["--set", BURN_IN]
    if out[0] == "decompose":  # nine worlds per replicate: one replicate is enough to run it
        out[out.index("--replicates") + 1] = "1"
    return out


def shrink_sweep_file(path: Path) -> None:
    text = path.read_text()
    spec = tomllib.loads(text)
    text = re.sub(r'"population.scale" = [0-9.]+', f'"population.scale" = {SCALE}\n"calendar.burn_in_weeks" = 8',
                  text)
    text = re.sub(r"^replicates = \d+", "replicates = 1", text, flags=re.M)
    # A Latin hypercube keeps six points: scenario discovery needs cases on both sides of a median.
    design = spec.get("design")
    samples = 6 if isinstance(design, dict) and design.get("method") == "lhs" else 1
    text = re.sub(r"^samples = \d+", f"samples = {samples}", text, flags=re.M)
    text = re.sub(r"num = \d+", "num = 2", text)
    # An optimisation file: two candidates in one generation, one world.
    text = re.sub(r"^(trials|population) = \d+", r"\1 = 2", text, flags=re.M)
    text = re.sub(r"^uncertainty_samples = \d+", "uncertainty_samples = 1", text, flags=re.M)
    assert tomllib.loads(text).keys() == spec.keys()
    path.write_text(text)


@pytest.fixture
def fresh_clone(tmp_path, monkeypatch):
    for folder in ("scenarios", "experiments"):
        shutil.copytree(REPO / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for sweep in [*(tmp_path / "experiments" / "sweeps").glob("*.toml"),
                  *(tmp_path / "experiments" / "optimise").glob("*.toml")]:
        shrink_sweep_file(sweep)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return tmp_path


def test_the_readme_names_the_commands_a_user_needs():
    names = [argv[0] for argv in readme_commands()]
    for command in ("run", "compare", "sweep", "sensitivity", "evaluate", "diagnose", "calibrate", "bench", "app",
                    "report"):
        assert command in names, command
    assert readme_python(), "the README shows the Python API"


def test_every_readme_command_works_as_written(fresh_clone, capsys):
    for argv in readme_commands():
        if argv[0] == "app":
            continue  # a server: served by test_install.py and test_app_browser.py
        if "--scheduler" in argv:
            continue  # needs the README's Dask cluster: test_cluster.py starts one and runs this
        if argv[0] == "diagnose":
            continue  # test_diagnose.py runs it end to end on a tiny scenario (see the module docstring)
        small = shrink(argv)
        code = main(small)
        captured = capsys.readouterr()
        assert code == 0, f"sn-sim {' '.join(argv)}\n(ran as: sn-sim {' '.join(small)})\n{captured.err}"
    # What the README says they write is there.
    assert (fresh_clone / "runs" / "national" / "manifest.json").is_file()
    assert (fresh_clone / "runs" / "pillars" / "effects.csv").is_file()
    assert (fresh_clone / "sweeps" / "sensitivity" / "sensitivity" / "sensitivity-sobol.csv").is_file()
    assert (fresh_clone / "sweeps" / "discovery" / "discovery-trust_police_all-above" / "boxes.csv").is_file()
    assert (fresh_clone / "optimise" / "mix" / "pareto.csv").is_file()
    assert (fresh_clone / "runs" / "calibration" / "fit_report.md").is_file()
    assert (fresh_clone / "runs" / "pillars" / "report.html").is_file() and (fresh_clone / "national.html").is_file()
    assert (fresh_clone / "runs" / "national-0.2" / "twin" / "manifest.json").is_file()


def test_the_readme_python_snippet_works(fresh_clone):
    for code in readme_python():
        code = code.replace('"population.scale=0.05"', f'"population.scale={SCALE}", "{BURN_IN}"')
        exec(compile(code, "README.md", "exec"), {})
    assert (fresh_clone / "runs" / "national-0.05" / "panel.parquet").is_file()


def test_license_citation_and_changelog_agree_with_the_package():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and (REPO / "LICENSE").read_text().startswith("MIT License")
    citation = (REPO / "CITATION.cff").read_text()
    assert f"version: {project['version']}\n" in citation and "license: MIT" in citation
    first_entry = re.search(r"^## (\S+)", (REPO / "CHANGELOG.md").read_text(), re.M).group(1)
    assert first_entry == project["version"]

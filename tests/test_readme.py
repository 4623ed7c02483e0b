"""The README's first hour works as written: every `sn-sim` command and Python snippet in it is
extracted and run, in order, from a fresh working directory holding copies of `scenarios/` and
`experiments/` (what a user has after cloning).

The commands run in independent chains, each from its own fresh directory and in the README's
order: a command that reads what an earlier one wrote (`report runs/pillars` after `compare ...
--out runs/pillars`) runs after it in the same chain, so the chains can run side by side on the
suite's workers (`readme_chains`).

Only sizes are shrunk, so that each chain takes seconds: `--scale` becomes 0.003,
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


# Where a command writes when its line has no --out (the sweep and optimisation files name
# themselves; `calibrate` writes runs/calibration/).
DEFAULT_OUT = {"sweep": "sweeps/{name}", "optimise": "optimise/{name}", "calibrate": "runs/calibration"}


def writes(argv: list[str]) -> str | None:
    """The directory (or file) a README command writes."""
    if "--out" in argv:
        return argv[argv.index("--out") + 1]
    if argv[0] in ("sweep", "optimise"):
        name = tomllib.loads((REPO / argv[1]).read_text())["name"]
        return DEFAULT_OUT[argv[0]].format(name=name)
    return DEFAULT_OUT.get(argv[0])


def readme_chains() -> list[list[list[str]]]:
    """The README's commands (those this test runs) in chains: a command whose arguments name what
    an earlier command wrote joins that command's chain; the others start one. Order is kept."""
    chains: list[list[list[str]]] = []
    writer: dict[str, int] = {}  # path written -> its chain
    for argv in readme_commands():
        if argv[0] in NOT_RUN_HERE or "--scheduler" in argv:
            continue
        reads = [writer[a] for a in argv[1:] if a in writer]
        if reads:
            chain = reads[0]
            chains[chain].append(argv)
        else:
            chain = len(chains)
            chains.append([argv])
        written = writes(argv)
        if written:
            writer[written] = chain
    return chains


def chain_id(chain: list[list[str]]) -> str:
    return "-".join(dict.fromkeys(a[0] for a in chain)) + (f"-{writes(chain[0])}" if writes(chain[0]) else "")


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


# Commands not run by this test (see the module docstring): `app` is a server (test_install.py and
# test_app_browser.py serve it), `diagnose` runs end to end in test_diagnose.py; the cluster quick
# start (`--scheduler`) runs in test_cluster.py against a real scheduler and worker.
NOT_RUN_HERE = ("app", "diagnose")

# What the README says the commands write.
EXPECTED = ["runs/national/manifest.json", "runs/pillars/effects.csv",
            "sweeps/sensitivity/sensitivity/sensitivity-sobol.csv",
            "sweeps/discovery/discovery-trust_police_all-above/boxes.csv", "optimise/mix/pareto.csv",
            "runs/calibration/fit_report.md", "runs/pillars/report.html", "national.html",
            "runs/national-0.2/twin/manifest.json", "runs/more_police/report.html", "runs/channels"]
CHAINS = readme_chains()


def _expected_of(chain: list[list[str]]) -> list[str]:
    written = [w for w in map(writes, chain) if w]
    return [e for e in EXPECTED if any(e == w or e.startswith(w + "/") for w in written)]


def test_the_readme_commands_form_independent_chains():
    """Every command is in exactly one chain, in the README's order, and every file the README
    promises is checked by the chain that writes it."""
    flat = [argv for chain in CHAINS for argv in chain]
    ran = [a for a in readme_commands() if a[0] not in NOT_RUN_HERE and "--scheduler" not in a]
    assert sorted(map(tuple, flat)) == sorted(map(tuple, ran))
    for chain in CHAINS:
        assert [ran.index(a) for a in chain] == sorted(ran.index(a) for a in chain)
    assert sorted(e for chain in CHAINS for e in _expected_of(chain)) == sorted(EXPECTED)
    # The chains are real: a report after the comparison it reports on, an evaluation after its run.
    by_first = {chain_id(c): [a[0] for a in c] for c in CHAINS}
    assert ["compare", "report"] in by_first.values() and ["run", "evaluate", "report"] in by_first.values()


# Under pytest-xdist the chains spread over the workers (conftest.py, SPREAD).
@pytest.mark.parametrize("chain", CHAINS, ids=[chain_id(c) for c in CHAINS])
def test_every_readme_command_works_as_written(chain, fresh_clone, capsys):
    for argv in chain:
        small = shrink(argv)
        code = main(small)
        captured = capsys.readouterr()
        assert code == 0, f"sn-sim {' '.join(argv)}\n(ran as: sn-sim {' '.join(small)})\n{captured.err}"
    for path in _expected_of(chain):  # what the README says they write is there
        assert (fresh_clone / path).exists(), path


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

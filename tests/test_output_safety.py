"""No command deletes what it did not create (issue: data loss with --force).

--force replaces only an sn-sim output of the same kind; the working directory, its parents,
the home directory, symbolic links and foreign directories are refused in one line with exit
code 2 and left untouched; interrupted saves are recovered; names from files stay one path
component under runs/ or sweeps/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sn_sim.errors import OutputError
from sn_sim.observe.storage import MARKER, check_output_dir, output_kind, safe_name, staged_directory


def sn_sim(*args, cwd):
    return subprocess.run([sys.executable, "-m", "sn_sim.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def one_line_refusal(out):
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


def test_force_never_replaces_the_working_directory(tmp_path, tiny_path):
    (tmp_path / "precious.txt").write_text("keep me")
    out = sn_sim("run", str(tiny_path), "--out", ".", "--force", "--no-plots", "--quiet", cwd=tmp_path)
    assert "working directory" in one_line_refusal(out)
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    out = sn_sim("run", str(tiny_path), "--out", "..", "--force", "--no-plots", "--quiet", cwd=tmp_path)
    one_line_refusal(out)
    assert (tmp_path / "precious.txt").exists()


def test_force_never_replaces_a_foreign_directory_or_a_symlink(tmp_path, tiny_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("years of work")
    out = sn_sim("run", str(tiny_path), "--out", str(foreign), "--force", "--no-plots", "--quiet", cwd=tmp_path)
    assert "not written by sn-sim" in one_line_refusal(out)
    assert (foreign / "thesis.tex").read_text() == "years of work"

    link = tmp_path / "link"
    link.symlink_to(foreign)
    out = sn_sim("run", str(tiny_path), "--out", str(link), "--force", "--no-plots", "--quiet", cwd=tmp_path)
    assert "symbolic link" in one_line_refusal(out)
    assert (foreign / "thesis.tex").exists() and link.is_symlink()


def test_force_replaces_its_own_output_atomically(tmp_path, tiny_path):
    out_dir = tmp_path / "runs" / "a"
    first = sn_sim("run", str(tiny_path), "--out", str(out_dir), "--no-plots", "--quiet", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert output_kind(out_dir) == "run"
    (out_dir / "stale.txt").write_text("from the first run")
    again = sn_sim("run", str(tiny_path), "--out", str(out_dir), "--force", "--no-plots", "--quiet",
                   "--seed", "3", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert not (out_dir / "stale.txt").exists()
    assert json.loads((out_dir / "manifest.json").read_text())["seed"] == 3
    assert [p.name for p in out_dir.parent.iterdir()] == ["a"]  # no hidden copies left behind


def test_force_refuses_an_output_of_another_kind(tmp_path):
    with staged_directory(tmp_path / "cmp", "compare") as tmp:
        (tmp / "effects.csv").write_text("x")
    with pytest.raises(OutputError, match="compare output, not a run output"):
        check_output_dir(tmp_path / "cmp", force=True, kind="run")
    check_output_dir(tmp_path / "cmp", force=True, kind="compare")  # the same kind is fine


def test_interrupted_saves_are_cleaned_up_or_restored(tmp_path):
    # A temporary copy left by a writer that died, and one of a live writer (kept).
    dead = tmp_path / ".out.tmp-dead"
    dead.mkdir()
    (dead / MARKER).write_text(json.dumps({"kind": "run", "pid": 2**22 + 12345}))
    live = tmp_path / ".out.tmp-live"
    live.mkdir()
    (live / MARKER).write_text(json.dumps({"kind": "run", "pid": os.getpid()}))
    # An old output renamed aside whose replacement never arrived: it is put back.
    old = tmp_path / ".out.old-x"
    old.mkdir()
    (old / MARKER).write_text(json.dumps({"kind": "run", "pid": 1}))
    (old / "panel.parquet").write_text("old results")
    # A foreign folder with a similar name is never touched.
    foreign = tmp_path / ".out.tmp-notours"
    foreign.mkdir()
    with staged_directory(tmp_path / "other", "run"):
        pass  # another name: nothing of "out" is touched
    assert dead.exists() and old.exists()
    check_output_dir(tmp_path / "out", force=True, kind="run")
    with staged_directory(tmp_path / "out", "run") as tmp:
        (tmp / "panel.parquet").write_text("new results")
    assert not dead.exists() and live.exists() and foreign.exists()
    assert not old.exists()
    # the old output had been restored first, then replaced by the new one
    assert (tmp_path / "out" / "panel.parquet").read_text() == "new results"


@pytest.mark.parametrize("name, expected", [
    ("national_rollout", "national_rollout"), ("../../escape", "escape"), ("/abs/dir", "abs_dir"),
    ("..", "unnamed"), ("", "unnamed"), ("a b/c", "a_b_c"), ("x" * 300, "x" * 100),
])
def test_names_from_files_become_one_safe_component(name, expected):
    assert safe_name(name) == expected


def test_a_scenario_name_cannot_write_outside_runs(tmp_path, tiny_path):
    text = Path(tiny_path).read_text().replace('name = "tiny"', 'name = "../../outside"')
    scenario = tmp_path / "evil.toml"
    scenario.write_text(text)
    work = tmp_path / "work"
    work.mkdir()
    out = sn_sim("run", str(scenario), "--no-plots", "--quiet", cwd=work)
    assert out.returncode == 0, out.stderr
    assert (work / "runs" / "outside" / "manifest.json").is_file()
    assert not (tmp_path / "outside").exists()


def test_a_second_writer_of_the_same_directory_is_refused(tmp_path):
    from sn_sim.observe.storage import output_lock

    out = tmp_path / "sweeps" / "s"
    with output_lock(out):
        child = subprocess.run(
            [sys.executable, "-c", "from sn_sim.observe.storage import output_lock\n"
             f"with output_lock({str(out)!r}):\n    pass"], capture_output=True, text=True, timeout=60)
        assert child.returncode == 1 and "another sn-sim process" in child.stderr
        assert str(os.getpid()) in child.stderr
    # released: the next writer gets it, and no lock file is left behind
    with output_lock(out):
        pass
    assert list((tmp_path / "sweeps").iterdir()) == []


def test_a_second_sweep_on_the_same_directory_is_refused_in_one_line(tmp_path):
    from sn_sim.observe.storage import output_lock

    sweep = tmp_path / "s.toml"
    from sn_sim.scenario import shipped_path

    base = shipped_path("no_intervention")
    sweep.write_text(f'name = "s"\nbase = "{base}"\ndesign = "grid"\n[set]\n"population.scale" = 0.005\n'
                     '[parameters]\n"police.hot_zone_share" = [0.1, 0.2]\n')
    out = tmp_path / "sweeps" / "s"
    with output_lock(out):  # as a running sweep holds it
        res = sn_sim("sweep", str(sweep), "--out", str(out), cwd=tmp_path)
    assert "another sn-sim process" in one_line_refusal(res)
    assert not out.exists()

"""The sweep directory: its layout, manifest, run files and the checks before writing to it.

::

    DIR/manifest.json             sweep file resolved, base scenario, design, points, runs, seeds
    DIR/runs/run-000042.parquet   one row: run, point, replicate, seed, parameters, summaries
    DIR/panels/run-000042.parquet the full weekly panel (only with outputs.panel = true)
    DIR/failures/run-000042.json  error and traceback of a run that raised
    DIR/checksums.jsonl           one line per finished run: the checksums of its files

A run file is written to a temporary name and renamed into place (``os.replace``), after
its panel, so its existence is the commit mark of a finished run: a sweep that is killed
loses at most the runs in flight, and ``--resume`` runs exactly the runs without a file
(failed ones included) -- none is lost or done twice. A new directory is created whole
(manifest and folders) by :func:`sn_sim.observe.storage.staged_directory`.

Just before that rename, the run's line is appended to ``checksums.jsonl`` (``{"run": k,
"checksums": {"runs/run-...parquet": "sha256:...", "panels/...": ...}}``; the last line of a
run counts), so every committed run file has its checksum recorded. ``--resume`` runs again
any finished run whose files are missing, truncated or corrupt (:func:`corrupt_runs`), and the
readers refuse them. A sweep started before checksums were recorded (no ``checksums`` in its
manifest) is read as it is: its unrecorded runs are not verified.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import numpy as np

from sn_sim.errors import OutputError
from sn_sim.observe.provenance import provenance
from sn_sim.observe.storage import check_output_dir, checksum_problem, file_checksum, reading, staged_directory

MANIFEST = "manifest.json"
CHECKSUMS = "checksums.jsonl"
FORMAT = 1
RUN_FILE = "run-{:06d}"
_RUN_RE = re.compile(r"^run-(\d{6,})\.(parquet|json)$")


def run_path(directory: Path, folder: str, k: int, suffix: str) -> Path:
    """``DIR/<folder>/run-<k>.<suffix>``."""
    return Path(directory) / run_name(folder, k, suffix)


def run_name(folder: str, k: int, suffix: str = "parquet") -> str:
    """``<folder>/run-<k>.<suffix>``: a run file's name in the sweep directory (and in checksums.jsonl)."""
    return f"{folder}/{RUN_FILE.format(k)}.{suffix}"


def manifest(plan) -> dict:
    """The manifest.json of a plan's sweep directory (``plan``: a design.SweepPlan; this module
    does not import the design, which depends on it)."""
    from sn_sim.api import package_version

    return {
        "kind": "sn_sim.sweep",
        "format": FORMAT,
        "package": "sn_sim",
        "version": package_version(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "sweep_file": plan.source,
        "name": plan.name,
        "sweep": plan.spec,
        "base_scenario": plan.base.to_dict(),
        "base_scenario_hash": plan.base.digest(),
        "parameters": plan.parameters,
        "derived": plan.derived,
        "design": plan.design,
        "outputs": {"summaries": plan.outputs, "panel": plan.panel, "post_start": plan.post_start.isoformat()},
        "seeds": {
            "sweep_seed": plan.spec["seed"],
            "random_numbers": plan.spec["random_numbers"],
            "rule": ("run k = point * replicates + replicate runs sn_sim.api.run_replicate(scenario, seed, "
                     "replicate); stream = SeedSequence(seed).spawn(replicate + 1)[replicate]; seed = sweep "
                     "seed (common) or SeedSequence([sweep seed, point]) (independent)"),
        },
        "points": [{"point": i, **p} for i, p in enumerate(plan.points)],
        "runs": plan.runs,
        "fingerprint": plan.fingerprint,
        "checksums": CHECKSUMS,
        **provenance(),
    }


def read_manifest(directory: str | Path) -> dict:
    directory = Path(directory)
    path = directory / MANIFEST
    try:
        m = json.loads(path.read_text())
    except FileNotFoundError:
        raise OutputError(f"{directory}: not a sweep directory (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise OutputError(f"{path}: cannot read ({type(exc).__name__})") from None
    if m.get("kind") != "sn_sim.sweep":
        raise OutputError(f"{path}: not a sweep manifest")
    return m


def _run_ids(folder: Path, suffix: str) -> set[int]:
    if not folder.is_dir():
        return set()
    ids = set()
    for entry in os.scandir(folder):
        m = _RUN_RE.match(entry.name)
        if m and m.group(2) == suffix:
            ids.add(int(m.group(1)))
    return ids


def finished_runs(directory: str | Path) -> set[int]:
    return _run_ids(Path(directory) / "runs", "parquet")


def failed_runs(directory: str | Path) -> set[int]:
    """Runs whose last attempt raised (and that have not finished since)."""
    d = Path(directory)
    return _run_ids(d / "failures", "json") - finished_runs(d)


def recorded_checksums(directory: str | Path) -> dict[int, dict[str, str]]:
    """Run -> {file name: checksum} from checksums.jsonl, the last line of each run winning (a
    run done again is appended anew). A line cut short (a full disk) is skipped: its run then
    has no checksum and counts as unverified."""
    path = Path(directory) / CHECKSUMS
    if not path.is_file():
        return {}
    with reading(path):
        lines = path.read_text().splitlines()
    records = {}
    for line in lines:
        try:
            record = json.loads(line)
            records[int(record["run"])] = dict(record["checksums"])
        except (ValueError, KeyError, TypeError):
            continue
    return records


def corrupt_runs(directory: str | Path, manifest: dict, ids, panels: bool) -> dict[int, str]:
    """The finished runs among ``ids`` whose run file (and panel, with ``panels``) is missing
    or does not match its recorded checksum: run -> one line naming the file and why.

    A sweep whose manifest records checksums (``checksums``) has one for every committed run,
    so a run without one is reported too; an older sweep's unrecorded runs are not verified."""
    directory = Path(directory)
    records = recorded_checksums(directory)
    strict = "checksums" in manifest
    folders = ("runs", "panels") if panels else ("runs",)
    problems = {}
    for k in sorted(ids):
        record = records.get(k)
        if record is None and not strict:
            continue
        for folder in folders:
            name = run_name(folder, k)
            problem = checksum_problem(directory / name, (record or {}).get(name), CHECKSUMS)
            if problem:
                problems[k] = f"{directory / name}: {problem}"
                break
    return problems


def discard_run(directory: str | Path, k: int) -> None:
    """Forget finished run ``k`` (its files are corrupt): its run file -- the commit mark -- first."""
    for folder in ("runs", "panels"):
        run_path(directory, folder, k, "parquet").unlink(missing_ok=True)


# --- Before writing ---------------------------------------------------------------------------


def prepare_directory(out: Path, plan, resume: bool, force: bool) -> str:
    """Check what may be done with ``out``: 'create', 'replace' or 'resume'. Writes nothing.

    A missing ``out`` follows the output-directory policy of every command
    (:func:`sn_sim.observe.storage.check_output_dir`: missing parents are created). An existing
    one is resumed (same sweep only), replaced with ``force`` (a sweep directory only) or refused."""
    if not out.exists():
        check_output_dir(out, force=False, kind="sweep")
        return "create"
    if not out.is_dir():
        raise OutputError(f"{out}: --out: exists and is not a directory")
    if resume:
        m = read_manifest(out)
        if m.get("fingerprint") != plan.fingerprint:
            raise OutputError(f"{out}: --resume: the sweep file or base scenario changed since this sweep "
                              f"started (use --force to start over)")
        return "resume"
    if force:
        if not (out / MANIFEST).exists() and any(out.iterdir()):
            raise OutputError(f"{out}: --force: not a sweep directory; refusing to replace it")
        check_output_dir(out, force=True, kind="sweep")
        return "replace"
    raise OutputError(f"{out}: --out: already exists (use --resume to continue it or --force to start over)")


def create_directory(out: Path, plan) -> None:
    """A new sweep directory (manifest and empty folders), created whole or not at all; an
    existing one (``--force``) is replaced only once the new one is complete."""
    with staged_directory(out, "sweep") as tmp:
        for sub in ("runs", "failures") + (("panels",) if plan.panel else ()):
            (tmp / sub).mkdir()
        (tmp / MANIFEST).write_text(json.dumps(manifest(plan), indent=1, default=str))


def clean_temporaries(directory: Path) -> None:
    """Remove half-written run files left by a killed sweep."""
    for sub in ("runs", "panels", "failures"):
        folder = directory / sub
        if folder.is_dir():
            for entry in folder.glob(".*.tmp-*"):
                entry.unlink(missing_ok=True)


# --- Writing runs -----------------------------------------------------------------------------


def _atomic_write(path: Path, write, before_commit=None) -> None:
    """Write ``path`` under a temporary name, then rename it into place; ``before_commit(tmp)``
    runs on the complete temporary file just before the rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        if before_commit is not None:
            before_commit(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_run(out: Path, plan, k: int, outcome) -> None:
    """Run ``k``'s panel (if kept), then its checksums, then its run file -- the commit mark --
    and clear an earlier failure."""
    import pandas as pd

    run = plan.runs[k]
    value = outcome.value
    checksums = {}
    if plan.panel and value.get("panel") is not None:
        panel = value["panel"]
        panel.insert(0, "run", np.int64(k))
        panel.insert(1, "point", np.int64(run["point"]))
        path = run_path(out, "panels", k, "parquet")
        _atomic_write(path, lambda p: panel.to_parquet(p, index=False))
        checksums[run_name("panels", k)] = file_checksum(path)
    row = {"run": k, "point": run["point"], "replicate": run["replicate"], "seed": run["seed"]}
    row.update(plan.points[run["point"]])
    row.update({name: float(value["summary"][name]) for name in plan.outputs})
    row["run_seconds"] = float(outcome.seconds)
    frame = pd.DataFrame([row])
    for c in ("run", "point", "replicate", "seed"):
        frame[c] = frame[c].astype("int64")

    def record(tmp: Path) -> None:
        # Recorded before the commit mark exists: a kill in between leaves a checksum without a
        # run file (the run is simply not finished), never a finished run without a checksum.
        checksums[run_name("runs", k)] = file_checksum(tmp)
        with open(out / CHECKSUMS, "a") as f:
            f.write(json.dumps({"run": k, "checksums": checksums}) + "\n")

    _atomic_write(run_path(out, "runs", k, "parquet"), lambda p: frame.to_parquet(p, index=False), record)
    run_path(out, "failures", k, "json").unlink(missing_ok=True)  # an earlier attempt failed


def write_failure(out: Path, plan, k: int, outcome) -> None:
    run = plan.runs[k]
    record = {**run, "parameters": plan.points[run["point"]], "error": outcome.error,
              "traceback": outcome.traceback, "seconds": round(outcome.seconds, 3),
              "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    _atomic_write(run_path(out, "failures", k, "json"),
                  lambda p: p.write_text(json.dumps(record, indent=1, default=str)))

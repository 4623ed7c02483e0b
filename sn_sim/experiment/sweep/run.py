"""Running a sweep: one task per run on an executor, one collector writing results as they arrive."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sn_sim.errors import OutputError
from sn_sim.observe.storage import output_lock, safe_name

from .design import SweepPlan, plan_from_manifest, plan_sweep
from .directory import (
    clean_temporaries, corrupt_runs, create_directory, discard_run, finished_runs, prepare_directory, read_manifest,
    write_failure, write_run,
)


@dataclass
class SweepResult:
    """What one call of :func:`run_sweep` did."""

    directory: Path
    runs_total: int
    skipped: int  # already finished before this call (and intact)
    done: int = 0  # finished in this call
    failed: int = 0  # raised in this call
    wall_s: float = 0.0
    run_s: float = 0.0  # sum of the runs' own time, measured in the workers
    executor: str = ""
    workers: int = 1
    failures: list[int] = field(default_factory=list)
    redone: list[int] = field(default_factory=list)  # finished before, but corrupt: run again

    @property
    def overhead(self) -> float:
        """Share of the workers' wall time not spent inside runs: 1 - run time / (wall time x workers)."""
        if self.wall_s <= 0 or not (self.done + self.failed):
            return float("nan")
        return 1.0 - self.run_s / (self.wall_s * self.workers)

    @property
    def runs_per_minute(self) -> float:
        return 60.0 * (self.done + self.failed) / self.wall_s if self.wall_s > 0 else float("nan")

    def frame(self):
        from .read import load_sweep

        return load_sweep(self.directory)


def run_sweep(sweep: str | Path | SweepPlan, out: str | Path | None = None, *, workers: int | None = None,
              scheduler: str | None = None, resume: bool = False, force: bool = False, progress: bool = True,
              executor=None) -> SweepResult:
    """Run (or resume) a sweep. Returns counts and timings; results are in the directory.

    sweep : a sweep file, a SweepPlan, or (with resume) an existing sweep directory
    out : sweep directory (default ``sweeps/<name>``)
    workers : local processes (default all cores; 1 = in this process)
    scheduler : ``tcp://HOST:PORT`` of a Dask scheduler (instead of the local pool)
    resume : continue an existing directory: run only runs without an intact result (failed ones
        again, and finished ones whose files are missing, truncated or do not match their checksum)
    force : replace an existing sweep directory
    executor : an Executor to use instead of building one (e.g. a DaskExecutor on your Client)
    """


    if isinstance(sweep, SweepPlan):
        plan = sweep
    elif Path(sweep).is_dir():
        if not resume:
            raise OutputError(f"{sweep}: is a sweep directory; pass its sweep file, or --resume to continue it")
        plan = plan_from_manifest(sweep)
        out = out or sweep
    else:
        plan = plan_sweep(sweep)
    out = Path(out) if out is not None else Path("sweeps") / safe_name(plan.name)
    with output_lock(out):  # a second sweep or resume on this directory is refused, not raced
        return _run(plan, out, workers, scheduler, resume, force, progress, executor)


def _run(plan: SweepPlan, out: Path, workers, scheduler, resume: bool, force: bool, progress: bool,
         executor) -> SweepResult:
    from tqdm import tqdm

    from sn_sim.experiment.executors import make_executor

    mode = prepare_directory(out, plan, resume, force)
    own = executor is None
    if own:
        executor = make_executor(workers, scheduler)  # connection problems surface before writing
    try:
        if mode in ("create", "replace"):
            create_directory(out, plan)
        if plan.panel:
            (out / "panels").mkdir(exist_ok=True)
        clean_temporaries(out)
        done = finished_runs(out)
        # A finished run counts only if its files are intact: a corrupt one is forgotten and run again.
        corrupt = corrupt_runs(out, read_manifest(out), done, panels=plan.panel)
        for k, why in corrupt.items():
            print(f"sn-sim: note: {why}; running run {k} again", file=sys.stderr)
            discard_run(out, k)
            done.discard(k)
        todo = [k for k in range(len(plan.runs)) if k not in done]
        result = SweepResult(out, len(plan.runs), skipped=len(done), executor=executor.description,
                             workers=executor.workers, redone=sorted(corrupt))
        t0 = time.perf_counter()
        with tqdm(total=len(plan.runs), initial=len(done), unit="run", desc=plan.name, disable=not progress,
                  dynamic_ncols=True, smoothing=0.1) as bar:
            bar.set_postfix(failed=0)
            tasks = plan.tasks(todo)
            for outcome in executor.run(tasks):
                k = tasks[outcome.index].key
                result.run_s += outcome.seconds
                if outcome.ok:
                    write_run(out, plan, k, outcome)
                    result.done += 1
                else:
                    write_failure(out, plan, k, outcome)
                    result.failed += 1
                    result.failures.append(k)
                    bar.set_postfix(failed=result.failed)
                bar.update(1)
        result.wall_s = time.perf_counter() - t0
        result.failures.sort()
        return result
    finally:
        if own:
            executor.close()

"""Where runs execute: one interface, a local process pool or a Dask cluster.

A *task* is a picklable :class:`RunTask` -- a resolved scenario (plain dict), a seed, a
replicate index and the outputs to keep -- and :func:`run_task` turns it into a result in
whichever process receives it. An :class:`Executor` takes a list of tasks and yields one
:class:`Outcome` per task as tasks finish (in completion order, each tagged with the task's
position). A task that raises is an Outcome with ``ok=False`` and the error text, never an
exception in the caller, so a sweep records it and goes on.

Results never depend on the executor: every run's random numbers derive only from its task's
seed and replicate (``sn_sim.api.run_replicate``), not from the worker, the order of
completion or the number of workers.

``LocalPoolExecutor(workers)``
    ``concurrent.futures.ProcessPoolExecutor`` whose workers fork from a ``forkserver`` that
    imports sn_sim once (about a second, paid once per pool); ``workers=1`` runs every task
    in the calling process (no pickling, easy to debug and to monkeypatch).
``DaskExecutor(address)``
    ``distributed.Client(address)`` on an existing cluster (``tcp://HOST:PORT``) or a Client
    you pass in; sn_sim must be importable on the workers.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
import traceback
import uuid
from abc import ABC, abstractmethod
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from sn_sim.errors import SnSimError

PRELOAD = ["sn_sim.experiment.executors"]  # imported once by the forkserver, shared by workers


# --- Tasks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunTask:
    """One simulation: everything a worker needs, as plain picklable data.

    scenario : resolved scenario (``Scenario.to_dict()``), validated again in the worker
    seed, replicate : passed to ``sn_sim.api.run_replicate`` -- the run's only randomness
    outputs : summary columns to keep (None: all of ``sn_sim.observe.outcomes.summary_names()``)
    panel : also return the full weekly panel
    post_start : ISO date where the summaries' post period starts (None: whole calendar)
    kind : "summary" (sweeps) or "compare" (per-neighbourhood outcome totals and weekly series)
    key : the caller's identifier (a sweep's run id)
    """

    scenario: dict
    seed: int
    replicate: int
    outputs: tuple[str, ...] | None = None
    panel: bool = False
    post_start: str | None = None
    kind: str = "summary"
    key: int = 0


def run_task(task: RunTask) -> dict[str, Any]:
    """Run one task (in whichever process receives it) and reduce its panel."""
    from sn_sim import api
    from sn_sim.observe import outcomes
    from sn_sim.scenario import validate

    scenario = validate(task.scenario, source=f"<run {task.key}>")
    panel, _, _ = api.run_replicate(scenario, task.seed, task.replicate)
    if task.kind == "compare":
        totals = outcomes.neighbourhood_totals(panel, task.post_start)
        return {
            "totals": totals,
            "series_all": outcomes.series(panel),
            "series_treated": outcomes.series(panel, totals["treated"].to_numpy()),
        }
    names = list(task.outputs) if task.outputs is not None else None
    return {"summary": outcomes.summarise(panel, task.post_start, names),
            "panel": panel if task.panel else None}


@dataclass
class Outcome:
    """What became of one task. ``index`` is the task's position in the list handed over."""

    index: int
    ok: bool
    value: Any = None
    error: str | None = None
    traceback: str | None = None
    seconds: float = 0.0  # time inside the task function, measured where it ran


def _guarded(fn: Callable[[Any], Any], task: Any, index: int) -> Outcome:
    t0 = time.perf_counter()
    try:
        value = fn(task)
    except Exception as exc:  # a failed run is data, not a crash of the sweep
        return Outcome(index, False, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(),
                       seconds=time.perf_counter() - t0)
    return Outcome(index, True, value=value, seconds=time.perf_counter() - t0)


def _lost(index: int, exc: BaseException, where: str) -> Outcome:
    return Outcome(index, False, error=f"{where}: {type(exc).__name__}: {exc}",
                   traceback="".join(traceback.format_exception(exc)))


# --- Executors --------------------------------------------------------------------------------


class Executor(ABC):
    """Runs tasks and yields an :class:`Outcome` for each, as they finish."""

    workers: int = 1
    description: str = ""

    @abstractmethod
    def run(self, tasks: Iterable[Any], fn: Callable[[Any], Any] = run_task) -> Iterator[Outcome]:
        """Yield one Outcome per task, in completion order."""

    def start(self) -> None:
        """Acquire resources ahead of the first run (optional)."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _worker_init(parent_pid: int) -> None:
    """Set up a pool worker: ignore Ctrl-C, and exit as soon as the sn-sim process that started
    the pool is gone (even if it was killed: a worker must never outlive its command)."""
    # Ctrl-C goes to the whole process group: the parent handles it and shuts the pool down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_S)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(70)
            except PermissionError:  # alive, owned by someone else: cannot be ours, but keep going
                pass

    threading.Thread(target=watch, name="sn-sim-parent-watch", daemon=True).start()


PARENT_CHECK_S = 1.0  # how often a worker checks that its sn-sim process is alive


class LocalPoolExecutor(Executor):
    """A process pool on this machine; ``workers=1`` runs tasks in the calling process."""

    def __init__(self, workers: int | None = None):
        workers = default_workers() if workers is None else int(workers)
        if workers < 1:
            raise SnSimError(f"--workers: must be at least 1 (got {workers})")
        self.workers = workers
        self.description = "in-process" if workers == 1 else f"local pool of {workers} processes"
        self._pool: ProcessPoolExecutor | None = None

    @staticmethod
    def _context():
        # Not fork: numpy, Arrow and Dask keep threads, and forking a threaded process can
        # deadlock. A forkserver imports sn_sim once; workers fork from it already warm.
        if "forkserver" in mp.get_all_start_methods():
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            return ctx
        return mp.get_context("spawn")

    def _new_pool(self, n: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=n, mp_context=self._context(), initializer=_worker_init,
                                   initargs=(os.getpid(),))

    def start(self) -> None:
        """Start the worker processes now, so that the first runs do not wait for them."""
        if self.workers > 1 and self._pool is None:
            self._pool = self._new_pool(self.workers)
            try:
                self._pool.submit(int).result()  # launches a first worker
            except BrokenProcessPool:
                self._pool = None
                raise SnSimError("--workers: the worker processes could not start; a script that runs sweeps or "
                                 "comparisons on several workers must do so under `if __name__ == \"__main__\":` "
                                 "(workers import the main module)") from None

    def run(self, tasks, fn=run_task):
        tasks = list(tasks)
        if self.workers == 1:
            for i, task in enumerate(tasks):
                yield _guarded(fn, task, i)
            return
        if not tasks:
            return
        yield from self._run_pool(tasks, fn)

    def _run_pool(self, tasks, fn):
        if self._pool is None:
            self._pool = self._new_pool(min(self.workers, len(tasks)))
        limit = 2 * self.workers  # in flight: keeps workers busy without queueing every task
        todo = iter(enumerate(tasks))
        pending: dict = {}

        def submit_more():
            while len(pending) < limit:
                try:
                    i, task = next(todo)
                except StopIteration:
                    return
                pending[self._pool.submit(_guarded, fn, task, i)] = i

        try:
            submit_more()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                broken = False
                for fut in done:
                    i = pending.pop(fut)
                    try:
                        yield fut.result()
                    except BrokenProcessPool as exc:
                        broken = True
                        yield _lost(i, exc, "worker process died")
                    except Exception as exc:  # e.g. a task or result that cannot be pickled
                        yield _lost(i, exc, "executor")
                if broken:
                    # Every task in flight on the dead pool is lost: record them, start a new pool.
                    for fut, i in list(pending.items()):
                        yield _lost(i, BrokenProcessPool("the pool broke while this run was in flight"),
                                    "worker process died")
                    pending.clear()
                    self._pool.shutdown(wait=False, cancel_futures=True)
                    self._pool = self._new_pool(min(self.workers, len(tasks)))
                submit_more()
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskExecutor(Executor):
    """Tasks on a Dask distributed cluster (``distributed.Client(address)``)."""

    def __init__(self, address: str | None = None, client=None, timeout: str | None = None):
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - dask is an optional extra
            raise SnSimError("--scheduler: needs dask[distributed] (pip install 'sn_sim[experiments]')") from exc
        if client is None:
            if not address:
                raise SnSimError("--scheduler: give the scheduler address, e.g. tcp://HOST:8786")
            if timeout is None:  # dask's own setting (DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT)
                import dask

                timeout = dask.config.get("distributed.comm.timeouts.connect")
            try:
                client = Client(address, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise SnSimError(f"--scheduler: cannot connect to {address} ({type(exc).__name__}: {exc})") from None
            self._own = True
        else:
            self._own = False
        self.client = client
        self.address = address or getattr(client.scheduler, "address", "?")
        nthreads = client.nthreads()
        self.workers = max(1, sum(nthreads.values()))
        self.description = f"Dask cluster {self.address} ({len(nthreads)} workers, {self.workers} threads)"

    def run(self, tasks, fn=run_task):
        from distributed import as_completed

        tasks = list(tasks)
        if not tasks:
            return
        token = uuid.uuid4().hex[:12]
        limit = max(64, 4 * self.workers)
        todo = iter(enumerate(tasks))
        pending: dict = {}
        ac = as_completed()

        def submit_more():
            while len(pending) < limit:
                try:
                    i, task = next(todo)
                except StopIteration:
                    return
                fut = self.client.submit(_guarded, fn, task, i, key=f"sn-sim-{token}-{i}", pure=False)
                pending[fut.key] = (fut, i)
                ac.add(fut)

        try:
            submit_more()
            for fut in ac:
                _, i = pending.pop(fut.key)
                try:
                    out = fut.result()
                except Exception as exc:  # worker lost (KilledWorker), unpicklable task, ...
                    out = _lost(i, exc, "dask")
                fut.release()
                yield out
                submit_more()
        finally:
            for fut, _ in pending.values():
                fut.cancel()

    def close(self) -> None:
        if self._own:
            self.client.close()


def make_executor(workers: int | None = None, scheduler: str | None = None) -> Executor:
    """The CLI's choice: Dask when a scheduler address is given, else a local pool."""
    if scheduler:
        return DaskExecutor(scheduler)
    ex = LocalPoolExecutor(workers)
    ex.start()
    return ex

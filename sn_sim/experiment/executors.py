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
    ``distributed.Client(address)`` on an existing cluster (``tcp://HOST:PORT`` or
    ``tls://HOST:PORT``, TLS settings from dask's config) or a Client you pass in; the workers
    must import the same sn_sim version. A bad or unreachable address fails in one line within
    ``connect_timeout()`` (5 s unless dask's own connect timeout is configured). docs/cluster.md.
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
    kind : "summary" (sweeps), "compare" (per-neighbourhood outcome totals and weekly series),
        "decompose" (compare's, and the weekly flows of every neighbourhood: ``NEIGHBOURHOOD_FLOWS``)
        or "totals" (the totals alone: screening)
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


# The weekly flows a "decompose" task returns per neighbourhood (panel columns, inhabitant units).
NEIGHBOURHOOD_FLOWS = ("offences", "violent_offences", "victims", "recorded_crimes", "displaced_offences")


def run_task(task: RunTask) -> dict[str, Any]:
    """Run one task (in whichever process receives it) and reduce its panel."""
    from sn_sim import api
    from sn_sim.observe import outcomes
    from sn_sim.scenario import validate

    scenario = validate(task.scenario, source=f"<run {task.key}>")
    panel, _, _ = api.run_replicate(scenario, task.seed, task.replicate)
    if task.kind == "totals":
        return {"totals": outcomes.neighbourhood_totals(panel, task.post_start)}
    if task.kind in ("compare", "decompose"):  # with the scores' ledger: trust and insecurity by source
        totals = outcomes.neighbourhood_totals(panel, task.post_start,
                                               outcomes.SUMMARY_OUTCOMES + outcomes.LEDGER_OUTCOMES)
        out = {
            "totals": totals,
            "series_all": outcomes.series(panel),
            "series_treated": outcomes.series(panel, totals["treated"].to_numpy()),
        }
        if task.kind == "decompose":  # (week, neighbourhood) rows in panel order, float32: small to ship
            out["flows"] = panel[["week", "neighbourhood", *NEIGHBOURHOOD_FLOWS]].astype(
                {c: "float32" for c in NEIGHBOURHOOD_FLOWS})
        return out
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


# --- Dask ---------------------------------------------------------------------------------------

SCHEDULER_SCHEMES = ("tcp", "tls")
SCHEDULER_HINT = "expected tcp://HOST:PORT or tls://HOST:PORT, e.g. tcp://127.0.0.1:8786"
CONNECT_TIMEOUT_S = 5.0  # a scheduler that is up answers in milliseconds; dask's own default is 30 s


def check_scheduler_address(address: str) -> str:
    """``address`` if it has the form ``tcp://HOST:PORT`` or ``tls://HOST:PORT``, else a one-line
    SnSimError. Checked before connecting: dask takes a malformed address for a slow scheduler
    (or fails deep inside its event loop) instead of saying what is wrong."""
    from urllib.parse import urlsplit

    text = str(address).strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # ValueError: not a number, or out of 0-65535
    except ValueError:
        parts, port = None, None
    if parts is None or not parts.scheme or "://" not in text:
        raise SnSimError(f"--scheduler: {address!r} is not a scheduler address ({SCHEDULER_HINT})")
    if parts.scheme not in SCHEDULER_SCHEMES:
        raise SnSimError(f"--scheduler: {address!r}: unsupported protocol {parts.scheme + '://'!r} ({SCHEDULER_HINT})")
    if not parts.hostname or not port or parts.path not in ("", "/") or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise SnSimError(f"--scheduler: {address!r} is not a scheduler address ({SCHEDULER_HINT})")
    return text.rstrip("/")


def connect_timeout() -> float:
    """Seconds to wait for the scheduler: ``CONNECT_TIMEOUT_S``, unless dask's
    ``distributed.comm.timeouts.connect`` is set to something other than dask's shipped default
    (e.g. ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=60s``), which then wins."""
    import dask
    import distributed  # noqa: F401  (registers distributed's defaults with dask.config)
    from dask.utils import parse_timedelta

    key = ("distributed", "comm", "timeouts", "connect")
    value = dask.config.get(".".join(key))
    shipped = None
    for defaults in dask.config.defaults:
        node = defaults
        for part in key:
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            shipped = node
    if value is None or value == shipped:
        return CONNECT_TIMEOUT_S
    return float(parse_timedelta(value, "s"))


def _probe(address: str, timeout: float, connection_args: dict) -> None:
    """Reach the scheduler at ``address`` once, or raise an SnSimError that says why not.

    First a plain TCP connection, which fails at once where nothing listens (dask retries a
    refused connection until its timeout, taking a typo for a scheduler still starting), then
    one dask handshake (is it a Dask scheduler, does TLS agree). Runs in a thread of its own with
    a fresh event loop (the caller may be inside one, e.g. a notebook) and is abandoned after
    ``timeout`` in all, so that nothing -- not even a hanging name lookup -- holds the command
    longer. The caller builds its Client only after this succeeds: a Client that fails
    to connect blocks for seconds more when it is garbage-collected."""
    import asyncio
    import socket
    from urllib.parse import urlsplit

    from distributed.comm import connect

    parts = urlsplit(address)
    host, port = parts.hostname, parts.port

    deadline = time.monotonic() + timeout

    async def handshake():
        left = max(0.1, deadline - time.monotonic())
        comm = await connect(address, timeout=left, **connection_args)
        await comm.close()

    outcome: dict = {}

    def target():
        try:
            outcome["phase"] = "tcp"
            socket.create_connection((host, port), timeout=timeout).close()
            outcome["phase"] = "handshake"
            asyncio.run(handshake())
            outcome["error"] = None
        except BaseException as exc:  # reported by the caller
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="sn-sim-scheduler-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.2)
    exc = outcome.get("error", TimeoutError())
    if exc is None:
        return
    where = f"--scheduler: cannot connect to {address}"
    if isinstance(exc, socket.gaierror):
        raise SnSimError(f"{where}: unknown host {host!r} ({_one_line(exc)})")
    if isinstance(exc, ConnectionRefusedError):
        raise SnSimError(f"{where}: connection refused (is a Dask scheduler running there?)")
    if isinstance(exc, (TimeoutError, socket.timeout)):
        raise SnSimError(f"{where}: no answer within {timeout:g} s (is a Dask scheduler running there?)")
    if outcome.get("phase") == "tcp":
        raise SnSimError(f"{where}: {_one_line(exc)}")
    # Something listens there but did not answer as a Dask scheduler: another service on that
    # port, or plain tcp:// against a TLS scheduler (or the reverse, or certificates it refused).
    tls = "tls://" if address.startswith("tcp://") else "tcp://"
    raise SnSimError(f"{where}: no Dask scheduler answered there ({type(exc).__name__}: {_one_line(exc)}); "
                     f"if the scheduler uses {'TLS' if tls == 'tls://' else 'plain TCP'}, give a {tls} address")


class ClusterLostError(SnSimError):
    """The Dask scheduler went away while tasks were running."""


def _worker_version() -> str:
    """The sn_sim version a worker imports (sent by reference: fails where sn_sim is missing)."""
    from sn_sim.api import package_version

    return package_version()


class DaskExecutor(Executor):
    """Tasks on a Dask distributed cluster (``distributed.Client(address)``).

    Connecting checks, in order and each failing in one line within about ``connect_timeout()``
    seconds: the address's form; for ``tls://``, that TLS is configured (dask config
    ``distributed.comm.tls.*``, e.g. ``DASK_DISTRIBUTED__COMM__TLS__CA_FILE``); that a Dask
    scheduler answers there; that every worker already connected imports the same sn_sim version
    as this process (a different version could give different results). The Client is never
    made the process's default client, so it does not capture the caller's other Dask work.
    """

    def __init__(self, address: str | None = None, client=None, timeout: str | float | None = None):
        from sn_sim.errors import require_extra

        require_extra("experiments", "distributed", what="--scheduler")
        from distributed import Client
        from distributed.security import Security

        if client is None:
            if not address:
                raise SnSimError(f"--scheduler: give the scheduler address ({SCHEDULER_HINT})")
            address = check_scheduler_address(address)
            if timeout is None:
                seconds = connect_timeout()
            else:
                from dask.utils import parse_timedelta

                seconds = float(parse_timedelta(timeout, "s"))
            security = Security()  # from dask config: distributed.comm.tls.*, require-encryption
            if address.startswith("tls://") and not (security.tls_ca_file and security.tls_client_cert):
                raise SnSimError(f"--scheduler: {address}: a tls:// address needs the CA and a client certificate: "
                                 "set DASK_DISTRIBUTED__COMM__TLS__CA_FILE, DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT "
                                 "and DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY (docs/cluster.md)")
            try:
                connection_args = security.get_connection_args("client")
            except Exception as exc:  # e.g. a certificate file that is missing or not PEM
                raise SnSimError(f"--scheduler: {address}: TLS settings (dask config distributed.comm.tls.*) are "
                                 f"unusable ({type(exc).__name__}: {_one_line(exc)})") from None
            _probe(address, seconds, connection_args)
            try:
                client = Client(address, timeout=seconds, security=security, set_as_default=False)
            except Exception as exc:  # the scheduler went away since the probe
                raise SnSimError(f"--scheduler: cannot connect to {address} ({_one_line(exc)})") from None
            self._own = True
        else:
            self._own = False
        self.client = client
        self.address = address or getattr(client.scheduler, "address", "?")
        try:
            self._check_workers()
        except BaseException:
            self.close()
            raise
        nthreads = client.nthreads()
        threads = sum(nthreads.values())
        self.workers = max(1, threads)  # sizes how many tasks are kept in flight
        self.description = f"Dask cluster {self.address} ({len(nthreads)} workers, {threads} threads)"

    def _check_workers(self) -> None:
        """Every connected worker must run this sn_sim version (workers that join later are not
        checked: install the same version on every node)."""
        from sn_sim.api import package_version

        if not self.client.nthreads():
            return
        mine = package_version()
        found = self.client.run(_worker_version, on_error="return")
        for worker, value in sorted(found.items()):
            if isinstance(value, BaseException):
                raise SnSimError(f"--scheduler: worker {worker} cannot run sn_sim ({_one_line(value)}); "
                                 f"install sn_sim {mine} on every worker")
            if value != mine:
                raise SnSimError(f"--scheduler: worker {worker} runs sn_sim {value}, this is sn_sim {mine}; "
                                 "install the same version on every worker")

    def run(self, tasks, fn=run_task):
        from distributed import as_completed

        tasks = list(tasks)
        if not tasks:
            return
        token = uuid.uuid4().hex[:12]
        limit = max(64, 4 * self.workers)
        todo = iter(enumerate(tasks))
        pending: dict = {}
        # On our client's loop: without ``loop`` as_completed looks for the default client, and
        # ours is deliberately not the default ("ValueError: No clients found").
        ac = as_completed(loop=self.client.loop)

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
                    if getattr(exc, "reason", None) == "scheduler-connection-lost":
                        # Every run in flight is cancelled at once and nothing more can be sent:
                        # stop, rather than record each run as a failure of its own.
                        raise ClusterLostError(f"--scheduler: lost the connection to the Dask scheduler at "
                                               f"{self.address}") from None
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


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def make_executor(workers: int | None = None, scheduler: str | None = None) -> Executor:
    """The CLI's choice: Dask when a scheduler address is given, else a local pool."""
    if scheduler:
        ex = DaskExecutor(scheduler)
        if not ex.client.nthreads():  # not an error: workers may still be starting
            import sys

            print(f"sn-sim: note: the Dask scheduler at {ex.address} has no workers yet; runs start when "
                  "workers join", file=sys.stderr)
        return ex
    ex = LocalPoolExecutor(workers)
    ex.start()
    return ex

"""Writing outputs safely: one atomic-directory writer and one output-directory policy for
every command that writes a directory (run, compare, sweep, evaluate, calibrate).

- Every directory sn-sim writes carries a marker file (``.sn_sim-output``: the kind of output,
  when, by which process). ``--force`` replaces only an existing directory that carries the
  marker of the *same kind* (or is empty) -- never the working directory or one of its parents,
  the home directory, a symbolic link, or anything sn-sim did not write.
- A directory is written as a hidden temporary sibling and renamed into place when complete;
  a replaced directory is first renamed aside, then the new one renamed in, then the old one
  deleted, so an interruption at any point leaves either the old or the new output whole.
  Leftovers of an interrupted save (ours only: they carry the marker) are cleaned up, or the
  old output restored, the next time the same directory is written.
- Default output names derived from scenario or sweep names are one safe path component.
- Every data file is recorded with its SHA-256 checksum (in the ``manifest.json`` of a run or
  comparison, an evaluation's ``evaluation.json``, a sweep's ``checksums.jsonl``), and readers
  verify it before trusting the bytes: a file corrupted on disk, truncated by a crash or edited
  since is refused in one line (or, by ``sweep --resume``, run again) instead of being read as
  plausible numbers.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from sn_sim.errors import OutputError, SnSimError

MARKER = ".sn_sim-output"
KINDS = ("run", "compare", "decompose", "sweep", "evaluate", "diagnose", "calibrate", "calibration-report", "sensitivity",
         "discovery", "optimise", "screen")


def safe_name(name: str, default: str = "unnamed") -> str:
    """``name`` as one safe path component: letters, digits, ``._-`` (runs of others become
    ``_``), neither starting nor ending with ``._-``, at most 100 characters."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._-")[:100].strip("._-")
    return cleaned or default


def output_kind(directory: Path) -> str | None:
    """The kind of sn-sim output a directory holds (its marker), or None."""
    try:
        return json.loads((Path(directory) / MARKER).read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        return None


def _write_marker(directory: Path, kind: str) -> None:
    (directory / MARKER).write_text(json.dumps({
        "kind": kind, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "pid": os.getpid()}))


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def _recover(parent: Path, name: str) -> None:
    """Leftovers of an interrupted save of ``parent/name``, ours only (they carry the marker):
    a temporary copy of a finished writer is removed; an old output renamed aside is deleted if
    the new one is in place, or put back if it is not."""
    out = parent / name
    for tmp in parent.glob(f".{name}.tmp-*"):
        try:
            info = json.loads((tmp / MARKER).read_text())
        except (OSError, ValueError):
            continue
        if not _alive(info.get("pid")):
            shutil.rmtree(tmp, ignore_errors=True)
    for old in parent.glob(f".{name}.old-*"):
        if output_kind(old) is None:
            continue
        if out.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(old, out)


@contextmanager
def staged_directory(out: Path, kind: str):
    """Write a directory atomically: yields a temporary sibling of ``out`` (missing parents are
    created) that replaces ``out`` when the block completes; on any error it is removed and
    ``out`` is left as it was. Callers check ``out`` first (:func:`check_output_dir`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}")
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    _recover(parent, out.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; the result should look like any directory
    try:
        _write_marker(tmp, kind)
        yield tmp
        if out.exists() or out.is_symlink():
            # Rename the old output aside, the new one in, then delete the old: at every moment
            # one of them is whole under a name _recover knows.
            aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
            os.rmdir(aside)
            os.replace(out, aside)
            os.replace(tmp, out)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _protected(real: Path) -> str | None:
    cwd = Path.cwd().resolve()
    if real == cwd or real in cwd.parents:
        return "is the working directory or one of its parents"
    if real == Path.home().resolve():
        return "is the home directory"
    if real == Path(real.anchor):
        return "is the root directory"
    return None


def check_output_dir(out: Path, force: bool, kind: str | None = None, option: str = "--out") -> None:
    """Refuse an existing output without --force; with --force, refuse anything but an sn-sim
    output of the same ``kind`` (or an empty directory); refuse a place we cannot write."""
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    if parent.is_dir():
        _recover(parent, out.name)  # an output left aside by an interrupted save counts as existing
    if out.is_symlink():
        raise OutputError(f"{out}: {option}: is a symbolic link (give a real directory)")
    if out.exists():
        if not out.is_dir():
            raise OutputError(f"{out}: {option}: exists and is not a directory")
        if not force:
            raise OutputError(f"{out}: {option}: already exists (use --force to replace it)")
        real = out.resolve()
        why = _protected(real)
        if why:
            raise OutputError(f"{out}: {option}: {why}; --force never replaces it")
        if any(real.iterdir()):
            found = output_kind(real)
            if found is None:
                raise OutputError(f"{out}: {option}: not written by sn-sim (no {MARKER} marker); --force replaces "
                                  "only sn-sim's own outputs: remove it yourself or choose another directory")
            if kind is not None and found != kind:
                raise OutputError(f"{out}: {option}: holds an sn-sim {found} output, not a {kind} output; "
                                  "--force replaces only an output of the same kind")
    # Missing parents are created on save; the nearest existing ancestor must be a writable directory.
    ancestor = out.parent if str(out.parent) else Path(".")
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{out}: {option}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK):
        raise OutputError(f"{out}: {option}: {ancestor} is not writable")
    # os.access answers yes to root everywhere, /proc and read-only mounts included: make (and at
    # once remove) an empty hidden directory there, so that the save cannot fail after the work.
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".sn_sim-probe-", dir=ancestor))
    except OSError as exc:
        raise OutputError(f"{out}: {option}: cannot write in {ancestor} ({exc.strerror or exc})") from None


@contextmanager
def output_lock(out: Path, option: str = "--out"):
    """Hold an exclusive lock on writing ``out`` (a sweep, run or resumed): a second sn-sim
    process that asks for the same directory is refused in one line instead of racing.

    The lock is ``fcntl.flock`` on a hidden sibling file ``.NAME.lock`` (the directory itself
    may not exist yet), removed when the holder is done; the kernel releases it if the holder dies."""
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    path = parent / f".{out.name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            raise OutputError(f"{out}: {option}: another sn-sim process (pid {holder}) is writing this directory; "
                              "wait for it to finish or choose another directory") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            try:
                os.unlink(path)
            except OSError:
                pass
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)



# --- Checksums ----------------------------------------------------------------------------------


def file_checksum(path: str | Path) -> str:
    """``"sha256:<hex>"`` of a file's bytes, read in chunks (outputs can be large)."""
    with open(path, "rb") as f:
        return "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()


def file_checksums(directory: str | Path, names) -> dict[str, str]:
    """``{name: "sha256:<hex>"}`` for files ``names`` (paths relative to ``directory``)."""
    return {name: file_checksum(Path(directory) / name) for name in names}


def checksum_problem(path: str | Path, expected, what: str = "manifest.json") -> str | None:
    """Why ``path`` is not the file whose checksum ``what`` recorded as ``expected``, or None
    when it is: no checksum recorded, missing, or its bytes differ (corrupt, truncated or
    changed since written)."""
    if expected is None:
        return f"no checksum recorded in {what}"
    if not isinstance(expected, str) or not expected.startswith("sha256:"):
        return f"its checksum in {what} is not a sha256 checksum ({str(expected)[:40]!r})"
    try:
        actual = file_checksum(path)
    except FileNotFoundError:
        return f"missing (listed in {what})"
    except OSError as exc:
        return f"cannot read ({type(exc).__name__})"
    if actual != expected:
        return f"does not match its checksum in {what} (corrupt, or changed since it was written)"
    return None


def verify_checksums(directory: str | Path, manifest: dict, what: str = "manifest.json") -> list[str]:
    """Check every file listed in ``manifest["checksums"]`` (names relative to ``directory``);
    raise :class:`SnSimError` naming the first file that is missing or does not match. Returns
    the names verified: none for an output written before checksums were recorded (no
    ``checksums``), which is therefore read unverified."""
    directory = Path(directory)
    recorded = manifest.get("checksums") if isinstance(manifest, dict) else None
    if recorded is None:
        return []
    if not isinstance(recorded, dict):
        raise SnSimError(f"{directory / what}: checksums: not a table of file names and checksums")
    for name, expected in recorded.items():
        # Only files inside the output: a manifest must not make us read elsewhere.
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise SnSimError(f"{directory / what}: checksums: {name!r} is not a file of this output")
        problem = checksum_problem(directory / name, expected, what)
        if problem:
            raise SnSimError(f"{directory / name}: {problem}")
    return list(recorded)


def _read_errors() -> tuple[type[BaseException], ...]:
    import pyarrow as pa

    # What a damaged file makes a reader raise: pyarrow's errors (ArrowInvalid is a ValueError),
    # or a bad length read as a huge allocation.
    return (OSError, ValueError, TypeError, NotImplementedError, MemoryError, pa.ArrowException)


@contextmanager
def reading(path: str | Path):
    """Report a file that cannot be parsed as one line naming it (:class:`SnSimError`), not as
    the reader's traceback."""
    try:
        yield
    except _read_errors() as exc:
        detail = (str(exc).strip().splitlines() or [""])[0][:120]
        raise SnSimError(f"{path}: cannot read ({type(exc).__name__}{': ' + detail if detail else ''})") from None

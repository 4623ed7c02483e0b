"""Writing outputs safely: one atomic-directory writer and one output-directory policy for
every command that writes a directory (run, compare, sweep, evaluate, calibrate)."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from sn_sim.errors import OutputError


@contextmanager
def staged_directory(out: Path):
    """Write a directory atomically: yields a temporary sibling of ``out`` (missing parents are
    created) that replaces ``out`` by a rename when the block completes; on any error it is
    removed and ``out`` is left as it was. Callers check ``out`` first (check_output_dir)."""
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; the result should look like any directory
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check_output_dir(out: Path, force: bool) -> None:
    """Refuse an existing output without --force, or a place we cannot write."""
    out = Path(out)
    if out.exists() and not force:
        raise OutputError(f"{out}: --out: already exists (use --force to replace it)")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: --out: exists and is not a directory")
    # Missing parents are created on save; the nearest existing ancestor must be a writable directory.
    ancestor = out.parent if str(out.parent) else Path(".")
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{out}: --out: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK):
        raise OutputError(f"{out}: --out: {ancestor} is not writable")



"""Where outputs came from: the source checkout and the libraries that shape results.

Every manifest (run, compare, sweep, evaluation) records :func:`provenance`, so a result can
be traced to the exact code that produced it: the same scenario and seed reproduce a run only
with the same model code and the same numerical libraries (a numpy or pandas upgrade can
change random streams, sums or parquet bytes).

It lives here, under ``observe`` (what outputs record), so that every layer that writes a
manifest -- the API and the experiment and evaluation layers above it -- can import it.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# Libraries whose versions can change results (random streams, numerics, estimators, how
# tables are written); the optional ones are recorded as null when not installed.
LIBRARIES = ("numpy", "scipy", "pandas", "pyarrow", "mesa", "pydantic", "networkx",
             "pyfixest", "SALib", "dask", "distributed", "ema_workbench", "scikit-learn")

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
_GIT_TIMEOUT_S = 5


def _git(*args: str) -> str:
    # GIT_* variables of the caller's shell (GIT_DIR, GIT_WORK_TREE...) would point git at
    # another repository; no optional locks, so recording provenance never blocks a concurrent
    # git command in the checkout.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | {"GIT_OPTIONAL_LOCKS": "0"}
    return subprocess.run(["git", "-C", str(_PACKAGE_DIR), *args], capture_output=True, text=True, check=True,
                          timeout=_GIT_TIMEOUT_S, env=env).stdout.strip()


@functools.cache
def git_state() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git checkout the package was imported from, or (None, None)
    when it was not imported from one (an installed wheel) or git is unavailable or slow.

    Cached: git runs at most once per process, not once per replicate or run. ``dirty`` counts
    changes to tracked files only: untracked outputs (runs/, sweeps/) do not shape results."""
    try:
        # The package must be tracked by the checkout, not merely installed somewhere inside
        # one (e.g. a virtualenv's site-packages under a project's repository).
        _git("ls-files", "--error-unmatch", "__init__.py")
        commit = _git("rev-parse", "HEAD")
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, dirty


@functools.cache
def library_versions() -> dict[str, str | None]:
    """Installed version of each of :data:`LIBRARIES` (None when not installed)."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def provenance() -> dict:
    """The manifest keys ``python``, ``git_commit``, ``git_dirty`` and ``libraries``."""
    commit, dirty = git_state()
    return {"python": platform.python_version(), "git_commit": commit, "git_dirty": dirty,
            "libraries": dict(library_versions())}

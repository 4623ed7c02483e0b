"""Argument types of the command line, shared by every subcommand, and the safety limits.

Each type raises ``argparse.ArgumentTypeError``, so a bad value is one line
(``sn-sim run: error: argument --seed: ...``) with exit code 2, before any work starts.

Safety limits stop a typo (``--replicates 1000000``, a grid of 10^7 points) from filling the
memory before anything useful happens. Each can be raised by an environment variable named in
its message, for the rare run that really needs more."""

from __future__ import annotations

import argparse
import os

from sn_sim.errors import SnSimError

MAX_SEED = 2**63 - 1  # seeds are stored as int64 (manifest, panel)

# Replicates of one `sn-sim run` or `compare` scenario: every replicate's weekly panel is held in memory.
MAX_REPLICATES = ("SN_SIM_MAX_REPLICATES", 1_000)
# Runs (points x replicates) of one sweep: the plan holds every point's resolved scenario (c. 20 kB).
MAX_RUNS = ("SN_SIM_MAX_RUNS", 100_000)


def limit(setting: tuple[str, int]) -> int:
    """The value of a safety limit (``MAX_REPLICATES``, ``MAX_RUNS``): its environment variable
    if set, else its default. SnSimError (one line) if the variable is not a positive whole number."""
    name, default = setting
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SnSimError(f"{name}: not a whole number: {text!r}") from None
    if value < 1:
        raise SnSimError(f"{name}: must be at least 1 (got {value})")
    return value


def limit_note(setting: tuple[str, int]) -> str:
    """The limit as --help states it: "at most 1,000 unless SN_SIM_MAX_REPLICATES is set"."""
    name, default = setting
    return f"at most {default:,} unless {name} is set"


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def seed(text: str) -> int:
    """A root seed: a whole number from 0 to 2**63 - 1."""
    value = _int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**63 - 1 (got {value})")
    return value


def positive(text: str) -> int:
    """A count of at least 1."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def replicates(text: str) -> int:
    """Replicates of a scenario: at least 1, at most the MAX_REPLICATES limit."""
    value = positive(text)
    try:
        most = limit(MAX_REPLICATES)
    except SnSimError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value > most:
        raise argparse.ArgumentTypeError(
            f"must be at most {most:,} (got {value:,}): every replicate is held in memory; "
            f"set {MAX_REPLICATES[0]}={value} to allow more")
    return value


def port(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    value = _int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535 (got {value})")
    return value

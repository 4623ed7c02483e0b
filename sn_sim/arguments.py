"""Argument types of the command line, shared by every subcommand.

Each raises ``argparse.ArgumentTypeError``, so a bad value is one line
(``sn-sim run: error: argument --seed: ...``) with exit code 2, before any work starts."""

from __future__ import annotations

import argparse

MAX_SEED = 2**63 - 1  # seeds are stored as int64 (manifest, panel)


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


def port(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    value = _int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535 (got {value})")
    return value

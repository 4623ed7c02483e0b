"""Errors a user can cause, each carrying one printable line (file: key: reason)."""


class SnSimError(Exception):
    """Base for errors the CLI reports as one line with exit code 2."""


class ScenarioError(SnSimError):
    """A scenario or sweep file is missing, unreadable or invalid."""


class OutputError(SnSimError):
    """An output directory cannot be written, or exists without --force."""

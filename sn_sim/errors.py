"""Errors a user can cause, each carrying one printable line (file: key: reason)."""


class SnSimError(Exception):
    """Base for errors the CLI reports as one line with exit code 2."""


class ScenarioError(SnSimError):
    """A scenario or sweep file is missing, unreadable or invalid."""


class OutputError(SnSimError):
    """An output directory cannot be written, or exists without --force."""


class MissingExtraError(SnSimError):
    """A command needs an optional extra that is not installed."""


def require_extra(extra: str, *modules: str, what: str) -> None:
    """Fail in one line, before any work, when ``what`` needs optional ``modules`` that are not
    installed; the message names the extra that brings them (pyproject.toml)."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(f"{what}: needs the '{extra}' extra ({', '.join(missing)} not installed): "
                                f"pip install 'sn_sim[{extra}]'")

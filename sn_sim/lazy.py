"""Packages whose public names load on first use (PEP 562).

Every ``sn-sim`` command builds its parser from each layer's ``cli`` module, and importing
``sn_sim.experiment.cli`` runs ``sn_sim/experiment/__init__.py`` first. A layer that imported its
whole public API there would make every command, even ``--help`` or a one-line input error, pay
for pandas, SciPy's optimisers, Mesa and the rest. So the layers' ``__init__`` modules name what
they export and where it lives (as does the package root), and :func:`lazy_package` loads each
name when it is first read.

Some layers export a function under the name of the module that defines it
(``sn_sim.experiment.compare`` the function, in ``sn_sim/experiment/compare.py``). When Python
imports such a submodule it sets the package attribute of that name to the module; the package
keeps the function instead, as an eager ``from .compare import compare`` would have left it.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module


class _LazyPackage(types.ModuleType):
    """A package module whose function-named-like-a-submodule attributes stay the functions."""

    _lazy_exports: dict[str, str]

    def __setattr__(self, name: str, value) -> None:
        exports = self.__dict__.get("_lazy_exports", {})
        if isinstance(value, types.ModuleType) and exports.get(name) == value.__name__:
            value = getattr(value, name)  # the import system binding a submodule: keep the function
        super().__setattr__(name, value)


def lazy_package(package: str, exports: dict[str, str], modules: dict[str, str] | None = None):
    """Make ``package`` load each name of ``exports`` (name -> defining module), and each module
    of ``modules`` (name -> module), on first read.

    Returns ``(__getattr__, __dir__)`` for the package's namespace:
    ``__getattr__, __dir__ = lazy_package(__name__, {...})``."""
    module = sys.modules[package]
    module.__class__ = _LazyPackage
    module.__dict__["_lazy_exports"] = dict(exports)
    modules = dict(modules or {})

    def __getattr__(name: str):
        if name in exports:
            value = getattr(import_module(exports[name]), name)
        elif name in modules:
            value = import_module(modules[name])
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module.__dict__[name] = value  # later reads are plain attribute reads
        return value

    def __dir__():
        return sorted({*module.__dict__, *exports, *modules})

    return __getattr__, __dir__

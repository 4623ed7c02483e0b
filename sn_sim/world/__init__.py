"""The simulated world: state and its construction (no behaviour; processes act on it).

``World`` and ``build_world`` load on first use (sn_sim/lazy.py): the outcome registry reads the
scores' ledger sources from ``sn_sim.world.ledger``, and the command line's parser, which loads
the registry, must not pay for the world's builders (and Mesa) to do so."""

from sn_sim.lazy import lazy_package

__getattr__, __dir__ = lazy_package(__name__, {"World": "sn_sim.world.world", "build_world": "sn_sim.world.world"})

__all__ = ["World", "build_world"]

"""The simulated world: state and its construction (no behaviour; processes act on it)."""

from sn_sim.world.world import World, build_world

__all__ = ["World", "build_world"]

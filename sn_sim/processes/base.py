"""What a process is: one mechanism of the weekly schedule.

A process declares the scenario sections it reads (``parameters``) and the world state it reads
and writes (``reads``, ``writes``: dotted names such as ``residents.trust`` or
``blocks.patrol_hours``); it may draw initial stocks it owns (``initialise``) and acts once a
week (``step``). Its random streams are named after it (``world.random.stream(self.name)``).
The weekly order of all processes is listed once, in :mod:`sn_sim.model`.

The declarations are documentation that a test holds against the code: replaying weeks one
process at a time, every piece of world state a process changed must be among its ``writes``
(tests/test_process_declarations.py).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from sn_sim.world import World


class Process:
    name: ClassVar[str]
    parameters: ClassVar[tuple[str, ...]] = ()
    reads: ClassVar[tuple[str, ...]] = ()
    writes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, world: World):
        self.world = world

    def initialise(self, rng: np.random.Generator) -> None:
        """Draw the initial stocks this process owns (called once, before the burn-in)."""

    def step(self) -> None:
        raise NotImplementedError

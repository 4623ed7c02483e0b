"""Which path the weekly passes take: NumPy, or the compiled kernels of sn_sim/world/compiled.py.

Both give identical results (the kernels repeat the NumPy arithmetic number for number); they
differ in time. Importing Numba costs about a second per process, more than a small world's
whole run, while the kernels save a large world a third or more of its week. So a world uses
them from ``COMPILED_MIN_RESIDENTS`` residents on (``World.compiled``), and this module, which
every world reads, does not import Numba. The environment variable ``SN_SIM_KERNELS`` (``auto``,
``numpy`` or ``compiled``) overrides the choice: for the tests, and for timing one path against
the other.
"""

from __future__ import annotations

import os

from sn_sim.errors import SnSimError

# From this many residents a world uses the kernels (about scale 0.1 of the national pool, the
# calibration's scale). A numerical switch, not a model parameter: results are identical.
COMPILED_MIN_RESIDENTS = 200_000
KERNELS_ENV = "SN_SIM_KERNELS"
KERNEL_CHOICES = ("auto", "numpy", "compiled")


def use_compiled(residents: int) -> bool:
    """Whether a world of ``residents`` uses the compiled kernels (``SN_SIM_KERNELS`` overrides)."""
    choice = os.environ.get(KERNELS_ENV, "auto").strip().lower() or "auto"
    if choice not in KERNEL_CHOICES:
        raise SnSimError(f"{KERNELS_ENV}={choice!r}: expected one of {', '.join(KERNEL_CHOICES)}")
    return residents >= COMPILED_MIN_RESIDENTS if choice == "auto" else choice == "compiled"

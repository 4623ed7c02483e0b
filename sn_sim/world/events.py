"""What the week brought, handed from one process to the next: the Strategy's effort and the
offences committed. Each is written by one process and read by the processes after it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class WeeklyEffort:
    """What the Strategy delivers this week, per neighbourhood (inhabitant units).

    Written by the strategy process; read by police, community and programs."""

    extra_patrol_hours: np.ndarray
    contacts: np.ndarray
    operations: np.ndarray
    community_activities: np.ndarray
    space_recoveries: np.ndarray
    alcohol_operations: np.ndarray
    enrolments: np.ndarray  # (n, K)

    @classmethod
    def none(cls, n: int, programs: int) -> "WeeklyEffort":
        z = np.zeros(n)
        return cls(z, z, z, z, z, z, np.zeros((n, programs)))


@dataclass
class Offences:
    """This week's completed offences (agent units), one entry each.

    Written by the offending process; read by justice, trust and insecurity, community and the
    police's recorded-crime map."""

    offender: np.ndarray  # int64 resident index
    block: np.ndarray     # int64 global block id
    violent: np.ndarray   # bool
    lethal: np.ndarray    # bool
    victim: np.ndarray    # int64 resident index
    reported: np.ndarray  # bool, reported by the victim
    recorded: np.ndarray  # bool, known to the police (reported or witnessed by patrol)
    u_cleared: np.ndarray  # float, the offender's uniform for clearance by arrest
    cleared: np.ndarray | None = None  # bool, cleared by an arrest (set by justice)

    @classmethod
    def empty(cls) -> "Offences":
        e = np.zeros(0, dtype=np.int64)
        b = np.zeros(0, dtype=bool)
        return cls(e, e, b, b, e, b, b, np.zeros(0), b)

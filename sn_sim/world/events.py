"""What the week brought, handed from one process to the next: the Strategy's effort and the
offences committed. Each is written by one process and read by the processes after it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def last_of_each(idx: np.ndarray) -> np.ndarray:
    """Mask of the last occurrence of each index in ``idx``. A person who appears twice in one
    week's array (two contacts, two offences against them) keeps the value of the last fancy
    assignment, so per-person bookkeeping counts that person once, as that assignment."""
    keep = np.zeros(idx.size, dtype=bool)
    if idx.size:
        _, first_in_reversed = np.unique(idx[::-1], return_index=True)
        keep[idx.size - 1 - first_in_reversed] = True
    return keep


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
    _victim_once: np.ndarray | None = field(default=None, repr=False)

    def victim_once(self) -> np.ndarray:
        """``last_of_each(victim)``, computed once a week for the tally and the victims process."""
        if self._victim_once is None:
            self._victim_once = last_of_each(self.victim)
        return self._victim_once

    @classmethod
    def empty(cls) -> "Offences":
        e = np.zeros(0, dtype=np.int64)
        b = np.zeros(0, dtype=bool)
        return cls(e, e, b, b, e, b, b, np.zeros(0), b)

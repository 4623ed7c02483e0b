"""Flows of one week, per neighbourhood, in inhabitant units: what processes did this week.

Processes add to the tally as they act; the recorder copies it into the panel; it is reset at
the start of every week."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np


@dataclass
class WeekTally:
    n: int
    offences: np.ndarray = field(init=False)
    property_offences: np.ndarray = field(init=False)
    violent_offences: np.ndarray = field(init=False)
    homicides: np.ndarray = field(init=False)
    recorded_crimes: np.ndarray = field(init=False)
    victims: np.ndarray = field(init=False)
    arrests: np.ndarray = field(init=False)
    displaced: np.ndarray = field(init=False)
    patrol_hours: np.ndarray = field(init=False)
    hot_zone_hours: np.ndarray = field(init=False)
    contacts: np.ndarray = field(init=False)
    operations: np.ndarray = field(init=False)
    activities_police: np.ndarray = field(init=False)
    activities_social: np.ndarray = field(init=False)
    activities_community: np.ndarray = field(init=False)
    enrolments: np.ndarray = field(init=False)
    alcohol_operations: np.ndarray = field(init=False)
    spaces_recovered: np.ndarray = field(init=False)
    culture_workshops: np.ndarray = field(init=False)
    culture_workshop_participants: np.ndarray = field(init=False)
    culture_activities: np.ndarray = field(init=False)
    culture_activity_participants: np.ndarray = field(init=False)
    cost: np.ndarray = field(init=False)
    cost_in_kind: np.ndarray = field(init=False)

    def __post_init__(self):
        self.reset()

    def reset(self) -> None:
        for f in fields(self):
            if f.name != "n":
                setattr(self, f.name, np.zeros(self.n))

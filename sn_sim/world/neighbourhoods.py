"""Neighbourhood-level state: the Strategy's decisions, climate and stocks, shape (n,) each."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The Strategy's stages of a neighbourhood (DESIGN.md §1), as stored in ``stage``.
STAGES = ("none", "planning", "execution", "consolidation", "evaluation")
NONE, PLANNING, EXECUTION, CONSOLIDATION, EVALUATION = range(5)
NEVER_WEEK = 10**9  # launch week of a neighbourhood never selected


@dataclass
class NeighbourhoodState:
    """Neighbourhood-level state, shape (n,) each."""

    cohort_year: np.ndarray      # int16, 0 = never selected
    launch_week: np.ndarray      # int64, NEVER_WEEK if never selected
    stage: np.ndarray            # int8, index into STAGES
    is_control: np.ndarray       # bool, designated control
    diagnosis_score: np.ndarray  # float, the Ministry's latest diagnosis (NaN before any)
    efficacy: np.ndarray         # collective efficacy score in [0, 1]
    efficacy_base: np.ndarray    # its level without the Strategy
    alcohol: np.ndarray          # consumption relative to baseline (1 = no control)
    offence_rate: np.ndarray     # offences per 100 inhabitants per week, EWMA (8 weeks)
    recorded_rate: np.ndarray    # recorded offences per 1,000 inhabitants per year, EWMA (52 weeks)
    homicide_rate: np.ndarray    # homicides per 100,000 per year, EWMA (52 weeks)
    junta_share: np.ndarray      # adults in juntas
    beneficiaries: np.ndarray    # unique program beneficiaries to date (inhabitants)
    in_programs: np.ndarray      # people in a program this week (inhabitants)
    culture_orgs_trained: np.ndarray
    culture_projects_financed: np.ndarray

    @classmethod
    def empty(cls, n: int) -> "NeighbourhoodState":
        return cls(
            cohort_year=np.zeros(n, dtype=np.int16), launch_week=np.full(n, NEVER_WEEK, dtype=np.int64),
            stage=np.zeros(n, dtype=np.int8), is_control=np.zeros(n, dtype=bool),
            diagnosis_score=np.full(n, np.nan), efficacy=np.zeros(n), efficacy_base=np.zeros(n),
            alcohol=np.ones(n), offence_rate=np.zeros(n), recorded_rate=np.zeros(n), homicide_rate=np.zeros(n),
            junta_share=np.zeros(n), beneficiaries=np.zeros(n), in_programs=np.zeros(n), culture_orgs_trained=np.zeros(n, dtype=np.int64),
            culture_projects_financed=np.zeros(n, dtype=np.int64),
        )


@dataclass
class References:
    """Levels without the Strategy that perceptions and efficacy are measured against.

    ``offence_rate`` tracks the current rate during burn-in and is frozen at its end."""

    junta_share: np.ndarray   # (n,) adults in juntas at the start
    condition: np.ndarray     # (n, B) public-space condition at the start
    disorder: np.ndarray      # (n, B) 1 - condition at the start
    offence_rate: np.ndarray  # (n,) offences per 100 inhabitants per week, end of burn-in

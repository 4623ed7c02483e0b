"""Trust in the police and perceived insecurity.

Trust (Tyler 2006; Skogan 2006) is a personal score in [0, 1]. Contacts (police module),
victimisation without a response, an arrest after one's own offence was reported, and
visible patrol on one's own block move it; it then relaxes slowly towards the person's own
long-run level, so effects last only while the causes last. Perceived insecurity (Hale 1996;
Skogan & Maxfield 1981) relaxes towards a level set by the neighbourhood's offence rate, the
block's disorder and its visible patrol, relative to the pre-period, and jumps for victims.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sn_sim.crime import Offences

if TYPE_CHECKING:
    from sn_sim.model import SafeNeighbourhoodModel


def victims_update(model: "SafeNeighbourhoodModel", offences: Offences, cleared: np.ndarray) -> None:
    s = model.params
    r = model.residents
    v = offences.victim
    r.last_victim_week[v] = model.week
    r.last_reported[v] = offences.reported
    t = r.trust[v]
    r.trust[v] = np.where(cleared, t + s.trust.response_gain * (1 - t), t - s.trust.victim_penalty * t).astype(np.float32)
    r.insecurity[v] = np.minimum(r.insecurity[v] + s.insecurity.victim_jump, 1.0).astype(np.float32)


def relax(model: "SafeNeighbourhoodModel") -> None:
    """Weekly O(N) update of everyone's trust and insecurity (float32 throughout)."""
    s = model.params
    r = model.residents
    blocks = model.blocks
    routine = s.police.routine_hours_per_block
    extra_patrol = np.maximum(blocks.patrol_hours - routine, 0.0).ravel()

    # Trust: visible patrol on the home block, then relaxation to the personal anchor.
    gain = np.float32(s.trust.visibility_gain) * extra_patrol.astype(np.float32)[r.block]
    t = r.trust
    t += gain * (np.float32(1) - t)
    t += np.float32(s.trust.relaxation) * (r.trust_anchor - t)
    np.clip(t, 0, 1, out=t)

    # Insecurity: environment relative to the pre-period reference.
    ins = s.insecurity
    rate = model.state.offence_rate  # offences per 100 inhabitants per week (EWMA)
    env = (
        ins.crime_effect * (rate - model.reference_offence_rate)[:, None]
        + ins.disorder_effect * (blocks.disorder - model.reference_disorder)
        - ins.patrol_effect * (blocks.patrol_hours - routine)
    ).astype(np.float32).ravel()
    x = r.insecurity
    x += np.float32(ins.relaxation) * (r.insecurity_anchor + env[r.block] - x)
    np.clip(x, 0, 1, out=x)

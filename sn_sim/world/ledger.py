"""Where the trust and insecurity scores came from: a ledger of score changes by source.

Every process that moves a resident's trust (or insecurity) score writes the change it actually
made -- after capping at 0 and 1 -- to the row of its source, summed over the residents of each
neighbourhood. The weekly relaxation of the scores towards each person's long-run level takes
back the same share of every row as it takes of every person's distance to that level. So, in a
neighbourhood, at the end of every week,

    sum of scores = anchor part + sum over sources of the ledger's rows + rest

The anchor part is where the scores would be had no source ever acted: it follows the personal
anchors alone, which two runs on common random numbers share. The rest collects what the
ledger does not follow: the deviation a person carried when they died or were replaced by an
in-mover, scores clipped at 0 or 1 by the relaxation itself (insecurity's target can lie
outside [0, 1]), and float32 rounding. Hence the difference between two runs (a scenario and
its base or twin) in a neighbourhood's mean score is the sum of the differences of its rows,
plus the difference in the rest: each source's contribution to an effect on the mean score,
with the rest as its own, reported, term (docs/ODD.md §7.13).

Rows are sums over residents in score units (divide by the neighbourhood's agents for a mean).
"""

from __future__ import annotations

import numpy as np

# The sources of change in a person's trust in the police (processes/trust.py), in display order.
TRUST_SOURCES: tuple[str, ...] = (
    "contacts_just",       # procedurally just community-police contacts (+)
    "contacts_unjust",     # poor contacts (-)
    "raids",               # heavy-handed intelligence operations on one's block (-)
    "victim_response",     # victimised, and the offender arrested (+)
    "victim_no_response",  # victimised, and no arrest (-)
    "patrol",              # visible extra patrol on one's block (+)
)
# ... and in perceived insecurity: the environment the score relaxes towards, and victimisation.
INSECURITY_SOURCES: tuple[str, ...] = (
    "crime",          # the neighbourhood's offence rate against its pre-period level
    "disorder",       # the block's disorder against its pre-period level (recovered spaces lower it)
    "patrol",         # visible patrol beyond routine (-)
    "victimisation",  # the jump of a victim's insecurity (+)
)


class ScoreLedger:
    """Per-neighbourhood ledger of one score's changes by source (module docstring).

    rows : (len(sources), n) float64, the change each source has made and relaxation has not yet
        taken back, summed over the neighbourhood's residents
    score_sum : (n,) float64, the sum of the score over the neighbourhood's residents after the
        week's relaxation (set by the relaxing process)
    """

    def __init__(self, sources: tuple[str, ...], n: int):
        self.sources = sources
        self.index = {s: i for i, s in enumerate(sources)}
        self.rows = np.zeros((len(sources), n))
        self.score_sum = np.zeros(n)

    def add(self, source: str, neighbourhood: np.ndarray | int, change: np.ndarray) -> None:
        """Add per-resident ``change`` (score units) of ``source`` to the residents' neighbourhoods
        (one index, or one per resident)."""
        row = self.rows[self.index[source]]
        if np.ndim(neighbourhood) == 0:
            row[int(neighbourhood)] += float(np.sum(change, dtype=np.float64))
        else:
            np.add.at(row, neighbourhood, np.asarray(change, dtype=np.float64))

    def add_per_neighbourhood(self, source: str, amounts: np.ndarray) -> None:
        """Add ``amounts`` (n,) already summed per neighbourhood."""
        self.rows[self.index[source]] += amounts

    def relax(self, keep: float) -> None:
        """The weekly relaxation keeps ``keep`` = 1 - rate of every source's change."""
        self.rows *= keep

    def row(self, source: str) -> np.ndarray:
        return self.rows[self.index[source]]

"""Compiled kernels (Numba) for the weekly passes that dominate a large world's week.

Each kernel does exactly what the NumPy code it stands in for does, number for number: the same
float32 products, float64 running sums in the same order, the same comparisons (a float64
uniform against a float32 probability is compared in float64, as NumPy promotes it; a float32
score against a threshold in float32, as NumPy compares an array with a Python float). No
transcendental function is computed here: NumPy's and LLVM's ``exp`` may differ in the last
bit. So a run gives identical results whichever path it takes (tests/test_compiled.py checks
each kernel against its NumPy twin, and whole runs on both paths). Which path a world takes:
sn_sim/world/kernels.py. Compiled code is cached on disk (``cache=True``), so only the first
run on a machine pays for compiling.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def target_columns(search_weights, homes, attract, area_of_home, rows, u):  # pragma: no cover - compiled
    """Target choice's inverse-transform search (processes/crime.py: choose_targets with
    _row_search), without building the (homes x 3B) weight matrix.

    Row i's weights are ``search_weights[homes[i]] * attract[area_of_home[i]]`` (float32); their
    running sum over all rows is taken in float64 in row order, as ``np.cumsum`` does; draw j
    (row ``rows[j]``, nondecreasing) picks the first column whose running sum exceeds
    ``start + u[j] x (end - start)``, held strictly below the row's end."""
    k = homes.size
    C = search_weights.shape[1]
    out = np.empty(rows.size, np.int64)
    running = np.empty(C, np.float64)
    total = 0.0
    j = 0
    for i in range(k):
        start = total
        w_row = search_weights[homes[i]]
        a_row = attract[area_of_home[i]]
        for c in range(C):
            total += np.float64(w_row[c] * a_row[c])
            running[c] = total
        end = total
        below_end = np.nextafter(end, -np.inf)
        while j < rows.size and rows[j] == i:
            value = start + u[j] * (end - start)
            if value > below_end:
                value = below_end
            lo, hi = 0, C
            while lo < hi:  # first column with running sum > value (searchsorted side="right")
                mid = (lo + hi) >> 1
                if running[mid] > value:
                    hi = mid
                else:
                    lo = mid + 1
            out[j] = lo
            j += 1
    return out


@njit(cache=True, nogil=True)
def survey_counts(nb_start, released_week, age15, adult, last_victim_week, last_reported, insecurity, trust,
                  junta, week, weeks_per_year, insecurity_threshold, trust_threshold):  # pragma: no cover - compiled
    """Per neighbourhood (rows of ``nb_start``), the recorder's survey counts
    (observe/recorder.py: PanelRecorder._survey_counts), columns in ``SURVEY_COUNTS`` order.
    Branch-free sums of 0/1 terms: the conditions are close to coin flips, which a branch
    would mispredict."""
    n = nb_start.size - 1
    out = np.zeros((n, 8), np.int64)
    for h in range(n):
        home15 = victims15 = reported15 = insecure15 = adults = trusting = in_prison = members = 0
        for i in range(nb_start[h], nb_start[h + 1]):
            free = released_week[i] <= week
            a15 = age15[i] & free
            victim = a15 & (week - np.int64(last_victim_week[i]) < weeks_per_year)
            adult_home = adult[i] & free
            home15 += a15
            victims15 += victim
            reported15 += victim & last_reported[i]
            insecure15 += a15 & (insecurity[i] >= insecurity_threshold)
            adults += adult_home
            trusting += adult_home & (trust[i] >= trust_threshold)
            in_prison += not free
            members += junta[i]
        out[h, 0], out[h, 1], out[h, 2], out[h, 3] = home15, victims15, reported15, insecure15
        out[h, 4], out[h, 5], out[h, 6], out[h, 7] = adults, trusting, in_prison, members
    return out


SURVEY_COUNTS = ("home15", "victims15", "reported15", "insecure15", "adults", "trusting_adults", "in_prison", "junta")


@njit(cache=True, nogil=True)
def youth_counts(youth_idx, released_week, gang, neighbourhood, week, n, in_prison):  # pragma: no cover - compiled
    """(n, 4) youth per neighbourhood by gang state, prisoners in column ``in_prison``
    (world/world.py: World.youth_at_home)."""
    out = np.zeros((n, 4), np.int64)
    for i in youth_idx:
        state = gang[i] if released_week[i] <= week else in_prison
        out[neighbourhood[i], state] += 1
    return out


@njit(cache=True, nogil=True)
def gang_moves(idx, u_move, u_recover, released_week, week, gang, age, max_age, base_rate, neighbourhood,
               peer_share, peer_effect, program, no_program, enrolled_protection, risk,
               adult_desistance_factor, recovery_rate, at_risk, involved, none, next_state):  # pragma: no cover - compiled
    """Weekly gang transitions of youth ``idx`` (processes/youth.py: _transitions): who moves and to
    which state, in the order of ``idx``. Float32 hazards, compared in float64 with the uniforms."""
    moved = np.empty(idx.size, np.int64)
    new = np.empty(idx.size, np.uint8)
    m = 0
    one, zero = np.float32(1.0), np.float32(0.0)
    for j in range(idx.size):
        i = idx[j]
        if released_week[i] > week:
            continue
        state = gang[i]
        youth = age[i] <= max_age
        if state == involved:
            scale = one if youth else adult_desistance_factor
        elif youth:
            peer = one + peer_effect * np.float32(peer_share[neighbourhood[i]])
            protect = enrolled_protection if program[i] != no_program else one
            scale = risk[i] * peer * protect
        else:
            scale = zero
        hazard = base_rate[state] * scale
        if u_move[j] < np.float64(hazard):
            moved[m] = i
            new[m] = next_state[state]
            m += 1
        elif state == at_risk and u_recover[j] < np.float64(recovery_rate * (one - risk[i])):
            moved[m] = i
            new[m] = none
            m += 1
    return moved[:m], new[:m]


@njit(cache=True, nogil=True)
def below(u, probability, factor, offset):  # pragma: no cover - compiled
    """Indices ``offset + i`` where ``u[i] < probability[i] x factor`` (all float32): who of a
    chunk of residents attempts an offence this week (processes/crime.py: draw_offences)."""
    out = np.empty(u.size, np.int64)
    m = 0
    for i in range(u.size):
        if u[i] < probability[i] * factor:
            out[m] = offset + i
            m += 1
    return out[:m]


@njit(cache=True, nogil=True)
def relax_scores(score, anchor, shift, block, rate):  # pragma: no cover - compiled
    """In place, ``score += rate x (anchor + shift[block] - score)``, then clipped to [0, 1]
    (float32, as processes/trust.py: Insecurity.step computes it)."""
    for i in range(score.size):
        x = score[i]
        x += rate * (anchor[i] + shift[block[i]] - x)
        score[i] = min(max(x, np.float32(0.0)), np.float32(1.0))


@njit(cache=True, nogil=True)
def patrol_gain_and_relax(trust, anchor, extra_patrol, block, visibility, rate, gain):  # pragma: no cover - compiled
    """In place, trust's weekly update with visible patrol (processes/trust.py: Trust.step):
    ``gain = visibility x extra_patrol[block] x (1 - trust)``, ``trust += gain``, then
    ``trust += rate x (anchor - trust)``, clipped to [0, 1]; ``gain`` receives each gain."""
    one, zero = np.float32(1.0), np.float32(0.0)
    for i in range(trust.size):
        x = trust[i]
        g = visibility * extra_patrol[block[i]]
        g *= one - x
        gain[i] = g
        x += g
        x += rate * (anchor[i] - x)
        trust[i] = min(max(x, zero), one)


@njit(cache=True, nogil=True)
def relax_to_anchor(score, anchor, rate):  # pragma: no cover - compiled
    """In place, ``score += rate x (anchor - score)``, clipped to [0, 1] (float32)."""
    one, zero = np.float32(1.0), np.float32(0.0)
    for i in range(score.size):
        x = score[i]
        x += rate * (anchor[i] - x)
        score[i] = min(max(x, zero), one)


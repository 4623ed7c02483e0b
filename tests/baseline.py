"""Stored baseline of the shipped scenarios: any unintended change in results fails CI.

Each shipped scenario is run at a small scale for a few replicates and reduced to summary
statistics computed from raw panel columns only (totals of flows, end-of-run survey rates),
so the baseline does not depend on the analysis code it guards. ``tests/test_baseline.py``
reruns the first replicates and demands the stored values to 1e-9 (relative).

When a change to results is *intended*, refresh the file and say why in the commit:

    python tests/baseline.py --refresh          # rewrite tests/data/baseline.json
    python tests/baseline.py --noise            # before refreshing: are the changes within
                                                # replicate noise? (|z| of each mean)

(The idea is Covasim's ``tests/test_baselines.py``.)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BASELINE = HERE / "data" / "baseline.json"
SCALE = 0.02
SEED = 20261129
REPLICATES = 6          # stored per scenario (the noise check uses all of them)
CHECKED_REPLICATES = 1  # rerun by the test (exact check; replicate streams are checked in test_determinism.py)

FLOWS = ["offences", "violent_offences", "homicides", "recorded_crimes", "victims", "arrests",
         "displaced_offences", "patrol_hours", "community_contacts", "intelligence_operations",
         "program_enrolments", "activities_police", "activities_social", "activities_community",
         "culture_workshops", "cost_usd", "cost_in_kind_usd"]
RATES = ["victimisation_12m", "trust_police", "insecurity", "collective_efficacy"]
COUNTS_END = ["youth", "youth_at_risk", "youth_in_gangs", "incarcerated", "junta_members"]


def shipped_scenarios() -> list[str]:
    """Names of the scenarios shipped with the package."""
    try:
        from sn_sim.scenario import shipped_scenario_names  # packaged scenarios (once they exist)
        return shipped_scenario_names()
    except ImportError:
        return sorted(p.stem for p in (HERE.parent / "scenarios").glob("*.toml"))


def load(name: str):
    try:
        from sn_sim.scenario import load_scenario
        return load_scenario(name, [f"population.scale={SCALE}"])
    except Exception:
        from sn_sim.scenario import load_scenario
        return load_scenario(HERE.parent / "scenarios" / f"{name}.toml", [f"population.scale={SCALE}"])


def summary(panel) -> dict[str, float]:
    """Statistics of one replicate's panel, from raw columns only."""
    out: dict[str, float] = {}
    for c in FLOWS:
        out[f"total_{c}"] = float(panel[c].sum())
    last = panel[panel["week"] == panel["week"].max()]
    pop = last["population"].to_numpy()
    for c in RATES:
        out[f"end_{c}"] = float((last[c].to_numpy() * pop).sum() / pop.sum())
    for c in COUNTS_END:
        out[f"end_{c}"] = float(last[c].sum())
    treated = panel.drop_duplicates("neighbourhood")["treated"]
    out["treated_neighbourhoods"] = float(treated.sum())
    # Year-by-year offences, pool-wide: catches changes in the dynamics, not only in the totals.
    years = panel["date"].dt.year.to_numpy()
    for y in np.unique(years):
        out[f"offences_{y}"] = float(panel["offences"].to_numpy()[years == y].sum())
    return out


def run_summaries(name: str, replicates: int) -> list[dict[str, float]]:
    from sn_sim.api import run

    scenario = load(name)
    res = run(scenario, seed=SEED, replicates=replicates)
    return [summary(res.panel[res.panel["replicate"] == i]) for i in range(replicates)]


def refresh() -> None:
    data = {"scale": SCALE, "seed": SEED, "replicates": REPLICATES, "scenarios": {}}
    for name in shipped_scenarios():
        print(f"  {name}", file=sys.stderr)
        data["scenarios"][name] = run_summaries(name, REPLICATES)
    BASELINE.parent.mkdir(parents=True, exist_ok=True)
    BASELINE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {BASELINE}")


def noise() -> int:
    """Compare the current code's means with the stored ones, in standard errors."""
    stored = json.loads(BASELINE.read_text())
    worst = 0.0
    for name, reps in stored["scenarios"].items():
        new = run_summaries(name, len(reps))
        for key in reps[0]:
            a = np.array([r[key] for r in reps])
            b = np.array([r.get(key, math.nan) for r in new])
            se = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / len(a))
            diff = b.mean() - a.mean()
            z = diff / se if se > 0 else (0.0 if diff == 0 else math.inf)
            worst = max(worst, abs(z))
            flag = "  <-- outside 3 SE" if abs(z) > 3 else ""
            if abs(z) > 2 or not np.isfinite(z):
                print(f"{name:22s} {key:32s} stored {a.mean():14.4f} now {b.mean():14.4f}  z={z:+.2f}{flag}")
    print(f"largest |z| = {worst:.2f} over {len(stored['scenarios'])} scenarios")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--refresh", action="store_true", help="rerun and rewrite the stored baseline")
    g.add_argument("--noise", action="store_true", help="compare current means with the stored ones")
    args = ap.parse_args()
    sys.exit(refresh() if args.refresh else noise())

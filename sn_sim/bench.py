"""Benchmark: resident-steps per second and peak memory per resident (no timed tests)."""

from __future__ import annotations

import gc
import resource
import time
from pathlib import Path

from sn_sim.model import SafeNeighbourhoodModel
from sn_sim.scenario import load_scenario, validate

DEFAULT_SCENARIO = "national_rollout"  # shipped with the package


def _rss_bytes() -> int:
    """Current resident set size (Linux /proc), in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def larger_pool(scenario, factor: int):
    """The scenario with ``factor`` times as many candidate neighbourhoods in every district
    (same rollout): how cost grows with the size of the world."""
    if factor == 1:
        return scenario
    data = scenario.to_dict()
    for district in data["districts"]:
        district["neighbourhoods"] *= factor
    return validate(data, source=f"--pool-factor {factor}")


def benchmark(scenario_path: str | Path | None = None, scale: float = 1.0, weeks: int | None = None,
              seed: int = 0, pool_factor: int = 1, echo=print) -> dict:
    path = scenario_path or DEFAULT_SCENARIO
    scenario = larger_pool(load_scenario(path, [f"population.scale={scale}"]), pool_factor)
    gc.collect()
    rss0 = _rss_bytes()
    t0 = time.perf_counter()
    model = SafeNeighbourhoodModel(scenario, rng=seed)  # includes the initial draws and burn-in weeks
    t_init = time.perf_counter() - t0
    n_weeks = model.n_weeks if weeks is None else min(weeks, model.n_weeks)
    t1 = time.perf_counter()
    for _ in range(n_weeks):
        model.step()
    t_steps = time.perf_counter() - t1
    t2 = time.perf_counter()
    panel = model.recorder.panel(scenario.name, 0, seed)
    t_panel = time.perf_counter() - t2
    N = model.residents.n
    burn = scenario.calendar.burn_in_weeks
    figures = {
        "scenario": scenario.name,
        "scale": scale,
        "residents": N,
        "neighbourhoods": model.geo.n,
        "weeks": n_weeks,
        "burn_in_weeks": burn,
        "pool_factor": pool_factor,
        "init_s": round(t_init, 2),
        "init_us_per_resident": 1e6 * t_init / N,
        "steps_s": round(t_steps, 2),
        "panel_s": round(t_panel, 2),
        "total_s": round(t_init + t_steps + t_panel, 2),
        "resident_steps_per_s": N * n_weeks / t_steps,
        "resident_array_bytes_per_resident": model.residents.nbytes() / N,
        "peak_rss_bytes_per_resident": (_peak_rss_bytes() - rss0) / N,
        "panel_rows": len(panel),
    }
    pool = f", candidate pool x{pool_factor}" if pool_factor != 1 else ""
    echo(f"scenario            {figures['scenario']} at scale {scale}{pool} ({N:,} residents, {model.geo.n} neighbourhoods)")
    echo(f"weeks               {n_weeks} (+{burn} burn-in weeks during setup)")
    echo(f"setup incl. burn-in {t_init:.2f} s ({figures['init_us_per_resident']:.2f} µs per resident)")
    echo(f"weekly steps        {t_steps:.2f} s -> {figures['resident_steps_per_s'] / 1e6:.1f} million resident-steps/s")
    echo(f"panel assembly      {t_panel:.2f} s ({len(panel):,} rows)")
    echo(f"total               {figures['total_s']:.2f} s")
    echo(f"memory per resident {figures['resident_array_bytes_per_resident']:.0f} B in resident arrays, "
         f"{figures['peak_rss_bytes_per_resident']:.0f} B peak RSS growth (everything, incl. blocks and panel)")
    return figures

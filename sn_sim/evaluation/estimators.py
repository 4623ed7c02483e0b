"""Difference-in-differences estimators, run on a tidy panel exactly as on real data.

Every function takes a long DataFrame with one row per unit x period and the names of its
``unit``, ``time``, ``cohort`` and outcome columns:

- ``time`` is an ordered period label (int: year, quarter index, week ...). Periods are used by
  their order only, so gaps do not matter.
- ``cohort`` is the first treated period of the unit, in the same units as ``time``; missing
  (NaN / NA) for never-treated units. A cohort after the last observed period counts as
  never treated within the window; a unit treated in the first observed period has no
  pre-period and is dropped.

Each returns a tidy DataFrame with one row per estimated term::

    estimator, outcome, term, event_time, estimate, se, ci_low, ci_high, p_value,
    n_obs, n_units, n_clusters, true_effect

Standard errors are clustered by ``cluster`` (default: the unit, i.e. the neighbourhood) and
intervals use Student-t critical values with (clusters - 1) degrees of freedom, for every
estimator alike. ``true_effect`` is filled when ``truth`` names a column holding each cell's
true effect (known in a simulation, never in real data): it is the average true effect over
exactly the treated unit-periods the estimator targets, weighted as the estimator weights them,
so ``estimate - true_effect`` is the estimator's error.

Which library does what (see docs/evaluation.md):

- ``twfe_did``, ``event_study(method="twfe")``, ``matched_did``: pyfixest ``feols`` (OLS with
  absorbed fixed effects, CRV1 cluster-robust covariance).
- ``did2s``, ``event_study(method="did2s")``: pyfixest ``did2s`` (Gardner 2022 two-stage DiD,
  robust to effects that vary by cohort and time; GMM-corrected clustered covariance).
- ``callaway_santanna``: group-time ATT(g, t) of Callaway & Sant'Anna (2021) without covariates
  (no installed Python package implements it), as differences of means with influence-function
  standard errors, in numpy/pandas.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from sn_sim.errors import require_extra

RESULT_COLUMNS = [
    "estimator", "outcome", "term", "event_time", "estimate", "se", "ci_low", "ci_high", "p_value",
    "n_obs", "n_units", "n_clusters", "true_effect",
]


# --- shared preparation ------------------------------------------------------------------------


@dataclass
class Prepared:
    """A panel recoded for estimation: ``u`` unit code, ``t`` period position, ``g`` cohort
    position (-1 never treated), ``e`` event time (NaN never treated), ``d`` treated now,
    ``y`` outcome, ``cl`` cluster code, ``tau`` true effect (NaN when unknown)."""

    df: pd.DataFrame
    times: np.ndarray
    units: np.ndarray
    outcome: str
    dropped_always_treated: int


def _prepare(data: pd.DataFrame, outcome: str, unit: str, time: str, cohort: str,
             cluster: str | None = None, truth: str | None = None) -> Prepared:
    for col in (unit, time, cohort, outcome) + ((cluster,) if cluster else ()) + ((truth,) if truth else ()):
        if col not in data.columns:
            raise KeyError(f"column {col!r} not in the data")
    cols = list(dict.fromkeys([unit, time, cohort, outcome] + ([cluster] if cluster else []) + ([truth] if truth else [])))
    raw = data[cols]
    y = pd.to_numeric(raw[outcome], errors="coerce").astype(float)
    raw = raw[y.notna().to_numpy()]
    times = np.sort(pd.unique(raw[time].to_numpy()))
    t = np.searchsorted(times, raw[time].to_numpy())
    g_raw = pd.to_numeric(raw[cohort], errors="coerce").astype(float).to_numpy()
    g = np.full(len(raw), -1, dtype=np.int64)
    has = ~np.isnan(g_raw)
    g[has] = np.searchsorted(times.astype(float), g_raw[has], side="left")
    g[g >= len(times)] = -1  # treated after the window: never treated within it
    u_codes, u_index = np.unique(raw[unit].to_numpy(), return_inverse=True)
    df = pd.DataFrame({
        "u": u_index.astype(np.int64),
        "t": t.astype(np.int64),
        "g": g,
        "y": raw[outcome].astype(float).to_numpy(),
    })
    df["cl"] = pd.factorize(raw[cluster].to_numpy())[0] if cluster else df["u"]
    df["tau"] = pd.to_numeric(raw[truth], errors="coerce").astype(float).to_numpy() if truth else np.nan
    always = df["g"] == 0
    dropped = int(df.loc[always, "u"].nunique())
    df = df[~always].reset_index(drop=True)
    df["d"] = ((df["g"] >= 0) & (df["t"] >= df["g"])).astype(float)
    df["e"] = np.where(df["g"] >= 0, df["t"] - df["g"], np.nan)
    return Prepared(df=df, times=times, units=u_codes, outcome=outcome, dropped_always_treated=dropped)


def _critical(alpha: float, n_clusters: int) -> float:
    return float(stats.t.ppf(1 - alpha / 2, max(n_clusters - 1, 1)))


def _row(estimator: str, outcome: str, term: str, estimate: float, se: float, *, n_obs: int, n_units: int,
         n_clusters: int, alpha: float, event_time: float = np.nan, true_effect: float = np.nan) -> dict:
    crit = _critical(alpha, n_clusters)
    ok = np.isfinite(se) and se > 0
    tstat = estimate / se if ok else np.nan
    return {
        "estimator": estimator, "outcome": outcome, "term": term, "event_time": float(event_time),
        "estimate": float(estimate), "se": float(se),
        "ci_low": float(estimate - crit * se) if np.isfinite(se) else np.nan,
        "ci_high": float(estimate + crit * se) if np.isfinite(se) else np.nan,
        "p_value": float(2 * stats.t.sf(abs(tstat), max(n_clusters - 1, 1))) if ok else np.nan,
        "n_obs": int(n_obs), "n_units": int(n_units), "n_clusters": int(n_clusters),
        "true_effect": float(true_effect),
    }


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _mean_or_nan(x: pd.Series | np.ndarray) -> float:
    x = np.asarray(x, dtype=float)
    return float(np.nanmean(x)) if x.size and np.isfinite(x).any() else np.nan


def _pyfixest():
    """pyfixest, imported without its side effect on logging: one of its modules calls
    ``logging.basicConfig(level=INFO)`` at import, which would make every later Mesa run in the
    process print a line per step. The root logger is restored as it was."""
    import logging

    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    require_extra("evaluation", "pyfixest", what="TWFE and two-stage estimators")
    import pyfixest as pf

    _ = pf.feols, pf.did2s  # trigger the lazy imports now, while we can undo them
    root.setLevel(level)
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    return pf


def _feols(fml: str, df: pd.DataFrame, weights: str | None = None):
    pf = _pyfixest()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pf.feols(fml, data=df, vcov={"CRV1": "cl"}, weights=weights)


def _coef(fit, name: str) -> tuple[float, float]:
    coef, se = fit.coef(), fit.se()
    if name not in coef.index:
        return np.nan, np.nan
    return float(coef[name]), float(se[name])


def _n_clusters(fit, df: pd.DataFrame) -> int:
    G = getattr(fit, "_G", None)
    if isinstance(G, (list, tuple)) and G:
        return int(min(G))
    if isinstance(G, (int, np.integer)):
        return int(G)
    return int(df["cl"].nunique())


def _check_design(p: Prepared, name: str) -> None:
    df = p.df
    if not (df["d"] > 0).any():
        raise ValueError(f"{name}: no treated unit-period in the data (outcome {p.outcome!r})")
    if not (df["d"] == 0).any():
        raise ValueError(f"{name}: no untreated unit-period in the data (outcome {p.outcome!r})")


# --- two-way fixed effects ---------------------------------------------------------------------


def twfe_did(data: pd.DataFrame, outcome: str, *, unit: str = "unit", time: str = "time",
             cohort: str = "cohort", cluster: str | None = None, truth: str | None = None,
             alpha: float = 0.05) -> pd.DataFrame:
    """Static two-way fixed-effects DiD: ``y_it = a_i + l_t + b D_it + e_it`` (pyfixest feols).

    Assumes parallel trends, no anticipation and a constant effect: with staggered adoption
    and effects that vary by cohort or grow with time since treatment, ``b`` is a weighted
    average of cell effects with possibly negative weights, because already-treated units
    serve as controls (Goodman-Bacon 2021; de Chaisemartin & D'Haultfoeuille 2020).
    """
    p = _prepare(data, outcome, unit, time, cohort, cluster, truth)
    _check_design(p, "twfe")
    df = p.df
    fit = _feols("y ~ d | u + t", df)
    b, se = _coef(fit, "d")
    true = _mean_or_nan(df.loc[df["d"] > 0, "tau"])
    return _frame([_row("twfe", outcome, "ATT", b, se, n_obs=len(df), n_units=df["u"].nunique(),
                        n_clusters=_n_clusters(fit, df), alpha=alpha, true_effect=true)])


def did2s(data: pd.DataFrame, outcome: str, *, unit: str = "unit", time: str = "time",
          cohort: str = "cohort", cluster: str | None = None, truth: str | None = None,
          alpha: float = 0.05) -> pd.DataFrame:
    """Gardner (2022) two-stage DiD (pyfixest ``did2s``): unit and period effects are fitted
    on untreated unit-periods only, then the residualised outcome is regressed on treatment.

    Equivalent to the imputation estimator of Borusyak, Jaravel & Spiess (2024): robust to
    effects that vary by cohort and over time; assumes parallel trends and no anticipation.
    Its ATT weighs every treated unit-period equally. Periods with no untreated unit cannot be
    imputed and are dropped.
    """
    p = _prepare(data, outcome, unit, time, cohort, cluster, truth)
    _check_design(p, "did2s")
    df = _imputable(p.df)
    fit = _did2s_fit(df, "~ d")
    b, se = _coef(fit, "d")
    true = _mean_or_nan(df.loc[df["d"] > 0, "tau"])
    return _frame([_row("did2s", outcome, "ATT", b, se, n_obs=len(df), n_units=df["u"].nunique(),
                        n_clusters=df["cl"].nunique(), alpha=alpha, true_effect=true)])


def _imputable(df: pd.DataFrame) -> pd.DataFrame:
    """Keep the units and periods whose fixed effects the first stage can estimate: at least two
    untreated unit-periods each (pyfixest drops singleton fixed effects, and a dropped unit or
    period could not be imputed)."""
    while True:
        untreated = df[df["d"] == 0]
        u_ok = untreated["u"].value_counts()
        t_ok = untreated["t"].value_counts()
        keep = df["u"].isin(u_ok.index[u_ok >= 2]) & df["t"].isin(t_ok.index[t_ok >= 2])
        if keep.all():
            return df.reset_index(drop=True)
        df = df[keep]
        if df.empty or not (df["d"] == 0).any() or not (df["d"] > 0).any():
            raise ValueError("did2s: no unit-period left whose counterfactual can be imputed")


def _did2s_fit(df: pd.DataFrame, second_stage: str):
    pf = _pyfixest()

    work = df.copy()
    work["treat"] = work["d"].astype(bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pf.did2s(work, yname="y", first_stage="~ 0 | u + t", second_stage=second_stage,
                        treatment="treat", cluster="cl")


# --- event study -------------------------------------------------------------------------------


def _event_name(k: int) -> str:
    return f"ev_m{-k}" if k < 0 else f"ev_p{k}"


def event_study(data: pd.DataFrame, outcome: str, *, unit: str = "unit", time: str = "time",
                cohort: str = "cohort", leads: int = 4, lags: int = 8, method: str = "twfe",
                cluster: str | None = None, truth: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Event study with ``leads`` pre-periods and ``lags`` post-periods (in periods of ``time``).

    method="twfe": dynamic two-way fixed effects (pyfixest feols) with relative-period dummies
    -leads..lags, endpoints binned (every earlier period counts as -leads, every later as
    lags), reference period -1 omitted. Leads test pre-trends; with heterogeneous effects the
    lags are contaminated by other periods' effects (Sun & Abraham 2021).

    method="did2s": the same dummies in the second stage of Gardner's two-stage estimator
    (pyfixest did2s); robust to heterogeneity. Leads are relative to the imputed
    counterfactual, so all of -leads..-1 are estimated (no omitted period).

    Rows have ``term`` "e=k" and ``event_time`` k; the truth of row k is the mean true effect
    over treated units k periods after their cohort (binned like the dummies).
    """
    if method not in ("twfe", "did2s"):
        raise ValueError(f"event_study: unknown method {method!r} (twfe or did2s)")
    if leads < 1 or lags < 0:
        raise ValueError("event_study: leads must be >= 1 and lags >= 0")
    p = _prepare(data, outcome, unit, time, cohort, cluster, truth)
    _check_design(p, f"event_study[{method}]")
    df = p.df if method == "twfe" else _imputable(p.df)
    df = df.copy()
    binned = df["e"].clip(-leads, lags)
    ks = [k for k in range(-leads, lags + 1) if not (method == "twfe" and k == -1)]
    present = set(binned.dropna().astype(int))
    ks = [k for k in ks if k in present]
    for k in ks:
        df[_event_name(k)] = (binned == k).astype(float)
    rhs = " + ".join(_event_name(k) for k in ks)
    if method == "twfe":
        fit = _feols(f"y ~ {rhs} | u + t", df)
        n_cl = _n_clusters(fit, df)
    else:
        fit = _did2s_fit(df, f"~ {rhs}")
        n_cl = int(df["cl"].nunique())
    name = f"event_study_{method}"
    rows = []
    for k in ks:
        b, se = _coef(fit, _event_name(k))
        if not np.isfinite(b):
            continue
        true = _mean_or_nan(df.loc[binned == k, "tau"])
        rows.append(_row(name, outcome, f"e={k}", b, se, n_obs=len(df), n_units=df["u"].nunique(),
                         n_clusters=n_cl, alpha=alpha, event_time=k, true_effect=true))
    if method == "twfe" and -1 in present:
        rows.append(_row(name, outcome, "e=-1", 0.0, np.nan, n_obs=len(df), n_units=df["u"].nunique(),
                         n_clusters=n_cl, alpha=alpha, event_time=-1,
                         true_effect=_mean_or_nan(df.loc[binned == -1, "tau"])))
    out = _frame(rows)
    return out.sort_values("event_time", kind="stable").reset_index(drop=True)


# --- Callaway & Sant'Anna (2021) ----------------------------------------------------------------


def group_time_att(data: pd.DataFrame, outcome: str, *, unit: str = "unit", time: str = "time",
                   cohort: str = "cohort", control: str = "notyet", cluster: str | None = None,
                   truth: str | None = None) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Callaway & Sant'Anna (2021) group-time average treatment effects ATT(g, t).

    For cohort g and period t, with the universal base period b = g - 1::

        ATT(g, t) = mean_{G=g}(Y_t - Y_b) - mean_{C}(Y_t - Y_b)

    where the comparison group C is the never-treated (``control="never"``) or the never- and
    not-yet-treated units, G > max(t, b) (``control="notyet"``). Unconditional parallel trends
    (no covariates), no anticipation. Units must be observed in both t and b to enter a cell
    (an unbalanced panel uses the units it has).

    Returns ``(cells, psi, clusters)``: one row per cell (g, t, event_time, att, n_treated,
    n_control, true_effect), the per-unit influence contributions ``psi`` (cells x units, such
    that ``att - ATT = sum_i psi[:, i]`` to first order) and the cluster code of every unit.
    """
    if control not in ("notyet", "never"):
        raise ValueError(f"callaway_santanna: control must be 'notyet' or 'never' (got {control!r})")
    p = _prepare(data, outcome, unit, time, cohort, cluster, truth)
    df = p.df
    n_u, T = int(df["u"].max()) + 1 if len(df) else 0, len(p.times)
    Y = np.full((n_u, T), np.nan)
    Y[df["u"], df["t"]] = df["y"]
    TAU = np.full((n_u, T), np.nan)
    TAU[df["u"], df["t"]] = df["tau"]
    G = np.full(n_u, -2, dtype=np.int64)  # -2: unit dropped (always treated)
    G[df["u"]] = df["g"]
    clusters = np.zeros(n_u, dtype=np.int64)
    clusters[df["u"]] = df["cl"]
    never = G == -1
    rows, psis = [], []
    for g in sorted(set(G[G > 0].tolist())):
        b = g - 1
        treated_g = G == g
        for t in range(T):
            if t == b:
                continue
            if control == "never":
                ctrl = never.copy()
            else:
                ctrl = never | ((G > max(t, b)) & (G != g))
            obs = ~np.isnan(Y[:, t]) & ~np.isnan(Y[:, b])
            tr, co = treated_g & obs, ctrl & obs
            nt, nc = int(tr.sum()), int(co.sum())
            if nt == 0 or nc == 0:
                continue
            dy = Y[:, t] - Y[:, b]
            mt, mc = dy[tr].mean(), dy[co].mean()
            # Per-group small-sample factor sqrt(n / (n - 1)): the squared contributions then sum
            # to the unbiased two-sample variance s_T^2 / n_T + s_C^2 / n_C.
            psi = np.zeros(n_u)
            psi[tr] = (dy[tr] - mt) / nt * np.sqrt(nt / max(nt - 1, 1))
            psi[co] = -(dy[co] - mc) / nc * np.sqrt(nc / max(nc - 1, 1))
            tau_t = TAU[tr, t]
            rows.append({"g": g, "t": t, "event_time": t - g, "att": mt - mc, "n_treated": nt, "n_control": nc,
                         "true_effect": _mean_or_nan(tau_t),
                         "cohort": p.times[g], "time": p.times[t]})
            psis.append(psi)
    cells = pd.DataFrame(rows, columns=["g", "t", "event_time", "att", "n_treated", "n_control", "true_effect",
                                        "cohort", "time"])
    psi = np.array(psis) if psis else np.zeros((0, n_u))
    return cells, psi, clusters


def _aggregate(weights: np.ndarray, cells: pd.DataFrame, psi: np.ndarray, clusters: np.ndarray) -> tuple[float, float, float]:
    """Fixed-weight average of cells; clustered influence-function SE (CRV1-like G/(G-1))."""
    w = weights / weights.sum()
    est = float(w @ cells["att"].to_numpy())
    inf = w @ psi  # per unit
    used = np.abs(inf) > 0
    by_cluster = np.bincount(clusters[used], weights=inf[used])
    n_cl = np.unique(clusters[used]).size
    # The cells already carry the per-unit small-sample factor; clusters coarser than units
    # get the CRV1 factor G / (G - 1) on top.
    factor = n_cl / max(n_cl - 1, 1) if n_cl < used.sum() else 1.0
    var = factor * float(np.sum(by_cluster ** 2))
    true = cells["true_effect"].to_numpy()
    true_est = float(w @ true) if np.isfinite(true).all() else np.nan
    return est, float(np.sqrt(var)), true_est


def callaway_santanna(data: pd.DataFrame, outcome: str, *, unit: str = "unit", time: str = "time",
                      cohort: str = "cohort", control: str = "notyet", aggregation: str = "simple",
                      leads: int | None = None, lags: int | None = None, cluster: str | None = None,
                      truth: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Callaway & Sant'Anna (2021) ATT(g, t), aggregated.

    aggregation="simple": the average of post-treatment cells (t >= g) weighted by cohort size,
    i.e. every treated unit-period counts once (the overall ATT). "dynamic": one row per event
    time e (cells with t - g = e, weighted by cohort size), leads included. "group": one row
    per cohort (its post-treatment cells averaged) plus the size-weighted overall average.
    "none": every ATT(g, t) cell.

    Standard errors: the cells' influence functions are combined with the aggregation weights
    and summed within clusters (neighbourhoods), so the dependence between cells that share
    units is accounted for; weights are treated as fixed (inference conditional on the cohort
    sizes). Intervals are pointwise. See :func:`group_time_att` for the assumptions.
    """
    if aggregation not in ("simple", "dynamic", "group", "none"):
        raise ValueError(f"callaway_santanna: unknown aggregation {aggregation!r}")
    cells, psi, clusters = group_time_att(data, outcome, unit=unit, time=time, cohort=cohort, control=control,
                                          cluster=cluster, truth=truth)
    name = f"cs_{control}"
    used_units = np.flatnonzero(np.abs(psi).sum(axis=0) > 0) if len(cells) else np.array([], dtype=int)
    n_units = int(used_units.size)
    n_cl = int(np.unique(clusters[used_units]).size) if n_units else 0
    n_obs = int((cells["n_treated"] + cells["n_control"]).sum()) if len(cells) else 0
    if cells.empty or not (cells["event_time"] >= 0).any():
        raise ValueError(f"{name}: no estimable post-treatment ATT(g, t) cell (outcome {outcome!r})")

    def row(term, weights, mask, event_time=np.nan):
        est, se, true = _aggregate(weights[mask], cells[mask], psi[mask], clusters)
        return _row(name, outcome, term, est, se, n_obs=n_obs, n_units=n_units, n_clusters=n_cl, alpha=alpha,
                    event_time=event_time, true_effect=true)

    size = cells["n_treated"].to_numpy().astype(float)
    post = (cells["event_time"] >= 0).to_numpy()
    rows = []
    if aggregation == "simple":
        rows.append(row("ATT", size, post))
    elif aggregation == "dynamic":
        e = cells["event_time"].to_numpy()
        lo = -np.inf if leads is None else -leads
        hi = np.inf if lags is None else lags
        for k in sorted(set(e.tolist())):
            if lo <= k <= hi:
                rows.append(row(f"e={k}", size, e == k, event_time=k))
    elif aggregation == "group":
        for g in sorted(cells["g"].unique()):
            mask = post & (cells["g"] == g).to_numpy()
            if mask.any():
                rows.append(row(f"cohort={cells.loc[mask, 'cohort'].iloc[0]}", size, mask))
        rows.append(row("ATT", size, post))
    else:
        for i, c in cells.iterrows():
            mask = np.zeros(len(cells), dtype=bool)
            mask[i] = True
            rows.append(row(f"g={c['cohort']},t={c['time']}", size, mask, event_time=c["event_time"]))
    return _frame(rows)


# --- matched control neighbourhoods -------------------------------------------------------------


def match_controls(units: pd.DataFrame, *, unit: str = "unit", cohort: str = "cohort", score: str = "diagnosis_score",
                   is_control: str | None = "is_control", method: str = "ministry", replace: bool = False) -> pd.DataFrame:
    """Pair every treated unit with a never-treated control of similar diagnosis score.

    ``units`` has one row per unit. method="ministry": controls are the units the Ministry
    designated (``is_control``), paired greedily by nearest score, cohort by cohort (earliest
    first) and, within a cohort, worst-diagnosed first; method="nearest": any never-treated unit
    is eligible. Without ``replace`` a control serves one treated unit; a treated unit left
    without a control is not matched. Returns columns treated, control, cohort, distance.
    """
    if method not in ("ministry", "nearest"):
        raise ValueError(f"match_controls: unknown method {method!r} (ministry or nearest)")
    u = units.drop_duplicates(subset=[unit]).copy()
    coh = pd.to_numeric(u[cohort], errors="coerce").astype(float)
    sc = pd.to_numeric(u[score], errors="coerce").astype(float)
    treated = u[coh.notna() & sc.notna()].assign(_c=coh, _s=sc).sort_values(["_c", "_s"], ascending=[True, False])
    pool_mask = coh.isna() & sc.notna()
    if method == "ministry":
        if is_control is None or is_control not in u.columns:
            raise ValueError("match_controls: method 'ministry' needs an is_control column")
        pool_mask &= u[is_control].astype(bool)
    pool = u[pool_mask].assign(_s=sc[pool_mask])
    ids, scores = list(pool[unit]), pool["_s"].to_numpy()
    available = np.ones(len(ids), dtype=bool)
    rows = []
    for _, r in treated.iterrows():
        if not available.any():
            break
        dist = np.where(available, np.abs(scores - r["_s"]), np.inf)
        j = int(np.argmin(dist))
        rows.append({"treated": r[unit], "control": ids[j], "cohort": r["_c"], "distance": float(dist[j])})
        if not replace:
            available[j] = False
    return pd.DataFrame(rows, columns=["treated", "control", "cohort", "distance"])


def matched_did(data: pd.DataFrame, outcome: str, matches: pd.DataFrame, *, unit: str = "unit",
                time: str = "time", cohort: str = "cohort", truth: str | None = None,
                alpha: float = 0.05) -> pd.DataFrame:
    """DiD of each treated unit against its matched control, stacked (pyfixest feols).

    Each pair (from :func:`match_controls`) is a 2 x T panel with its own unit and period
    fixed effects; the treated unit is treated from its cohort on and the control never is.
    Regression weights 1 / (1 - post share) make the pooled coefficient the average of the
    pair DiDs weighted by their post-treatment periods, i.e. every treated unit-period counts
    once. Standard errors clustered by pair (pairs share no unit when matched without
    replacement; with replacement, by control). Assumes parallel trends within pairs: matching
    on the diagnosis score targets the selection on recent crime that breaks them
    (Ashenfelter's dip, regression to the mean).
    """
    if matches.empty:
        raise ValueError(f"matched: no matched pairs (outcome {outcome!r})")
    p = _prepare(data, outcome, unit, time, cohort, None, truth)
    df = p.df
    codes = {v: i for i, v in enumerate(p.units)}
    reused = matches["control"].duplicated().any()
    parts = []
    for k, m in enumerate(matches.itertuples(index=False)):
        h, c = codes.get(m.treated), codes.get(m.control)
        if h is None or c is None:
            continue
        th = df[df["u"] == h]
        if th.empty or th["g"].iloc[0] < 0:
            continue
        g = int(th["g"].iloc[0])
        tc = df[df["u"] == c]
        common = np.intersect1d(th["t"], tc["t"])
        if common.size == 0 or not (common >= g).any() or not (common < g).any():
            continue
        pair = pd.concat([th[th["t"].isin(common)], tc[tc["t"].isin(common)]])
        pair = pair.assign(pair=k, su=k * 2 + (pair["u"] == h).astype(int), st=k * len(p.times) + pair["t"],
                           dd=((pair["u"] == h) & (pair["t"] >= g)).astype(float),
                           cl=(c if reused else k))
        share_post = float((common >= g).mean())
        pair["w"] = 1.0 / (1.0 - share_post)
        parts.append(pair)
    if not parts:
        raise ValueError(f"matched: no pair has both pre- and post-treatment periods (outcome {outcome!r})")
    st = pd.concat(parts, ignore_index=True)
    fit = _feols("y ~ dd | su + st", st, weights="w")
    b, se = _coef(fit, "dd")
    true = _mean_or_nan(st.loc[st["dd"] > 0, "tau"])
    return _frame([_row("matched", outcome, "ATT", b, se, n_obs=len(st), n_units=st["u"].nunique(),
                        n_clusters=st["cl"].nunique(), alpha=alpha, true_effect=true)])


# --- all of them --------------------------------------------------------------------------------

ESTIMATORS = ("twfe", "did2s", "cs_notyet", "cs_never", "matched")


def estimate_all(data: pd.DataFrame, outcome: str, *, unit: str = "unit", time: str = "time",
                 cohort: str = "cohort", cluster: str | None = None, truth: str | None = None,
                 matches: pd.DataFrame | None = None, leads: int = 4, lags: int = 8,
                 alpha: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every overall ATT estimator and every event study on one outcome.

    Returns ``(att, dynamic)``: one row per estimator (an estimator that cannot run on this
    design is skipped and listed in ``att.attrs["skipped"]``), and the event-study rows of
    TWFE, did2s and Callaway-Sant'Anna (not-yet-treated controls).
    """
    kw = dict(unit=unit, time=time, cohort=cohort, truth=truth, alpha=alpha)
    att, dyn, skipped = [], [], {}

    def attempt(name, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ValueError, np.linalg.LinAlgError) as exc:
            skipped[name] = str(exc)
            return None

    for name, fn, extra in (
        ("twfe", twfe_did, dict(cluster=cluster)),
        ("did2s", did2s, dict(cluster=cluster)),
        ("cs_notyet", callaway_santanna, dict(cluster=cluster, control="notyet")),
        ("cs_never", callaway_santanna, dict(cluster=cluster, control="never")),
    ):
        r = attempt(name, fn, data, outcome, **kw, **extra)
        if r is not None:
            att.append(r)
    if matches is not None:
        r = attempt("matched", matched_did, data, outcome, matches, **kw)
        if r is not None:
            att.append(r)
    for name, fn, extra in (
        ("event_study_twfe", event_study, dict(cluster=cluster, method="twfe", leads=leads, lags=lags)),
        ("event_study_did2s", event_study, dict(cluster=cluster, method="did2s", leads=leads, lags=lags)),
        ("cs_notyet_dynamic", callaway_santanna, dict(cluster=cluster, control="notyet", aggregation="dynamic",
                                                      leads=leads, lags=lags)),
    ):
        r = attempt(name, fn, data, outcome, **kw, **extra)
        if r is not None:
            if name == "cs_notyet_dynamic":
                r["estimator"] = "event_study_cs"
            dyn.append(r)
    att_df = pd.concat(att, ignore_index=True) if att else _frame([])
    dyn_df = pd.concat(dyn, ignore_index=True) if dyn else _frame([])
    att_df.attrs["skipped"] = skipped
    return att_df, dyn_df


# --- dose-response by pillar ---------------------------------------------------------------------


def dose_response(data: pd.DataFrame, outcome: str, doses: list[str], *, unit: str = "unit", time: str = "time",
                  fixed_effects: str = "unit+time", cluster: str | None = None, alpha: float = 0.05,
                  estimator: str = "dose_response") -> pd.DataFrame:
    """Association of the outcome with the intensity of each pillar (pyfixest feols):
    ``y_it = a_i + l_t + sum_k b_k dose_k,it + e_it`` (``fixed_effects="unit+time"``) or with
    period effects only (``"time"``). Within one scenario the pillars move together (one policy
    mix), so the coefficients are associations, not a decomposition: for that, evaluate several
    single-pillar scenarios (docs/evaluation.md). Doses without variation are dropped.
    Rows have ``term`` = the dose column."""
    if fixed_effects not in ("unit+time", "time"):
        raise ValueError("dose_response: fixed_effects must be 'unit+time' or 'time'")
    cols = list(dict.fromkeys([unit, time, outcome] + list(doses) + ([cluster] if cluster else [])))
    df = data[cols].dropna(subset=[outcome]).copy()
    usable = [d for d in doses if df[d].astype(float).std() > 0]
    if not usable or df.empty:
        return _frame([])
    work = pd.DataFrame({"y": df[outcome].astype(float).to_numpy(),
                         "u": pd.factorize(df[unit])[0], "t": pd.factorize(df[time])[0]})
    work["cl"] = pd.factorize(df[cluster])[0] if cluster else work["u"]
    names = {d: f"x{i}" for i, d in enumerate(usable)}
    for d, n in names.items():
        work[n] = df[d].astype(float).to_numpy()
    fe = "u + t" if fixed_effects == "unit+time" else "t"
    fit = _feols(f"y ~ {' + '.join(names.values())} | {fe}", work)
    n_cl = _n_clusters(fit, work)
    rows = []
    for d, n in names.items():
        b, se = _coef(fit, n)
        if np.isfinite(b):
            rows.append(_row(estimator, outcome, d, b, se, n_obs=len(work), n_units=work["u"].nunique(),
                             n_clusters=n_cl, alpha=alpha))
    return _frame(rows)


def stage_effects(data: pd.DataFrame, outcome: str, *, stage: str = "stage", unit: str = "unit", time: str = "time",
                  reference: str = "none", method: str = "twfe", cluster: str | None = None,
                  truth: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Effects by stage of the strategy: one dummy per stage other than ``reference``, with unit
    and period effects (method="twfe", pyfixest feols) or in the second stage of Gardner's
    two-stage DiD (method="did2s", the first stage fitted on ``reference``-stage unit-periods).
    Rows have ``term`` = the stage; the truth is the mean true effect over unit-periods in it."""
    if method not in ("twfe", "did2s"):
        raise ValueError("stage_effects: method must be 'twfe' or 'did2s'")
    cols = list(dict.fromkeys([unit, time, stage, outcome] + ([cluster] if cluster else []) + ([truth] if truth else [])))
    df = data[cols].dropna(subset=[outcome]).copy()
    st = df[stage].astype(str)
    levels = [s for s in pd.unique(st) if s != reference]
    work = pd.DataFrame({"y": df[outcome].astype(float).to_numpy(),
                         "u": pd.factorize(df[unit])[0], "t": pd.factorize(df[time])[0]})
    work["cl"] = pd.factorize(df[cluster])[0] if cluster else work["u"]
    work["tau"] = df[truth].astype(float).to_numpy() if truth else np.nan
    work["d"] = (st != reference).to_numpy().astype(float)
    names = {s: f"s{i}" for i, s in enumerate(levels)}
    for s, n in names.items():
        work[n] = (st == s).to_numpy().astype(float)
    if not names or not (work["d"] == 0).any():
        return _frame([])
    rhs = " + ".join(names.values())
    if method == "twfe":
        fit = _feols(f"y ~ {rhs} | u + t", work)
        n_cl = _n_clusters(fit, work)
    else:
        work = _imputable(work)
        names = {s: n for s, n in names.items() if work[n].sum() > 0}
        if not names:
            return _frame([])
        fit = _did2s_fit(work, "~ " + " + ".join(names.values()))
        n_cl = int(work["cl"].nunique())
    rows = []
    for s, n in names.items():
        b, se = _coef(fit, n)
        if np.isfinite(b):
            rows.append(_row(f"stage_{method}", outcome, s, b, se, n_obs=len(work), n_units=work["u"].nunique(),
                             n_clusters=n_cl, alpha=alpha, true_effect=_mean_or_nan(work.loc[work[n] > 0, "tau"])))
    return _frame(rows)

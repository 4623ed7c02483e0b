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

- ``twfe_did``, ``event_study(method="twfe")``, ``matched_did``, ``stage_effects``,
  ``dose_response``: pyfixest ``feols`` (OLS with absorbed fixed effects, CRV1 cluster-robust
  covariance).
- ``did2s``, ``event_study(method="did2s")``: pyfixest ``did2s`` (Gardner 2022 two-stage DiD,
  robust to effects that vary by cohort and time; GMM-corrected clustered covariance).
- ``callaway_santanna`` / ``group_time_att`` (Callaway & Sant'Anna 2021), ``sun_abraham``
  (Sun & Abraham 2021), ``imputation`` (Borusyak, Jaravel & Spiess 2024),
  ``bacon_decomposition`` (Goodman-Bacon 2021) and ``honest_did`` (Rambachan & Roth 2023):
  the diff-diff package. The project's earlier hand-written Callaway & Sant'Anna left the
  influence of the aggregation weights out of its standard errors (about 10 % too small on the
  overall ATT) and was replaced by diff-diff's, whose estimates and standard errors match R
  ``did``, ``csdid`` and ``differences``.

``ESTIMATOR_NAMES`` maps every estimator code to a short full name for tables and figures.
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


# --- heterogeneity-robust estimators from diff-diff -----------------------------------------------
#
# Callaway & Sant'Anna, Sun & Abraham, the imputation estimator of Borusyak, Jaravel & Spiess,
# the Goodman-Bacon decomposition and the HonestDiD sensitivity bounds are those of the diff-diff
# package (MIT; numpy, pandas and scipy only). The panel is handed over recoded by ``_prepare``
# (period positions 1..T, first treated position, 0 = never treated within the window), so the
# conventions on gaps, always-treated units and cohorts after the window are the same for every
# estimator. Point estimates and standard errors are the library's; intervals use the common
# Student-t (clusters - 1) rule of ``_row`` (diff-diff's own clustered intervals use the same).


def _diff_diff():
    require_extra("evaluation", "diff_diff", what="Callaway-Sant'Anna, Sun-Abraham, imputation, Bacon and HonestDiD")
    import diff_diff

    return diff_diff


def _dd_panel(p: Prepared) -> pd.DataFrame:
    """The prepared panel in diff-diff's layout: ``time`` = period position + 1 and
    ``first_treat`` = cohort position + 1, 0 for never treated (diff-diff's sentinel)."""
    df = p.df
    return pd.DataFrame({
        "unit": df["u"].to_numpy(), "time": df["t"].to_numpy() + 1,
        "first_treat": np.where(df["g"] >= 0, df["g"].to_numpy() + 1, 0),
        "y": df["y"].to_numpy(), "cl": df["cl"].to_numpy(), "tau": df["tau"].to_numpy(),
    })


def _dd_fit(name: str, estimator, panel: pd.DataFrame):
    """Fit a diff-diff estimator; its data errors become ValueError (``estimate_all`` skips
    an estimator that cannot run on a design) and its warnings are silenced."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return estimator.fit(panel, outcome="y", unit="unit", time="time", first_treat="first_treat")
    except (ValueError, KeyError, IndexError, ZeroDivisionError, np.linalg.LinAlgError) as exc:
        raise ValueError(f"{name}: {exc}") from exc


def _cell_truth(panel: pd.DataFrame) -> pd.Series:
    """Mean true effect of each treated cohort in each period, indexed by (first_treat, time)."""
    treated = panel[panel["first_treat"] > 0]
    return treated.groupby(["first_treat", "time"])["tau"].mean()


def _weighted(values, weights) -> float:
    v, w = np.asarray(values, dtype=float), np.asarray(weights, dtype=float)
    if not v.size or not np.isfinite(v).all() or w.sum() <= 0:
        return np.nan
    return float(v @ w / w.sum())


def _label(p: Prepared, position: float):
    """The original period label of a diff-diff period (position + 1)."""
    return p.times[int(position) - 1]


def callaway_santanna(data: pd.DataFrame, outcome: str, *, unit: str = "unit", time: str = "time",
                      cohort: str = "cohort", control: str = "notyet", aggregation: str = "simple",
                      leads: int | None = None, lags: int | None = None, cluster: str | None = None,
                      truth: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Callaway & Sant'Anna (2021) group-time effects ATT(g, t), aggregated (diff-diff
    ``CallawaySantAnna``, outcome regression without covariates, universal base period).

    For cohort g and period t with base period b = g - 1 (the last period before adoption)::

        ATT(g, t) = mean_{G=g}(Y_t - Y_b) - mean_{C}(Y_t - Y_b)

    with C the never-treated (``control="never"``) or the never- and not-yet-treated units,
    G > max(t, b) (``control="notyet"``). Unconditional parallel trends, no anticipation.

    aggregation="simple": post-treatment cells (t >= g) weighted by cohort size, i.e. every
    treated unit-period with a comparison group counts once (the overall ATT). "dynamic": one
    row per event time e in -leads..lags (cells with t - g = e weighted by cohort size; e = -1
    is the reference, estimate 0 and no SE, like the TWFE event study). "group": one row per
    cohort (its post-treatment cells averaged) plus the overall ATT. "none": every cell.

    Standard errors: diff-diff's influence-function standard errors, which include the
    influence of the estimated aggregation weights (as R ``did``), clustered (CR1) by
    ``cluster`` (default the unit: R ``did``'s analytical SE times sqrt(G / (G - 1))).
    Intervals are pointwise.
    """
    if control not in ("notyet", "never"):
        raise ValueError(f"callaway_santanna: control must be 'notyet' or 'never' (got {control!r})")
    if aggregation not in ("simple", "dynamic", "group", "none"):
        raise ValueError(f"callaway_santanna: unknown aggregation {aggregation!r}")
    name = f"cs_{control}"
    p = _prepare(data, outcome, unit, time, cohort, cluster, truth)
    panel = _dd_panel(p)
    if not (panel["first_treat"] > 0).any():
        raise ValueError(f"{name}: no estimable post-treatment ATT(g, t) cell: no treated unit (outcome {outcome!r})")
    if control == "never" and not (panel["first_treat"] == 0).any():
        raise ValueError(f"{name}: no estimable post-treatment ATT(g, t) cell: no never-treated unit "
                         f"(outcome {outcome!r})")
    dd = _diff_diff()
    fit = _dd_fit(name, dd.CallawaySantAnna(
        control_group="never_treated" if control == "never" else "not_yet_treated", estimation_method="reg",
        base_period="universal", cluster="cl", alpha=alpha), panel)
    cells = group_time_cells(fit, panel, p)
    post = cells[cells["event_time"] >= 0]
    if post.empty or not np.isfinite(fit.overall_att):
        raise ValueError(f"{name}: no estimable post-treatment ATT(g, t) cell (outcome {outcome!r})")
    n_cl = int(fit.n_clusters or panel["cl"].nunique())
    kw = dict(n_obs=len(panel), n_units=panel["unit"].nunique(), n_clusters=n_cl, alpha=alpha)
    rows = []
    overall = _row(name, outcome, "ATT", fit.overall_att, fit.overall_se,
                   true_effect=_weighted(post["true_effect"], post["n_treated"]), **kw)
    if aggregation == "simple":
        rows.append(overall)
    elif aggregation == "dynamic":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            es = fit.aggregate("event_study").to_dataframe()
        lo = -np.inf if leads is None else -leads
        hi = np.inf if lags is None else lags
        for x in es.itertuples(index=False):
            e = float(x.event_time)
            if not lo <= e <= hi:
                continue
            at = cells[cells["event_time"] == e]
            true = 0.0 if x.is_reference and truth else _weighted(at["true_effect"], at["n_treated"])
            rows.append(_row(name, outcome, f"e={int(e)}", x.att, x.se, event_time=e, true_effect=true, **kw))
    elif aggregation == "group":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            grp = fit.aggregate("group").to_dataframe()
        for x in grp.itertuples(index=False):
            at = post[post["first_treat"] == x.label]
            rows.append(_row(name, outcome, f"cohort={_label(p, x.label)}", x.att, x.se,
                             true_effect=_weighted(at["true_effect"], np.ones(len(at))), **kw))
        rows.append(overall)
    else:
        for c in cells.itertuples(index=False):
            rows.append(_row(name, outcome, f"g={c.cohort},t={c.time}", c.att, c.se, event_time=c.event_time,
                             true_effect=c.true_effect, **kw))
    return _frame(rows)


def group_time_cells(fit, panel: pd.DataFrame, p: Prepared) -> pd.DataFrame:
    """The estimated ATT(g, t) cells of a diff-diff Callaway-Sant'Anna fit on ``_dd_panel(p)``:
    first_treat, t (diff-diff positions), event_time, att, se, n_treated, n_control, true_effect
    (mean true effect of the cohort in t), and the original labels cohort, time."""
    tau = _cell_truth(panel)
    rows = []
    for (g, t), c in fit.group_time_effects.items():
        if not np.isfinite(c.get("effect", np.nan)):
            continue
        rows.append({"first_treat": g, "t": t, "event_time": float(t - g), "att": float(c["effect"]),
                     "se": float(c["se"]), "n_treated": int(c["n_treated"]), "n_control": int(c["n_control"]),
                     "true_effect": float(tau.get((g, t), np.nan)), "cohort": _label(p, g), "time": _label(p, t)})
    cells = pd.DataFrame(rows, columns=["first_treat", "t", "event_time", "att", "se", "n_treated", "n_control",
                                        "true_effect", "cohort", "time"])
    return cells.sort_values(["first_treat", "t"], kind="stable").reset_index(drop=True)


def group_time_att(data: pd.DataFrame, outcome: str, *, unit: str = "unit", time: str = "time",
                   cohort: str = "cohort", control: str = "notyet", cluster: str | None = None,
                   truth: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Callaway & Sant'Anna group-time effects ATT(g, t), one row per estimated cell, in the
    common result format (``term`` "g=<cohort>,t=<period>", ``event_time`` t - g); the same as
    ``callaway_santanna(..., aggregation="none")``."""
    return callaway_santanna(data, outcome, unit=unit, time=time, cohort=cohort, control=control,
                             aggregation="none", cluster=cluster, truth=truth, alpha=alpha)


def _last_cohort_as_control(panel: pd.DataFrame) -> pd.DataFrame:
    """Without never-treated units, Sun & Abraham use the last-treated cohort as the control:
    keep the periods before it adopts and count it as never treated there."""
    last = panel["first_treat"].max()
    out = panel[panel["time"] < last].copy()
    out.loc[out["first_treat"] == last, "first_treat"] = 0
    return out


def sun_abraham(data: pd.DataFrame, outcome: str, *, unit: str = "unit", time: str = "time",
                cohort: str = "cohort", aggregation: str = "simple", leads: int | None = None,
                lags: int | None = None, cluster: str | None = None, truth: str | None = None,
                alpha: float = 0.05) -> pd.DataFrame:
    """Sun & Abraham (2021) interaction-weighted estimator (diff-diff ``SunAbraham``).

    A saturated TWFE regression with cohort x event-time interactions (reference e = -1) and
    never-treated controls gives each cohort's effect e periods after adoption, CATT(g, e); the
    event-time effect is their average weighted by cohort shares at e, so no already-treated unit
    serves as a control. Without never-treated units the last-treated cohort is the control and
    the periods from its adoption on are dropped. Parallel trends, no anticipation.

    aggregation="simple": one row "ATT", the post-treatment event-time effects weighted by their
    treated unit-periods (every estimated treated unit-period counts once). "dynamic": one row
    per event time in -leads..lags (e = -1 the reference, estimate 0). Cluster-robust (CR1)
    standard errors by ``cluster`` (default the unit).
    """
    if aggregation not in ("simple", "dynamic"):
        raise ValueError(f"sun_abraham: unknown aggregation {aggregation!r} (simple or dynamic)")
    name = "sun_abraham"
    p = _prepare(data, outcome, unit, time, cohort, cluster, truth)
    panel = _dd_panel(p)
    if not (panel["first_treat"] == 0).any():
        panel = _last_cohort_as_control(panel)
    if not (panel["first_treat"] > 0).any() or not (panel["first_treat"] == 0).any():
        raise ValueError(f"{name}: needs a treated cohort and a never-treated or later-treated control cohort "
                         f"(outcome {outcome!r})")
    dd = _diff_diff()
    fit = _dd_fit(name, dd.SunAbraham(control_group="never_treated", cluster="cl", alpha=alpha), panel)
    treated = panel[panel["first_treat"] > 0]
    e_obs = treated["time"] - treated["first_treat"]
    effects = {float(e): v for e, v in fit.event_study_effects.items() if np.isfinite(v["effect"])}
    kw = dict(n_obs=len(panel), n_units=panel["unit"].nunique(), n_clusters=int(panel["cl"].nunique()), alpha=alpha)
    if aggregation == "simple":
        used = e_obs.isin([e for e in effects if e >= 0])
        if not used.any() or not np.isfinite(fit.overall_att):
            raise ValueError(f"{name}: no estimable post-treatment effect (outcome {outcome!r})")
        return _frame([_row(name, outcome, "ATT", fit.overall_att, fit.overall_se,
                            true_effect=_mean_or_nan(treated.loc[used, "tau"]), **kw)])
    lo = -np.inf if leads is None else -leads
    hi = np.inf if lags is None else lags
    rows = []
    for e in sorted(set(effects) | ({-1.0} if (e_obs == -1).any() else set())):
        if not lo <= e <= hi:
            continue
        est, se = (effects[e]["effect"], effects[e]["se"]) if e in effects else (0.0, np.nan)
        # the interaction weights are the cohorts' shares of the unit-periods at e
        rows.append(_row(name, outcome, f"e={int(e)}", est, se, event_time=e,
                         true_effect=_mean_or_nan(treated.loc[e_obs == e, "tau"]), **kw))
    return _frame(rows)


def imputation(data: pd.DataFrame, outcome: str, *, unit: str = "unit", time: str = "time",
               cohort: str = "cohort", cluster: str | None = None, truth: str | None = None,
               alpha: float = 0.05) -> pd.DataFrame:
    """Borusyak, Jaravel & Spiess (2024) imputation estimator (diff-diff ``ImputationDiD``).

    Unit and period effects are fitted by OLS on the untreated unit-periods (never-treated and
    not-yet-treated), the untreated outcome of every treated unit-period is imputed from them,
    and the ATT is the mean of the imputed effects: every treated unit-period counts once. The
    point estimate equals Gardner's two-stage DiD (``did2s``); the standard error is BJS's
    conservative clustered variance (Theorem 3). Parallel trends, no anticipation; robust to
    effects that vary by cohort and time.
    """
    name = "imputation"
    p = _prepare(data, outcome, unit, time, cohort, cluster, truth)
    _check_design(p, name)
    panel = _dd_panel(p)
    dd = _diff_diff()
    fit = _dd_fit(name, dd.ImputationDiD(cluster="cl", alpha=alpha), panel)
    if not np.isfinite(fit.overall_att):
        raise ValueError(f"{name}: no treated unit-period could be imputed (outcome {outcome!r})")
    # The library's aggregation weights of the treated unit-periods give the estimand's truth.
    te = fit.treatment_effects[["unit", "time", "tau_hat", "weight"]]
    te = te[np.isfinite(te["tau_hat"]) & (te["weight"] > 0)].merge(panel[["unit", "time", "tau"]], on=["unit", "time"])
    true = _weighted(te["tau"], te["weight"]) if truth else np.nan
    return _frame([_row(name, outcome, "ATT", fit.overall_att, fit.overall_se, n_obs=len(panel),
                        n_units=panel["unit"].nunique(), n_clusters=int(fit.n_clusters or panel["cl"].nunique()),
                        alpha=alpha, true_effect=true)])


BACON_COLUMNS = ["outcome", "treated_cohort", "control_cohort", "comparison_type", "estimate", "weight",
                 "n_treated", "n_control", "period_start", "period_end", "true_effect", "twfe_estimate",
                 "decomposition_error", "n_units"]


def bacon_decomposition(data: pd.DataFrame, outcome: str, *, unit: str = "unit", time: str = "time",
                        cohort: str = "cohort", truth: str | None = None) -> pd.DataFrame:
    """Goodman-Bacon (2021) decomposition of the static TWFE coefficient (diff-diff
    ``BaconDecomposition``, exact weights): every 2 x 2 DiD between timing groups, its estimate
    and its weight in TWFE (the weights sum to one and the weighted estimates to TWFE).

    comparison_type "treated_vs_never" and "earlier_vs_later" use untreated units as
    controls; "later_vs_earlier" uses already-treated units as controls (the "forbidden"
    comparisons): where effects grow with time since adoption their estimates are biased
    downwards, which is why TWFE is. ``true_effect`` is the mean true effect of the treated
    group over its treated periods inside the comparison's window, so ``estimate - true_effect``
    shows each comparison's bias. The decomposition needs a balanced panel: units missing a
    period are left out (``n_units`` says how many remain), and never-treated controls are
    labelled "never".
    """
    p = _prepare(data, outcome, unit, time, cohort, None, truth)
    _check_design(p, "bacon")
    panel = _dd_panel(p)
    counts = panel.groupby("unit")["time"].transform("size")
    panel = panel[counts == len(p.times)]
    if panel.empty or not (panel["first_treat"] > 0).any():
        raise ValueError(f"bacon: no balanced treated unit (outcome {outcome!r})")
    dd = _diff_diff()
    res = _dd_fit("bacon", dd.BaconDecomposition(weights="exact"), panel)
    rows = []
    treated = panel[panel["first_treat"] > 0]
    for c in res.comparisons:
        start, end = float(c.time_window[0]), float(c.time_window[1])
        g = float(c.treated_group)
        cell = treated[(treated["first_treat"] == g) & (treated["time"] >= max(g, start)) & (treated["time"] <= end)]
        rows.append({
            "outcome": outcome, "treated_cohort": _label(p, g),
            "control_cohort": "never" if c.control_group == "never_treated" else _label(p, c.control_group),
            "comparison_type": c.comparison_type, "estimate": float(c.estimate), "weight": float(c.weight),
            "n_treated": int(c.n_treated), "n_control": int(c.n_control),
            "period_start": _label(p, start), "period_end": _label(p, end),
            "true_effect": _mean_or_nan(cell["tau"]), "twfe_estimate": float(res.twfe_estimate),
            "decomposition_error": float(res.decomposition_error), "n_units": int(panel["unit"].nunique()),
        })
    return pd.DataFrame(rows, columns=BACON_COLUMNS)


HONEST_COLUMNS = ["estimator", "outcome", "method", "M", "target", "estimate", "se", "lb", "ub", "ci_low",
                  "ci_high", "true_effect", "breakdown_M", "n_pre", "n_post"]


def _window_event_study(es, lo: float, hi: float):
    """The event-study container restricted to event times lo..hi (its covariance too)."""
    import dataclasses

    keep = (es.event_time >= lo) & (es.event_time <= hi)
    changes = {f: np.asarray(getattr(es, f))[keep] for f in
               ("event_time", "att", "se", "t_stat", "p_value", "conf_int_lower", "conf_int_upper", "is_reference", "n")}
    for f in ("cband_lower", "cband_upper"):
        if getattr(es, f) is not None:
            changes[f] = np.asarray(getattr(es, f))[keep]
    if np.ndim(es.df) == 1:
        changes["df"] = np.asarray(es.df)[keep]
    if es.vcov is not None and es.vcov_index is not None:
        idx = np.asarray(es.vcov_index, dtype=float)
        k = (idx >= lo) & (idx <= hi)
        changes["vcov"] = np.asarray(es.vcov)[np.ix_(k, k)]
        changes["vcov_index"] = np.asarray(es.vcov_index)[k]
    if getattr(es, "post_periods", None) is not None:
        changes["post_periods"] = tuple(e for e in es.post_periods if lo <= e <= hi)
    return dataclasses.replace(es, **changes)


def honest_did(data: pd.DataFrame, outcome: str, *, unit: str = "unit", time: str = "time",
               cohort: str = "cohort", control: str = "notyet", M=(0.0, 0.5, 1.0, 1.5, 2.0),
               method: str = "relative_magnitude", leads: int | None = None, lags: int | None = None,
               cluster: str | None = None, truth: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Rambachan & Roth (2023) sensitivity of the Callaway-Sant'Anna event study to violations of
    parallel trends (diff-diff ``HonestDiD``), one row per M.

    Target: the average of the post-treatment event-time effects e = 0..lags (equal weights).
    method="relative_magnitude": after adoption, the change in the trend violation from one
    period to the next is at most M times the largest such change before adoption (estimated
    from the leads -leads..-1); M = 0 is exact parallel trends after adoption, M = 1 allows
    violations as large as the worst pre-period one. "smoothness": the slope of the violation
    changes by at most M per period. ``lb``/``ub`` bound the identified set, ``ci_low``/``ci_high``
    are the robust 1 - alpha confidence interval; ``breakdown_M`` is the smallest M of the grid
    whose interval includes zero (NaN if none). ``true_effect``: the target's true value.
    """
    if method not in ("relative_magnitude", "smoothness"):
        raise ValueError(f"honest_did: method must be 'relative_magnitude' or 'smoothness' (got {method!r})")
    if control not in ("notyet", "never"):
        raise ValueError(f"honest_did: control must be 'notyet' or 'never' (got {control!r})")
    name = f"cs_{control}"
    p = _prepare(data, outcome, unit, time, cohort, cluster, truth)
    panel = _dd_panel(p)
    if control == "never" and not (panel["first_treat"] == 0).any():
        raise ValueError(f"honest_did: no never-treated unit (outcome {outcome!r})")
    dd = _diff_diff()
    fit = _dd_fit(name, dd.CallawaySantAnna(
        control_group="never_treated" if control == "never" else "not_yet_treated", estimation_method="reg",
        base_period="universal", cluster="cl", alpha=alpha), panel)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            es = fit.aggregate("event_study")
            es = _window_event_study(es, -np.inf if leads is None else -leads, np.inf if lags is None else lags)
            honest = dd.HonestDiD(method=method, alpha=alpha)
            grid = [float(m) for m in M]
            sens = honest.sensitivity_analysis(es, M_grid=grid)
            first = honest.fit(es, M=grid[0])
    except (ValueError, TypeError, KeyError, IndexError, np.linalg.LinAlgError) as exc:
        raise ValueError(f"honest_did: {exc}") from exc
    post = [float(e) for e in (first.post_periods_used or [])]
    cells = group_time_cells(fit, panel, p)
    per_e = [_weighted(c["true_effect"], c["n_treated"]) for e in post
             for c in [cells[cells["event_time"] == e]]]
    true = float(np.mean(per_e)) if per_e and np.isfinite(per_e).all() else np.nan
    breakdown = sens.breakdown_M if sens.breakdown_M is not None else np.nan
    target = f"mean of event-time effects e={int(min(post))}..{int(max(post))}" if post else ""
    rows = []
    for m, (lb, ub), (cl_, ch) in zip(sens.M_values, sens.bounds, sens.robust_cis):
        rows.append({"estimator": name, "outcome": outcome, "method": method, "M": float(m), "target": target,
                     "estimate": float(first.original_estimate), "se": float(first.original_se),
                     "lb": float(lb), "ub": float(ub), "ci_low": float(cl_), "ci_high": float(ch),
                     "true_effect": true, "breakdown_M": float(breakdown),
                     "n_pre": len(first.pre_periods_used or []), "n_post": len(post)})
    return pd.DataFrame(rows, columns=HONEST_COLUMNS)


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

ESTIMATORS = ("twfe", "did2s", "imputation", "cs_notyet", "cs_never", "sun_abraham", "matched")
EVENT_STUDIES = ("event_study_twfe", "event_study_did2s", "event_study_cs", "event_study_sa")

# Short full names for tables and figures, and the library that computes each estimator.
ESTIMATOR_NAMES = {
    "twfe": "Two-way fixed effects (TWFE)",
    "did2s": "Two-stage DiD (Gardner)",
    "imputation": "Imputation (Borusyak-Jaravel-Spiess)",
    "cs_notyet": "Callaway-Sant'Anna (not-yet-treated)",
    "cs_never": "Callaway-Sant'Anna (never-treated)",
    "sun_abraham": "Sun-Abraham",
    "matched": "Matched controls",
    "event_study_twfe": "TWFE event study",
    "event_study_did2s": "Two-stage DiD event study",
    "event_study_cs": "Callaway-Sant'Anna event study",
    "event_study_sa": "Sun-Abraham event study",
    "stage_twfe": "Effects by stage, TWFE",
    "stage_did2s": "Effects by stage, two-stage DiD",
}
ESTIMATOR_LIBRARY = {
    "twfe": "pyfixest feols", "did2s": "pyfixest did2s", "imputation": "diff-diff ImputationDiD",
    "cs_notyet": "diff-diff CallawaySantAnna", "cs_never": "diff-diff CallawaySantAnna",
    "sun_abraham": "diff-diff SunAbraham", "matched": "pyfixest feols",
    "event_study_twfe": "pyfixest feols", "event_study_did2s": "pyfixest did2s",
    "event_study_cs": "diff-diff CallawaySantAnna", "event_study_sa": "diff-diff SunAbraham",
}

# Spillover-aware variants: the same estimator with the never-treated neighbours of treated
# neighbourhoods left out of the controls (a buffer), so that displacement or diffusion next
# door does not contaminate the comparison (docs/evaluation.md, Spillovers).
BUFFERED = ("twfe", "did2s", "cs_notyet", "cs_never")
BUFFER_SUFFIX = "_buffer"
ESTIMATOR_NAMES |= {f"{c}{BUFFER_SUFFIX}": f"{ESTIMATOR_NAMES[c]}, neighbours of treated left out of controls"
                    for c in BUFFERED}
ESTIMATOR_LIBRARY |= {f"{c}{BUFFER_SUFFIX}": ESTIMATOR_LIBRARY[c] for c in BUFFERED}


def estimator_name(code: str) -> str:
    """The full name of an estimator code (the code itself if it has none)."""
    return ESTIMATOR_NAMES.get(code, code)


def estimate_all(data: pd.DataFrame, outcome: str, *, unit: str = "unit", time: str = "time",
                 cohort: str = "cohort", cluster: str | None = None, truth: str | None = None,
                 matches: pd.DataFrame | None = None, leads: int = 4, lags: int = 8,
                 alpha: float = 0.05, buffer: set | None = None,
                 event_studies: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every overall ATT estimator and every event study on one outcome.

    Returns ``(att, dynamic)``: one row per estimator of ``ESTIMATORS`` (an estimator that cannot
    run on this design is skipped and listed in ``att.attrs["skipped"]``), and the event-study
    rows of TWFE, did2s, Callaway-Sant'Anna (not-yet-treated controls) and Sun-Abraham (none
    without ``event_studies``). With ``buffer`` (units never to be used as controls: the
    never-treated neighbours of treated units) the estimators of ``BUFFERED`` run again without
    those units, as ``<code>_buffer``.
    """
    kw = dict(unit=unit, time=time, cohort=cohort, truth=truth, alpha=alpha)
    att, dyn, skipped = [], [], {}

    def attempt(name, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ValueError, np.linalg.LinAlgError) as exc:
            skipped[name] = str(exc)
            return None

    static = (
        ("twfe", twfe_did, dict(cluster=cluster)),
        ("did2s", did2s, dict(cluster=cluster)),
        ("imputation", imputation, dict(cluster=cluster)),
        ("cs_notyet", callaway_santanna, dict(cluster=cluster, control="notyet")),
        ("cs_never", callaway_santanna, dict(cluster=cluster, control="never")),
        ("sun_abraham", sun_abraham, dict(cluster=cluster)),
    )
    for name, fn, extra in static:
        r = attempt(name, fn, data, outcome, **kw, **extra)
        if r is not None:
            att.append(r)
    if matches is not None:
        r = attempt("matched", matched_did, data, outcome, matches, **kw)
        if r is not None:
            att.append(r)
    if buffer:
        kept = data[~data[unit].isin(buffer)]
        for name, fn, extra in (x for x in static if x[0] in BUFFERED):
            r = attempt(name + BUFFER_SUFFIX, fn, kept, outcome, **kw, **extra)
            if r is not None:
                att.append(r.assign(estimator=name + BUFFER_SUFFIX))
    window = dict(cluster=cluster, leads=leads, lags=lags)
    for name, fn, extra in () if not event_studies else (
        ("event_study_twfe", event_study, dict(method="twfe", **window)),
        ("event_study_did2s", event_study, dict(method="did2s", **window)),
        ("event_study_cs", callaway_santanna, dict(control="notyet", aggregation="dynamic", **window)),
        ("event_study_sa", sun_abraham, dict(aggregation="dynamic", **window)),
    ):
        r = attempt(name, fn, data, outcome, **kw, **extra)
        if r is not None:
            r["estimator"] = name
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

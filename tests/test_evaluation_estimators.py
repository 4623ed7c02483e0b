"""Estimators on synthetic panels with known effects (sn_sim.evaluation.estimators).

y_it = a_i + l_t + tau_it + e_it with unit effects a_i, a random-walk period effect l_t (common
trends), iid noise and a known tau_it, so parallel trends and no anticipation hold by
construction and the only question is whether each estimator recovers tau.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sn_sim.evaluation import estimators as est


def synthetic_panel(n_units: int = 60, n_periods: int = 12, cohorts=(4, 6, 8), never_share: float = 0.25,
                    effect=lambda e, g: np.full_like(e, 2.0), noise: float = 1.0, seed: int = 0,
                    first_year: int = 2000) -> pd.DataFrame:
    """Balanced staggered-adoption panel; ``effect(e, g)`` is the effect e periods after adoption
    in cohort g (periods counted from 0). Times and cohorts are labelled first_year + period."""
    rng = np.random.default_rng(seed)
    n_never = int(round(n_units * never_share))
    g = np.full(n_units, np.nan)
    treated = np.arange(n_never, n_units)
    g[treated] = np.asarray(cohorts, dtype=float)[np.arange(treated.size) % len(cohorts)]
    a = rng.normal(0.0, 1.0, n_units)
    lam = rng.normal(0.0, 1.0, n_periods).cumsum()
    u = np.repeat(np.arange(n_units), n_periods)
    t = np.tile(np.arange(n_periods), n_units)
    gg = g[u]
    e = np.where(np.isnan(gg), -1.0, t - np.nan_to_num(gg))
    tau = np.where(e >= 0, effect(e, np.nan_to_num(gg)), 0.0)
    y = a[u] + lam[t] + tau + rng.normal(0.0, noise, u.size)
    return pd.DataFrame({
        "unit": u, "time": t + first_year, "cohort": gg + first_year, "y": y, "tau": tau,
        "score": (a + rng.normal(0.0, 0.2, n_units))[u],
    })


def covers(row) -> bool:
    return bool(row["ci_low"] <= row["true_effect"] <= row["ci_high"])


def nearest_matches(df: pd.DataFrame) -> pd.DataFrame:
    units = df.drop_duplicates("unit").assign(is_control=lambda d: d["cohort"].isna())
    return est.match_controls(units, unit="unit", cohort="cohort", score="score", method="ministry")


# --- known constant effect: every estimator's interval covers it -------------------------------------


@pytest.fixture(scope="module")
def constant_panel() -> pd.DataFrame:
    return synthetic_panel(seed=3)


@pytest.mark.parametrize("name", ["twfe", "did2s", "cs_notyet", "cs_never", "matched"])
def test_each_estimator_covers_a_constant_effect(constant_panel, name):
    df = constant_panel
    kw = dict(unit="unit", time="time", cohort="cohort", truth="tau")
    if name == "twfe":
        res = est.twfe_did(df, "y", **kw)
    elif name == "did2s":
        res = est.did2s(df, "y", **kw)
    elif name == "matched":
        res = est.matched_did(df, "y", nearest_matches(df), **kw)
    else:
        res = est.callaway_santanna(df, "y", control=name.split("_")[1], **kw)
    row = res.iloc[0]
    assert row["term"] == "ATT"
    assert row["true_effect"] == pytest.approx(2.0)
    assert covers(row), res.to_dict("records")
    assert 0 < row["se"] < 1.0
    assert row["n_clusters"] >= 15  # matched: one cluster per pair (15 never-treated controls)


def test_event_studies_recover_dynamic_effects():
    """Effects that grow with time since adoption, the same in every cohort: the heterogeneity-
    robust event studies (two-stage DiD, Callaway-Sant'Anna) track the true path, leads are zero."""
    df = synthetic_panel(n_units=80, n_periods=14, cohorts=(5, 7, 9), never_share=0.3,
                         effect=lambda e, g: 0.5 + 0.5 * e, seed=5)
    for method in ("did2s",):
        es = est.event_study(df, "y", unit="unit", time="time", cohort="cohort", leads=3, lags=4,
                             method=method, truth="tau")
        inner = es[(es["event_time"] > -3) & (es["event_time"] < 4)]  # unbinned event times
        z = (inner["estimate"] - inner["true_effect"]).abs() / inner["se"]
        assert (z < 3.5).all(), inner
    cs = est.callaway_santanna(df, "y", unit="unit", time="time", cohort="cohort", aggregation="dynamic",
                               leads=3, lags=4, truth="tau")
    assert set(cs["event_time"]) == {-3, -2, 0, 1, 2, 3, 4}  # -1 is the base period
    z = (cs["estimate"] - cs["true_effect"]).abs() / cs["se"]
    assert (z < 3.5).all(), cs
    post = cs[cs["event_time"] >= 0].sort_values("event_time")
    assert np.allclose(post["true_effect"], 0.5 + 0.5 * post["event_time"])
    assert (cs.loc[cs["event_time"] < 0, "true_effect"] == 0).all()


def test_twfe_event_study_reference_period_and_leads():
    df = synthetic_panel(seed=8)
    es = est.event_study(df, "y", unit="unit", time="time", cohort="cohort", leads=3, lags=5, truth="tau")
    ref = es[es["event_time"] == -1].iloc[0]
    assert ref["estimate"] == 0 and np.isnan(ref["se"])
    leads = es[es["event_time"] < -1]
    assert (leads["ci_low"] < 0).all() and (leads["ci_high"] > 0).all()  # no pre-trends by construction
    assert es["event_time"].min() == -3 and es["event_time"].max() == 5


# --- staggered adoption with effects growing in event time ------------------------------------------


def _growing(seed: int) -> pd.DataFrame:
    # Everyone is treated eventually (no never-treated group), effects grow by 1 per period:
    # the textbook case where already-treated units serve as TWFE controls.
    return synthetic_panel(n_units=80, n_periods=12, cohorts=(3, 5, 7, 9), never_share=0.0,
                           effect=lambda e, g: 1.0 + e, noise=0.5, seed=seed)


def test_robust_estimators_unbiased_where_twfe_is_not():
    errors = {"twfe": [], "cs_notyet": [], "did2s": []}
    truths = {k: [] for k in errors}
    ses = {k: [] for k in errors}
    for seed in range(25):
        df = _growing(seed)
        kw = dict(unit="unit", time="time", cohort="cohort", truth="tau")
        for name, res in (("twfe", est.twfe_did(df, "y", **kw)),
                          ("cs_notyet", est.callaway_santanna(df, "y", control="notyet", **kw)),
                          ("did2s", est.did2s(df, "y", **kw))):
            r = res.iloc[0]
            errors[name].append(r["estimate"] - r["true_effect"])
            truths[name].append(r["true_effect"])
            ses[name].append(r["se"])
    mean_bias = {k: float(np.mean(v)) for k, v in errors.items()}
    mc_se = {k: float(np.std(v, ddof=1) / np.sqrt(len(v))) for k, v in errors.items()}
    truth = {k: float(np.mean(v)) for k, v in truths.items()}
    # TWFE: the bias is a large share of the effect and many of its own standard errors.
    assert abs(mean_bias["twfe"]) > 0.5 * truth["twfe"], (mean_bias, truth)
    assert abs(mean_bias["twfe"]) > 5 * np.mean(ses["twfe"])
    # Callaway-Sant'Anna and Gardner's two-stage DiD: no bias beyond Monte Carlo noise, and small.
    for name in ("cs_notyet", "did2s"):
        assert abs(mean_bias[name]) < 3 * mc_se[name] + 1e-9, (name, mean_bias, mc_se)
        assert abs(mean_bias[name]) < 0.05 * truth[name], (name, mean_bias, truth)


def test_single_draw_twfe_interval_misses_robust_interval_covers():
    df = _growing(100)
    kw = dict(unit="unit", time="time", cohort="cohort", truth="tau")
    twfe = est.twfe_did(df, "y", **kw).iloc[0]
    cs = est.callaway_santanna(df, "y", control="notyet", **kw).iloc[0]
    assert not covers(twfe)
    assert covers(cs)
    # Each targets the average effect over the treated unit-periods it uses.
    used = df[df["cohort"].notna() & (df["time"] >= df["cohort"])]
    assert twfe["true_effect"] == pytest.approx(used["tau"].mean())
    # Without never-treated units, periods after the last cohort adopts have no comparison group.
    last = df["cohort"].max()
    assert cs["true_effect"] == pytest.approx(used.loc[used["time"] < last, "tau"].mean())


def test_never_treated_controls_required_for_cs_never():
    df = _growing(1)
    with pytest.raises(ValueError, match="no estimable"):
        est.callaway_santanna(df, "y", unit="unit", time="time", cohort="cohort", control="never")
    att, dyn = est.estimate_all(df, "y", truth="tau")
    assert "cs_never" in att.attrs["skipped"]
    assert {"twfe", "did2s", "cs_notyet"} <= set(att["estimator"])
    assert {"event_study_twfe", "event_study_did2s", "event_study_cs"} <= set(dyn["estimator"])


# --- exact cases and real-data inputs ------------------------------------------------------------


def test_two_by_two_all_estimators_agree_with_difference_of_means():
    rng = np.random.default_rng(0)
    n = 40
    df = pd.DataFrame({"unit": np.repeat(np.arange(n), 2), "time": np.tile([2016, 2017], n)})
    df["cohort"] = np.where(df["unit"] < n // 2, 2017.0, np.nan)
    df["y"] = rng.normal(size=len(df)) + 3.0 * ((df["cohort"] == 2017) & (df["time"] == 2017))
    w = df.pivot(index="unit", columns="time", values="y")
    dy = w[2017] - w[2016]
    did = dy[: n // 2].mean() - dy[n // 2:].mean()
    kw = dict(unit="unit", time="time", cohort="cohort")
    for res in (est.twfe_did(df, "y", **kw), est.callaway_santanna(df, "y", **kw),
                est.callaway_santanna(df, "y", control="never", **kw)):
        assert res.iloc[0]["estimate"] == pytest.approx(did, abs=1e-8)
    # pyfixest's first stage drops singleton fixed effects: a unit needs two untreated periods.
    with pytest.raises(ValueError, match="imputed"):
        est.did2s(df, "y", **kw)
    # Clustered SE of the 2x2 equals the two-sample SE of the change (up to small-sample factors).
    cs = est.callaway_santanna(df, "y", **kw).iloc[0]
    two_sample = np.sqrt(dy[: n // 2].var(ddof=1) / (n // 2) + dy[n // 2:].var(ddof=1) / (n // 2))
    assert cs["se"] == pytest.approx(two_sample, rel=1e-8)


def test_real_data_style_inputs():
    """String unit ids, year labels with a gap, nullable cohorts, an always-treated unit and a
    cohort after the window: the functions take the data as an analyst would have it."""
    df = synthetic_panel(n_units=40, n_periods=8, cohorts=(3, 5), seed=2)
    df = df[df["time"] != 2001].copy()  # a missing survey round
    df["unit"] = "nb-" + df["unit"].astype(str)
    df["cohort"] = df["cohort"].astype("Int64")
    df.loc[df["unit"] == "nb-0", "cohort"] = 2000  # treated from the first period: dropped
    df.loc[df["unit"] == "nb-1", "cohort"] = 2030  # after the window: never treated within it
    for fn in (est.twfe_did, est.did2s, est.callaway_santanna):
        res = fn(df, "y", unit="unit", time="time", cohort="cohort", truth="tau")
        assert np.isfinite(res.iloc[0]["estimate"]) and res.iloc[0]["se"] > 0
        assert res.iloc[0]["n_units"] <= 39
    cs = est.callaway_santanna(df, "y", unit="unit", time="time", cohort="cohort", aggregation="group")
    assert list(cs["term"]) == ["cohort=2003", "cohort=2005", "ATT"]


def test_match_controls_uses_designated_controls_without_replacement():
    units = pd.DataFrame({
        "unit": list("abcdefg"),
        "cohort": [2016, 2017, 2017, np.nan, np.nan, np.nan, np.nan],
        "score": [3.0, 2.0, 1.0, 2.9, 2.1, 0.0, 1.1],
        "is_control": [False, False, False, True, True, False, True],
    })
    m = est.match_controls(units, unit="unit", cohort="cohort", score="score")
    assert list(zip(m["treated"], m["control"])) == [("a", "d"), ("b", "e"), ("c", "g")]
    near = est.match_controls(units, unit="unit", cohort="cohort", score="score", method="nearest", is_control=None,
                              replace=True)
    assert list(near["control"]) == ["d", "e", "g"]


def test_matched_did_weights_pairs_by_post_periods():
    df = synthetic_panel(n_units=40, n_periods=10, cohorts=(3, 7), never_share=0.5, noise=0.0,
                         effect=lambda e, g: np.where(g == 3, 1.0, 5.0), seed=4)
    m = nearest_matches(df)
    res = est.matched_did(df, "y", m, unit="unit", time="time", cohort="cohort", truth="tau").iloc[0]
    # Noise-free with common trends: the estimate is exactly the ATT over treated post periods.
    assert res["estimate"] == pytest.approx(res["true_effect"], abs=1e-6)
    assert res["true_effect"] == pytest.approx((7 * 1.0 + 3 * 5.0) / 10)


def test_dose_response_and_stage_effects_run_on_plain_frames():
    df = synthetic_panel(seed=6)
    rng = np.random.default_rng(1)
    df["dose_a"] = np.where(df["time"] >= df["cohort"].fillna(np.inf), rng.uniform(1, 3, len(df)), 0.0)
    df["dose_b"] = 0.0  # no variation: dropped
    df["y2"] = df["y"] + 0.5 * df["dose_a"]
    res = est.dose_response(df, "y2", ["dose_a", "dose_b"], unit="unit", time="time")
    assert list(res["term"]) == ["dose_a"]
    df["stage"] = np.where(df["time"] >= df["cohort"].fillna(np.inf), "execution", "none")
    st = est.stage_effects(df, "y", stage="stage", unit="unit", time="time", method="did2s", truth="tau")
    assert list(st["term"]) == ["execution"]
    assert covers(st.iloc[0])

"""Estimators on synthetic panels with known effects (sn_sim.evaluation.estimators).

The panels (sn_sim.evaluation.synthetic) follow y_it = a_i + l_t + tau_it + e_it with unit
effects, a random-walk period effect (common trends), iid noise and a known tau_it, so parallel
trends and no anticipation hold by construction and the only question is whether each estimator
recovers tau. Callaway-Sant'Anna, Sun-Abraham, imputation, Bacon and HonestDiD come from
diff-diff; the parity tests check that the wrappers hand it the panel and read its output
correctly (against hand-computed 2 x 2 DiDs and direct diff-diff calls).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from sn_sim.evaluation import estimators as est
from sn_sim.evaluation.synthetic import synthetic_panel


def covers(row) -> bool:
    return bool(row["ci_low"] <= row["true_effect"] <= row["ci_high"])


def nearest_matches(df: pd.DataFrame) -> pd.DataFrame:
    units = df.drop_duplicates("unit").assign(is_control=lambda d: d["cohort"].isna())
    return est.match_controls(units, unit="unit", cohort="cohort", score="score", method="ministry")


# --- known constant effect: every estimator's interval covers it -------------------------------------


@pytest.fixture(scope="module")
def constant_panel() -> pd.DataFrame:
    return synthetic_panel(seed=3)


@pytest.mark.parametrize("name", ["twfe", "did2s", "imputation", "cs_notyet", "cs_never", "sun_abraham", "matched"])
def test_each_estimator_covers_a_constant_effect(constant_panel, name):
    df = constant_panel
    kw = dict(unit="unit", time="time", cohort="cohort", truth="tau")
    if name == "twfe":
        res = est.twfe_did(df, "y", **kw)
    elif name == "did2s":
        res = est.did2s(df, "y", **kw)
    elif name == "imputation":
        res = est.imputation(df, "y", **kw)
    elif name == "sun_abraham":
        res = est.sun_abraham(df, "y", **kw)
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
    for fn in (est.callaway_santanna, est.sun_abraham):
        es = fn(df, "y", unit="unit", time="time", cohort="cohort", aggregation="dynamic", leads=3, lags=4,
                truth="tau")
        assert set(es["event_time"]) == {-3, -2, -1, 0, 1, 2, 3, 4}
        ref = es[es["event_time"] == -1].iloc[0]  # the base period: 0 by construction, like TWFE's
        assert ref["estimate"] == 0 and np.isnan(ref["se"])
        est_ = es[es["event_time"] != -1]
        z = (est_["estimate"] - est_["true_effect"]).abs() / est_["se"]
        assert (z < 3.5).all(), es
        post = es[es["event_time"] >= 0].sort_values("event_time")
        assert np.allclose(post["true_effect"], 0.5 + 0.5 * post["event_time"])
        assert (es.loc[es["event_time"] < 0, "true_effect"] == 0).all()


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
    errors = {"twfe": [], "cs_notyet": [], "did2s": [], "imputation": [], "sun_abraham": []}
    truths = {k: [] for k in errors}
    ses = {k: [] for k in errors}
    for seed in range(25):
        df = _growing(seed)
        kw = dict(unit="unit", time="time", cohort="cohort", truth="tau")
        for name, res in (("twfe", est.twfe_did(df, "y", **kw)),
                          ("cs_notyet", est.callaway_santanna(df, "y", control="notyet", **kw)),
                          ("did2s", est.did2s(df, "y", **kw)),
                          ("imputation", est.imputation(df, "y", **kw)),
                          ("sun_abraham", est.sun_abraham(df, "y", **kw))):
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
    # Callaway-Sant'Anna, two-stage DiD, imputation and Sun-Abraham (the last cohort as control,
    # there being no never-treated unit): no bias beyond Monte Carlo noise, and small.
    for name in ("cs_notyet", "did2s", "imputation", "sun_abraham"):
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
    assert {"twfe", "did2s", "imputation", "cs_notyet", "sun_abraham"} <= set(att["estimator"])
    assert set(est.EVENT_STUDIES) <= set(dyn["estimator"])


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
                est.callaway_santanna(df, "y", control="never", **kw), est.sun_abraham(df, "y", **kw),
                est.imputation(df, "y", **kw)):
        assert res.iloc[0]["estimate"] == pytest.approx(did, abs=1e-8), res
    # pyfixest's first stage drops singleton fixed effects: a unit needs two untreated periods.
    with pytest.raises(ValueError, match="imputed"):
        est.did2s(df, "y", **kw)
    # Callaway-Sant'Anna's SE of the 2x2 is the influence-function SE of the change,
    # sqrt(var_T / n_T + var_C / n_C) with variances over n, times the CR1 factor sqrt(G / (G - 1)).
    cs = est.callaway_santanna(df, "y", **kw).iloc[0]
    half = n // 2
    influence = np.sqrt(dy[:half].var(ddof=0) / half + dy[half:].var(ddof=0) / half)
    assert cs["se"] == pytest.approx(influence * np.sqrt(n / (n - 1)), rel=1e-8)
    assert cs["n_clusters"] == n


def test_real_data_style_inputs():
    """String unit ids, year labels with a gap, nullable cohorts, an always-treated unit and a
    cohort after the window: the functions take the data as an analyst would have it."""
    df = synthetic_panel(n_units=40, n_periods=8, cohorts=(3, 5), seed=2)
    df = df[df["time"] != 2001].copy()  # a missing survey round
    df["unit"] = "nb-" + df["unit"].astype(str)
    df["cohort"] = df["cohort"].astype("Int64")
    df.loc[df["unit"] == "nb-0", "cohort"] = 2000  # treated from the first period: dropped
    df.loc[df["unit"] == "nb-1", "cohort"] = 2030  # after the window: never treated within it
    for fn in (est.twfe_did, est.did2s, est.callaway_santanna, est.imputation, est.sun_abraham):
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


# --- parity with hand computations and with diff-diff itself -------------------------------------------


def test_cs_group_time_effects_equal_hand_computed_two_by_twos():
    """Every ATT(g, t) is the 2 x 2 DiD of the cohort against its comparison group from the base
    period g - 1, and the overall ATT their cohort-size-weighted post-treatment average."""
    df = synthetic_panel(n_units=30, n_periods=6, cohorts=(2, 4), never_share=0.2,
                         effect=lambda e, g: 1.0 + e + (g == 2), seed=11)
    w = df.pivot(index="unit", columns="time", values="y")
    coh = df.drop_duplicates("unit").set_index("unit")["cohort"]
    for control in ("never", "notyet"):
        cells = est.group_time_att(df, "y", control=control, truth="tau")
        checked = 0
        for c in cells.itertuples(index=False):
            g, t = (int(v) for v in c.term.replace("g=", "").replace("t=", "").split(","))
            base = g - 1
            if t == base:
                assert c.estimate == 0 and np.isnan(c.se)
                continue
            if control == "never":
                ctrl = coh.isna()
            else:
                ctrl = coh.isna() | ((coh > max(t, base)) & (coh != g))
            dy = w[t] - w[base]
            hand = dy[coh == g].mean() - dy[ctrl].mean()
            assert c.estimate == pytest.approx(hand, abs=1e-12), (control, g, t)
            checked += 1
        assert checked >= 10
        post = cells[cells["event_time"] >= 0]
        size = post["term"].str.extract(r"g=(\d+)")[0].astype(float).map(coh.value_counts())
        overall = est.callaway_santanna(df, "y", control=control, truth="tau").iloc[0]
        assert overall["estimate"] == pytest.approx(np.average(post["estimate"], weights=size), abs=1e-12)
        assert overall["true_effect"] == pytest.approx(np.average(post["true_effect"], weights=size), abs=1e-12)


def test_wrappers_reproduce_diff_diff_estimates_and_standard_errors():
    """The wrappers recode the panel (period positions, cohort sentinel) before calling diff-diff:
    their estimates and standard errors equal diff-diff's on the original labels; Callaway-Sant'Anna
    equals the unclustered (R ``did``) SE times the CR1 factor sqrt(G / (G - 1)); the imputation
    estimate equals Gardner's two-stage DiD (pyfixest)."""
    import diff_diff as dd

    df = synthetic_panel(n_units=80, n_periods=12, cohorts=(3, 5, 7, 9), never_share=0.25,
                         effect=lambda e, g: 1.0 + e, seed=21)
    raw = df.assign(first_treat=df["cohort"].fillna(0))
    fit_kw = dict(outcome="y", unit="unit", time="time", first_treat="first_treat")
    kw = dict(unit="unit", time="time", cohort="cohort")
    G = df["unit"].nunique()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for control, group in (("notyet", "not_yet_treated"), ("never", "never_treated")):
            ref = dd.CallawaySantAnna(control_group=group, estimation_method="reg", base_period="universal",
                                      cluster="unit").fit(raw, **fit_kw)
            r_did = dd.CallawaySantAnna(control_group=group, estimation_method="reg").fit(raw, **fit_kw)
            ours = est.callaway_santanna(df, "y", control=control, **kw).iloc[0]
            assert ours["estimate"] == pytest.approx(ref.overall_att, abs=1e-12)
            assert ours["se"] == pytest.approx(ref.overall_se, rel=1e-10)
            assert ours["se"] == pytest.approx(r_did.overall_se * np.sqrt(G / (G - 1)), rel=1e-8)
            # the interval is the library's clustered one: Student-t with G - 1 degrees of freedom
            assert (ours["ci_low"], ours["ci_high"]) == pytest.approx(ref.overall_conf_int, rel=1e-8)
        sa = dd.SunAbraham(control_group="never_treated", cluster="unit").fit(raw, **fit_kw)
        ours = est.sun_abraham(df, "y", **kw).iloc[0]
        assert (ours["estimate"], ours["se"]) == pytest.approx((sa.overall_att, sa.overall_se), rel=1e-10)
        ours_es = est.sun_abraham(df, "y", aggregation="dynamic", **kw).set_index("event_time")
        for e, v in sa.event_study_effects.items():
            assert ours_es.loc[float(e), "estimate"] == pytest.approx(v["effect"], abs=1e-10)
            assert ours_es.loc[float(e), "se"] == pytest.approx(v["se"], rel=1e-10)
        imp = dd.ImputationDiD(cluster="unit").fit(raw, **fit_kw)
        ours = est.imputation(df, "y", **kw).iloc[0]
        assert (ours["estimate"], ours["se"]) == pytest.approx((imp.overall_att, imp.overall_se), rel=1e-10)
    # (pyfixest demeans iteratively: equal to its convergence tolerance)
    assert ours["estimate"] == pytest.approx(est.did2s(df, "y", **kw).iloc[0]["estimate"], abs=1e-6)


def test_bacon_decomposition_adds_up_to_twfe_and_shows_the_forbidden_comparisons():
    df = synthetic_panel(n_units=60, n_periods=12, cohorts=(3, 6, 9), never_share=0.25, noise=0.0,
                         effect=lambda e, g: 1.0 + e, seed=4)
    bacon = est.bacon_decomposition(df, "y", truth="tau")
    twfe = est.twfe_did(df, "y").iloc[0]["estimate"]
    assert bacon["weight"].sum() == pytest.approx(1.0, abs=1e-10)
    assert (bacon["weight"] * bacon["estimate"]).sum() == pytest.approx(twfe, abs=1e-8)
    assert bacon["twfe_estimate"].iloc[0] == pytest.approx(twfe, abs=1e-8)
    assert set(bacon["comparison_type"]) == {"treated_vs_never", "earlier_vs_later", "later_vs_earlier"}
    assert set(bacon["treated_cohort"]) == {2003, 2006, 2009} and "never" in set(bacon["control_cohort"])
    # Noise-free with common trends: clean comparisons are exact, already-treated controls are not.
    clean = bacon[bacon["comparison_type"] != "later_vs_earlier"]
    forbidden = bacon[bacon["comparison_type"] == "later_vs_earlier"]
    assert np.allclose(clean["estimate"], clean["true_effect"], atol=1e-8)
    assert (forbidden["estimate"] < forbidden["true_effect"] - 0.5).all()


def test_honest_did_bounds_widen_with_m_and_reduce_to_the_event_study_at_zero():
    df = synthetic_panel(n_units=80, n_periods=12, cohorts=(5, 7), never_share=0.3,
                         effect=lambda e, g: 1.0 + 0.25 * e, seed=9)
    kw = dict(unit="unit", time="time", cohort="cohort", leads=3, lags=3, truth="tau")
    hd = est.honest_did(df, "y", M=(0, 0.5, 1, 2), **kw)
    es = est.callaway_santanna(df, "y", aggregation="dynamic", **kw)
    post = es[es["event_time"] >= 0]
    assert list(hd["M"]) == [0, 0.5, 1, 2]
    assert (hd["n_pre"] == 2).all() and (hd["n_post"] == 4).all()  # leads -3, -2 (-1 is the base)
    # the target is the equal-weight mean of the event-time effects e = 0..3, and its truth
    assert hd["estimate"].iloc[0] == pytest.approx(post["estimate"].mean(), abs=1e-10)
    assert hd["true_effect"].iloc[0] == pytest.approx(post["true_effect"].mean(), abs=1e-12)
    zero = hd.iloc[0]
    assert zero["lb"] == pytest.approx(zero["estimate"]) and zero["ub"] == pytest.approx(zero["estimate"])
    assert zero["ci_low"] <= zero["true_effect"] <= zero["ci_high"]
    assert (np.diff(hd["ub"] - hd["lb"]) > 0).all() and (np.diff(hd["ci_high"] - hd["ci_low"]) > 0).all()
    assert hd["breakdown_M"].nunique() == 1


def test_every_estimator_code_has_a_full_name():
    for code in (*est.ESTIMATORS, *est.EVENT_STUDIES):
        assert est.estimator_name(code) != code
        assert code in est.ESTIMATOR_LIBRARY

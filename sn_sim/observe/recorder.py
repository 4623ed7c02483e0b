"""The panel recorder: one row per neighbourhood per recorded week, into preallocated arrays.

Much cheaper than Mesa's per-agent DataCollector at this size: every column is a (weeks, n)
array filled from the world at the end of each week (from week 0; the burn-in is not
recorded). The columns and their meaning are the outcome registry's
(:mod:`sn_sim.observe.outcomes`); ``panel()`` turns them into the tidy frame.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

# Per-week flows (panel column <- tally field) and stock arrays: defined in the column registry.
from sn_sim.observe.columns import FLOW_COLUMNS, STOCK_COLUMNS
from sn_sim.scenario.calendar import WEEKS_PER_YEAR
from sn_sim.world import World
from sn_sim.world.geography import LAND_USES
from sn_sim.world.neighbourhoods import STAGES


class PanelRecorder:
    def __init__(self, world: World):
        self.world = world
        T, n = world.clock.n_weeks, world.geo.n
        self.columns = {c: np.zeros((T, n)) for c in list(FLOW_COLUMNS) + STOCK_COLUMNS}
        self.block_rows: list[pd.DataFrame] = []

    def record_week(self) -> None:
        m = self.world
        w, st, t = m.clock.week, m.places, m.tally
        scale = m.scale
        cols = self.columns
        for col, name in FLOW_COLUMNS.items():
            cols[col][w] = getattr(t, name)
        cols["stage_code"][w] = st.stage
        cols["is_control"][w] = st.is_control & (st.cohort_year == 0)
        cols["population"][w] = m.inhabitants

        # Survey-style rates, as INEI defines them (docs/data_dictionary.md): counts per
        # neighbourhood, taken chunk by chunk of whole neighbourhoods (cache-sized passes).
        counts = self._survey_counts()
        n15 = np.maximum(counts["home15"], 1)
        nv = counts["victims15"]
        cols["victimisation_12m"][w] = nv / n15
        cols["reporting_rate"][w] = np.where(nv > 0, counts["reported15"] / np.maximum(nv, 1), np.nan)
        cols["trust_police"][w] = counts["trusting_adults"] / np.maximum(counts["adults"], 1)
        cols["insecurity"][w] = counts["insecure15"] / n15
        cols["incarcerated"][w] = counts["in_prison"] / scale
        cols["junta_members"][w] = counts["junta"] / scale
        youth, at_risk, involved = m.youth_at_home()  # prisoners are counted in `incarcerated`
        cols["youth"][w] = youth / scale
        cols["youth_at_risk"][w] = at_risk / scale
        cols["youth_in_gangs"][w] = involved / scale
        cols["in_programs"][w] = st.in_programs
        cols["collective_efficacy"][w] = st.efficacy
        cols["alcohol_consumption"][w] = st.alcohol
        cols["beneficiaries_to_date"][w] = st.beneficiaries
        cols["culture_orgs_trained"][w] = st.culture_orgs_trained
        cols["culture_projects_financed"][w] = st.culture_projects_financed
        # The scores' ledgers, as means per resident (sums over all of a neighbourhood's agents).
        agents = m.agents_per_neighbourhood
        for score, ledger in (("trust", m.trust_ledger), ("insecurity", m.insecurity_ledger)):
            cols[f"{score}_score"][w] = ledger.score_sum / agents
            for source, row in zip(ledger.sources, ledger.rows):
                cols[f"{score}_from_{source}"][w] = row / agents

    def _survey_counts(self) -> dict[str, np.ndarray]:
        """Per neighbourhood: residents 15+ at home, those victimised in the last 12 months and
        those who reported it, insecure ones, adults at home and those trusting the police,
        prisoners and junta members (agent units)."""
        m = self.world
        r, ages, w = m.residents, m.ages, m.clock.week
        trust_threshold = m.scenario.trust.threshold
        insecurity_threshold = m.scenario.insecurity.threshold
        if m.compiled:
            from sn_sim.world.compiled import SURVEY_COUNTS, survey_counts
            # Thresholds in float32: NumPy compares a float32 array with a Python float so.
            counts = survey_counts(m.layout.nb_start, r.released_week, ages.age15, ages.adult, r.last_victim_week,
                                   r.last_reported, r.insecurity, r.trust, r.junta, w, WEEKS_PER_YEAR,
                                   np.float32(insecurity_threshold), np.float32(trust_threshold))
            return dict(zip(SURVEY_COUNTS, counts.T))

        def masks(res: slice) -> dict[str, np.ndarray]:
            free = r.released_week[res] <= w
            home15 = ages.age15[res] & free
            recent = (w - r.last_victim_week[res].astype(np.int32)) < WEEKS_PER_YEAR  # the last 12 months
            victims15 = recent & home15
            adults = ages.adult[res] & free
            return {"home15": home15, "victims15": victims15, "reported15": victims15 & r.last_reported[res],
                    "insecure15": home15 & (r.insecurity[res] >= insecurity_threshold),
                    "adults": adults, "trusting_adults": adults & (r.trust[res] >= trust_threshold),
                    "in_prison": ~free, "junta": r.junta[res]}

        return m.count_by_neighbourhood(masks)

    def close_year(self, year: int) -> None:
        """Block-level offences of the closing calendar year (for hot spots and concentration curves)."""
        m = self.world
        blocks = m.blocks
        n, B = blocks.offences_year.shape
        rows, cols = np.divmod(np.arange(B), m.geo.cols)
        self.block_rows.append(pd.DataFrame({
            "year": np.int16(year),
            "neighbourhood": np.repeat(np.arange(n, dtype=np.int32), B),
            "block": np.tile(np.arange(B, dtype=np.int16), n),
            "row": np.tile(rows.astype(np.int16), n),
            "col": np.tile(cols.astype(np.int16), n),
            "land_use": pd.Categorical.from_codes(m.geo.land_use.ravel(), categories=list(LAND_USES)),
            "offences": blocks.offences_year.ravel() / m.scale,
            "patrol_hours_last_week": blocks.patrol_hours.ravel(),
            "space_recovered": blocks.recovered.ravel(),
        }))
        blocks.offences_year[:] = 0

    def panel(self, scenario_name: str, replicate: int, seed: int) -> pd.DataFrame:
        m = self.world
        T, n = m.clock.n_weeks, m.geo.n
        st = m.places
        dates = pd.to_datetime([m.clock.date_of(w) for w in range(T)])
        cohort = st.cohort_year.astype(float)
        cohort[cohort == 0] = np.nan
        district = pd.Categorical(np.array(m.geo.district_names)[m.geo.district])
        city = pd.Categorical(np.array(m.geo.city_names)[m.geo.city])
        df = pd.DataFrame({
            "scenario": scenario_name,
            "replicate": np.int32(replicate),
            "seed": np.int64(seed),
            "week": np.repeat(np.arange(T, dtype=np.int32), n),
            "date": np.repeat(dates, n),
            "neighbourhood": np.tile(np.arange(n, dtype=np.int32), T),
            "neighbourhood_name": pd.Categorical(np.tile(m.geo.names, T)),
            "district": pd.Categorical(np.tile(district, T), categories=district.categories),
            "city": pd.Categorical(np.tile(city, T), categories=city.categories),
            "lima": np.tile(m.geo.lima, T),
            "treated": np.tile(st.cohort_year > 0, T),
            "cohort_year": pd.array(np.tile(cohort, T), dtype="Int16"),
        })
        stage_code = self.columns["stage_code"].astype(np.int8).ravel()
        df["stage"] = pd.Categorical.from_codes(stage_code, categories=list(STAGES))
        for c in STOCK_COLUMNS + list(FLOW_COLUMNS):
            if c == "stage_code":
                continue
            df[c] = self.columns[c].ravel()
        df["is_control"] = df["is_control"].astype(bool)
        df["offences_per_1000_week"] = 1000 * df["offences"] / df["population"]
        df["activities_culture"] = df["culture_workshops"] + df["culture_activities"]
        df["activities"] = df[["activities_police", "activities_social", "activities_community", "activities_culture"]].sum(axis=1)
        df["cost_to_date_usd"] = df.groupby("neighbourhood", observed=True)["cost_usd"].cumsum()
        df["spaces_recovered_to_date"] = df.groupby("neighbourhood", observed=True)["spaces_recovered"].cumsum()
        return df

    def neighbourhoods(self, replicate: int) -> pd.DataFrame:
        """Static facts per neighbourhood and the Ministry's decisions in this replicate."""
        m = self.world
        st = m.places
        launch = [m.clock.date_of(int(w)) if c else None
                  for w, c in zip(st.launch_week, st.cohort_year)]
        cohort = st.cohort_year.astype(float)
        cohort[cohort == 0] = np.nan
        return pd.DataFrame({
            "replicate": np.int32(replicate),
            "neighbourhood": np.arange(m.geo.n, dtype=np.int32),
            "neighbourhood_name": m.geo.names,
            "district": np.array(m.geo.district_names)[m.geo.district],
            "city": np.array(m.geo.city_names)[m.geo.city],
            "lima": m.geo.lima,
            "inhabitants": m.geo.inhabitants,
            "crime_level": m.geo.crime_level,
            "adjacent": [a.astype(np.int32).tolist() for a in m.geo.adjacent],
            "cohort_year": pd.array(cohort, dtype="Int16"),
            "launch_date": pd.to_datetime(launch),
            "is_control": st.is_control & (st.cohort_year == 0),
            "diagnosis_score": st.diagnosis_score,
        })

    def blocks(self, replicate: int) -> pd.DataFrame:
        if not self.block_rows:
            return pd.DataFrame()
        df = pd.concat(self.block_rows, ignore_index=True)
        df.insert(0, "replicate", np.int32(replicate))
        return df



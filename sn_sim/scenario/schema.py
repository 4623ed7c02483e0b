"""The scenario schema: every section and parameter of a simulation, validated.

Every parameter carries a unit, a default, a range and a source (or a stated assumption) in
its field metadata; ``sn-sim schema`` prints them and ``docs/ODD.md`` tabulates them. Errors
are raised as :class:`ScenarioError` with one line: ``file: key: reason``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import unicodedata
from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError, field_validator,
    model_validator,
)

from sn_sim.errors import ScenarioError
from sn_sim.scenario.keys import apply_overrides


def P(default: Any, *, unit: str, source: str, description: str, ge=None, le=None, gt=None, lt=None):
    """A parameter field: default, unit, range and source travel with the value."""
    return Field(
        default,
        ge=ge,
        le=le,
        gt=gt,
        lt=lt,
        description=description,
        json_schema_extra={"unit": unit, "source": source},
    )


def fold_name(name: str) -> str:
    """A name without accents, case or extra spaces ("Rímac " -> "rimac"), for matching."""
    text = unicodedata.normalize("NFKD", name)
    return " ".join("".join(ch for ch in text if not unicodedata.combining(ch)).casefold().split())


def did_you_mean(name: str, known: list[str]) -> str:
    """" (did you mean 'X'?)" for the closest known name, or ""."""
    folded = {fold_name(k): k for k in known}
    close = difflib.get_close_matches(fold_name(name), list(folded), n=1, cutoff=0.6)
    return f" (did you mean {folded[close[0]]!r}?)" if close else ""


def toml_text(value: Any) -> str:
    """A value as a scenario file spells it (``true``, ``"0.02"``, ``2016-01-04``), for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        quoted = json.dumps(value, ensure_ascii=False)
        return quoted if len(quoted) <= 60 else f"{quoted[:40]}... ({len(value):,} characters)"
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


class Section(BaseModel):
    """Base of every scenario table. Unknown keys are errors, and values are strict: a number must
    be a number (an integer is fine where a float is expected), a flag true or false, a name a
    string -- ``scale = true`` or ``scale = "0.02"`` is a mistake to report, not to convert."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True)


def _date_input(value: Any) -> Any:
    """Dates arrive as TOML dates, or as ISO strings when a resolved scenario is read back from
    JSON (manifests, run tasks); a date-time, number or boolean is a mistake, not a date."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise ValueError(f"expected a date like 2016-01-04, got {toml_text(value)}")


# A date: a TOML date, or the ISO string a JSON round trip makes of it.
Date = Annotated[dt.date, BeforeValidator(_date_input)]

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Shares written to six decimals (1/3 as 0.333333) must pass; a real mistake is far larger.
SHARE_TOLERANCE = 1e-6


def check_sums_to_one(what: str, shares: list[float]) -> None:
    """ValueError unless ``shares`` sum to 1 within SHARE_TOLERANCE, with enough digits to see why."""
    total = sum(shares)
    # A sum of decimals misses the tolerance by a rounding error (0.4 + 0.35 + 0.249999 is
    # 1 - 1.00000000003e-06): allow a relative margin far below anything a user writes.
    if abs(total - 1) > SHARE_TOLERANCE * (1 + 1e-6):
        raise ValueError(f"{what} must sum to 1 (they sum to {total:.12g}, off by {total - 1:+.3g}; "
                         f"the tolerance is {SHARE_TOLERANCE:g})")


# --- Calendar and geography --------------------------------------------------------------


class Calendar(Section):
    burn_in_weeks: int = P(104, ge=0, le=520, unit="weeks", description="unrecorded weeks before start so that crime, attractiveness, the police map, trust, the prison population and 12-month survey windows settle",
                           source="standard ABM practice (assumption); 104 weeks: the settling schedule of docs/ODD.md §5 fits with room to spare")
    justice_probe_weeks: int = P(26, ge=0, le=260, unit="weeks", description="burn-in weeks, once trust has settled (trust.settling_weeks), in which the conviction probability per offence attempt is measured; the justice state and youth gang states are then redrawn from the stationary distribution of the flows (0: keep the initial draw)",
                                 source="assumption: half a year of recorded offences estimates it to within a few per cent at scale 0.05")
    reference_weeks: int = P(26, ge=1, le=260, unit="weeks", description="last burn-in weeks whose mean offence rate is the pre-period reference of efficacy and insecurity",
                             source="assumption: a mean over half a year, not a one-week snapshot of the moving average")
    start: Date = Field(
        dt.date(2015, 1, 5),
        description="first simulated week (a Monday); one pre-period year before the pilot",
        json_schema_extra={"unit": "date", "source": "DESIGN.md §2 Scales"},
    )
    end: Date = Field(
        dt.date(2019, 12, 30),
        description="last simulated week starts on or before this date",
        json_schema_extra={"unit": "date", "source": "DESIGN.md §2 Scales"},
    )

    @field_validator("start")
    @classmethod
    def _monday(cls, start: dt.date) -> dt.date:
        """Weeks run Monday to Sunday: the panel's dates and the 12-month windows assume it."""
        if start.weekday() != 0:
            before = start - dt.timedelta(days=start.weekday())
            raise ValueError(f"{start} is a {WEEKDAYS[start.weekday()]}; weeks start on a Monday "
                             f"(the nearest are {before} and {before + dt.timedelta(days=7)})")
        return start

    @model_validator(mode="after")
    def _ordered(self):
        if self.end <= self.start:
            raise ValueError("calendar.end must be after calendar.start")
        return self


class District(Section):
    name: str = Field(description="district name as INEI spells it (accents dropped)")
    city: str = Field(description="city or province the district belongs to")
    neighbourhoods: int = Field(
        ge=1, le=200, description="candidate neighbourhoods of 10,000-20,000 inhabitants in the district",
        json_schema_extra={"unit": "neighbourhoods", "source": "assumption: urban districts of the candidate pool"},
    )
    crime_level: float = P(
        1.0, ge=0.2, le=5.0, unit="multiplier", description="district offending level relative to the national urban mean",
        source="assumption; INEI: victimisation varies c. 0.6-1.3x across urban areas",
    )
    lima: bool = Field(False, description="part of Lima Metropolitana (for Lima-only rates)")


class Population(Section):
    scale: float = P(
        1.0, gt=0.0, le=1.0, unit="agents per inhabitant",
        description="share of inhabitants simulated; counts are reported per inhabitant so rates stay per-capita correct",
        source="DESIGN.md §2 Scales",
    )
    inhabitants_min: int = P(10_000, ge=100, le=100_000, unit="persons", description="smallest neighbourhood",
                             source="targets: neighbourhood_population (Basombrio)")
    inhabitants_max: int = P(20_000, ge=100, le=100_000, unit="persons", description="largest neighbourhood",
                             source="targets: neighbourhood_population (Basombrio)")
    block_rows: int = P(6, ge=2, le=30, unit="blocks", description="rows of the block grid of one neighbourhood",
                        source="targets: neighbourhood_blocks = 60 (6 x 10)")
    block_cols: int = P(10, ge=2, le=30, unit="blocks", description="columns of the block grid of one neighbourhood",
                        source="targets: neighbourhood_blocks = 60 (6 x 10)")
    age_flat_until: int = P(30, ge=1, le=80, unit="years", description="age pyramid: equal cohorts up to this age, then a linear decline",
                            source="INEI Censo 2017 urban pyramid, stylised (gives c. 20% aged 0-11, 22% 12-24, 9% 65+)")
    age_max: int = P(90, ge=40, le=110, unit="years", description="age pyramid: oldest age", source="INEI Censo 2017 (stylised)")
    prison_rate: float = P(300.0, ge=0, le=5000, unit="per 100,000 inhabitants", description="prison population the burn-in starts from (the justice state is then redrawn from the flows' steady state once the conviction probability is measured, calendar.justice_probe_weeks)",
                           source="INPE 2015: c. 77,000 inmates for 31 million (c. 250 per 100,000), higher in candidate neighbourhoods")
    risk_mean: float = P(0.35, ge=0.01, le=0.99, unit="score 0-1", description="mean individual risk-factor score",
                         source="assumption (scale-free score); Farrington 1995 risk-factor framework")
    risk_concentration: float = P(6.0, ge=0.5, le=100, unit="Beta a+b", description="concentration of the Beta risk distribution",
                                  source="assumption")
    deprivation_sd: float = P(0.3, ge=0, le=2, unit="log-multiplier SD", description="between-neighbourhood spread of deprivation",
                              source="assumption; Sampson et al. 1997 neighbourhood variation")
    female_share: float = P(0.5, ge=0, le=1, unit="share of residents", description="residents who are female",
                            source="assumption: an even split (INEI Censo 2017 counts about 51% women)")
    risk_deprivation_effect: float = P(0.5, ge=0, le=3, unit="log-multiplier per unit deprivation",
                                       description="rise of a neighbourhood's mean risk score with its deprivation: mean risk = risk_mean x exp(effect x deprivation)",
                                       source="assumption (mechanism: Sampson et al. 1997 concentrated disadvantage): half the effect deprivation has on the crime level")
    risk_mean_min: float = P(0.02, ge=0.001, le=0.5, unit="score 0-1", description="floor on a neighbourhood's mean risk score after the deprivation shift",
                             source="assumption: keeps the Beta risk distribution proper; does not bind at the defaults")
    risk_mean_max: float = P(0.95, ge=0.5, le=0.999, unit="score 0-1", description="cap on a neighbourhood's mean risk score after the deprivation shift",
                             source="assumption: keeps the Beta risk distribution proper; does not bind at the defaults")


# --- Land use: where offences can happen ------------------------------------------------------


class LandUse(Section):
    """What each block is used for: crime generators and attractors (Brantingham & Brantingham
    1995) set where offenders go and who is there to be victimised."""

    markets: int = P(1, ge=0, le=10, unit="blocks per neighbourhood", description="market blocks (mercados de abastos) in each neighbourhood",
                     source="value: INEI Censo Nacional de Mercados de Abastos 2016 (c. 2,600 markets, about one per 10,000 urban inhabitants), rounded to one per neighbourhood of 10,000-20,000")
    transport_nodes: int = P(1, ge=0, le=10, unit="blocks per neighbourhood", description="transport-node blocks (main-avenue stops, paraderos) in each neighbourhood",
                             source="assumption: each neighbourhood has one main stop on the avenue that serves it")
    commercial_share: float = P(0.1, ge=0, le=0.5, unit="share of other blocks", description="blocks (besides markets and transport nodes) that are commercial strips",
                                source="assumption: shops line the avenues of low-income Lima neighbourhoods; range wide")
    nightlife_share: float = P(0.03, ge=0, le=0.3, unit="share of other blocks", description="blocks (besides markets and transport nodes) with bars and discos",
                               source="assumption; range wide")
    attractor_commercial: float = P(3.0, ge=1, le=30, unit="multiplier vs. a residential block", description="static attractiveness of a commercial block relative to a residential one",
                                    source="mechanism: Brantingham & Brantingham 1995 (crime generators: many targets); Bernasco & Block 2011 (robberies concentrate at blocks with shops and facilities); value assumed")
    attractor_market: float = P(10.0, ge=1, le=100, unit="multiplier vs. a residential block", description="static attractiveness of a market block relative to a residential one",
                                source="mechanism: Brantingham & Brantingham 1995 (markets are crime generators: crowds and cash); value assumed")
    attractor_transport: float = P(6.0, ge=1, le=100, unit="multiplier vs. a residential block", description="static attractiveness of a transport-node block relative to a residential one",
                                   source="mechanism: Bernasco & Block 2011 (transit stations raise block robbery counts); Brantingham & Brantingham 1995; value assumed")
    attractor_nightlife: float = P(6.0, ge=1, le=100, unit="multiplier vs. a residential block", description="static attractiveness of a nightlife block relative to a residential one",
                                   source="mechanism: Brantingham & Brantingham 1995 (bars as crime attractors); Bernasco & Block 2011; value assumed")
    nonresidential_density: float = P(0.3, ge=0, le=1, unit="residents per block vs. a residential block", description="how many residents live on a non-residential block relative to a residential one (home blocks are drawn in proportion)",
                                      source="assumption: shops and markets have dwellings above or behind them, fewer than a residential block")
    visitors_residential: float = P(0.2, ge=0, le=1, unit="share of victims", description="victims of offences at a residential block who are people passing through (residents of the neighbourhood or the next ones) rather than the block's own residents",
                                    source="assumption: most offences at residential blocks (burglary, theft at the door) hit the residents")
    visitors_nonresidential: float = P(0.8, ge=0, le=1, unit="share of victims", description="victims of offences at a market, transport, commercial or nightlife block who are people present from elsewhere (residents of the neighbourhood or the next ones) rather than the block's residents",
                                       source="assumption (mechanism: Brantingham & Brantingham 1995: generators draw victims from a wide area)")


# --- Crime, reporting, perceptions ---------------------------------------------------------


class Crime(Section):
    offending_rate: float = P(0.04, gt=0, le=0.2, unit="attempts per person-week",
                              description="weekly offence-attempt probability of a reference resident (male, 18-24, mean risk)",
                              source="calibrated to INEI victimisation (targets victimization_*)")
    female_factor: float = P(0.2, ge=0, le=1, unit="multiplier", description="offending of females relative to males",
                             source="Steffensmeier & Allan 1996 (women c. 15-20% of offenders)")
    age_peak: float = P(20.0, ge=14, le=35, unit="years", description="peak of the age-crime curve",
                        source="Farrington 1986; Hirschi & Gottfredson 1983")
    age_spread: float = P(9.0, ge=2, le=30, unit="years", description="SD of the declining side of the age-crime curve (the rising side is crime.age_rise_steepness times steeper)",
                          source="Farrington 1986")
    risk_effect: float = P(2.0, ge=0, le=8, unit="log-odds per unit risk", description="offending gradient in the risk score",
                           source="Farrington 1995; Loeber & Farrington 1998")
    gang_multiplier: float = P(4.0, ge=1, le=20, unit="multiplier", description="offending of gang-involved youth vs. others",
                               source="Thornberry et al. 1993 (facilitation effect, 2-5x)")
    at_risk_multiplier: float = P(1.6, ge=1, le=10, unit="multiplier", description="offending of at-risk youth vs. others",
                                  source="assumption between none and involved")
    former_prisoner_multiplier: float = P(2.5, ge=1, le=10, unit="multiplier", description="offending of released prisoners within the recidivism window",
                                          source="Durose et al. 2014 recidivism; INPE c. 25-40% reincidence")
    recidivism_window_weeks: int = P(260, ge=1, le=2000, unit="weeks", description="weeks after release during which the former-prisoner multiplier applies",
                                     source="Durose et al. 2014 (most re-arrests within 3-5 years); Kurlychek et al. 2006 (risk converges after c. 7 years)")
    attractiveness_shape: float = P(1.6, ge=1.05, le=5, unit="Pareto shape", description="heavy-tailed place-specific part of a block's static attractiveness (times its land use's attractor weight, land_use.attractor_*)",
                                    source="assumption: unobserved place features (layout, lighting, guardianship at the place) vary widely between blocks of the same land use; checked against the concentration Weisburd 2015 reports, not fitted to it (docs/validation.md)")
    repeat_boost: float = P(0.05, ge=0, le=5, unit="relative rise per offence (inhabitant units) at a block of mean attractiveness", description="rise of a block's attractiveness after an offence there, relative to its static attractiveness, divided by it (a place with more targets rises less per offence)",
                            source="Short et al. 2008; Johnson & Bowers 2004 near-repeat")
    repeat_decay: float = P(0.15, ge=0.01, le=1, unit="per week", description="decay of dynamic attractiveness",
                            source="Short et al. 2008; near-repeat risk fades within 1-2 months (Johnson 2008)")
    activity_node_share: float = P(0.4, ge=0, le=1, unit="share", description="weight of the neighbourhood's activity nodes (markets, transport stops) against the home block as anchors of an offender's search for targets (0 = journeys from home only)",
                                   source="mechanism: Brantingham & Brantingham 1993 (crime pattern theory: offenders search around the nodes of their routine activities, not only home); Bernasco 2010; value assumed")
    patrol_max_deterrence: float = P(0.4, ge=0, le=1, unit="probability", description="deterrence of an attempt at a block saturated with patrol",
                                     source="Koper 1995 (diminishing returns of patrol dose); Braga et al. 2019 (modest hot-spot effects)")
    patrol_half_hours: float = P(24.0, gt=0, le=1000, unit="patrol hours per block-week", description="perceived patrol that gives half the maximum deterrence",
                                 source="assumption; Koper 1995; Sherman & Weisburd 1995 (dosage in Minneapolis hot spots)")
    guardianship_efficacy: float = P(0.6, ge=0, le=5, unit="per unit efficacy", description="deterrence hazard of collective efficacy",
                                     source="Sampson et al. 1997")
    guardianship_space: float = P(0.35, ge=0, le=5, unit="per unit condition", description="deterrence hazard of lit, maintained public space",
                                  source="Welsh & Farrington 2008 street lighting; Branas et al. 2018 vacant-lot greening")
    diffusion_weight: float = P(0.5, ge=0, le=1, unit="share", description="weight of neighbouring blocks' patrol in an offender's perceived guardianship",
                                source="Clarke & Weisburd 1994 diffusion of benefits; Weisburd et al. 2006")
    displacement_share: float = P(0.25, ge=0, le=1, unit="share", description="deterred attempts retried at an adjacent block, chosen by its attractiveness (else desisted)",
                                  source="mechanism: Guerette & Bowers 2009 (displacement is observed, in c. 26% of the observations they review, and is smaller than the crime prevented); value assumed: their 26% is a share of observations, not a retry probability")
    violent_share: float = P(0.22, ge=0, le=1, unit="share", description="share of offences that are violent (robbery with violence, assault) absent alcohol outlets",
                             source="INEI ENAPRES offence mix (assumption rounded)")
    alcohol_violence: float = P(0.5, ge=0, le=5, unit="relative increase per outlet", description="raise of the violent share per alcohol outlet at the block, scaled by consumption",
                                source="Livingston 2008; Gruenewald 2007 outlet density")
    lethality: float = P(0.0009, ge=0, le=0.1, unit="per violent offence", description="violent offences that kill",
                         source="calibrated to INEI homicide rate (targets homicide_rate_*)")
    age_rise_steepness: float = P(2.5, ge=1, le=10, unit="ratio", description="how much steeper the rising side of the age-crime curve is than its declining side (its SD is crime.age_spread divided by this)",
                                  source="assumption (mechanism: Farrington 1986: offending rises steeply in adolescence and declines slowly)")
    propensity_max: float = P(0.9, gt=0, le=1, unit="attempts per person-week", description="cap on a resident's weekly offence-attempt probability",
                              source="assumption: even the most active offenders do not attempt every week; binds only for rare combinations of multipliers")
    journey_decay_blocks: float = P(2.0, gt=0, le=100, unit="blocks", description="distance over which an offender's weight for a target block falls by a factor e from each anchor of the search (home block, activity nodes), across neighbourhood borders too (weight exp(-distance / this))",
                                    source="mechanism: distance decay of journeys to crime (Bernasco 2010; Townsley & Sidebottom 2010: most trips are short); value assumed: with c. 100 m blocks, half of the weight within c. 1.4 blocks (c. 150 m) of an anchor")
    violent_share_max: float = P(0.95, ge=0, le=1, unit="share", description="cap on the violent share of offences at a block with many alcohol outlets",
                                 source="assumption: some offences stay property offences at any outlet density")


class Reporting(Section):
    base: float = P(0.10, ge=0, le=1, unit="probability", description="reporting probability of a property-crime victim whose trust is at trust.threshold",
                    source="calibrated to INEI reporting rate (targets reporting_*)")
    trust_effect: float = P(2.0, ge=0, le=10, unit="log-odds per unit trust", description="reporting gradient in trust",
                            source="Tyler & Fagan 2008; Goudriaan et al. 2004; INEI reasons for not reporting")
    violent_bonus: float = P(0.8, ge=0, le=5, unit="log-odds", description="extra reporting of violent offences",
                             source="Skogan 1984; Tarling & Morris 2010")
    patrol_detection: float = P(0.01, ge=0, le=1, unit="per patrol hour per week", description="chance patrol at the block witnesses an offence",
                                source="assumption; Sherman & Weisburd 1995 observation rates")
    clearance: float = P(0.12, ge=0, le=1, unit="probability", description="recorded offences cleared by an arrest",
                         source="assumption; low clearance in Latin America (Dammert 2012)")
    conviction: float = P(0.3, ge=0, le=1, unit="probability", description="arrests leading to a custodial sentence",
                          source="assumption (with clearance and sentence_weeks it sets the steady prison population)")
    sentence_weeks: float = P(104.0, ge=1, le=1000, unit="weeks", description="mean custodial sentence (exponential)",
                              source="assumption; INPE sentence lengths (2-4 years typical)")
    memory_weeks: float = P(26.0, ge=1, le=260, unit="weeks", description="time constant of recorded crime the police use for hot zones",
                            source="assumption; hot spots identified from 6-12 months of calls (Sherman & Weisburd 1995)")


class Trust(Section):
    initial_a: float = P(2.0, gt=0, le=50, unit="Beta a", description="initial trust distribution (Beta a)",
                         source="calibrated: share trusting (>=0.5) c. 19% (targets trust_police)")
    initial_b: float = P(4.0, gt=0, le=50, unit="Beta b", description="initial trust distribution (Beta b)",
                         source="calibrated: share trusting (>=0.5) c. 19% (targets trust_police)")
    threshold: float = P(0.5, ge=0, le=1, unit="trust score", description="score at or above which a resident 'trusts the police (a lot or enough)'",
                         source="INEI ENAHO governance module wording; scale choice documented in ODD")
    relaxation: float = P(0.01, ge=0, le=1, unit="per week", description="pull of each person's trust back towards their own long-run level (effects fade without their causes)",
                          source="assumption; attitudes are sticky (Tyler 2006)")
    victim_penalty: float = P(0.04, ge=0, le=1, unit="trust score", description="trust lost by a victim whose offence gets no police response",
                              source="Skogan 2006 asymmetry; Bradford et al. 2009")
    response_gain: float = P(0.02, ge=0, le=1, unit="trust score", description="trust gained by a victim whose offender is arrested",
                             source="Skogan 2006 (gains smaller than losses)")
    visibility_gain: float = P(0.00002, ge=0, le=0.05, unit="trust score per extra patrol hour per block-week",
                               description="trust gained from extra visible patrol on one's block",
                               source="Kochel & Weisburd 2017 and Weisburd et al. 2011: hot-spot patrol barely moves legitimacy (small by assumption)")
    settling_factor: float = P(6.0, ge=1, le=20, unit="multiplier", description="during the first trust.settling_weeks of the burn-in, relaxation, victim_penalty and response_gain are multiplied by this factor: trust reaches the fixed point of its own dynamics (unchanged, the expected update being linear in trust) in weeks instead of years",
                               source="standard ABM practice (assumption): accelerated spin-up; 6 brings the time constant from c. 100 to c. 17 weeks")
    settling_weeks: int = P(48, ge=0, le=260, unit="weeks", description="burn-in weeks in which trust moves trust.settling_factor times faster",
                            source="assumption: c. 3 time constants of the accelerated dynamics")


class Insecurity(Section):
    initial_a: float = P(3.0, gt=0, le=50, unit="Beta a", description="initial perceived-insecurity distribution (Beta a)",
                         source="calibrated: c. 85-90% expect victimisation (targets insecurity_*)")
    initial_b: float = P(1.2, gt=0, le=50, unit="Beta b", description="initial perceived-insecurity distribution (Beta b)",
                         source="calibrated to targets insecurity_*")
    threshold: float = P(0.5, ge=0, le=1, unit="score", description="score at or above which a resident expects to be a victim in 12 months",
                         source="INEI ENAPRES wording")
    relaxation: float = P(0.05, ge=0, le=1, unit="per week", description="pull towards the level implied by neighbourhood crime, disorder and patrol",
                          source="assumption: fear of crime follows local conditions within months (Hale 1996)")
    crime_effect: float = P(0.4, ge=0, le=10, unit="score per offence per 100 residents-week", description="effect of the neighbourhood offence rate relative to the pre-period (fear follows crime only loosely)",
                            source="Hale 1996; Skogan & Maxfield 1981")
    disorder_effect: float = P(0.25, ge=0, le=5, unit="score per unit disorder", description="effect of physical disorder",
                               source="Skogan 1990; Wilson & Kelling 1982")
    patrol_effect: float = P(0.002, ge=0, le=1, unit="score per patrol hour per block-week", description="reassurance from visible extra patrol on the block",
                             source="Innes 2004 reassurance policing; Weisburd et al. 2011")
    victim_jump: float = P(0.2, ge=0, le=1, unit="score", description="jump in a victim's insecurity",
                           source="Skogan & Maxfield 1981")


# --- Youth, police, programs, community ----------------------------------------------------


class Youth(Section):
    min_age: int = P(12, ge=8, le=20, unit="years", description="youngest age in the youth group", source="DESIGN.md (about 12-24)")
    max_age: int = P(24, ge=15, le=35, unit="years", description="oldest age in the youth group", source="DESIGN.md (about 12-24)")
    onset_rate: float = P(0.004, ge=0, le=1, unit="per week", description="hazard none -> at risk at risk score 1",
                          source="assumption; Howell & Egley 2005 developmental model")
    recruitment_rate: float = P(0.004, ge=0, le=1, unit="per week", description="hazard at risk -> involved at risk score 1",
                                source="assumption; Thornberry et al. 2003")
    peer_effect: float = P(8.0, ge=0, le=100, unit="multiplier per gang share", description="peer influence of the neighbourhood's gang share on both hazards",
                           source="Haynie 2001; Thornberry et al. 2003 peer networks")
    recovery_rate: float = P(0.01, ge=0, le=1, unit="per week", description="hazard at risk -> none",
                             source="assumption")
    desistance_rate: float = P(0.008, ge=0, le=1, unit="per week", description="hazard involved -> none (gang membership lasts c. 1-2 years)",
                               source="Thornberry et al. 1993; Pyrooz 2014 (median membership c. 2 years)")
    enrolled_protection: float = P(0.5, ge=0, le=1, unit="hazard multiplier",
                                   description="onset and recruitment hazards of a youth while enrolled in a program or Culture Points workshop are multiplied by this",
                                   source="assumption: no source gives the value, and the channel (supervised time) is an assumption too: "
                                          "Gottfredson et al. 2004 found after-school programs' effects did not run through less unsupervised time")
    adult_desistance_factor: float = P(2.0, ge=1, le=20, unit="multiplier", description="faster desistance of gang members past the youth ages (maturing out)",
                                       source="Pyrooz 2014; Sampson & Laub 2003 (age-graded desistance)")


class Police(Section):
    routine_hours_per_block: float = P(2.0, ge=0, le=168, unit="patrol hours per block-week", description="ordinary PNP patrol in every neighbourhood",
                                       source="assumption")
    extra_officers: int = P(20, ge=0, le=500, unit="officers per neighbourhood", description="officers added to a treated neighbourhood at launch (in kind, PNP payroll)",
                            source="targets extra_police_example (Comas, 20 officers)")
    patrol_hours_per_officer: float = P(24.0, ge=0, le=60, unit="hours per officer-week", description="street patrol hours of one assigned officer",
                                        source="assumption: 48 h shifts, half on street patrol")
    officer_week_cost: float = P(230.0, gt=0, le=5000, unit="USD per officer-week", description="in-kind cost of one assigned officer (not in the Strategy budget)",
                                 source="assumption: PNP sub-officer pay c. PEN 3,000/month with overheads")
    hot_zone_share: float = P(0.6, ge=0, le=1, unit="share", description="share of extra patrol hours sent to hot zones chosen from recorded crime",
                              source="DESIGN: integrated patrol in hot zones; Braga et al. 2019")
    hot_zone_blocks: int = P(6, ge=1, le=100, unit="blocks", description="hot-zone blocks per neighbourhood",
                             source="assumption (10% of 60 blocks; Weisburd 2015)")
    patrol_hour_cost: float = P(12.0, gt=0, le=1000, unit="USD per patrol hour", description="budget cost of one extra patrol hour bought by the police pillar (fuel, overtime, equipment)",
                                source="assumption")
    community_officers: int = P(4, ge=0, le=100, unit="officers per neighbourhood", description="community-police officers in a treated neighbourhood",
                                source="assumption; Policia Comunitaria model (MININTER 2018)")
    contacts_per_officer: float = P(25.0, ge=0, le=500, unit="contacts per officer-week", description="resident contacts of one community officer",
                                    source="assumption")
    contact_min_age: int = P(15, ge=0, le=30, unit="years", description="youngest resident a community-police contact reaches (contacts drawn on younger residents are lost)",
                             source="assumption: community police talk to youth and adults; 15 is INEI's survey population")
    implementation_quality: float = P(0.6, ge=0, le=1, unit="share", description="share of community-police contacts that are procedurally just",
                                      source="Blair et al. 2021 (weak implementation); Gill et al. 2014")
    contact_gain: float = P(0.04, ge=0, le=1, unit="trust score", description="trust gained from a procedurally just contact",
                            source="Mazerolle et al. 2013 (LPI, small positive)")
    contact_loss: float = P(0.06, ge=0, le=1, unit="trust score", description="trust lost from a poor contact",
                            source="Skogan 2006 asymmetry")
    contacts_per_activity: float = P(60.0, gt=0, le=1000, unit="contacts", description="community-police contacts that make one reported activity (a meeting, a joint patrol)",
                                     source="assumption")
    contact_cost: float = P(4.0, gt=0, le=1000, unit="USD per contact", description="budget cost of one community-police contact (materials, meetings)",
                            source="assumption")
    operation_cost: float = P(6000.0, gt=0, le=1e6, unit="USD per operation", description="budget cost of one intelligence-led operation",
                              source="assumption")
    operation_removal: float = P(0.25, ge=0, le=1, unit="share", description="share of the neighbourhood's gang-involved residents an operation arrests",
                                 source="assumption; Braga & Weisburd 2012 focused deterrence")
    heavy_handedness: float = P(0.2, ge=0, le=1, unit="share", description="share of operations that are heavy-handed and cost trust",
                                source="assumption; Tyler 2006; Lessing 2017")
    raid_trust_loss: float = P(0.03, ge=0, le=1, unit="trust score", description="trust lost by residents of a raided block in a heavy-handed operation",
                               source="assumption; Tyler & Fagan 2008")
    split_patrol: float = P(0.55, ge=0, le=1, unit="share of police pillar", description="police money on extra patrol hours", source="assumption")
    split_community_policing: float = P(0.3, ge=0, le=1, unit="share of police pillar", description="police money on community-police contacts", source="assumption")
    split_intelligence: float = P(0.15, ge=0, le=1, unit="share of police pillar", description="police money on intelligence operations", source="assumption")

    @model_validator(mode="after")
    def _split(self):
        check_sums_to_one("police splits", [self.split_patrol, self.split_community_policing, self.split_intelligence])
        return self


ProgramTarget = Literal["youth_at_risk", "youth", "adults", "residents"]


class Program(Section):
    share: float = P(0.2, ge=0, le=1, unit="share of social pillar", description="social-pillar money on this program", source="assumption")
    target: ProgramTarget = Field("youth_at_risk", description="who is enrolled: youth_at_risk (by risk score), youth, adults or residents")
    cost_per_participant: float = P(150.0, gt=0, le=1e5, unit="USD per participant", description="cost of one enrolment",
                                    source="assumption; MIDIS/MTPE unit costs")
    dose_weeks: int = P(12, ge=1, le=104, unit="weeks", description="length of one enrolment", source="assumption")
    completion: float = P(0.7, ge=0, le=1, unit="probability", description="enrolments completed", source="assumption; typical 60-80% completion")
    risk_reduction: float = P(0.15, ge=0, le=1, unit="share of risk score", description="proportional reduction of the risk score on completion",
                              source="see ODD: Tolan et al. 2014 mentoring d≈0.1-0.3; Heller et al. 2017; Lipsey 2009")
    participants_per_activity: float = P(15.0, gt=0, le=1000, unit="persons", description="enrolments that make one reported activity (a group session or campaign)",
                                         source="assumption")
    effect_lag_weeks: int = P(0, ge=0, le=104, unit="weeks", description="weeks after completion before the effect starts",
                              source="Heller 2014 summer jobs (lagged effects)")


def _default_programs() -> dict[str, Program]:
    # Unit costs are assumptions scaled to Peruvian program costs (e.g. MTPE Jovenes Productivos,
    # MINEDU tutoring, MINSA community mental-health sessions); effects in docs/ODD.md §7.
    return {
        "education": Program(share=0.25, target="youth", cost_per_participant=80, dose_weeks=16, risk_reduction=0.10,
                             completion=0.75),
        "health": Program(share=0.15, target="residents", cost_per_participant=40, dose_weeks=4, risk_reduction=0.03,
                          completion=0.8),
        "labour": Program(share=0.25, target="youth_at_risk", cost_per_participant=200, dose_weeks=8, risk_reduction=0.20,
                          completion=0.65, effect_lag_weeks=8),
        "social_inclusion": Program(share=0.2, target="adults", cost_per_participant=60, dose_weeks=12, risk_reduction=0.05,
                                    completion=0.8),
        "justice": Program(share=0.15, target="youth_at_risk", cost_per_participant=150, dose_weeks=12, risk_reduction=0.2,
                           completion=0.6),
    }


class CulturePoints(Section):
    districts: list[str] = Field(default_factory=list, description="districts where Culture Points organisations work with the Strategy")
    training_start: Date = Field(dt.date(2019, 3, 4), description="start of the first (training) stage",
                                    json_schema_extra={"unit": "date", "source": "program report (2019, first stage)"})
    financing_start: Date = Field(dt.date(2019, 8, 5), description="start of financed projects",
                                     json_schema_extra={"unit": "date", "source": "program report (Aug-Dec 2019)"})
    financing_end: Date = Field(dt.date(2019, 12, 20), description="end of financed projects",
                                   json_schema_extra={"unit": "date", "source": "program report (Aug-Dec 2019)"})
    orgs_trained: int = P(12, ge=0, le=1000, unit="organisations", description="organisations trained in the first stage",
                          source="targets culture_orgs_trained")
    projects_per_district: int = P(1, ge=0, le=50, unit="projects", description="projects selected and financed per district",
                                   source="targets culture_projects_financed (one per district)")
    workshops_per_project: float = P(3.25, ge=0, le=100, unit="workshops", description="workshops run by one financed project",
                                     source="targets culture_workshops 13 / 4 projects")
    sessions_per_workshop: int = P(8, ge=1, le=100, unit="weekly sessions", description="length of a workshop",
                                   source="assumption")
    participants_per_workshop: float = P(18.7, ge=0, le=500, unit="persons", description="youth enrolled per workshop",
                                         source="targets culture_workshop_participants 243 / 13")
    activities_per_project: float = P(2.75, ge=0, le=100, unit="activities", description="one-off cultural activities per project",
                                      source="targets culture_activities 11 / 4")
    participants_per_activity: float = P(39.9, ge=0, le=5000, unit="persons", description="participants per one-off activity",
                                         source="targets culture_activity_participants 439 / 11")
    cost_per_project: float = P(15000.0, gt=0, le=1e6, unit="USD per project", description="grant to one financed project",
                                source="assumption; Puntos de Cultura grants PEN 30,000-60,000")
    completion: float = P(0.75, ge=0, le=1, unit="probability", description="workshop participants who complete it",
                          source="assumption; attendance in community arts programs")
    risk_reduction: float = P(0.10, ge=0, le=1, unit="share of risk score", description="risk reduction on workshop completion",
                              source="sports and arts programs: small effects (Spruit et al. 2016 d≈0.1)")
    effect_lag_weeks: int = P(0, ge=0, le=104, unit="weeks", description="weeks after a completed workshop before its risk reduction starts",
                              source="assumption: effects start on completion (sectoral programs have programs.<sector>.effect_lag_weeks)")
    space_use_gain: float = P(0.05, ge=0, le=1, unit="condition per activity", description="public-space condition gained by a block hosting an activity",
                              source="assumption; Culture Points recover public spaces (program report)")


class Community(Section):
    initial_efficacy: float = P(0.35, ge=0, le=1, unit="score 0-1", description="mean collective efficacy at the start",
                                source="assumption; Sampson et al. 1997 scale rescaled")
    efficacy_junta_gain: float = P(1.5, ge=0, le=20, unit="efficacy per junta share", description="target efficacy gained per share of adults in juntas",
                                   source="Sampson et al. 1997; Bellair 1997")
    efficacy_crime_erosion: float = P(0.6, ge=0, le=20, unit="efficacy per offence per 100 residents-week", description="efficacy eroded by crime",
                                      source="Sampson 2012; Markowitz et al. 2001 (feedback)")
    efficacy_disorder_erosion: float = P(0.2, ge=0, le=5, unit="efficacy per unit disorder", description="efficacy eroded by disorder",
                                         source="Skogan 1990")
    efficacy_relaxation: float = P(0.02, ge=0, le=1, unit="per week", description="speed of efficacy adjustment", source="assumption")
    efficacy_deprivation_effect: float = P(0.5, ge=0, le=3, unit="log-multiplier per unit deprivation",
                                           description="lower base collective efficacy in deprived neighbourhoods: base = initial_efficacy x exp(-effect x deprivation)",
                                           source="assumption (mechanism: Sampson et al. 1997: concentrated disadvantage lowers collective efficacy)")
    offence_rate_weeks: float = P(8.0, ge=1, le=260, unit="weeks", description="time constant of the neighbourhood offence rate (moving average) that collective efficacy and insecurity respond to",
                                  source="assumption: residents' sense of local crime follows the last two months or so")
    initial_junta_share: float = P(0.02, ge=0, le=1, unit="share of adults", description="adults in a junta vecinal at the start",
                                   source="14,119 juntas registered c. 2017 (DIRSEG); assumption c. 10-20 members each")
    junta_recruits_per_activity: float = P(4.0, ge=0, le=500, unit="adults", description="adults joining a junta per community activity",
                                           source="assumption")
    junta_dropout: float = P(0.004, ge=0, le=1, unit="per week", description="junta members who leave", source="assumption")
    junta_tip_rate: float = P(0.02, ge=0, le=1, unit="probability per percentage point of adults in juntas",
                              description="chance that an unrecorded offence reaches the police map through the juntas, per percentage point of adults who are members (capped at 1)",
                              source="assumption; juntas as police informants (Costa 2012)")
    activity_cost: float = P(350.0, gt=0, le=1e5, unit="USD per activity", description="one community activity (meeting, campaign, joint patrol)",
                             source="assumption")
    space_recovery_cost: float = P(4000.0, gt=0, le=1e6, unit="USD per block", description="recovering the public space of one block",
                                   source="assumption; municipal small works")
    space_recovery_gain: float = P(0.35, ge=0, le=1, unit="condition", description="condition gained by a recovered block",
                                   source="Branas et al. 2018; Welsh & Farrington 2008")
    space_decay: float = P(0.002, ge=0, le=1, unit="per week", description="decay of public-space condition", source="assumption")
    alcohol_operation_cost: float = P(500.0, gt=0, le=1e5, unit="USD per operation", description="one alcohol-control operation (inspections, closing hours)",
                                      source="assumption")
    alcohol_control_effect: float = P(0.1, ge=0, le=1, unit="share of consumption", description="drop in neighbourhood alcohol consumption per operation (decays back)",
                                      source="Duailibi et al. 2007 (Diadema closing hours)")
    alcohol_recovery: float = P(0.02, ge=0, le=1, unit="per week", description="return of consumption towards its baseline", source="assumption")
    outlets_per_block: float = P(0.6, ge=0, le=20, unit="outlets per block", description="mean alcohol outlets per block (Poisson)",
                                 source="assumption")
    outlet_attractiveness_min: float = P(0.3, ge=0, le=1, unit="attractiveness (mean 1)", description="floor on the block attractiveness that scales a block's expected alcohol outlets",
                                         source="assumption: outlets follow attractive blocks, but the least attractive keep some chance of one; binds only when crime.attractiveness_shape < 1.43 (the smallest attractiveness is (shape - 1) / shape)")
    outlet_attractiveness_max: float = P(3.0, ge=1, le=100, unit="attractiveness (mean 1)", description="cap on the block attractiveness that scales a block's expected alcohol outlets",
                                         source="assumption: the heaviest-tailed blocks get at most 3 times the mean outlets")
    initial_condition_a: float = P(4.0, gt=0, le=50, unit="Beta a", description="initial public-space condition of a block before the deprivation shift (Beta a)",
                                   source="assumption: mean 0.5 with moderate spread (SD c. 0.17)")
    initial_condition_b: float = P(4.0, gt=0, le=50, unit="Beta b", description="initial public-space condition of a block before the deprivation shift (Beta b)",
                                   source="assumption: mean 0.5 with moderate spread (SD c. 0.17)")
    condition_deprivation_effect: float = P(0.15, ge=0, le=1, unit="condition per unit deprivation", description="lower initial public-space condition in deprived neighbourhoods",
                                            source="assumption (mechanism: Skogan 1990: disorder concentrates in deprived neighbourhoods)")
    split_activities: float = P(0.5, ge=0, le=1, unit="share of community pillar", description="community money on activities (juntas, meetings, allies)", source="assumption")
    split_space: float = P(0.3, ge=0, le=1, unit="share of community pillar", description="community money on recovering public spaces", source="assumption")
    split_alcohol: float = P(0.2, ge=0, le=1, unit="share of community pillar", description="community money on alcohol control", source="assumption")

    @model_validator(mode="after")
    def _split(self):
        check_sums_to_one("community splits", [self.split_activities, self.split_space, self.split_alcohol])
        return self


# --- Strategy, budget ----------------------------------------------------------------------


class Cohort(Section):
    year: int = Field(ge=1990, le=2100, description="cohort year")
    neighbourhoods: int = Field(ge=0, le=10_000, description="neighbourhoods selected in the year",
                                json_schema_extra={"unit": "neighbourhoods", "source": "targets rollout_*"})
    launch: Date = Field(description="start of execution for the cohort (planning precedes it)",
                            json_schema_extra={"unit": "date", "source": "pilot Nov 2016 (Andina); assumption for later years"})
    districts: list[str] = Field(default_factory=list, description="restrict selection to these districts (e.g. the pilot)")
    one_per_district: bool = Field(False, description="select the best-scoring neighbourhood in each listed district")


class Mix(Section):
    police: float = P(0.4, ge=0, le=1, unit="share of budget", description="police prevention pillar", source="assumption")
    social: float = P(0.35, ge=0, le=1, unit="share of budget", description="social prevention pillar", source="assumption")
    community: float = P(0.25, ge=0, le=1, unit="share of budget", description="community prevention pillar", source="assumption")

    @model_validator(mode="after")
    def _sum(self):
        check_sums_to_one("pillar shares", [self.police, self.social, self.community])
        return self


class Resources(Section):
    """Like-for-like resources: a scenario's pillars get the resources of a reference Strategy
    (its budget allocation plus the value of its in-kind officers), whatever the scenario's own mix
    and officers, so that single-pillar scenarios answer "what if all resources went to one pillar"."""

    like_for_like: bool = P(False, unit="flag",
                            description="each treated neighbourhood-week gets the reference Strategy's resources: the budget allocation of "
                                        "strategy.resources.mix plus the value (police.officer_week_cost each) of every in-kind officer "
                                        "(police.extra_officers and police.community_officers); the officers this scenario assigns are "
                                        "paid from them and the value of those it does not assign becomes budget for its own pillars, "
                                        "which also raises the yearly cap (false: the scenario's own mix of the budget and its own officers, "
                                        "nothing converted)",
                            source="design choice for like-for-like pillar comparisons (issue 10)")
    mix: Mix = Field(default_factory=Mix, description="reference mix whose budget allocation (social share only once programs start) sets "
                                                      "the money of a treated neighbourhood-week under like_for_like")


class Channels(Section):
    """Which of the Strategy's lines of action act on the world. A line switched off still spends
    its money and counts its activities, but changes nothing: `sn-sim decompose` switches them on
    one by one to take a scenario's effect apart by channel (docs/ODD.md §7.26)."""

    patrol: bool = Field(True, description="extra patrol (in-kind officers and bought hours): deterrence, displacement and diffusion, visible patrol")
    community_policing: bool = Field(True, description="community-police contacts (trust)")
    operations: bool = Field(True, description="intelligence-led operations: arrests of gang members (incapacitation), raids' trust cost")
    programs: bool = Field(True, description="sectoral programs: enrolment protection and lower risk factors")
    culture_points: bool = Field(True, description="Culture Points workshops (lower risk factors) and activities (use of public space)")
    juntas: bool = Field(True, description="community activities: junta membership, collective efficacy, tips to the police")
    spaces: bool = Field(True, description="recovered public spaces (guardianship, disorder)")
    alcohol: bool = Field(True, description="alcohol-control operations (consumption, violent share)")


class Strategy(Section):
    rollout: list[Cohort] = Field(default_factory=list, description="yearly cohorts of selected neighbourhoods")
    mix: Mix = Field(default_factory=Mix, description="split of the budget between the three pillars")
    extra_officers_in_kind: bool = P(True, unit="flag", description="treated neighbourhoods receive police.extra_officers (in kind, police pillar)",
                                     source="targets extra_police_example (Comas: officers assigned at launch); false only in scenarios")
    community_police: bool = P(True, unit="flag", description="treated neighbourhoods receive police.community_officers (in kind, police pillar)",
                               source="Policia Comunitaria model (MININTER 2018); false only in scenarios")
    resources: Resources = Field(default_factory=Resources, description="like-for-like resources: the reference Strategy whose resources "
                                                                        "the scenario's pillars receive")
    channels: Channels = Field(default_factory=Channels, description="which lines of action act on the world (all by default; switched off "
                                                                     "for the channel decomposition)")
    weight_crime: float = P(1.0, ge=0, le=10, unit="weight", description="diagnosis weight of the recorded-crime rate",
                            source="selection criteria (Basombrio): high crime incidence")
    weight_homicide: float = P(0.5, ge=0, le=10, unit="weight", description="diagnosis weight of the homicide rate",
                               source="selection criteria: high homicide rate")
    weight_former_prisoners: float = P(0.5, ge=0, le=10, unit="weight", description="diagnosis weight of the former-prisoner share",
                                       source="selection criteria: many former prisoners")
    diagnosis_noise: float = P(0.3, ge=0, le=5, unit="SD of z-score", description="error of the diagnosis", source="assumption")
    planning_weeks: int = P(8, ge=1, le=104, unit="weeks", description="diagnosis and planning before launch", source="assumption")
    execution_weeks: int = P(52, ge=1, le=520, unit="weeks", description="length of the execution stage", source="assumption")
    consolidation_start_week: int = P(26, ge=0, le=520, unit="weeks after launch", description="when sectoral programs start (may overlap execution)",
                                      source="decree: consolidation may start during execution")
    consolidation_weeks: int = P(104, ge=1, le=520, unit="weeks", description="length of consolidation after execution", source="assumption")
    evaluation_intensity: float = P(0.3, ge=0, le=1, unit="share", description="activity intensity during evaluation and monitoring", source="assumption")
    planning_intensity: float = P(0.05, ge=0, le=1, unit="share", description="budget share of a full week spent during planning (diagnosis)", source="assumption")
    controls_per_treated: int = P(1, ge=0, le=10, unit="neighbourhoods", description="matched control neighbourhoods the Ministry designates per treated one",
                                  source="Supreme Decree 008-2017-IN asks for control neighbourhoods")


class Budget(Section):
    usd_per_year: float = P(5_369_221.0, ge=0, le=1e10, unit="USD per year",
                            description="national cap on the Strategy's own spending (under strategy.resources.like_for_like, raised by the value of in-kind officers converted into budget in the year)",
                            source="targets budget_per_year (program report)")
    usd_per_neighbourhood_year: float = P(75_000.0, ge=0, le=1e8, unit="USD per neighbourhood-year",
                                          description="allocation to one neighbourhood at full intensity (the national cap binds first in 2019)",
                                          source="assumption: above cap / 91 = 59,000 because neighbourhoods spend less while planning or in evaluation")


class Scenario(Section):
    name: str = Field("unnamed", description="scenario name")
    description: str = Field("", description="what the scenario represents")
    calendar: Calendar = Field(default_factory=Calendar)
    population: Population = Field(default_factory=Population)
    districts: list[District] = Field(default_factory=list, description="candidate pool, by district")
    land_use: LandUse = Field(default_factory=LandUse)
    crime: Crime = Field(default_factory=Crime)
    reporting: Reporting = Field(default_factory=Reporting)
    trust: Trust = Field(default_factory=Trust)
    insecurity: Insecurity = Field(default_factory=Insecurity)
    youth: Youth = Field(default_factory=Youth)
    police: Police = Field(default_factory=Police)
    programs: dict[str, Program] = Field(default_factory=_default_programs, description="sectoral programs by sector")
    culture_points: CulturePoints = Field(default_factory=CulturePoints)
    community: Community = Field(default_factory=Community)
    strategy: Strategy = Field(default_factory=Strategy)
    budget: Budget = Field(default_factory=Budget)

    # Set by load_scenario: whether the file's extends chain includes the calibrated free
    # parameters (scenarios/parameters/calibrated.toml). Not part of the scenario's identity.
    _extends_calibrated: bool | None = PrivateAttr(default=None)

    @property
    def extends_calibrated(self) -> bool | None:
        """True/False when loaded from a file; None when built in code."""
        return self._extends_calibrated

    @extends_calibrated.setter
    def extends_calibrated(self, value: bool | None) -> None:
        self._extends_calibrated = value

    @model_validator(mode="before")
    @classmethod
    def _canonical_district_names(cls, data):
        """District references (rollout cohorts, Culture Points) match the pool's names whatever
        their accents and case: "Rímac" and "rimac" mean the pool's "Rimac"."""
        if not isinstance(data, dict) or not isinstance(data.get("districts"), list):
            return data
        canon = {fold_name(d["name"]): d["name"] for d in data["districts"]
                 if isinstance(d, dict) and isinstance(d.get("name"), str)}

        def fix(names):
            return [canon.get(fold_name(x), x) if isinstance(x, str) else x for x in names] \
                if isinstance(names, list) else names

        data = dict(data)
        strategy = data.get("strategy")
        if isinstance(strategy, dict) and isinstance(strategy.get("rollout"), list):
            data["strategy"] = {**strategy, "rollout": [
                {**c, "districts": fix(c["districts"])} if isinstance(c, dict) and "districts" in c else c
                for c in strategy["rollout"]]}
        culture = data.get("culture_points")
        if isinstance(culture, dict) and "districts" in culture:
            data["culture_points"] = {**culture, "districts": fix(culture["districts"])}
        return data

    @model_validator(mode="after")
    def _consistent(self):
        if not self.districts:
            raise ValueError("districts: at least one district is needed")
        names = [d.name for d in self.districts]
        dupes = {n for n, k in Counter(names).items() if k > 1}  # (names.count is quadratic in a large pool)
        if dupes:
            raise ValueError(f"districts: duplicate district {sorted(dupes)[0]!r}")
        known = set(names)
        pool = sum(d.neighbourhoods for d in self.districts)
        total = sum(c.neighbourhoods for c in self.strategy.rollout)
        if total > pool:
            raise ValueError(f"strategy.rollout: {total} neighbourhoods exceed the candidate pool of {pool}")
        for i, c in enumerate(self.strategy.rollout):
            for d in c.districts:
                if d not in known:
                    raise ValueError(f"strategy.rollout.{i}.districts: unknown district {d!r}{did_you_mean(d, names)}")
            if c.one_per_district and c.neighbourhoods != len(c.districts):
                raise ValueError(f"strategy.rollout.{i}.one_per_district: needs one district per neighbourhood "
                                 f"({len(c.districts)} districts for {c.neighbourhoods})")
        years = [c.year for c in self.strategy.rollout]
        if years != sorted(set(years)):
            raise ValueError("strategy.rollout: cohort years must be increasing and unique")
        for i, c in enumerate(self.strategy.rollout):
            if not (self.calendar.start <= c.launch <= self.calendar.end):
                raise ValueError(f"strategy.rollout.{i}.launch: {c.launch} is outside the calendar")
        for d in self.culture_points.districts:
            if d not in known:
                raise ValueError(f"culture_points.districts: unknown district {d!r}{did_you_mean(d, names)}")
        if self.population.inhabitants_max < self.population.inhabitants_min:
            raise ValueError("population.inhabitants_max: smaller than inhabitants_min")
        if self.youth.max_age <= self.youth.min_age:
            raise ValueError("youth.max_age: must exceed youth.min_age")
        blocks = self.population.block_rows * self.population.block_cols
        if self.land_use.markets + self.land_use.transport_nodes > blocks:
            raise ValueError(f"land_use: {self.land_use.markets} markets and {self.land_use.transport_nodes} transport nodes "
                             f"do not fit in a neighbourhood of {blocks} blocks")
        if self.programs:
            check_sums_to_one("programs: shares", [p.share for p in self.programs.values()])
        return self

    # Identity -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    def digest(self) -> str:
        """SHA-256 of the resolved scenario (canonical JSON): the scenario's identity in manifests."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()

    def with_overrides(self, overrides: dict[str, Any] | list[str] | None) -> "Scenario":
        """A copy with ``section.key=value`` overrides applied and re-validated."""
        data = self.to_dict()
        apply_overrides(data, overrides or [], source="--set")
        out = validate(data, source="--set")
        out.extends_calibrated = self.extends_calibrated
        return out


# --- Validation ------------------------------------------------------------------------


# What a strict type error expected, in the words of a scenario file.
_EXPECTED = {
    "float_type": "a number", "int_type": "a whole number", "bool_type": "true or false",
    "string_type": "a string in quotes", "date_type": "a date like 2016-01-04", "list_type": "a list",
    "dict_type": "a table", "model_type": "a table",
}


def _unquoted_fits(text: str, error_type: str) -> bool:
    """Whether a string would have been right without its quotes ("0.02" for a number)."""
    if error_type == "bool_type":
        return text in ("true", "false")
    try:
        number = float(text)
    except ValueError:
        return False
    return error_type == "float_type" or number.is_integer()


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line, ``source: key: reason``, for the first error pydantic found."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    value = err.get("input")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] in _EXPECTED:
        msg = f"expected {_EXPECTED[err['type']]}, got {toml_text(value)}"
        if isinstance(value, str) and _unquoted_fits(value, err["type"]):
            msg += " (write it without quotes)"
    elif err["type"] not in ("missing", "value_error") and "input" in err and not isinstance(value, (dict, list)):
        # Custom (value_error) messages name the value themselves.
        msg = f"{msg} (got {toml_text(value)})"
    if loc:
        return f"{source}: {loc}: {msg}"
    # Model-level validators name their key themselves ("section.key: reason").
    return f"{source}: {msg}"


def _merge_program_defaults(data: dict) -> dict:
    """Program tables merge key by key onto the default programs of the same name, like every
    other table; programs a file does not mention keep their defaults; a new name starts from
    the Program defaults."""
    programs = data.get("programs")
    if not isinstance(programs, dict):
        return data
    merged = {name: p.model_dump(mode="json") for name, p in _default_programs().items()}
    for name, table in programs.items():
        if isinstance(table, dict) and name in merged:
            merged[name] = {**merged[name], **table}
        else:
            merged[name] = table
    return {**data, "programs": merged}


def validate(data: dict, source: str = "<scenario>") -> Scenario:
    try:
        return Scenario.model_validate(_merge_program_defaults(data))
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(exc, source)) from None

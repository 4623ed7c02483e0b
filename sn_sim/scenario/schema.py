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
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError, field_validator,
    model_validator,
)

from sn_sim.errors import ScenarioError
from sn_sim.scenario.keys import apply_overrides


# The three kinds of source a parameter can have (its ``source`` text starts with "<kind>: "):
#   value      - the value is taken from the cited work or data (or fitted to the calibration targets);
#   mechanism  - the cited work supports the mechanism only; the value is assumed ("...; value assumed");
#   assumption - no work supports the value (a modelling choice, stated as such).
SOURCE_KINDS = ("value", "mechanism", "assumption")


def source_kind(source: str) -> str:
    """The kind of a source text ("value: ...", "mechanism: ...", "assumption: ..."); ValueError otherwise."""
    kind, sep, rest = source.partition(": ")
    if not sep or kind not in SOURCE_KINDS or not rest.strip():
        raise ValueError(f"source {source!r} must start with one of "
                         f"{', '.join(k + ': ' for k in SOURCE_KINDS)}followed by the source")
    if kind == "mechanism" and "value assumed" not in rest:
        raise ValueError(f"source {source!r}: a mechanism-only source says '; value assumed'")
    return kind


def source_extra(unit: str, source: str, plausible: tuple[float, float] | None = None) -> dict:
    """Field metadata: unit, source text, its kind, and the plausible range of an assumed value."""
    extra = {"unit": unit, "source": source, "source_kind": source_kind(source)}
    if plausible is not None:
        extra["plausible"] = list(plausible)
    return extra


def P(default: Any, *, unit: str, source: str, description: str, ge=None, le=None, gt=None, lt=None,
      plausible: tuple[float, float] | None = None):
    """A parameter field: default, unit, range and source travel with the value.

    ``source`` starts with its kind (``SOURCE_KINDS``). ``plausible`` is the range of values the
    evidence leaves open -- for an assumed value (kinds mechanism and assumption) honest and wide;
    sensitivity analyses vary the parameter over it. The validation bounds (``ge``/``le``...) only
    say what the model accepts."""
    return Field(
        default,
        ge=ge,
        le=le,
        gt=gt,
        lt=lt,
        description=description,
        json_schema_extra=source_extra(unit, source, plausible),
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
                           source='assumption: standard ABM practice (an unrecorded spin-up); 104 weeks: the settling schedule of docs/ODD.md §5 fits with room to spare', plausible=(78, 156))
    justice_probe_weeks: int = P(26, ge=0, le=260, unit="weeks", description="burn-in weeks, once trust has settled (trust.settling_weeks), in which the conviction probability per offence attempt is measured; the justice state and youth gang states are then redrawn from the stationary distribution of the flows (0: keep the initial draw)",
                                 source='assumption: half a year of recorded offences estimates the conviction probability to within a few per cent at scale 0.05', plausible=(13, 52))
    reference_weeks: int = P(26, ge=1, le=260, unit="weeks", description="last burn-in weeks whose mean offence rate is the pre-period reference of efficacy and insecurity",
                             source='assumption: a mean over half a year, not a one-week snapshot of the moving average', plausible=(13, 52))
    start: Date = Field(
        dt.date(2015, 1, 5),
        description="first simulated week (a Monday); one pre-period year before the pilot",
        json_schema_extra=source_extra('date', 'value: DESIGN.md §2 Scales (the project brief: one pre-period year before the pilot)'),
    )
    end: Date = Field(
        dt.date(2019, 12, 30),
        description="last simulated week starts on or before this date",
        json_schema_extra=source_extra('date', 'value: DESIGN.md §2 Scales (the project brief)'),
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
        json_schema_extra=source_extra('neighbourhoods', 'assumption: candidate neighbourhoods of the urban districts of the pool, set by the scenario'),
    )
    crime_level: float = P(
        1.0, ge=0.2, le=5.0, unit="multiplier", description="district offending level relative to the national urban mean",
        source='assumption: rounded from INEI victimisation by city (urban areas range c. 0.6-1.3 times the national urban rate); set per district by the scenario', plausible=(0.5, 2.0),
    )
    lima: bool = Field(False, description="part of Lima Metropolitana (for Lima-only rates)",
                       json_schema_extra=source_extra("flag", "value: INEI's Lima Metropolitana (the province of Lima); set per district by the scenario"))


class Population(Section):
    scale: float = P(
        1.0, gt=0.0, le=1.0, unit="agents per inhabitant",
        description="share of inhabitants simulated; counts are reported per inhabitant so rates stay per-capita correct",
        source='value: DESIGN.md §2 Scales (the project brief: one agent per inhabitant; smaller scales for tests and sweeps)',
    )
    inhabitants_min: int = P(10_000, ge=100, le=100_000, unit="persons", description="smallest neighbourhood",
                             source='value: targets neighbourhood_population (Basombrío column: neighbourhoods of 10,000-20,000 inhabitants)')
    inhabitants_max: int = P(20_000, ge=100, le=100_000, unit="persons", description="largest neighbourhood",
                             source='value: targets neighbourhood_population (Basombrío column: neighbourhoods of 10,000-20,000 inhabitants)')
    block_rows: int = P(6, ge=2, le=30, unit="blocks", description="rows of the block grid of one neighbourhood",
                        source='value: targets neighbourhood_blocks (Basombrío column: about 60 blocks; the 6 x 10 grid shape is assumed)')
    block_cols: int = P(10, ge=2, le=30, unit="blocks", description="columns of the block grid of one neighbourhood",
                        source='value: targets neighbourhood_blocks (Basombrío column: about 60 blocks; the 6 x 10 grid shape is assumed)')
    age_flat_until: int = P(30, ge=1, le=80, unit="years", description="age pyramid: equal cohorts up to this age, then a linear decline",
                            source='value: INEI Censo 2017 urban age pyramid, stylised (gives c. 20% aged 0-11, 22% 12-24, 9% 65+)')
    age_max: int = P(90, ge=40, le=110, unit="years", description="age pyramid: oldest age", source='value: INEI Censo 2017 urban age pyramid, stylised')
    prison_rate: float = P(300.0, ge=0, le=5000, unit="per 100,000 inhabitants", description="prison population the burn-in starts from (the justice state is then redrawn from the flows' steady state once the conviction probability is measured, calendar.justice_probe_weeks)",
                           source='value: INPE 2015: c. 77,000 inmates for 31 million inhabitants (c. 250 per 100,000), rounded up for candidate neighbourhoods; it only sets where the burn-in starts')
    risk_mean: float = P(0.35, ge=0.01, le=0.99, unit="score 0-1", description="mean individual risk-factor score",
                         source="assumption: the risk score is scale-free (Farrington 1995's risk-factor framework gives the idea of a cumulative score, not a number)", plausible=(0.2, 0.5))
    risk_concentration: float = P(6.0, ge=0.5, le=100, unit="Beta a+b", description="concentration of the Beta risk distribution",
                                  source='assumption: spread of the Beta risk score', plausible=(3, 12))
    deprivation_sd: float = P(0.3, ge=0, le=2, unit="log-multiplier SD", description="between-neighbourhood spread of deprivation",
                              source='mechanism: Sampson et al. 1997 (neighbourhoods differ widely in concentrated disadvantage); value assumed', plausible=(0.15, 0.6))
    female_share: float = P(0.5, ge=0, le=1, unit="share of residents", description="residents who are female",
                            source='value: INEI Censo 2017 counts about 51% women, rounded to an even split')
    risk_deprivation_effect: float = P(0.5, ge=0, le=3, unit="log-multiplier per unit deprivation",
                                       description="rise of a neighbourhood's mean risk score with its deprivation: mean risk = risk_mean x exp(effect x deprivation)",
                                       source='mechanism: Sampson et al. 1997 (concentrated disadvantage); value assumed: half the effect deprivation has on the crime level', plausible=(0.0, 1.0))
    risk_mean_min: float = P(0.02, ge=0.001, le=0.5, unit="score 0-1", description="floor on a neighbourhood's mean risk score after the deprivation shift",
                             source='assumption: keeps the Beta risk distribution proper; does not bind at the defaults', plausible=(0.01, 0.05))
    risk_mean_max: float = P(0.95, ge=0.5, le=0.999, unit="score 0-1", description="cap on a neighbourhood's mean risk score after the deprivation shift",
                             source='assumption: keeps the Beta risk distribution proper; does not bind at the defaults', plausible=(0.9, 0.99))


# --- Secular trends ------------------------------------------------------------------------

TREND_SOURCE = "value: 0, no trend; a scenario states one with its source (scenarios/parameters/national_trends.toml)"
TREND_DATE_SOURCE = "assumption: set with the trend it dates"


class Trends(Section):
    """National secular trends, applied to every neighbourhood alike (treated or not): changes
    with causes outside the model, stated and sourced rather than left as drift. None by default:
    the world without a stated trend is at rest. Each trend runs over its own window: nothing
    changes before it, the change reached stays after it."""

    offending_per_year: float = P(0.0, ge=-1, le=1, unit="log change per year", description="change of every resident's offence-attempt probability per year of its window (-0.05: about 5% fewer attempts a year)",
                                  source=TREND_SOURCE)
    offending_from: Date = Field(dt.date(2015, 1, 5), description="start of the offending trend's window",
                                 json_schema_extra=source_extra("date", TREND_DATE_SOURCE))
    offending_until: Date = Field(dt.date(2019, 12, 30), description="end of the offending trend's window",
                                  json_schema_extra=source_extra("date", TREND_DATE_SOURCE))
    property_offending_per_year: float = P(0.0, ge=-1, le=0, unit="log change per year", description="fall of property offences per year of its window: a share 1 - exp(this x years) of the property offences that would happen does not (violent offences and homicides unchanged)",
                                           source=TREND_SOURCE)
    property_offending_from: Date = Field(dt.date(2015, 1, 5), description="start of the property-offending trend's window",
                                          json_schema_extra=source_extra("date", TREND_DATE_SOURCE))
    property_offending_until: Date = Field(dt.date(2019, 12, 30), description="end of the property-offending trend's window",
                                           json_schema_extra=source_extra("date", TREND_DATE_SOURCE))
    property_rebound_per_year: float = P(0.0, ge=0, le=1, unit="log change per year", description="rise of property offences per year of its window, after the fall: gives back part of the fall (the level reached stays at or below that before the fall)",
                                         source=TREND_SOURCE)
    property_rebound_from: Date = Field(dt.date(2019, 12, 30), description="start of the property-offending rebound's window (not before the fall's window ends)",
                                        json_schema_extra=source_extra("date", TREND_DATE_SOURCE))
    property_rebound_until: Date = Field(dt.date(2019, 12, 30), description="end of the property-offending rebound's window",
                                         json_schema_extra=source_extra("date", TREND_DATE_SOURCE))
    reporting_logit_per_year: float = P(0.0, ge=-2, le=2, unit="log-odds per year", description="change of every victim's log-odds of reporting per year of its window",
                                        source=TREND_SOURCE)
    reporting_from: Date = Field(dt.date(2015, 1, 5), description="start of the reporting trend's window",
                                 json_schema_extra=source_extra("date", TREND_DATE_SOURCE))
    reporting_until: Date = Field(dt.date(2019, 12, 30), description="end of the reporting trend's window",
                                  json_schema_extra=source_extra("date", TREND_DATE_SOURCE))

    @model_validator(mode="after")
    def _ordered(self):
        for name in ("offending", "property_offending", "property_rebound", "reporting"):
            if getattr(self, f"{name}_until") < getattr(self, f"{name}_from"):
                raise ValueError(f"trends.{name}_until must not be before trends.{name}_from")
        if self.property_rebound_per_year > 0:
            # Property offences are thinned (docs/ODD.md §7.27): the trend can remove offences
            # that would happen, never add any, so a rebound only gives back part of a fall.
            if self.property_rebound_from < self.property_offending_until:
                raise ValueError("trends.property_rebound_from must not be before trends.property_offending_until "
                                 "(a rebound follows the fall)")
            fall = self.property_offending_per_year * _years(self.property_offending_from, self.property_offending_until)
            rebound = self.property_rebound_per_year * _years(self.property_rebound_from, self.property_rebound_until)
            if fall + rebound > 1e-12:
                raise ValueError(f"trends.property_rebound_per_year gives back more than the fall "
                                 f"({rebound:.3f} against {-fall:.3f} in log change); with "
                                 f"trends.property_offending_per_year = 0 set it to 0 too")
        return self


def without_trends() -> list[str]:
    """Overrides that switch every stated national trend off (each ``trends.*_per_year`` to 0):
    the world at rest (docs/ODD.md §5, §8), whatever trends a scenario states."""
    return [f"trends.{name}=0" for name in Trends.model_fields if name.endswith("_per_year")]


def _years(start: dt.date, end: dt.date) -> float:
    """Length of a trend's window in years (as the clock counts them: sn_sim.world.clock)."""
    return (end - start).days / 365.25


# --- Land use: where offences can happen ------------------------------------------------------


class LandUse(Section):
    """What each block is used for: crime generators and attractors (Brantingham & Brantingham
    1995) set where offenders go and who is there to be victimised."""

    markets: int = P(1, ge=0, le=10, unit="blocks per neighbourhood", description="market blocks (mercados de abastos) in each neighbourhood",
                     source="value: INEI Censo Nacional de Mercados de Abastos 2016 (c. 2,600 markets, about one per 10,000 urban inhabitants), rounded to one per neighbourhood of 10,000-20,000")
    transport_nodes: int = P(1, ge=0, le=10, unit="blocks per neighbourhood", description="transport-node blocks (main-avenue stops, paraderos) in each neighbourhood",
                             source="assumption: each neighbourhood has one main stop on the avenue that serves it", plausible=(0, 3))
    commercial_share: float = P(0.1, ge=0, le=0.5, unit="share of other blocks", description="blocks (besides markets and transport nodes) that are commercial strips",
                                source="assumption: shops line the avenues of low-income Lima neighbourhoods", plausible=(0.03, 0.25))
    nightlife_share: float = P(0.03, ge=0, le=0.3, unit="share of other blocks", description="blocks (besides markets and transport nodes) with bars and discos",
                               source="assumption: bars and discos on a few blocks of each neighbourhood", plausible=(0.0, 0.1))
    attractor_commercial: float = P(3.0, ge=1, le=30, unit="multiplier vs. a residential block", description="static attractiveness of a commercial block relative to a residential one",
                                    source="mechanism: Brantingham & Brantingham 1995 (crime generators: many targets); Bernasco & Block 2011 (robberies concentrate at blocks with shops and facilities); value assumed", plausible=(1.5, 6.0))
    attractor_market: float = P(10.0, ge=1, le=100, unit="multiplier vs. a residential block", description="static attractiveness of a market block relative to a residential one",
                                source="mechanism: Brantingham & Brantingham 1995 (markets are crime generators: crowds and cash); value assumed", plausible=(3.0, 30.0))
    attractor_transport: float = P(6.0, ge=1, le=100, unit="multiplier vs. a residential block", description="static attractiveness of a transport-node block relative to a residential one",
                                   source="mechanism: Bernasco & Block 2011 (transit stations raise block robbery counts); Brantingham & Brantingham 1995; value assumed", plausible=(2.0, 20.0))
    attractor_nightlife: float = P(6.0, ge=1, le=100, unit="multiplier vs. a residential block", description="static attractiveness of a nightlife block relative to a residential one",
                                   source="mechanism: Brantingham & Brantingham 1995 (bars as crime attractors); Bernasco & Block 2011; value assumed", plausible=(2.0, 20.0))
    nonresidential_density: float = P(0.3, ge=0, le=1, unit="residents per block vs. a residential block", description="how many residents live on a non-residential block relative to a residential one (home blocks are drawn in proportion)",
                                      source="assumption: shops and markets have dwellings above or behind them, fewer than a residential block", plausible=(0.1, 0.7))
    visitors_residential: float = P(0.2, ge=0, le=1, unit="share of victims", description="victims of offences at a residential block who are people passing through (residents of the neighbourhood or the next ones) rather than the block's own residents",
                                    source="assumption: most offences at residential blocks (burglary, theft at the door) hit the residents", plausible=(0.0, 0.5))
    visitors_nonresidential: float = P(0.8, ge=0, le=1, unit="share of victims", description="victims of offences at a market, transport, commercial or nightlife block who are people present from elsewhere (residents of the neighbourhood or the next ones) rather than the block's residents",
                                       source="mechanism: Brantingham & Brantingham 1995 (generators draw victims from a wide area); value assumed", plausible=(0.5, 1.0))


# --- Crime, reporting, perceptions ---------------------------------------------------------


class Crime(Section):
    offending_rate: float = P(0.04, gt=0, le=0.2, unit="attempts per person-week",
                              description="weekly offence-attempt probability of a man at crime.age_peak with mean risk, no gang involvement and no recent prison record, in a neighbourhood with crime level 1",
                              source='value: fitted by the calibration (free parameter offending_rate) to INEI ENAPRES victimisation (targets victimization_*); the default is the prior')
    female_factor: float = P(0.2, ge=0, le=1, unit="multiplier", description="offending of females relative to males",
                             source='value: Steffensmeier & Allan 1996: women are c. 15-20% of arrestees, i.e. offend at c. 0.2 of the male rate')
    age_peak: float = P(17.0, ge=14, le=35, unit="years", description="peak of the age-crime curve",
                        source='value: Farrington 1986 (offending rates peak in the late teens, at 17 for convictions in the Cambridge Study, earlier for property than for violent offences); Hirschi & Gottfredson 1983 (peak in the late teens)', plausible=(16, 20))
    age_spread: float = P(9.0, ge=2, le=30, unit="years", description="SD of the declining side of the age-crime curve (the rising side is crime.age_rise_steepness times steeper)",
                          source='mechanism: Farrington 1986; Hirschi & Gottfredson 1983 (offending declines after the late-teens peak); value assumed', plausible=(5, 15))
    risk_effect: float = P(2.0, ge=0, le=8, unit="log-odds per unit risk", description="offending gradient in the risk score",
                           source='mechanism: Farrington 1995; Loeber & Farrington 1998 (offending rises with accumulated risk factors); value assumed', plausible=(1.0, 4.0))
    gang_multiplier: float = P(4.0, ge=1, le=20, unit="multiplier", description="offending of gang-involved residents (of any age) vs. others",
                               source='mechanism: Thornberry et al. 1993 (facilitation: members offend more while in the gang, less after leaving); value assumed', plausible=(2.0, 6.0))
    at_risk_multiplier: float = P(1.6, ge=1, le=10, unit="multiplier", description="offending of at-risk youth vs. others",
                                  source='assumption: between none (1) and involved (crime.gang_multiplier)', plausible=(1.0, 3.0))
    former_prisoner_multiplier: float = P(2.5, ge=1, le=10, unit="multiplier", description="offending of released prisoners within the recidivism window",
                                          source='mechanism: Durose et al. 2014 (re-arrest is frequent and concentrated in the first years after release); value assumed; INPE 2017 counts 22% of the July 2017 admissions as re-entrants, a different measure', plausible=(1.5, 5.0))
    recidivism_window_weeks: int = P(260, ge=1, le=2000, unit="weeks", description="weeks after release during which the former-prisoner multiplier applies",
                                     source="value: Durose et al. 2014 (five-year follow-up, most re-arrests within it); Kurlychek et al. 2006 (risk converges to non-offenders' after c. 7 years)", plausible=(156, 364))
    attractiveness_shape: float = P(1.6, ge=1.05, le=5, unit="Pareto shape", description="heavy-tailed place-specific part of a block's static attractiveness (times its land use's attractor weight, land_use.attractor_*)",
                                    source="assumption: unobserved place features (layout, lighting, guardianship at the place) vary widely between blocks of the same land use; checked against the concentration Weisburd 2015 reports, not fitted to it (docs/ODD.md §7.4)", plausible=(1.2, 3.0))
    repeat_boost: float = P(0.05, ge=0, le=5, unit="relative rise per offence (inhabitant units) at a block of mean attractiveness", description="rise of a block's attractiveness after an offence there, relative to its static attractiveness, divided by it (a place with more targets rises less per offence)",
                            source="mechanism: Short et al. 2008; Johnson & Bowers 2004 (repeat and near-repeat victimisation raise the risk of the victimised home and a few nearby for a month or two); value assumed: spread over a block's c. 60 households, a few per cent of the block's risk per offence", plausible=(0.0, 0.25))
    repeat_decay: float = P(0.15, ge=0.01, le=1, unit="per week", description="decay of the recent-offence rise of a block's attractiveness",
                            source='mechanism: Johnson 2008; Short et al. 2008 (near-repeat risk fades within one to two months); value assumed', plausible=(0.05, 0.35))
    activity_node_share: float = P(0.4, ge=0, le=1, unit="share", description="weight of the neighbourhood's activity nodes (markets, transport stops) against the home block as anchors of an offender's search for targets (0 = journeys from home only)",
                                   source="mechanism: Brantingham & Brantingham 1993 (crime pattern theory: offenders search around the nodes of their routine activities, not only home); Bernasco 2010; value assumed", plausible=(0.1, 0.7))
    patrol_max_deterrence: float = P(0.4, ge=0, le=1, unit="probability", description="deterrence of an attempt at a block saturated with patrol",
                                     source='mechanism: Koper 1995 (diminishing returns of patrol presence); Braga et al. 2019 (modest hot-spot effects); value assumed', plausible=(0.1, 0.7))
    patrol_half_hours: float = P(24.0, gt=0, le=1000, unit="patrol hours per block-week", description="perceived patrol that gives half the maximum deterrence",
                                 source='mechanism: Koper 1995 (deterrence grows with the dose of presence, with diminishing returns); value assumed', plausible=(6, 96))
    guardianship_efficacy: float = P(0.6, ge=0, le=5, unit="per unit efficacy", description="deterrence hazard of collective efficacy",
                                     source='mechanism: Sampson et al. 1997 (collective efficacy lowers violence); value assumed', plausible=(0.2, 1.5))
    guardianship_space: float = P(0.35, ge=0, le=5, unit="per unit condition", description="deterrence hazard of lit, maintained public space",
                                  source='mechanism: Welsh & Farrington 2008 (street lighting); Branas et al. 2018 (vacant-lot greening): better public space, less crime; value assumed', plausible=(0.1, 1.0))
    diffusion_weight: float = P(0.5, ge=0, le=1, unit="share", description="weight of neighbouring blocks' patrol in an offender's perceived guardianship",
                                source='mechanism: Clarke & Weisburd 1994; Weisburd et al. 2006 (benefits of crime control diffuse to nearby places); value assumed', plausible=(0.0, 1.0))
    displacement_share: float = P(0.25, ge=0, le=1, unit="share", description="deterred attempts retried at an adjacent block, chosen by its attractiveness (else desisted)",
                                  source='assumption: no work estimates the probability that a deterred offender retries next door; Guerette & Bowers 2009 found some displacement in c. 26% of observations of situational-prevention evaluations (a share of observations, not this probability), usually smaller than the crime prevented', plausible=(0.0, 0.6))
    violent_share: float = P(0.22, ge=0, le=1, unit="share", description="share of offences that are violent (robbery with violence, assault) absent alcohol outlets",
                             source='assumption: rounded from the mix of offences in INEI ENAPRES (robbery with violence and assault among victimisations), not checked against a published table', plausible=(0.15, 0.35))
    alcohol_violence: float = P(0.5, ge=0, le=5, unit="relative increase per outlet", description="raise of the violent share per alcohol outlet at the block, scaled by consumption",
                                source='mechanism: Livingston 2008; Gruenewald 2007 (assaults rise with alcohol outlet density); value assumed', plausible=(0.0, 1.5))
    lethality: float = P(0.0009, ge=0, le=0.1, unit="per violent offence", description="violent offences that kill",
                         source='value: fitted by the calibration (free parameter lethality) to INEI homicide rates (targets homicide_rate_*); the default is the prior')
    age_rise_steepness: float = P(2.5, ge=1, le=10, unit="ratio", description="how much steeper the rising side of the age-crime curve is than its declining side (its SD is crime.age_spread divided by this)",
                                  source='assumption: the asymmetry of the curve (a steeper rise than decline) is not from Farrington 1986 or Hirschi & Gottfredson 1983, who give the peak', plausible=(1.0, 4.0))
    propensity_max: float = P(0.9, gt=0, le=1, unit="attempts per person-week", description="cap on a resident's weekly offence-attempt probability",
                              source='assumption: even the most active offenders do not attempt every week; binds only for rare combinations of multipliers', plausible=(0.5, 1.0))
    journey_decay_blocks: float = P(2.0, gt=0, le=100, unit="blocks", description="distance over which an offender's weight for a target block falls by a factor e from each anchor of the search (home block, activity nodes), across neighbourhood borders too (weight exp(-distance / this))",
                                    source="mechanism: distance decay of journeys to crime (Bernasco 2010; Townsley & Sidebottom 2010: most trips are short); value assumed: with c. 100 m blocks, half of the weight within c. 1.4 blocks (c. 150 m) of an anchor", plausible=(1.0, 5.0))
    violent_share_max: float = P(0.95, ge=0, le=1, unit="share", description="cap on the violent share of offences at a block with many alcohol outlets",
                                 source='assumption: some offences stay property offences at any outlet density', plausible=(0.8, 1.0))


class Reporting(Section):
    base: float = P(0.10, ge=0, le=1, unit="probability", description="reporting probability of a property-crime victim whose trust is at trust.threshold",
                    source='value: fitted by the calibration (free parameter reporting_base) to INEI ENAPRES reporting rates (targets reporting_*); the default is the prior')
    trust_effect: float = P(2.0, ge=0, le=10, unit="log-odds per unit trust", description="reporting gradient in trust",
                            source='mechanism: Tyler & Fagan 2008; Goudriaan et al. 2004 (confidence in the police raises reporting; 12.8% of Peruvian victims who did not report cite distrust of the police, INEI ENAPRES 2020-21); value assumed', plausible=(0.5, 4.0))
    violent_bonus: float = P(0.8, ge=0, le=5, unit="log-odds", description="extra reporting of violent offences",
                             source='mechanism: Skogan 1984; Tarling & Morris 2010 (serious and violent offences are reported more often); value assumed', plausible=(0.3, 1.5))
    patrol_detection: float = P(0.01, ge=0, le=1, unit="per patrol hour per week", description="chance patrol at the block witnesses an offence",
                                source='assumption: no estimate of how often patrol witnesses an offence', plausible=(0.001, 0.05))
    clearance: float = P(0.12, ge=0, le=1, unit="probability", description="recorded offences cleared by an arrest",
                         source='assumption: Dammert 2012 documents low clearance in Latin America (the direction, not the number)', plausible=(0.05, 0.3))
    conviction: float = P(0.3, ge=0, le=1, unit="probability", description="arrests leading to a custodial sentence",
                          source='assumption: with clearance and sentence_weeks it sets the steady prison population', plausible=(0.1, 0.6))
    sentence_weeks: float = P(104.0, ge=1, le=1000, unit="weeks", description="mean custodial sentence (exponential)",
                              source='assumption: two years; INPE sentence-length statistics not checked', plausible=(52, 260))
    memory_weeks: float = P(26.0, ge=1, le=260, unit="weeks", description="time constant of recorded crime the police use for hot zones",
                            source='mechanism: Sherman & Weisburd 1995 (hot spots chosen from a year of calls for service); value assumed: a half-year time constant', plausible=(8, 52))


class Trust(Section):
    initial_a: float = P(2.0, gt=0, le=50, unit="Beta a", description="initial trust distribution (Beta a)",
                         source='value: fitted by the calibration (free parameter trust_initial_a) to INEI ENAHO trust in the National Police (target trust_police); the default is the prior')
    initial_b: float = P(4.0, gt=0, le=50, unit="Beta b", description="initial trust distribution (Beta b)",
                         source="assumption: the prior's second Beta parameter (the calibration fits initial_a only); Beta(2, 4) puts 18.75% at or above 0.5", plausible=(2.0, 8.0))
    threshold: float = P(0.5, ge=0, le=1, unit="trust score", description="score at or above which a resident 'trusts the police (a lot or enough)'",
                         source="value: INEI ENAHO governance module wording (trusts the police 'a lot' or 'enough') mapped to the midpoint of the latent score, a scale choice (docs/ODD.md §8)")
    relaxation: float = P(0.01, ge=0, le=1, unit="per week", description="pull of each person's trust back towards their own long-run level (effects fade without their causes)",
                          source='assumption: attitudes are sticky (Tyler 2006 gives the direction only); 1% a week is a time constant of about two years', plausible=(0.002, 0.05))
    victim_penalty: float = P(0.04, ge=0, le=1, unit="share of trust", description="trust lost by a victim whose offence gets no police response, as a share of their trust (T -= penalty x T)",
                              source='mechanism: Skogan 2006 (bad experiences with the police lower confidence); Bradford et al. 2009; value assumed', plausible=(0.01, 0.1))
    response_gain: float = P(0.004, ge=0, le=1, unit="share of the way to full trust", description="trust gained by a victim whose offender is arrested, as a share of the way to full trust (T += gain x (1 - T))",
                             source='mechanism: Skogan 2006 (good experiences have effects not different from zero, bad ones weigh 4-14 times more); value assumed: at the typical trust of 1/3 an arrest gains about a fifth of what an unanswered victimisation costs', plausible=(0.0, 0.01))
    visibility_gain: float = P(0.00002, ge=0, le=0.05, unit="trust score per extra patrol hour per block-week",
                               description="trust gained from extra visible patrol on one's block",
                               source='mechanism: Weisburd et al. 2011; Kochel & Weisburd 2017 (hot-spot patrol barely moves legitimacy); value assumed small', plausible=(0.0, 0.0001))
    settling_factor: float = P(6.0, ge=1, le=20, unit="multiplier", description="during the first trust.settling_weeks of the burn-in, relaxation, victim_penalty and response_gain are multiplied by this factor: trust reaches the fixed point of its own dynamics (unchanged, the expected update being linear in trust) in weeks instead of years",
                               source='assumption: standard ABM practice, an accelerated spin-up; 6 brings the time constant from c. 100 to c. 17 weeks', plausible=(3.0, 10.0))
    settling_weeks: int = P(48, ge=0, le=260, unit="weeks", description="burn-in weeks in which trust moves trust.settling_factor times faster",
                            source='assumption: c. 3 time constants of the accelerated dynamics', plausible=(24, 72))


class Insecurity(Section):
    initial_a: float = P(3.0, gt=0, le=50, unit="Beta a", description="initial perceived-insecurity distribution (Beta a)",
                         source='value: fitted by the calibration (free parameter insecurity_initial_a) to INEI ENAPRES perceived insecurity (targets insecurity_*); the default is the prior')
    initial_b: float = P(1.2, gt=0, le=50, unit="Beta b", description="initial perceived-insecurity distribution (Beta b)",
                         source="assumption: the prior's second Beta parameter (the calibration fits initial_a only)", plausible=(0.8, 2.0))
    threshold: float = P(0.5, ge=0, le=1, unit="score", description="score at or above which a resident expects to be a victim in 12 months",
                         source='value: INEI ENAPRES wording (expects to be a victim in the next 12 months) mapped to the midpoint of the latent score, a scale choice')
    relaxation: float = P(0.05, ge=0, le=1, unit="per week", description="pull towards the level implied by neighbourhood crime, disorder and patrol",
                          source='mechanism: Hale 1996 (fear of crime follows local conditions); value assumed: within months', plausible=(0.01, 0.2))
    crime_effect: float = P(0.4, ge=0, le=10, unit="score per offence per 100 residents-week", description="effect of the neighbourhood offence rate relative to the pre-period (fear follows crime only loosely)",
                            source='mechanism: Hale 1996; Skogan & Maxfield 1981 (fear follows local crime, loosely); value assumed', plausible=(0.1, 1.5))
    disorder_effect: float = P(0.25, ge=0, le=5, unit="score per unit disorder", description="effect of physical disorder",
                               source='mechanism: Skogan 1990; Wilson & Kelling 1982 (disorder raises fear); value assumed', plausible=(0.05, 0.6))
    patrol_effect: float = P(0.002, ge=0, le=1, unit="score per patrol hour per block-week", description="reassurance from visible extra patrol on the block",
                             source='mechanism: Innes 2004 (reassurance policing); Weisburd et al. 2011 (hot-spot patrol did not raise fear); value assumed', plausible=(0.0, 0.01))
    victim_jump: float = P(0.2, ge=0, le=1, unit="score", description="jump in a victim's insecurity",
                           source='mechanism: Skogan & Maxfield 1981 (victims fear crime more); value assumed', plausible=(0.05, 0.4))


# --- Youth, police, programs, community ----------------------------------------------------


class Youth(Section):
    min_age: int = P(12, ge=8, le=20, unit="years", description="youngest age in the youth group", source='value: DESIGN.md (the project brief: youth are about 12-24)')
    max_age: int = P(24, ge=15, le=35, unit="years", description="oldest age in the youth group", source='value: DESIGN.md (the project brief: youth are about 12-24)')
    onset_rate: float = P(0.004, ge=0, le=1, unit="per week", description="hazard none -> at risk at risk score 1",
                          source='mechanism: Howell & Egley 2005 (risk factors precede gang joining, in stages); value assumed', plausible=(0.001, 0.016))
    recruitment_rate: float = P(0.004, ge=0, le=1, unit="per week", description="hazard at risk -> involved at risk score 1",
                                source='mechanism: Thornberry et al. 2003 (joining follows accumulated risk); value assumed', plausible=(0.001, 0.016))
    peer_effect: float = P(8.0, ge=0, le=100, unit="multiplier per gang share", description="peer influence of the neighbourhood's gang share on both hazards",
                           source='mechanism: Haynie 2001; Thornberry et al. 2003 (delinquent peers raise involvement); value assumed', plausible=(0.0, 20.0))
    recovery_rate: float = P(0.01, ge=0, le=1, unit="per week", description="hazard at risk -> none",
                             source='assumption: how fast at-risk youth return to none', plausible=(0.002, 0.04))
    desistance_rate: float = P(0.008, ge=0, le=1, unit="per week", description="hazard involved -> none (gang membership lasts c. 1-2 years)",
                               source='value: Pyrooz 2014 (median gang membership c. 2 years); Thornberry et al. 1993 (most membership is transient)', plausible=(0.004, 0.016))
    enrolled_protection: float = P(0.5, ge=0, le=1, unit="hazard multiplier",
                                   description="onset and recruitment hazards of a youth while enrolled in a program or Culture Points workshop are multiplied by this",
                                   source="assumption: no source gives the value, and the channel (supervised time) is an assumption too: Gottfredson et al. 2004 found after-school programs' effects did not run through less unsupervised time", plausible=(0.25, 1.0))
    adult_desistance_factor: float = P(2.0, ge=1, le=20, unit="multiplier", description="faster desistance of gang members past the youth ages (maturing out)",
                                       source='mechanism: Pyrooz 2014; Sampson & Laub 2003 (membership and offending end faster with age); value assumed', plausible=(1.0, 4.0))


class Police(Section):
    routine_hours_per_block: float = P(2.0, ge=0, le=168, unit="patrol hours per block-week", description="ordinary PNP patrol in every neighbourhood",
                                       source='assumption: ordinary PNP patrol per block; no published figure', plausible=(0.5, 6.0))
    extra_officers: int = P(20, ge=0, le=500, unit="officers per neighbourhood", description="officers added to a treated neighbourhood at launch (in kind, PNP payroll)",
                            source='value: targets extra_police_example (20 officers assigned at launch in El Carmen-Señor de los Milagros, Comas; one example)', plausible=(10, 40))
    patrol_hours_per_officer: float = P(24.0, ge=0, le=60, unit="hours per officer-week", description="street patrol hours of one assigned officer",
                                        source='assumption: 48 h shifts, half on street patrol', plausible=(12.0, 36.0))
    officer_week_cost: float = P(230.0, gt=0, le=5000, unit="USD per officer-week", description="in-kind cost of one assigned officer (not in the Strategy budget)",
                                 source='assumption: PNP sub-officer pay c. PEN 3,000 a month with overheads', plausible=(150.0, 400.0))
    hot_zone_share: float = P(0.6, ge=0, le=1, unit="share", description="share of extra patrol hours sent to hot zones chosen from recorded crime",
                              source='mechanism: the program report (integrated patrol in hot zones); Braga et al. 2019 (hot-spot policing); value assumed', plausible=(0.3, 0.9))
    hot_zone_blocks: int = P(6, ge=1, le=100, unit="blocks", description="hot-zone blocks per neighbourhood",
                             source='assumption: 10% of 60 blocks (Weisburd 2015: crime concentrates in few places)', plausible=(3, 12))
    patrol_hour_cost: float = P(12.0, gt=0, le=1000, unit="USD per patrol hour", description="budget cost of one extra patrol hour bought by the police pillar (fuel, overtime, equipment)",
                                source='assumption: fuel, overtime and equipment per extra patrol hour', plausible=(5.0, 25.0))
    community_officers: int = P(4, ge=0, le=100, unit="officers per neighbourhood", description="community-police officers in a treated neighbourhood",
                                source='assumption: the program report and Supreme Decree 008-2017-IN name community police, not their number', plausible=(2, 8))
    contacts_per_officer: float = P(25.0, ge=0, le=500, unit="contacts per officer-week", description="resident contacts of one community officer",
                                    source='assumption: resident contacts of one community officer in a week', plausible=(10.0, 50.0))
    contact_min_age: int = P(15, ge=0, le=30, unit="years", description="youngest resident a community-police contact reaches (contacts drawn on younger residents are lost)",
                             source="assumption: community police talk to youth and adults; 15 is INEI's survey population", plausible=(12, 18))
    implementation_quality: float = P(0.6, ge=0, le=1, unit="share", description="share of community-police contacts that are procedurally just",
                                      source='assumption: Blair et al. 2021 (community policing as implemented in six countries did not build trust) and Gill et al. 2014 (modest gains in satisfaction and legitimacy) give no value for this share', plausible=(0.3, 0.95))
    contact_gain: float = P(0.0025, ge=0, le=1, unit="trust score", description="trust gained from a procedurally just contact (absolute, capped at 1)",
                            source="mechanism: Skogan 2006 (good contacts have effects not different from zero); Mazerolle et al. 2013 (procedural justice, small positive effects); value assumed: an eighth of police.contact_loss, within Skogan's 4-14 times asymmetry", plausible=(0.0, 0.005))
    contact_loss: float = P(0.02, ge=0, le=1, unit="trust score", description="trust lost from a poor contact (absolute, floored at 0)",
                            source='mechanism: Skogan 2006 (bad contacts lower confidence, 4-14 times as much as good ones raise it); value assumed', plausible=(0.005, 0.06))
    contacts_per_activity: float = P(60.0, gt=0, le=1000, unit="contacts", description="community-police contacts that make one reported activity (a meeting, a joint patrol)",
                                     source="value: fitted by the calibration (free parameter contacts_per_activity) to the program report's 8,291 activities in January-September 2019 (target activities_2019_q1q3); the default is the prior")
    contact_cost: float = P(4.0, gt=0, le=1000, unit="USD per contact", description="budget cost of one community-police contact (materials, meetings)",
                            source='assumption: materials and meetings per contact', plausible=(1.0, 10.0))
    operation_cost: float = P(6000.0, gt=0, le=1e6, unit="USD per operation", description="budget cost of one intelligence-led operation",
                              source='assumption: one intelligence-led operation', plausible=(2000.0, 15000.0))
    operation_removal: float = P(0.25, ge=0, le=1, unit="share", description="share of the neighbourhood's gang-involved residents an operation arrests",
                                 source='mechanism: Braga & Weisburd 2012 (focused deterrence reduces crime); value assumed', plausible=(0.05, 0.5))
    heavy_handedness: float = P(0.2, ge=0, le=1, unit="share", description="share of operations that are heavy-handed and cost trust",
                                source='assumption: share of operations that are heavy-handed (Tyler 2006 gives why such operations cost trust, not how many there are)', plausible=(0.0, 0.5))
    raid_trust_loss: float = P(0.03, ge=0, le=1, unit="trust score", description="trust lost by residents of a raided block in a heavy-handed operation",
                               source='mechanism: Tyler 2006; Tyler & Fagan 2008 (procedurally unjust policing lowers legitimacy); value assumed', plausible=(0.0, 0.1))
    split_patrol: float = P(0.55, ge=0, le=1, unit="share of police pillar", description="police money on extra patrol hours", source='assumption: the program report names the police lines, not their split', plausible=(0.2, 0.8))
    split_community_policing: float = P(0.3, ge=0, le=1, unit="share of police pillar", description="police money on community-police contacts", source='assumption: the program report names the police lines, not their split', plausible=(0.1, 0.6))
    split_intelligence: float = P(0.15, ge=0, le=1, unit="share of police pillar", description="police money on intelligence operations", source='assumption: the program report names the police lines, not their split', plausible=(0.0, 0.4))

    @model_validator(mode="after")
    def _split(self):
        check_sums_to_one("police splits", [self.split_patrol, self.split_community_policing, self.split_intelligence])
        return self


ProgramTarget = Literal["youth_at_risk", "youth", "adults", "residents"]
# How the Ministry orders the rollout (docs/ODD.md, Strategy): by its diagnosis (what it did),
# or one of two randomised designs an evaluator could have asked for (docs/evaluation.md).
RolloutDesign = Literal["diagnosis", "stepped_wedge", "matched_pairs"]
ROLLOUT_DESIGNS = get_args(RolloutDesign)


class Program(Section):
    share: float = P(0.2, ge=0, le=1, unit="share of social pillar", description="social-pillar money on this program", source='assumption: the program report names the sectors, not their shares', plausible=(0.05, 0.5))
    target: ProgramTarget = Field("youth_at_risk", description="who is enrolled: youth_at_risk (by risk score), youth, adults or residents",
                                  json_schema_extra=source_extra("", "assumption: the program report names the sectors and risk factors, not whom each program enrols"))
    cost_per_participant: float = P(150.0, gt=0, le=1e5, unit="USD per participant", description="cost of one enrolment",
                                    source='assumption: of the order of the costs of Peruvian social programs, not taken from a budget document; the calibration scales all of them by one factor (program_cost_factor)', plausible=(20.0, 400.0))
    dose_weeks: int = P(12, ge=1, le=104, unit="weeks", description="length of one enrolment", source='assumption: length of one enrolment', plausible=(4, 26))
    completion: float = P(0.7, ge=0, le=1, unit="probability", description="enrolments completed", source='assumption: typical 60-80% completion', plausible=(0.4, 0.9))
    risk_reduction: float = P(0.15, ge=0, le=1, unit="share of risk score", description="proportional reduction of the risk score on completion",
                              source='mechanism: Tolan et al. 2014 (mentoring, d c. 0.2 on delinquency); Heller et al. 2017; Heller 2014; Lipsey 2009; value assumed: the mapping of effect sizes to a proportional risk reduction is not theirs', plausible=(0.0, 0.4))
    participants_per_activity: float = P(15.0, gt=0, le=1000, unit="persons", description="enrolments that make one reported activity (a group session or campaign)",
                                         source='assumption: enrolments that make one reported activity', plausible=(5.0, 40.0))
    effect_lag_weeks: int = P(0, ge=0, le=104, unit="weeks", description="weeks after completion before the effect starts",
                              source="mechanism: Heller 2014 (the summer-jobs program's drop in violence came after the program); value assumed", plausible=(0, 26))


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
    districts: list[str] = Field(default_factory=list, description="districts where Culture Points organisations work with the Strategy",
                                 json_schema_extra=source_extra("districts", "value: the program report (San Martin de Porres, Comas, San Juan de Lurigancho, Rimac); set by the scenario"))
    training_start: Date = Field(dt.date(2019, 3, 4), description="start of the first (training) stage",
                                    json_schema_extra=source_extra('date', 'value: the program report (training in 2019, first stage; the week is assumed)'))
    financing_start: Date = Field(dt.date(2019, 8, 5), description="start of financed projects",
                                     json_schema_extra=source_extra('date', 'value: the program report (projects financed August-December 2019)'))
    financing_end: Date = Field(dt.date(2019, 12, 20), description="end of financed projects",
                                   json_schema_extra=source_extra('date', 'value: the program report (projects financed August-December 2019)'))
    orgs_trained: int = P(12, ge=0, le=1000, unit="organisations", description="organisations trained in the first stage",
                          source='value: targets culture_orgs_trained (the program report: 12 organisations)')
    projects_per_district: int = P(1, ge=0, le=50, unit="projects", description="projects selected and financed per district",
                                   source='value: targets culture_projects_financed (the program report: 4 projects, one per district)')
    workshops_per_project: float = P(3.25, ge=0, le=100, unit="workshops", description="workshops run by one financed project",
                                     source='value: targets culture_workshops (the program report: 13 workshops / 4 projects)')
    sessions_per_workshop: int = P(8, ge=1, le=100, unit="weekly sessions", description="length of a workshop",
                                   source='assumption: weekly sessions of one workshop', plausible=(4, 16))
    participants_per_workshop: float = P(18.7, ge=0, le=500, unit="persons", description="youth enrolled per workshop",
                                         source='value: targets culture_workshop_participants (the program report: 243 / 13)')
    activities_per_project: float = P(2.75, ge=0, le=100, unit="activities", description="one-off cultural activities per project",
                                      source='value: targets culture_activities (the program report: 11 / 4)')
    participants_per_activity: float = P(39.9, ge=0, le=5000, unit="persons", description="participants per one-off activity",
                                         source='value: targets culture_activity_participants (the program report: 439 / 11)')
    cost_per_project: float = P(15000.0, gt=0, le=1e6, unit="USD per project", description="grant to one financed project",
                                source='assumption: a grant of the order of PEN 50,000 (not checked against a published call)', plausible=(8000.0, 20000.0))
    completion: float = P(0.75, ge=0, le=1, unit="probability", description="workshop participants who complete it",
                          source='assumption: attendance in community arts programs', plausible=(0.4, 0.9))
    risk_reduction: float = P(0.05, ge=0, le=1, unit="share of risk score", description="risk reduction on workshop completion",
                              source='assumption: no evaluation gives an effect of community arts workshops on offending risk; Spruit et al. 2016 found no significant association between sports participation and delinquency, and Culture Points are arts projects', plausible=(0.0, 0.2))
    effect_lag_weeks: int = P(0, ge=0, le=104, unit="weeks", description="weeks after a completed workshop before its risk reduction starts",
                              source='assumption: effects start on completion (sectoral programs have programs.<sector>.effect_lag_weeks)', plausible=(0, 26))
    space_use_gain: float = P(0.05, ge=0, le=1, unit="condition per activity", description="public-space condition gained by a block hosting an activity",
                              source='assumption: Culture Points recover public spaces (the program report says so; the size is assumed)', plausible=(0.0, 0.15))


class Community(Section):
    initial_efficacy: float = P(0.35, ge=0, le=1, unit="score 0-1", description="mean collective efficacy at the start",
                                source="assumption: Sampson et al. 1997's collective-efficacy scale rescaled to 0-1 (a scale choice)", plausible=(0.2, 0.5))
    efficacy_junta_gain: float = P(1.5, ge=0, le=20, unit="efficacy per junta share", description="target efficacy gained per share of adults in juntas",
                                   source='mechanism: Sampson et al. 1997; Bellair 1997 (neighbour networks and participation raise collective efficacy); value assumed', plausible=(0.5, 4.0))
    efficacy_crime_erosion: float = P(0.6, ge=0, le=20, unit="efficacy per offence per 100 residents-week", description="efficacy eroded by crime",
                                      source='mechanism: Markowitz et al. 2001; Sampson 2012 (crime lowers cohesion, a feedback); value assumed', plausible=(0.0, 2.0))
    efficacy_disorder_erosion: float = P(0.2, ge=0, le=5, unit="efficacy per unit disorder", description="efficacy eroded by disorder",
                                         source='mechanism: Skogan 1990 (disorder undermines community); value assumed', plausible=(0.0, 0.6))
    efficacy_relaxation: float = P(0.02, ge=0, le=1, unit="per week", description="speed of efficacy adjustment", source='assumption: speed of efficacy adjustment', plausible=(0.005, 0.1))
    efficacy_deprivation_effect: float = P(0.5, ge=0, le=3, unit="log-multiplier per unit deprivation",
                                           description="lower base collective efficacy in deprived neighbourhoods: base = initial_efficacy x exp(-effect x deprivation)",
                                           source='mechanism: Sampson et al. 1997 (concentrated disadvantage lowers collective efficacy); value assumed', plausible=(0.0, 1.0))
    offence_rate_weeks: float = P(8.0, ge=1, le=260, unit="weeks", description="time constant of the neighbourhood offence rate (moving average) that collective efficacy and insecurity respond to",
                                  source="assumption: residents' sense of local crime follows the last two months or so", plausible=(4.0, 26.0))
    initial_junta_share: float = P(0.02, ge=0, le=1, unit="share of adults", description="adults in a junta vecinal at the start",
                                   source='assumption: 14,119 juntas vecinales registered c. 2017 (PNP citizen-security directorate, DIRSEG) with 10-20 members each (assumed), more in candidate neighbourhoods', plausible=(0.005, 0.05))
    junta_recruits_per_activity: float = P(4.0, ge=0, le=500, unit="adults", description="adults joining a junta per community activity",
                                           source='assumption: adults joining a junta at one community activity', plausible=(0.5, 10.0))
    junta_dropout: float = P(0.004, ge=0, le=1, unit="per week", description="junta members who leave", source='assumption: weekly drop-out of junta members', plausible=(0.001, 0.01))
    junta_tip_rate: float = P(0.02, ge=0, le=1, unit="probability per percentage point of adults in juntas",
                              description="chance that an unrecorded offence reaches the police map through the juntas, per percentage point of adults who are members (capped at 1)",
                              source='assumption: juntas vecinales pass information on local crime to the police (their registered role); no estimate of the rate', plausible=(0.0, 0.05))
    activity_cost: float = P(350.0, gt=0, le=1e5, unit="USD per activity", description="one community activity (meeting, campaign, joint patrol)",
                             source='assumption: one meeting, campaign or joint patrol', plausible=(150.0, 700.0))
    space_recovery_cost: float = P(4000.0, gt=0, le=1e6, unit="USD per block", description="recovering the public space of one block",
                                   source='assumption: municipal small works for one block', plausible=(1500.0, 10000.0))
    space_recovery_gain: float = P(0.35, ge=0, le=1, unit="condition", description="condition gained by a recovered block",
                                   source='mechanism: Branas et al. 2018; Welsh & Farrington 2008 (restored spaces and lighting reduce crime); value assumed', plausible=(0.1, 0.6))
    space_decay: float = P(0.002, ge=0, le=1, unit="per week", description="decay of public-space condition", source='assumption: decay of public-space condition', plausible=(0.0005, 0.01))
    alcohol_operation_cost: float = P(500.0, gt=0, le=1e5, unit="USD per operation", description="one alcohol-control operation (inspections, closing hours)",
                                      source='assumption: one alcohol-control operation', plausible=(200.0, 1500.0))
    alcohol_control_effect: float = P(0.1, ge=0, le=1, unit="share of consumption", description="drop in neighbourhood alcohol consumption per operation (decays back)",
                                      source='mechanism: Duailibi et al. 2007 (a law closing bars at 11 pm in Diadema, Brazil, was followed by fewer homicides and assaults); value assumed: the drop in consumption per operation is not theirs', plausible=(0.0, 0.3))
    alcohol_recovery: float = P(0.02, ge=0, le=1, unit="per week", description="return of consumption towards its baseline", source='assumption: consumption returns to its baseline within months of an operation', plausible=(0.005, 0.1))
    outlets_per_block: float = P(0.6, ge=0, le=20, unit="outlets per block", description="mean alcohol outlets per block (Poisson)",
                                 source='assumption: mean alcohol outlets per block', plausible=(0.2, 1.5))
    outlet_attractiveness_min: float = P(0.3, ge=0, le=1, unit="attractiveness (mean 1)", description="floor on the block attractiveness that scales a block's expected alcohol outlets",
                                         source='assumption: outlets follow attractive blocks, but the least attractive keep some chance of one; binds only when crime.attractiveness_shape < 1.43 (the smallest attractiveness is (shape - 1) / shape)', plausible=(0.1, 0.6))
    outlet_attractiveness_max: float = P(3.0, ge=1, le=100, unit="attractiveness (mean 1)", description="cap on the block attractiveness that scales a block's expected alcohol outlets",
                                         source='assumption: the heaviest-tailed blocks get at most 3 times the mean outlets', plausible=(2.0, 6.0))
    initial_condition_a: float = P(4.0, gt=0, le=50, unit="Beta a", description="initial public-space condition of a block before the deprivation shift (Beta a)",
                                   source='assumption: mean 0.5 with moderate spread (SD c. 0.17)', plausible=(2.0, 8.0))
    initial_condition_b: float = P(4.0, gt=0, le=50, unit="Beta b", description="initial public-space condition of a block before the deprivation shift (Beta b)",
                                   source='assumption: mean 0.5 with moderate spread (SD c. 0.17)', plausible=(2.0, 8.0))
    condition_deprivation_effect: float = P(0.15, ge=0, le=1, unit="condition per unit deprivation", description="lower initial public-space condition in deprived neighbourhoods",
                                            source='mechanism: Skogan 1990 (disorder concentrates in deprived neighbourhoods); value assumed', plausible=(0.0, 0.3))
    split_activities: float = P(0.5, ge=0, le=1, unit="share of community pillar", description="community money on activities (juntas, meetings, allies)", source='assumption: the program report names the community lines, not their split', plausible=(0.2, 0.8))
    split_space: float = P(0.3, ge=0, le=1, unit="share of community pillar", description="community money on recovering public spaces", source='assumption: the program report names the community lines, not their split', plausible=(0.1, 0.6))
    split_alcohol: float = P(0.2, ge=0, le=1, unit="share of community pillar", description="community money on alcohol control", source='assumption: the program report names the community lines, not their split', plausible=(0.0, 0.4))

    @model_validator(mode="after")
    def _split(self):
        check_sums_to_one("community splits", [self.split_activities, self.split_space, self.split_alcohol])
        return self


# --- Strategy, budget ----------------------------------------------------------------------


class Cohort(Section):
    year: int = Field(ge=1990, le=2100, description="cohort year")
    neighbourhoods: int = Field(ge=0, le=10_000, description="neighbourhoods selected in the year",
                                json_schema_extra=source_extra('neighbourhoods', 'value: targets rollout_* (the program report: 5, 18, 30, 38)'))
    launch: Date = Field(description="start of execution for the cohort (planning precedes it)",
                            json_schema_extra=source_extra('date', 'value: pilot launched from November 2016 (Basombrío column); assumed for later years'))
    districts: list[str] = Field(default_factory=list, description="restrict selection to these districts (e.g. the pilot)",
                                 json_schema_extra=source_extra("districts", "value: the 2016 pilot districts (Basombrío column); set by the scenario"))
    one_per_district: bool = Field(False, description="select the best-scoring neighbourhood in each listed district",
                                   json_schema_extra=source_extra("flag", "value: the 2016 pilot had one neighbourhood in each of its five districts (Basombrío column)"))


class Mix(Section):
    police: float = P(0.4, ge=0, le=1, unit="share of budget", description="police prevention pillar", source='assumption: the program report names the three pillars, not the split of the budget', plausible=(0.2, 0.6))
    social: float = P(0.35, ge=0, le=1, unit="share of budget", description="social prevention pillar", source='assumption: the program report names the three pillars, not the split of the budget', plausible=(0.2, 0.5))
    community: float = P(0.25, ge=0, le=1, unit="share of budget", description="community prevention pillar", source='assumption: the program report names the three pillars, not the split of the budget', plausible=(0.1, 0.4))

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
                            source='assumption: design choice for like-for-like pillar comparisons (issue 10)')
    mix: Mix = Field(default_factory=Mix, description="reference mix whose budget allocation (social share only once programs start) sets "
                                                      "the money of a treated neighbourhood-week under like_for_like")


# Channel switches are an analysis device, not a claim about the world.
CHANNEL_SOURCE = "assumption: an analysis switch (sn-sim decompose); every shipped scenario keeps all channels on"


class Channels(Section):
    """Which of the Strategy's lines of action act on the world. A line switched off still spends
    its money and counts its activities, but changes nothing: `sn-sim decompose` switches them on
    one by one to take a scenario's effect apart by channel (docs/ODD.md §7.26)."""

    patrol: bool = P(True, unit="flag", description="extra patrol (in-kind officers and bought hours): deterrence, displacement and diffusion, visible patrol",
                source=CHANNEL_SOURCE)
    community_policing: bool = P(True, unit="flag", description="community-police contacts (trust)",
                source=CHANNEL_SOURCE)
    operations: bool = P(True, unit="flag", description="intelligence-led operations: arrests of gang members (incapacitation), raids' trust cost",
                source=CHANNEL_SOURCE)
    programs: bool = P(True, unit="flag", description="sectoral programs: enrolment protection and lower risk factors",
                source=CHANNEL_SOURCE)
    culture_points: bool = P(True, unit="flag", description="Culture Points workshops (lower risk factors) and activities (use of public space)",
                source=CHANNEL_SOURCE)
    juntas: bool = P(True, unit="flag", description="community activities: junta membership, collective efficacy, tips to the police",
                source=CHANNEL_SOURCE)
    spaces: bool = P(True, unit="flag", description="recovered public spaces (guardianship, disorder)",
                source=CHANNEL_SOURCE)
    alcohol: bool = P(True, unit="flag", description="alcohol-control operations (consumption, violent share)",
                source=CHANNEL_SOURCE)


class Strategy(Section):
    rollout: list[Cohort] = Field(default_factory=list, description="yearly cohorts of selected neighbourhoods")
    mix: Mix = Field(default_factory=Mix, description="split of the budget between the three pillars")
    extra_officers_in_kind: bool = P(True, unit="flag", description="treated neighbourhoods receive police.extra_officers (in kind, police pillar)",
                                     source='value: targets extra_police_example (officers assigned at launch in Comas); false only in scenarios')
    community_police: bool = P(True, unit="flag", description="treated neighbourhoods receive police.community_officers (in kind, police pillar)",
                               source='value: the program report and Supreme Decree 008-2017-IN (the execution stage implements community police); false only in scenarios')
    resources: Resources = Field(default_factory=Resources, description="like-for-like resources: the reference Strategy whose resources "
                                                                        "the scenario's pillars receive")
    channels: Channels = Field(default_factory=Channels, description="which lines of action act on the world (all by default; switched off "
                                                                     "for the channel decomposition)",
                               json_schema_extra=source_extra("flags", CHANNEL_SOURCE))
    weight_crime: float = P(1.0, ge=0, le=10, unit="weight", description="diagnosis weight of the recorded-crime rate",
                            source='mechanism: selection criteria (Basombrío column; the program report): high crime incidence; value assumed (the weights are not published)', plausible=(0.5, 2.0))
    weight_homicide: float = P(0.5, ge=0, le=10, unit="weight", description="diagnosis weight of the homicide rate",
                               source='mechanism: selection criteria (Basombrío column): high homicide rate; value assumed (the weights are not published)', plausible=(0.0, 1.0))
    weight_former_prisoners: float = P(0.5, ge=0, le=10, unit="weight", description="diagnosis weight of the former-prisoner share",
                                       source='mechanism: selection criteria (Basombrío column): many residents who were inmates before entering prison; value assumed (the weights are not published)', plausible=(0.0, 1.0))
    diagnosis_noise: float = P(0.3, ge=0, le=5, unit="SD of z-score", description="error of the diagnosis", source="assumption: error of the Ministry's diagnosis", plausible=(0.0, 1.0))
    planning_weeks: int = P(8, ge=1, le=104, unit="weeks", description="diagnosis and planning before launch", source='assumption: diagnosis and planning before launch', plausible=(4, 16))
    execution_weeks: int = P(52, ge=1, le=520, unit="weeks", description="length of the execution stage", source='assumption: the decree and the program report name the stage, not its length', plausible=(26, 78))
    consolidation_start_week: int = P(26, ge=0, le=520, unit="weeks after launch", description="when sectoral programs start (may overlap execution)",
                                      source='mechanism: Supreme Decree 008-2017-IN (consolidation may start during execution); value assumed', plausible=(0, 52))
    consolidation_weeks: int = P(104, ge=1, le=520, unit="weeks", description="length of consolidation after execution", source='assumption: the decree and the program report name the stage, not its length', plausible=(52, 156))
    evaluation_intensity: float = P(0.3, ge=0, le=1, unit="share", description="activity intensity during evaluation and monitoring", source='assumption: activity during evaluation and monitoring', plausible=(0.0, 0.6))
    planning_intensity: float = P(0.05, ge=0, le=1, unit="share", description="budget share of a full week spent during planning (diagnosis)", source='assumption: spending on the diagnosis', plausible=(0.01, 0.2))
    rollout_design: RolloutDesign = Field(
        "diagnosis", description="how each cohort is chosen: diagnosis (the worst-diagnosed first, as the Ministry did); "
                                 "stepped_wedge (at random among the worst-diagnosed still to be treated by this and later "
                                 "cohorts: same yearly counts, random order); matched_pairs (the worst-diagnosed twice the "
                                 "cohort's size paired on the diagnosis score, one of each pair treated at random, the other "
                                 "its designated control)",
        json_schema_extra=source_extra("design", "assumption: the Ministry ranked by diagnosis (Supreme Decree 008-2017-IN; "
                                                 "the program report); the randomised designs are what-ifs for design diagnosis"))
    controls_per_treated: int = P(1, ge=0, le=10, unit="neighbourhoods", description="matched control neighbourhoods the Ministry designates per treated one",
                                  source='mechanism: Supreme Decree 008-2017-IN (asks for control neighbourhoods); value assumed: one each', plausible=(1, 2))


class Budget(Section):
    usd_per_year: float = P(5_369_221.0, ge=0, le=1e10, unit="USD per year",
                            description="national cap on the Strategy's own spending (under strategy.resources.like_for_like, raised by the value of in-kind officers converted into budget in the year)",
                            source='value: targets budget_per_year (the program report: approximately USD 5,369,221 a year)')
    usd_per_neighbourhood_year: float = P(75_000.0, ge=0, le=1e8, unit="USD per neighbourhood-year",
                                          description="allocation to one neighbourhood at full intensity (the national cap binds first in 2019)",
                                          source="value: fitted by the calibration (free parameter neighbourhood_allocation) to the program report's budget (target budget_per_year); the default is the prior; prior above cap / 91 = 59,000 because neighbourhoods spend less while planning or in evaluation")


class Scenario(Section):
    name: str = Field("unnamed", description="scenario name")
    description: str = Field("", description="what the scenario represents")
    calendar: Calendar = Field(default_factory=Calendar)
    population: Population = Field(default_factory=Population)
    districts: list[District] = Field(default_factory=list, description="candidate pool, by district")
    trends: Trends = Field(default_factory=Trends, description="national secular trends (none by default)")
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

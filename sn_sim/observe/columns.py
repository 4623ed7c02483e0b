"""The column registry: every column of every output table is defined here, once.

One :class:`Column` per column of ``panel.parquet`` (grouped by theme), ``blocks.parquet`` and
``neighbourhoods.parquet``, and one :class:`Field` per key of ``manifest.json``. Each says its
pandas dtype (exactly as ``Results`` holds it), its unit, what it counts or measures and over
which population. ``docs/data_dictionary.md`` is generated from this module and the outcome
registry (``python -m sn_sim.observe.dictionary > docs/data_dictionary.md``), the panel
recorder takes its flow and stock columns from it (:data:`FLOW_COLUMNS`,
:data:`STOCK_COLUMNS`), and the tests check that a run produces exactly these columns with
these dtypes.

Kinds of panel column: ``key`` (identifies the row or describes the neighbourhood), ``flow``
(what happened during the week; copied from the week's tally field ``source``), ``stock``
(the state at the end of the week's step; recorded into the recorder's array ``source``) and
``derived`` (computed from other panel columns when the panel is assembled).

The relative order of the flow columns, and of the stock columns, is the order of the panel's
columns (identifiers first, then stocks, flows and derived columns).
"""

from __future__ import annotations

from dataclasses import dataclass

from sn_sim.observe.provenance import LIBRARIES
from sn_sim.world.ledger import INSECURITY_SOURCES, TRUST_SOURCES

KINDS = ("key", "flow", "stock", "derived")


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str            # pandas dtype of the column in Results (str(frame[name].dtype))
    unit: str             # "—" when the column has no unit
    population: str       # who or what the column is defined over
    definition: str       # markdown
    kind: str = "key"     # one of KINDS (panel only; blocks and neighbourhoods are all "key")
    source: str | None = None   # flow: tally field; stock: recorder array (default: the name)
    inei: str | None = None     # survey-style rates: the INEI definition the column matches
    dtype_note: str | None = None  # how the type is shown, when the dtype string needs a gloss

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: unknown kind {self.kind!r}")

    @property
    def recorded_as(self) -> str:
        return self.source or self.name


@dataclass(frozen=True)
class Group:
    """A themed group of panel columns (one table of the data dictionary)."""

    title: str
    columns: tuple[Column, ...]
    intro: str = ""
    notes: str = ""


@dataclass(frozen=True)
class Field:
    """A key of manifest.json."""

    name: str
    type: str
    definition: str


def _flow(name, unit, population, definition, source=None):
    return Column(name, "float64", unit, population, definition, kind="flow", source=source or name)


def _stock(name, unit, population, definition, source=None, dtype="float64", inei=None):
    return Column(name, dtype, unit, population, definition, kind="stock", source=source, inei=inei)


def _derived(name, unit, population, definition):
    return Column(name, "float64", unit, population, definition, kind="derived")


NB = "the neighbourhood"
ALL_RESIDENTS = "residents of the neighbourhood, any age, prisoners included"
# What each source of the scores' ledger (world/ledger.py) books (the columns follow the ledger's order).
TRUST_SOURCE_DEFINITIONS = {
    "contacts_just": "part of the mean trust score put there by procedurally just community-police contacts (+)",
    "contacts_unjust": "... by poor community-police contacts (−)",
    "raids": "... by heavy-handed intelligence operations on the resident's block (−)",
    "victim_response": "... by victimisations whose offender was arrested (+)",
    "victim_no_response": "... by victimisations without an arrest (−)",
    "patrol": "... by visible extra patrol on the resident's block (+)",
}
INSECURITY_SOURCE_DEFINITIONS = {
    "crime": "part of the mean insecurity score put there by the neighbourhood's offence rate relative to its "
             "pre-period level (ODD §7.14)",
    "disorder": "... by the block's disorder relative to its pre-period level (recovered spaces lower it)",
    "patrol": "... by patrol beyond routine on the resident's block (−)",
    "victimisation": "... by the jump in a victim's insecurity (+)",
}
NB_WEEK = "the neighbourhood, this week"

# --- panel.parquet ------------------------------------------------------------------------------

PANEL_GROUPS: tuple[Group, ...] = (
    Group("Identifiers", (
        Column("scenario", "str", "—", "the run",
               "scenario name (`name` in the scenario file, else the file's stem)"),
        Column("replicate", "int32", "—", "the run",
               "replicate index 0 … R−1; each has its own random stream spawned from `seed`"),
        Column("seed", "int64", "—", "the run",
               "root seed of the run (the same in every row of a run); with `replicate` it identifies the random "
               "streams. Runs of different scenarios with the same seed and replicate share random numbers person by "
               "person (common random numbers, ODD §4 *Stochasticity*)"),
        Column("week", "int32", "weeks", "the calendar",
               "week index since `calendar.start` (0 = first recorded week)"),
        Column("date", "datetime64[s]", "date", "the calendar",
               "Monday that starts the week: `calendar.start + 7·week` days; a week belongs to the calendar year of "
               "its Monday"),
        Column("neighbourhood", "int32", "—", NB,
               "neighbourhood index 0 … n−1, in candidate-pool order (districts in scenario order); joins "
               "`blocks.parquet`"),
        Column("neighbourhood_name", "category", "—", NB, "`<district>-NN`, e.g. `Comas-03`"),
        Column("district", "category", "—", NB, "district (as in the scenario's `[[districts]]`)"),
        Column("city", "category", "—", NB, "city or province of the district"),
        Column("lima", "bool", "—", NB, "district is in Lima Metropolitana (for Lima-only rates)"),
        Column("treated", "bool", "—", NB,
               "the neighbourhood is selected by the Strategy at some point of the run (time-invariant: true in every "
               "week of a treated neighbourhood, before its launch too)"),
        Column("cohort_year", "Int16", "year", NB,
               "year of the cohort that selected the neighbourhood; `<NA>` if never selected (time-invariant)",
               dtype_note="Int16 (nullable)"),
        _stock("stage", "—", NB_WEEK,
               "Strategy stage this week: `none`, `planning`, `execution`, `consolidation`, `evaluation` "
               "(ODD §7.23)", source="stage_code", dtype="category"),
        _stock("is_control", "—", NB_WEEK,
               "designated as a matched control and not (yet) selected, this week (ODD §7.22); a control selected in "
               "a later cohort stops being one", dtype="bool"),
    )),
    Group("Crime (flows, per week)", (
        _flow("offences", "offences (inhabitant units)", "offences at the neighbourhood's blocks, by anyone",
              "completed offences at the neighbourhood's blocks (attempts that were deterred are not offences)"),
        _flow("property_offences", "offences", "offences at the neighbourhood's blocks", "non-violent offences"),
        _flow("violent_offences", "offences", "offences at the neighbourhood's blocks",
              "violent offences (robbery with violence, assault), homicides included"),
        _flow("homicides", "victims", "offences at the neighbourhood's blocks", "violent offences that killed"),
        _flow("recorded_crimes", "offences", "offences at the neighbourhood's blocks",
              "offences known to the police: reported by the victim, witnessed by patrol, or homicides. Junta tips "
              "(which only feed the police's map) are not included"),
        _flow("victims", "persons", "residents of the neighbourhood, any age",
              "distinct residents victimised this week, wherever the offence happened (a market or stop in the next "
              "neighbourhood too), so a neighbourhood can have more victims than offences at its blocks; never the "
              "offender or a prisoner, except for the rare offence whose one redraw hits one again: ODD §7.8)"),
        _flow("arrests", "persons", "offenders living in the neighbourhood; gang members caught in its operations",
              "people arrested: offenders of cleared recorded offences (counted in their home neighbourhood) plus "
              "gang-involved residents (of any age) caught in intelligence operations; before conviction (each is "
              "convicted and goes to prison with probability `reporting.conviction`)"),
        _flow("displaced_offences", "offences", "offences at the neighbourhood's blocks",
              "offences committed at an adjacent block after the offender was deterred at the first target "
              "(ODD §7.6), counted where they happened", source="displaced"),
        _derived("offences_per_1000_week", "offences per 1,000 inhabitants per week", "inhabitants of the neighbourhood",
                 "`1000 × offences / population`"),
    )),
    Group("Population (stocks)", (
        _stock("population", "inhabitants", "all residents of the neighbourhood, prisoners included",
               "inhabitants represented by the neighbourhood's agents (agents / scale); constant over the run (homicide "
               "victims are replaced by in-movers). At small scales it can exceed the drawn size because every block "
               "keeps at least one agent"),
        _stock("incarcerated", "persons", "residents of the neighbourhood in prison, any age",
               "residents of the neighbourhood who are in prison this week (the initial prisoners are drawn among "
               "adults, ODD §5)"),
    )),
    Group("Survey-style rates (stocks)", (
        _stock("victimisation_12m", "share", "free residents aged 15+",
               "share whose latest victimisation happened in the last 52 weeks (this week included)",
               inei="ENAPRES / ENEV victimisation rate: urban population aged 15 and over who were victims of at least "
                    "one crime (\"hecho delictivo\") in the last 12 months"),
        _stock("trust_police", "share", "free residents aged 18+",
               "share with trust score ≥ `trust.threshold`",
               inei="ENAHO governance module (Gobernabilidad, Democracia y Transparencia): population 18+ who trust "
                    "the National Police of Peru \"a lot\" or \"enough\""),
        _stock("insecurity", "share", "free residents aged 15+",
               "share with perceived-insecurity score ≥ `insecurity.threshold`",
               inei="ENAPRES / ENEV perception of insecurity: population 15+ who expect to be a victim of a crime in "
                    "the next 12 months"),
        _stock("reporting_rate", "share", "free residents aged 15+ victimised in the last 52 weeks",
               "share whose latest victimisation they reported; `NaN` in weeks with no such victims",
               inei="ENAPRES reporting rate: victims (15+) of a crime in the last 12 months who reported it to the "
                    "police (comisaría) or the Public Prosecutor's Office"),
    ), intro=(
        "Computed every week over the neighbourhood's residents who are not in prison (prisoners are not in "
        "household surveys), so that they can be compared with INEI's published rates. They are shares in [0, 1]."
    ), notes=(
        "Notes: the model's victimisation counts completed offences only, and every victim's latest victimisation "
        "(one per person) decides both victimisation and reporting. The trust scale is ENAHO's (not ENAPRES's "
        "none/some/a lot scale; ODD §8). INEI's rolling 12-month windows (semesters) correspond to a 52-week window "
        "ending at the window's last week."
    )),
    Group("Trust and insecurity by source (stocks)", (
        _stock("trust_score", "score 0–1", ALL_RESIDENTS,
               "mean trust-in-the-police score (the latent score behind `trust_police`)"),
        *(_stock(f"trust_from_{source}", "score 0–1", ALL_RESIDENTS, TRUST_SOURCE_DEFINITIONS[source])
          for source in TRUST_SOURCES),
        _stock("insecurity_score", "score 0–1", ALL_RESIDENTS,
               "mean perceived-insecurity score (the latent score behind `insecurity`)"),
        *(_stock(f"insecurity_from_{source}", "score 0–1", ALL_RESIDENTS, INSECURITY_SOURCE_DEFINITIONS[source])
          for source in INSECURITY_SOURCES),
    ), intro=(
        "The scores' ledger (ODD §7.13–7.14): every change a mechanism makes to a person's score is booked to "
        "its source, and the weekly relaxation towards each person's long-run level takes back the same share of "
        "every booking as of the score. Each `*_from_*` column is the part of the neighbourhood's mean score that "
        "the source has put there and relaxation has not yet taken back (per resident, any age, prisoners "
        "included), at the end of the week. In two runs on common random numbers (a scenario and its base or "
        "twin) the difference in `trust_score` is the sum of the differences of the `trust_from_*` columns plus a "
        "rest (deaths and in-movers carrying a deviation away, clipping at 0 and 1, float32 rounding), so an "
        "effect on the mean score can be taken apart by mechanism. Levels are relative to the long-run anchors "
        "and include the burn-in's bookings: read differences between runs, not levels."
    )),
    Group("Youth and programs (stocks)", (
        _stock("youth", "persons", "free residents aged `youth.min_age`–`youth.max_age` (12–24)",
               "youth who are not in prison (imprisoned youth are in `incarcerated`)"),
        _stock("youth_at_risk", "persons", "free youth", "free youth in the gang state \"at risk\""),
        _stock("youth_in_gangs", "persons", "free youth",
               "free youth in the gang state \"involved\" (gang members past the youth ages, who stay involved until "
               "they desist, and prisoners are not counted)"),
        _stock("in_programs", "persons", "residents of the neighbourhood",
               "residents currently enrolled in a sectoral program or a Culture Points workshop"),
    )),
    Group("Community (stocks)", (
        _stock("collective_efficacy", "score 0–1", NB, "the neighbourhood's collective efficacy (ODD §7.19)"),
        _stock("junta_members", "persons", "residents of the neighbourhood, prisoners included",
               "members of juntas vecinales living in the neighbourhood"),
        _stock("alcohol_consumption", "relative to baseline", NB,
               "alcohol consumption; 1 = no control, lowered by alcohol-control operations (ODD §7.21)"),
    )),
    Group("Effort (flows per week unless stated)", (
        _flow("patrol_hours", "hours", "the neighbourhood's blocks",
              "patrol hours in the neighbourhood: routine patrol on every block plus, if treated, in-kind officers' "
              "patrol and patrol hours bought by the police pillar"),
        _flow("hot_zone_patrol_hours", "hours", "the neighbourhood's hot-zone blocks",
              "the part of the extra patrol sent to the hot-zone blocks (chosen from recorded crime)",
              source="hot_zone_hours"),
        _flow("community_contacts", "contacts (inhabitant units)", "residents of the neighbourhood aged 15+",
              "community-police contacts with residents (in-kind community officers plus contacts bought)",
              source="contacts"),
        _flow("intelligence_operations", "operations", NB, "intelligence-led operations against crime rings",
              source="operations"),
        _flow("alcohol_operations", "operations", NB, "alcohol-control operations"),
        _flow("spaces_recovered", "blocks", "the neighbourhood's blocks",
              "block public-space recoveries this week (the same block may be recovered again later)"),
        _derived("spaces_recovered_to_date", "blocks", "the neighbourhood's blocks",
                 "cumulative `spaces_recovered` since week 0"),
        _flow("program_enrolments", "persons", "residents of the neighbourhood",
              "new enrolments in sectoral programs this week (people actually enrolled; Culture Points workshops not "
              "included)", source="enrolments"),
        _stock("beneficiaries_to_date", "persons", "residents of the neighbourhood",
               "stock: distinct residents ever enrolled in a sectoral program or a Culture Points workshop, cumulative "
               "since week 0"),
        _flow("activities_police", "activities", NB,
              "reported police-pillar activities: community contacts / `police.contacts_per_activity` + operations "
              "(fractional)"),
        _flow("activities_social", "activities", NB,
              "reported social-pillar activities: Σ over programs of enrolments bought / `participants_per_activity` "
              "(fractional)"),
        _flow("activities_community", "activities", NB,
              "community activities + space recoveries + alcohol operations"),
        _flow("culture_workshops", "workshops", NB, "Culture Points workshops that started this week"),
        _flow("culture_workshop_participants", "persons", "youth of the neighbourhood",
              "youth enrolled in the workshops that started this week"),
        _flow("culture_activities", "activities", NB, "one-off Culture Points activities held this week"),
        _flow("culture_activity_participants", "persons", "participants reported (not agents)",
              "participants in those activities (`culture_points.participants_per_activity` each; not enrolled, not "
              "beneficiaries)"),
        _derived("activities_culture", "activities", NB, "`culture_workshops + culture_activities`"),
        _derived("activities", "activities", NB,
                 "all reported activities: police + social + community + culture; comparable to the program's 8,291 "
                 "activities in Jan–Sep 2019"),
        _stock("culture_orgs_trained", "organisations", "organisations based in the neighbourhood",
               "stock: Culture Points organisations trained that are based in the neighbourhood"),
        _stock("culture_projects_financed", "projects", "organisations based in the neighbourhood",
               "stock: Culture Points projects financed in the neighbourhood"),
    )),
    Group("Cost", (
        _flow("cost_usd", "USD per week", "the Strategy's budget spent in the neighbourhood",
              "the Strategy's own spending in the neighbourhood: units bought by the three pillars (patrol hours, "
              "contacts, operations, community activities, space recoveries, alcohol operations, program enrolments) "
              "plus planning (diagnosis). Money buys whole units only, so a week's spending can exceed its allocation "
              "when saved money buys a lumpy unit (an operation, a recovered block); unspent money carries over, also "
              "across years. Summed over the pool and a calendar year it does not exceed `budget.usd_per_year` "
              "(ODD §7.23; planning is always paid)", source="cost"),
        _flow("cost_in_kind_usd", "USD per week", "spending outside the Strategy's budget in the neighbourhood",
              "cost outside the Strategy's budget: extra and community-police officers on the PNP payroll "
              "(`officers × police.officer_week_cost`) and Culture Points grants (Ministry of Culture; booked in the "
              "financing week)", source="cost_in_kind"),
        _derived("cost_to_date_usd", "USD", "the Strategy's budget spent in the neighbourhood",
                 "cumulative `cost_usd` since week 0 (in-kind cost excluded)"),
    )),
)

PANEL: tuple[Column, ...] = tuple(c for g in PANEL_GROUPS for c in g.columns)

# What the panel recorder fills each week: panel column <- tally field, and its stock arrays
# (``stage_code`` becomes the categorical ``stage``).
FLOW_COLUMNS: dict[str, str] = {c.name: c.recorded_as for c in PANEL if c.kind == "flow"}
STOCK_COLUMNS: list[str] = [c.recorded_as for c in PANEL if c.kind == "stock"]

# --- blocks.parquet -----------------------------------------------------------------------------

BLOCKS: tuple[Column, ...] = (
    Column("replicate", "int32", "—", "the run", "replicate index (as in the panel)"),
    Column("year", "int16", "year", "the calendar", "calendar year (weeks are assigned by their Monday)"),
    Column("neighbourhood", "int32", "—", NB, "neighbourhood index (as in the panel's `neighbourhood`)"),
    Column("block", "int16", "—", "the block",
           "block index within the neighbourhood, 0 … B−1, row-major (`block = row × block_cols + col`)"),
    Column("row", "int16", "—", "the block", "grid row, 0 … `population.block_rows` − 1"),
    Column("col", "int16", "—", "the block",
           "grid column, 0 … `population.block_cols` − 1; column 0 touches the last column of the previous "
           "neighbourhood of the same city"),
    Column("land_use", "category", "—", "the block",
           "what the block is used for: residential, commercial, market, transport (a main stop) or nightlife "
           "(`land_use.*`); markets and transport stops are the activity nodes offenders search around"),
    Column("offences", "float64", "offences (inhabitant units)", "offences at the block, by anyone",
           "offences at the block during the year (recorded weeks only: burn-in is excluded)"),
    Column("patrol_hours_last_week", "float64", "hours", "the block",
           "patrol hours at the block in the last week of the year (a snapshot, not a yearly total)"),
    Column("space_recovered", "bool", "—", "the block",
           "the block's public space has been recovered by the Strategy at least once by the end of the year"),
)

# --- neighbourhoods.parquet ---------------------------------------------------------------------

NEIGHBOURHOODS: tuple[Column, ...] = (
    Column("replicate", "int32", "—", "the run", "replicate index"),
    Column("neighbourhood", "int32", "—", NB, "neighbourhood index (as in the panel)"),
    Column("neighbourhood_name", "str", "—", NB, "`<district>-NN`"),
    Column("district", "str", "—", NB, "district"),
    Column("city", "str", "—", NB, "city or province"),
    Column("lima", "bool", "—", NB, "in Lima Metropolitana"),
    Column("inhabitants", "int64", "persons", "all inhabitants of the neighbourhood",
           "inhabitants drawn for the neighbourhood (uniform in [`population.inhabitants_min`, "
           "`population.inhabitants_max`]); the panel's `population` is the simulated agents / scale, which can "
           "differ slightly at small scales"),
    Column("crime_level", "float64", "multiplier", "offenders living in the neighbourhood",
           "neighbourhood offending level: district `crime_level` × exp(deprivation) (ODD §5)"),
    Column("adjacent", "object", "—", NB,
           "indices of the neighbourhoods it borders (same city, side by side); offenders cross, are displaced and "
           "are deterred across these borders. Parquet stores `list<int64>`, read back as numpy arrays",
           dtype_note="object (list of int)"),
    Column("cohort_year", "Int16", "year", NB, "cohort that selected it; `<NA>` if never selected",
           dtype_note="Int16 (nullable)"),
    Column("launch_date", "datetime64[s]", "date", NB,
           "start of execution for its cohort; `NaT` if never selected (read back from parquet as "
           "`datetime64[ms]`)"),
    Column("is_control", "bool", "—", NB,
           "designated control and never selected, at the end of the run (its value in the panel's last week)"),
    Column("diagnosis_score", "float64", "z-score units", NB,
           "the Ministry's diagnosis score (ODD §7.22) at the last cohort selection at which the neighbourhood was "
           "still unselected: every never-selected neighbourhood is diagnosed at each selection, and that one "
           "diagnosis both ranks the cohort's candidates and matches the controls. For a selected neighbourhood it "
           "is the score of the diagnosis that selected it; `NaN` if no cohort was ever selected"),
)

# --- manifest.json ------------------------------------------------------------------------------

MANIFEST: tuple[Field, ...] = (
    Field("package", "string", "`\"sn_sim\"`"),
    Field("version", "string",
          "installed version of `sn_sim` (`\"0+unknown\"` when run from an uninstalled source tree)"),
    Field("scenario_name", "string", "scenario name"),
    Field("scenario_hash", "string",
          "SHA-256 (hex) of the resolved scenario as canonical JSON (sorted keys); the scenario's identity"),
    Field("scenario", "object",
          "the full resolved scenario (after `extends` and `--set`, defaults included), as JSON; re-validating it "
          "reproduces the run"),
    Field("seed", "integer", "root seed"),
    Field("replicates", "integer", "number of replicates"),
    Field("replicate_streams", "list of objects",
          "per replicate: `replicate`, `entropy` (the root seed's entropy) and `spawn_key` (list of integers) of its "
          "`numpy.random.SeedSequence` child"),
    Field("wall_time_s", "number", "wall-clock time of the simulation, seconds"),
    Field("python", "string", "Python version"),
    Field("git_commit", "string or null",
          "commit (`git rev-parse HEAD`) of the source checkout `sn_sim` was imported from; `null` when it was not "
          "imported from a git checkout (an installed wheel) or git is unavailable"),
    Field("git_dirty", "boolean or null",
          "`true` when tracked files of that checkout differ from the commit (`git status --porcelain`), so the "
          "commit alone does not identify the code; `null` with `git_commit`"),
    Field("libraries", "object",
          f"installed version of each library that shapes results: {', '.join(LIBRARIES)} (`null` when not "
          "installed)"),
    Field("checksums", "object or null",
          "`{file: \"sha256:<hex>\"}` for `panel.parquet`, `blocks.parquet` and `neighbourhoods.parquet`, recorded "
          "when they are written; `load_results`, `sn-sim evaluate` verify them and refuse a file that does not "
          "match (corrupt or changed since). `null` in `Results.manifest` before the run is saved; absent in run "
          "directories written before checksums were recorded (read unverified)"),
)

TABLES: dict[str, tuple[Column, ...]] = {"panel": PANEL, "blocks": BLOCKS, "neighbourhoods": NEIGHBOURHOODS}


def _check() -> None:
    for table, cols in TABLES.items():
        names = [c.name for c in cols]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"{table}: columns defined twice: {sorted(dup)}")


_check()

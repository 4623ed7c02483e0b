"""The small two-district scenario shared by the experiment-layer tests (compare, sweeps,
executors, sensitivity): 6 neighbourhoods, 1% scale, 2015-2016, two treated in 2016."""

import textwrap

_MINI = textwrap.dedent(
    """\
    name = "mini"
    [calendar]
    start = 2015-01-05
    end = 2016-12-26
    burn_in_weeks = 4
    [population]
    scale = 0.01
    [[strategy.rollout]]
    year = 2016
    neighbourhoods = 2
    launch = 2016-03-07
    [[districts]]
    name = "Alpha"
    city = "Lima"
    neighbourhoods = 3
    lima = true
    [[districts]]
    name = "Beta"
    city = "Trujillo"
    neighbourhoods = 3
    crime_level = 1.2
        """
)


def mini_scenario(name: str = "mini") -> str:
    """The scenario's TOML text, under ``name``."""
    return _MINI.replace('name = "mini"', f'name = "{name}"', 1)


# A Latin hypercube over the mini scenario (base = "mini.toml" beside it) with independent seeds
# per point: 3 points x 2 replicates. The executors' and the cluster's identity tests share it.
LHS_SWEEP = textwrap.dedent(
    """\
    name = "lhs"
    base = "mini.toml"
    seed = 21
    replicates = 2
    random_numbers = "independent"
    design = {method = "lhs", samples = 3}
    [parameters]
    "crime.offending_rate" = {min = 0.03, max = 0.05}
    "police.extra_officers" = {min = 0, max = 30}
    """
)

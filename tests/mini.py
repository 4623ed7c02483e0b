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

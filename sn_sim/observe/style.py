"""One look for every figure sn-sim draws: colour-blind-safe colours, line styles, markers,
titles that state the question and the units, and the files a figure is saved as.

Colours are the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"), which stays
distinguishable under the common colour-vision deficiencies; every series also gets its own
line style and marker, so figures still read in greyscale print. Every plotting module (run
plots, compare, evaluation, sensitivity, calibration) takes its colours from here.

matplotlib is imported lazily: importing this module does not load it. Figures are built as
``matplotlib.figure.Figure`` objects (no pyplot state), so they display in a notebook and
are saved by the command line without a window (the Agg backend).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

# Okabe-Ito, in its usual order with black last; yellow is kept for fills and late series
# (thin yellow lines are hard to see on white).
BLACK = "#000000"
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
GREY = "#7F7F7F"      # neutral: references, never-treated groups, annotations
LIGHT_GREY = "#E6E6E6"
OKABE_ITO = (BLUE, VERMILLION, GREEN, ORANGE, PURPLE, SKY_BLUE, BLACK, YELLOW)
PALETTE = OKABE_ITO + (GREY, LIGHT_GREY)  # every colour a figure may use
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

DPI = 110
FORMATS = ("png", "svg")  # what the command line writes for each figure


def colour(i: int) -> str:
    return OKABE_ITO[i % len(OKABE_ITO)]


def series_styles(names: Iterable[str]) -> dict[str, dict]:
    """Colour, line style and marker per name, in order (for ``ax.plot(..., **styles[name])``)."""
    out = {}
    for i, name in enumerate(names):
        out[name] = {"color": colour(i), "linestyle": LINESTYLES[i % len(LINESTYLES)],
                     "marker": MARKERS[i % len(MARKERS)]}
    return out


def figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (11, 7), **kw):
    """A Figure (no pyplot: nothing to close, safe in a notebook or a worker) and its axes
    array (always 2-D), with the constrained layout that keeps titles and labels apart."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def title(fig, question: str, detail: str = "", width: int | None = None) -> None:
    """The figure's title: the question it answers, then what is shown and in which units,
    wrapped to the figure's width (about 12 characters per inch at this size)."""
    width = width or int(fig.get_figwidth() * 12)
    fig.suptitle(question + (f"\n{wrap(detail, width)}" if detail else ""), fontsize=10.5)


def wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


def tidy(ax, grid: bool = True) -> None:
    """Light grid, no top/right spines."""
    if grid:
        ax.grid(alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


def zero_line(ax, axis: str = "y") -> None:
    """The no-effect line of an effect axis."""
    (ax.axhline if axis == "y" else ax.axvline)(0, color=BLACK, lw=0.8, zorder=1)


def include_zero(ax) -> None:
    """Extend the y-axis to 0 (levels: a 1-point move should look like one)."""
    lo, hi = ax.get_ylim()
    if lo > 0:
        ax.set_ylim(0, hi)
    elif hi < 0:
        ax.set_ylim(lo, 0)


def all_zero(values) -> bool:
    """True when a series carries nothing (all zero or missing): such a series is not drawn
    and not listed in a legend."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    return bool(np.all(np.isnan(v) | (v == 0)))


def legend(ax_or_fig, **kw):
    """A legend only when there is something labelled to list."""
    handles, labels = (ax_or_fig.get_legend_handles_labels() if hasattr(ax_or_fig, "get_legend_handles_labels")
                       else ([], []))
    if not handles:
        return None
    kw.setdefault("fontsize", 8)
    return ax_or_fig.legend(**kw)


def waterfall(ax, labels, values, low, high, total: float, total_label: str = "Total") -> None:
    """Horizontal waterfall: each part's bar starts where the previous one ended (blue: down,
    vermillion: up) with its interval as an error bar, and the total as a hatched grey bar
    below; parts read top to bottom."""
    import numpy as np

    vals = np.asarray(values, dtype=float)
    lo, hi = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    start = np.concatenate([[0.0], np.cumsum(vals)[:-1]])
    y = np.arange(len(vals))
    ax.barh(y, vals, left=start, color=np.where(vals < 0, BLUE, VERMILLION))
    ax.errorbar(start + vals, y, xerr=[np.nan_to_num(np.maximum(vals - lo, 0)),
                                       np.nan_to_num(np.maximum(hi - vals, 0))],
                fmt="none", ecolor=BLACK, lw=0.8, capsize=2)
    ax.barh(len(vals), total, color=GREY, hatch="//")
    zero_line(ax, "x")
    ax.set_yticks(list(y) + [len(vals)], list(labels) + [total_label])
    ax.invert_yaxis()
    tidy(ax, grid=False)


def note(ax, text: str) -> None:
    """A grey message in the middle of an empty axis."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color=GREY, wrap=True)


def save(fig, path: str | Path, formats: Iterable[str] = FORMATS) -> list[Path]:
    """Save ``fig`` as ``path`` with each suffix of ``formats`` (``plots/x.png`` -> x.png, x.svg);
    returns the paths."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    engine = fig.get_layout_engine()
    try:
        for i, fmt in enumerate(formats):
            p = path.with_suffix("." + fmt)
            p.write_bytes(render(fig, fmt))
            out.append(p)
            if i == 0 and engine is not None:
                # The first format has laid the figure out (constrained layout places the axes
                # in figure fractions, the same in every format): the others reuse the layout
                # instead of solving it again (about 15% of the time a run's plots take).
                fig.set_layout_engine("none")
    finally:
        if engine is not None:
            fig.set_layout_engine(engine)
    return out


def render(fig, fmt: str = "svg") -> bytes:
    """The bytes of ``fig`` as ``fmt`` (png, svg): no date in them and, for SVG, element ids
    from a fixed salt (random by default), so the same figure gives the same bytes. SVG text is
    drawn as paths: the file shows the same without the fonts."""
    import io

    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "sn_sim", "svg.fonttype": "path"}):
        fig.savefig(buf, dpi=DPI, format=fmt, metadata=_metadata(fmt))
    return buf.getvalue()


def _metadata(fmt: str) -> dict | None:
    # No creation date in the files: the same inputs give the same bytes.
    if fmt == "svg":
        return {"Date": None}
    if fmt == "png":
        return {"Software": None}
    return None

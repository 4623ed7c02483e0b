"""Scenario discovery on a finished sweep: where in parameter space does an output cross a threshold?

::

    from sn_sim.experiment import discover
    res = discover("sweeps/drivers", "trust_police_all", threshold="median", direction="above")
    res.boxes              # PRIM boxes and CART leaves: coverage, density, mass, parameter ranges
    res.save("sweeps/drivers/discovery-trust_police_all")

The cases are the sweep's points (each point's output is its mean over replicates, as for
sensitivity indices) or, with ``cases="runs"``, its single runs. A case is *of interest* when
its output is above (or below) the threshold. Three methods of EMA Workbench's analysis module
(``ema_workbench.analysis``) then describe the cases of interest by the swept parameters:

- **PRIM** (patient rule induction, Friedman & Fisher 1999; in scenario discovery Bryant &
  Lempert 2010) peels a box down from the whole parameter space. Each step of its *peeling
  trajectory* trades coverage (share of all cases of interest inside the box) for density
  (share of the cases inside the box that are of interest). The box reported is the one with
  the highest coverage among those with density at least ``min_density`` (else the densest),
  with each restricted parameter's range and its quasi-p values (one-sided binomial test of
  whether the restriction matters, Bryant & Lempert 2010).
- **CART** (a classification tree, scikit-learn via EMA): its leaves that hold mostly cases of interest.
- **Feature scores** (extra-trees importances, Jaxa-Rozen & Kwakkel 2018): how much each
  parameter tells the cases apart, whatever the shape of the region.

The sweep's columns are dotted scenario keys (``strategy.mix.police``); EMA's plots and tables
get identifiers (:class:`~sn_sim.experiment.ema.SafeNames`) and every output maps them back.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sn_sim.errors import OutputError, SnSimError
from sn_sim.experiment.ema import SafeNames, import_ema

DIRECTIONS = ("above", "below")
CASES = ("points", "runs")
BOX_COLUMNS = ["method", "box", "coverage", "density", "mass", "res_dim", "cases", "cases_of_interest",
               "parameter", "min", "max", "values", "qp_lower", "qp_upper", "sweep_min", "sweep_max"]


def parse_threshold(text: str | float) -> tuple[str, float | None]:
    """``("value", 40.0)`` for a number, ``("quantile", 0.5)`` for ``median`` or ``pNN`` (NN-th
    percentile of the cases' output); a one-line error for anything else."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
        if not math.isfinite(value):
            raise SnSimError(f"--threshold: must be a finite number (got {text})")
        return "value", value
    s = str(text).strip().lower()
    if s == "median":
        return "quantile", 0.5
    if s.startswith("p"):
        try:
            pct = float(s[1:])
        except ValueError:
            pct = math.nan
        if not 0 < pct < 100:
            raise SnSimError(f"--threshold: {text!r}: a percentile is p1 to p99 (e.g. p25)")
        return "quantile", pct / 100
    try:
        value = float(s)
    except ValueError:
        raise SnSimError(f"--threshold: {text!r}: expected a number, 'median' or a percentile such as p25") from None
    if not math.isfinite(value):
        raise SnSimError(f"--threshold: must be a finite number (got {text})")
    return "value", value


@dataclass
class DiscoveryResult:
    """What :func:`discover` found.

    boxes : one row per box (PRIM) or leaf (CART) and restricted parameter: method, box,
        coverage, density, mass, res_dim, cases, cases_of_interest, parameter, min, max (values
        for a list-valued parameter), qp_lower, qp_upper (PRIM's quasi-p values of the lower and
        upper limit; NaN where the limit is not restricted, and for CART), sweep_min, sweep_max.
        A box that restricts nothing has one row with an empty parameter.
    trajectory : PRIM's peeling trajectory of each box: box, step, coverage, density, mass,
        res_dim, cases, cases_of_interest, selected
    feature_scores : parameter, score (extra-trees importances, sum 1), highest first
    cases_frame : the cases: the parameters, the output and ``of_interest``
    """

    output: str
    direction: str
    threshold: float
    threshold_spec: str
    cases: str
    parameters: list[str]
    boxes: pd.DataFrame
    trajectory: pd.DataFrame
    feature_scores: pd.DataFrame
    cases_frame: pd.DataFrame
    manifest: dict
    _prim_boxes: list = field(default_factory=list, repr=False)
    _names: SafeNames | None = field(default=None, repr=False)

    @property
    def question(self) -> str:
        return f"{self.output} {self.direction} {self.threshold:.4g}"

    # --- Figures (matplotlib; EMA draws the standard ones) ------------------------------------

    def tradeoff_figure(self, box: int = 1):
        """PRIM's peeling trajectory of ``box`` (1-based): coverage against density, coloured by
        the number of restricted parameters; the reported box is ringed."""
        b = self._prim_boxes[box - 1]
        fig = b.show_tradeoff()
        ax = fig.axes[0]
        traj = self.trajectory[self.trajectory["box"] == box]
        pick = traj[traj["selected"]].iloc[0]
        ax.scatter([pick["coverage"]], [pick["density"]], s=180, facecolors="none", edgecolors="black",
                   linewidths=1.5, label=f"reported box (step {int(pick['step'])})")
        ax.legend(loc="lower left", fontsize=8)
        ax.set_xlabel("coverage (share of all cases of interest inside the box)")
        ax.set_ylabel("density (share of cases inside the box of interest)")
        ax.set_title(f"PRIM peeling trajectory, box {box}\n{self._case_words()} with {self.question}", fontsize=10)
        fig.set_size_inches(7.5, 6)
        fig.tight_layout()
        return fig

    def box_figure(self, box: int = 1):
        """The ranges of box ``box`` (1-based) on each restricted parameter, against the sweep's
        range (EMA's box plot, quasi-p values in brackets, coverage and density in the table);
        None for a box that restricts nothing."""
        b = self._prim_boxes[box - 1]
        step = int(self.trajectory[(self.trajectory["box"] == box) & self.trajectory["selected"]]["step"].iloc[0])
        if not len(self.boxes[(self.boxes["method"] == "prim") & (self.boxes["box"] == box)
                              & (self.boxes["parameter"] != "")]):
            return None
        import matplotlib.pyplot as plt

        fig = b.inspect(step, style="graph")[0]
        if not isinstance(fig, plt.Figure):
            fig = plt.gcf()
        self._names.restore_figure(fig)
        fig.suptitle(f"PRIM box {box}: parameter ranges where {self.question}\n(normalised to the sweep's range; "
                     "quasi-p values in brackets)", fontsize=10)
        fig.set_size_inches(9, max(3.2, 1.8 + 0.6 * len(fig.axes[0].get_yticks())))
        fig.tight_layout()
        return fig

    def feature_figure(self):
        """Feature scores as horizontal bars."""
        from matplotlib.figure import Figure

        fs = self.feature_scores.iloc[::-1]
        fig = Figure(figsize=(7, 1.2 + 0.45 * len(fs)), dpi=110)
        ax = fig.subplots()
        ax.barh(fs["parameter"], fs["score"], color="#0072B2")
        ax.set_xlim(0, max(1e-9, float(fs["score"].max())) * 1.15)
        ax.set_xlabel("feature score (extra-trees importance; scores sum to 1)")
        ax.set_title(f"Which parameters separate {self.question}?", fontsize=10)
        fig.tight_layout()
        return fig

    def _case_words(self) -> str:
        n = len(self.cases_frame)
        return f"{n} {'points' if self.cases == 'points' else 'runs'}"

    # --- Text and files -----------------------------------------------------------------------

    def markdown(self) -> str:
        k = int(self.cases_frame["of_interest"].sum())
        n = len(self.cases_frame)
        lines = [
            f"# Scenario discovery: {self.question}",
            "",
            f"Sweep `{self.manifest['sweep']['name']}` ({self.manifest['sweep']['directory']}): {n} cases "
            f"({'points, each the mean of its replicates' if self.cases == 'points' else 'runs'}); "
            f"{k} of them ({k / n:.0%}) have `{self.output}` {self.direction} {self.threshold:.4g}"
            f"{'' if parse_threshold(self.threshold_spec)[0] == 'value' else ' (the ' + self.threshold_spec + ')'}.",
            f"Parameters: {', '.join(f'`{p}`' for p in self.parameters)}.",
            "",
            "## PRIM boxes",
            "",
            f"Rule: the box on the peeling trajectory with the highest coverage among those with density "
            f"≥ {self.manifest['options']['min_density']:g}, else the densest. Coverage: share of the cases of "
            "interest inside the box; density: share of the cases inside the box that are of interest; mass: "
            "share of all cases inside the box. A later box counts only the cases outside the earlier ones. "
            "Quasi-p: one-sided binomial test of each limit (small = the restriction matters).",
            "",
        ]
        lines += self._box_table("prim")
        lines += ["", "## CART leaves holding mostly cases of interest", ""]
        lines += self._box_table("cart")
        lines += ["", "## Feature scores", "", "| parameter | score |", "|---|---|"]
        lines += [f"| `{r.parameter}` | {r.score:.3f} |" for r in self.feature_scores.itertuples()]
        return "\n".join(lines) + "\n"

    def _box_table(self, method: str) -> list[str]:
        d = self.boxes[self.boxes["method"] == method]
        if d.empty:
            return ["(none)"]
        out = ["| box | coverage | density | mass | cases | parameter | range | sweep range | quasi-p (low, high) |",
               "|---|---|---|---|---|---|---|---|---|"]
        for r in d.itertuples():
            if r.parameter == "":
                rng, full, qp = "(no restriction)", "", ""
            elif isinstance(r.values, str) and r.values:
                rng, full, qp = r.values, "", ""
            else:
                rng, full = f"{r.min:.4g} – {r.max:.4g}", f"{r.sweep_min:.4g} – {r.sweep_max:.4g}"
                qp = ", ".join("—" if pd.isna(q) else f"{q:.2g}" for q in (r.qp_lower, r.qp_upper))
            out.append(f"| {r.box} | {r.coverage:.2f} | {r.density:.2f} | {r.mass:.2f} | "
                       f"{r.cases_of_interest}/{r.cases} | {'`' + r.parameter + '`' if r.parameter else ''} | "
                       f"{rng} | {full} | {qp} |")
        return out

    def save(self, out: str | Path, force: bool = False) -> Path:
        """boxes.csv, peeling_trajectory.csv, feature_scores.csv, cases.csv, summary.md,
        manifest.json (with the files' checksums) and plots/ (PNG and SVG), written whole to ``out``."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from sn_sim.observe.storage import check_output_dir, file_checksums, staged_directory

        out = Path(out)
        check_output_dir(out, force, kind="discovery")
        data = ["boxes.csv", "peeling_trajectory.csv", "feature_scores.csv", "cases.csv", "summary.md"]
        with staged_directory(out, "discovery") as tmp:
            self.boxes.to_csv(tmp / data[0], index=False)
            self.trajectory.to_csv(tmp / data[1], index=False)
            self.feature_scores.to_csv(tmp / data[2], index=False)
            self.cases_frame.to_csv(tmp / data[3], index=False)
            (tmp / data[4]).write_text(self.markdown())
            plots = tmp / "plots"
            plots.mkdir()
            figures = [("feature-scores", self.feature_figure())]
            for b in range(1, len(self._prim_boxes) + 1):
                figures.append((f"prim-tradeoff-{b}", self.tradeoff_figure(b)))
                figures.append((f"prim-box-{b}", self.box_figure(b)))
            names = []
            # No date and fixed ids in the SVGs: the same inputs give the same bytes.
            with matplotlib.rc_context({"svg.hashsalt": "sn_sim"}):
                for name, fig in figures:
                    if fig is None:
                        continue
                    fig.savefig(plots / f"{name}.png", dpi=110)
                    fig.savefig(plots / f"{name}.svg", metadata={"Date": None})
                    plt.close(fig)
                    names += [f"plots/{name}.png", f"plots/{name}.svg"]
            checksums = file_checksums(tmp, data + names)
            (tmp / "manifest.json").write_text(json.dumps({**self.manifest, "files": data + names,
                                                           "checksums": checksums}, indent=2, default=str))
        return out


# --- The analysis -----------------------------------------------------------------------------


def _cases(directory: Path, m: dict, output: str, cases: str) -> pd.DataFrame:
    from sn_sim.experiment.sweep import load_sweep

    frame = load_sweep(directory)
    n_points = len(m["points"])
    runs_total = len(m["runs"])
    if len(frame) < runs_total:
        raise SnSimError(f"{directory}: {runs_total - len(frame)} of {runs_total} runs have not finished "
                         f"(resume the sweep with --resume; see failures/)")
    params = list(m["parameters"])
    if cases == "points":
        x = frame.groupby("point")[params].first()
        y = frame.groupby("point")[output].mean()
        table = x.join(y).reindex(range(n_points)).reset_index()
    else:
        table = frame[["run", "point", "replicate"] + params + [output]].reset_index(drop=True)
    bad = table[output].isna()
    if bad.any():
        raise SnSimError(f"{directory}: --output: {output} is NaN in {int(bad.sum())} of {len(table)} {cases} "
                         f"(e.g. a treated-scope output where nothing is treated)")
    return table


def _restricted(box: pd.DataFrame, init: pd.DataFrame, x: pd.DataFrame) -> list[str]:
    out = []
    for col in box.columns:
        if pd.api.types.is_numeric_dtype(x[col]) and not pd.api.types.is_bool_dtype(x[col]):
            if box[col].iloc[0] > init[col].iloc[0] or box[col].iloc[1] < init[col].iloc[1]:
                out.append(col)
        elif set(box[col].iloc[0]) != set(init[col].iloc[0]):
            out.append(col)
    return out


def _box_rows(method, number, stats, box, init, x, names, qp=None, codes=None) -> list[dict[str, Any]]:
    """Rows of boxes.csv for one box: its restricted parameters (``codes``: columns holding
    category codes, with their categories)."""
    rows = []
    codes = codes or {}
    base = {"method": method, "box": number, **stats}
    for col in _restricted(box, init, x) or [None]:
        row = dict(base, parameter="", min=np.nan, max=np.nan, values="", qp_lower=np.nan, qp_upper=np.nan,
                   sweep_min=np.nan, sweep_max=np.nan)
        if col is not None:
            row["parameter"] = names.original(col)
            if col in codes:
                low, high = float(box[col].iloc[0]), float(box[col].iloc[1])
                row["values"] = "; ".join(str(c) for k, c in enumerate(codes[col]) if low <= k <= high)
            elif pd.api.types.is_numeric_dtype(x[col]) and not pd.api.types.is_bool_dtype(x[col]):
                row.update(min=float(box[col].iloc[0]), max=float(box[col].iloc[1]),
                           sweep_min=float(init[col].iloc[0]), sweep_max=float(init[col].iloc[1]))
            else:
                row["values"] = "; ".join(sorted(map(str, box[col].iloc[0])))
            if qp is not None and col in qp:
                low, high = qp[col]
                row.update(qp_lower=np.nan if low == -1 else float(low), qp_upper=np.nan if high == -1 else float(high))
        rows.append(row)
    return rows


def _select(traj: pd.DataFrame, min_density: float) -> int:
    """The reported step of a peeling trajectory: highest coverage with density >= min_density
    (then fewer restricted parameters, then higher density), else the densest (then coverage)."""
    ok = traj[traj["density"] >= min_density - 1e-12]
    if len(ok):
        pick = ok.sort_values(["coverage", "res_dim", "density", "id"], ascending=[False, True, False, True])
    else:
        pick = traj.sort_values(["density", "coverage", "id"], ascending=[False, False, True])
    return int(pick["id"].iloc[0])


def sweep_manifest(sweep_dir: Path, output: str) -> dict:
    """The manifest of a sweep directory that kept ``output``; a one-line error otherwise."""
    from sn_sim.experiment.sweep import read_manifest

    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        why = "no such directory" if not sweep_dir.exists() else "not a directory"
        raise OutputError(f"{sweep_dir}: not a sweep directory ({why})")
    m = read_manifest(sweep_dir)
    known = list(m["outputs"]["summaries"])
    if output not in known:
        raise SnSimError(f"{sweep_dir}: --output: unknown output {output!r} (the sweep kept: {', '.join(known)})")
    return m


def discover(sweep_dir: str | Path, output: str, threshold: str | float, direction: str = "above",
             cases: str = "points", boxes: int = 1, min_density: float = 0.8, peel_alpha: float = 0.05,
             mass_min: float = 0.05, seed: int = 0) -> DiscoveryResult:
    """PRIM boxes, CART leaves and feature scores of the cases where ``output`` is ``direction``
    (above or below) ``threshold`` (a number, ``"median"`` or a percentile ``"p25"``)."""
    import_ema("discover")

    sweep_dir = Path(sweep_dir)
    m = sweep_manifest(sweep_dir, output)
    if direction not in DIRECTIONS:
        raise SnSimError(f"--direction: expected above or below (got {direction!r})")
    if cases not in CASES:
        raise SnSimError(f"--cases: expected points or runs (got {cases!r})")
    if boxes < 1:
        raise SnSimError(f"--boxes: must be at least 1 (got {boxes})")
    for flag, value, low, high in (("--min-density", min_density, 0, 1), ("--peel-alpha", peel_alpha, 0, 0.5),
                                   ("--mass-min", mass_min, 0, 0.5)):
        if not low < value <= high:
            raise SnSimError(f"{flag}: must be in ({low}, {high}] (got {value})")
    kind, value = parse_threshold(threshold)
    params = list(m["parameters"])
    if not params:
        raise SnSimError(f"{sweep_dir}: the sweep varies no parameter")

    table = _cases(sweep_dir, m, output, cases)
    values = table[output].to_numpy(dtype=float)
    cut = float(np.quantile(values, value)) if kind == "quantile" else value
    y = values > cut if direction == "above" else values < cut
    n, k = len(y), int(y.sum())
    what = f"{output} {direction} {cut:.6g}" + (f" ({threshold})" if kind == "quantile" else "")
    if k == 0 or k == n:
        raise SnSimError(f"{sweep_dir}: --threshold: {what} selects {'none' if k == 0 else 'all'} of the {n} {cases} "
                         f"({output} ranges from {values.min():.6g} to {values.max():.6g})")

    with warnings.catch_warnings():
        # EMA Workbench 3.0 calls pandas APIs that pandas 3 deprecates: its business, not the user's.
        warnings.filterwarnings("ignore", module=r"ema_workbench\.")
        return _analyse(sweep_dir, m, table, output, direction, threshold, cases, cut, y, params, boxes,
                        min_density, peel_alpha, mass_min, seed)


def _analyse(sweep_dir, m, table, output, direction, threshold, cases, cut, y, params, boxes, min_density,
             peel_alpha, mass_min, seed) -> DiscoveryResult:
    from importlib.metadata import version

    from ema_workbench.analysis import cart, feature_scoring, prim
    from ema_workbench.analysis import scenario_discovery_util as sdutil

    from sn_sim.api import package_version
    from sn_sim.observe.provenance import provenance
    from sn_sim.observe.storage import file_checksum

    n, k = len(y), int(y.sum())
    names = SafeNames(params)
    x = table[params].rename(columns=names.to_safe).reset_index(drop=True)
    for col in x.columns:  # EMA peels floats and ints; anything else (strings, booleans) is a category
        if not pd.api.types.is_numeric_dtype(x[col]) or pd.api.types.is_bool_dtype(x[col]):
            x[col] = x[col].astype(str).astype("category")
    init = sdutil._make_box(x)

    # PRIM: one box after another, each on the cases the earlier boxes left.
    algorithm = prim.Prim(x, y, peel_alpha=peel_alpha, paste_alpha=peel_alpha, mass_min=mass_min)
    prim_boxes, box_rows, traj_rows = [], [], []
    for number in range(1, boxes + 1):
        if number > 1:
            algorithm._update_yi_remaining(algorithm)  # what find_box peels next: the cases outside earlier boxes
            if not y[algorithm.yi_remaining].any():
                break
        box = algorithm.find_box()
        if box is None:
            break
        pt = box.peeling_trajectory.copy()
        step = _select(pt, min_density)
        box.select(step)
        prim_boxes.append(box)
        for r in pt.itertuples():
            traj_rows.append({"box": number, "step": int(r.id), "coverage": float(r.coverage),
                              "density": float(r.density), "mass": float(r.mass), "res_dim": int(r.res_dim),
                              "cases": int(r.n), "cases_of_interest": int(r.k), "selected": int(r.id) == step})
        s = pt.iloc[step]
        stats = {"coverage": float(s["coverage"]), "density": float(s["density"]), "mass": float(s["mass"]),
                 "res_dim": int(s["res_dim"]), "cases": int(s["n"]), "cases_of_interest": int(s["k"])}
        box_rows += _box_rows("prim", number, stats, box.box_lims[step], init, x, names, box.p_values[step])

    # CART: a classification tree (its leaves at least mass_min of the cases, one at the least);
    # scikit-learn breaks ties between equally good splits at random: seeded, then restored.
    # EMA 3.0 turns a leaf's split on an integer column into a truncated integer limit and shares
    # one set of categories between leaves: CART gets floats, and categories as codes 0..k-1
    # (exact for two categories; an ordering for more), mapped back to their values below.
    cart_x, codes = x.copy(), {}
    for col in cart_x.columns:
        if isinstance(cart_x[col].dtype, pd.CategoricalDtype):
            codes[col] = list(cart_x[col].cat.categories)
            cart_x[col] = cart_x[col].cat.codes.astype(float)
        else:
            cart_x[col] = cart_x[col].astype(float)
    cart_init = sdutil._make_box(cart_x)
    tree = cart.CART(cart_x, y, mass_min=max(mass_min, 1.0 / n + 1e-12))
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        tree.build_tree()
        leaves, leaf_stats = tree.boxes, tree.stats
    finally:
        np.random.set_state(state)
    total = int(y.sum())
    number = 0
    for leaf, st in sorted(zip(leaves, leaf_stats), key=lambda p: (-p[1]["density"], -p[1]["coverage"])):
        if st["density"] <= 0.5:
            continue
        number += 1
        inside = sdutil._in_box(cart_x, leaf)
        stats = {"coverage": float(st["coverage"]), "density": float(st["density"]), "mass": float(st["mass"]),
                 "res_dim": int(st["res dim"]), "cases": int(inside.sum() if inside.dtype == bool else len(inside)),
                 "cases_of_interest": int(round(st["coverage"] * total))}
        box_rows += _box_rows("cart", number, stats, leaf, cart_init, cart_x, names, codes=codes)

    # Feature scores: extra trees, at least one feature per split.
    scores, _ = feature_scoring.get_ex_feature_scores(
        x, y, mode=sdutil.RuleInductionType.CLASSIFICATION, max_features=max(1, round(x.shape[1] / 3)),
        random_state=seed)
    features = pd.DataFrame({"parameter": [names.original(c) for c in scores.index],
                             "score": scores.iloc[:, 0].astype(float).to_numpy()})

    cases_frame = table.copy()
    cases_frame["of_interest"] = y

    manifest = {
        "kind": "sn_sim.discovery", "package": "sn_sim", "version": package_version(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "sweep": {"directory": str(sweep_dir), "name": m.get("name"), "fingerprint": m.get("fingerprint"),
                  "manifest_checksum": file_checksum(sweep_dir / "manifest.json")},
        "output": output, "direction": direction, "threshold": cut, "threshold_spec": str(threshold),
        "cases": cases, "n_cases": n, "cases_of_interest": k, "parameters": params,
        "ema_names": names.to_safe,
        "options": {"boxes": boxes, "min_density": min_density, "peel_alpha": peel_alpha, "paste_alpha": peel_alpha,
                    "mass_min": mass_min, "seed": seed},
        "methods": {"prim": "ema_workbench.analysis.prim.Prim (lenient1 objective)",
                    "cart": "ema_workbench.analysis.cart.CART (binary)",
                    "feature_scores": "ema_workbench.analysis.feature_scoring.get_ex_feature_scores (100 trees)"},
        "ema_workbench": version("ema_workbench"),
        **provenance(),
    }
    return DiscoveryResult(
        output=output, direction=direction, threshold=cut, threshold_spec=str(threshold), cases=cases,
        parameters=params, boxes=pd.DataFrame(box_rows, columns=BOX_COLUMNS),
        trajectory=pd.DataFrame(traj_rows), feature_scores=features, cases_frame=cases_frame, manifest=manifest,
        _prim_boxes=prim_boxes, _names=names)

"""Reading a sweep directory back: finished runs, failures, DuckDB queries."""

from __future__ import annotations

import json
from pathlib import Path

from sn_sim.errors import OutputError, SnSimError

from .directory import failed_runs, finished_runs, read_manifest, run_path


def load_sweep(directory: str | Path, panel: bool = False):
    """All finished runs of a sweep directory as one DataFrame, sorted by run.

    Columns: run, point, replicate, seed, the swept (and derived) parameters under their
    dotted keys, the summary outputs and run_seconds. With ``panel=True``: the full weekly
    panels of the finished runs (outputs.panel = true) with run, point and the parameters.
    """
    import pandas as pd

    directory = Path(directory)
    m = read_manifest(directory)
    ids = sorted(finished_runs(directory))
    if ids:
        import pyarrow.dataset as ds

        files = [str(run_path(directory, "runs", k, "parquet")) for k in ids]
        runs = ds.dataset(files, format="parquet").to_table().to_pandas()
        runs = runs.sort_values("run", ignore_index=True)
    else:
        cols = ["run", "point", "replicate", "seed"] + m["parameters"] + m["derived"] + m["outputs"]["summaries"]
        runs = pd.DataFrame(columns=cols + ["run_seconds"])
    if not panel:
        return runs
    if not m["outputs"]["panel"]:
        raise OutputError(f"{directory}: no panels kept (set outputs.panel = true in the sweep file)")
    paths = [run_path(directory, "panels", k, "parquet") for k in ids]
    panels = [pd.read_parquet(p) for p in paths if p.exists()]
    if not panels:
        return pd.DataFrame()
    full = pd.concat(panels, ignore_index=True)
    params = runs[["run"] + m["parameters"] + m["derived"]]
    return full.merge(params, on="run", how="left")


def load_failures(directory: str | Path):
    """Runs whose last attempt failed: run, point, replicate, seed, parameters, error, traceback."""
    import pandas as pd

    directory = Path(directory)
    rows = [json.loads(run_path(directory, "failures", k, "json").read_text())
            for k in sorted(failed_runs(directory))]
    return pd.DataFrame(rows, columns=["run", "point", "replicate", "seed", "parameters", "error", "traceback",
                                       "seconds", "time"])


def query(directory: str | Path, sql: str):
    """Run DuckDB SQL over a sweep directory; returns a DataFrame.

    Views: ``runs`` (runs/*.parquet) and, when kept, ``panels`` (panels/*.parquet). Dotted
    parameter columns need double quotes: ``SELECT "strategy.mix.police", avg(trust_police_all)
    FROM runs GROUP BY 1``.
    """
    import duckdb

    directory = Path(directory)
    read_manifest(directory)
    if not finished_runs(directory):
        raise SnSimError(f"{directory}: no finished runs to query")
    con = duckdb.connect()
    try:
        def view(name, pattern):
            glob = str(directory / name / pattern).replace("'", "''")
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{glob}', union_by_name = true)")

        view("runs", "run-*.parquet")
        if (directory / "panels").is_dir() and any((directory / "panels").glob("run-*.parquet")):
            view("panels", "run-*.parquet")
        return con.execute(sql).df()
    finally:
        con.close()

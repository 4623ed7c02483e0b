"""Reading a sweep directory back: finished runs, failures, DuckDB queries."""

from __future__ import annotations

import json
from pathlib import Path

from sn_sim.errors import OutputError, SnSimError, require_extra
from sn_sim.observe.storage import reading

from .directory import corrupt_runs, failed_runs, finished_runs, read_manifest, run_path


def _verified_runs(directory: Path, m: dict, panels: bool) -> list[int]:
    """The finished runs, sorted, once their files (and panels, with ``panels``) match their
    recorded checksums; a corrupt or truncated one is refused in one line."""
    ids = sorted(finished_runs(directory))
    bad = corrupt_runs(directory, m, ids, panels)
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise OutputError(f"{bad[min(bad)]}{more}; 'sn-sim sweep {directory} --resume' runs it again")
    return ids


def load_sweep(directory: str | Path, panel: bool = False):
    """All finished runs of a sweep directory as one DataFrame, sorted by run.

    Each run file (and panel) read must match the checksum recorded when it was written
    (checksums.jsonl); a corrupt or truncated one raises :class:`OutputError` in one line
    (``sweep --resume`` runs it again). Runs of a sweep started before checksums were
    recorded are read unverified.

    Columns: run, point, replicate, seed, the swept (and derived) parameters under their
    dotted keys, the summary outputs and run_seconds. With ``panel=True``: the full weekly
    panels of the finished runs (outputs.panel = true) with run, point and the parameters.
    """
    import pandas as pd

    directory = Path(directory)
    m = read_manifest(directory)
    if panel and not m["outputs"]["panel"]:
        raise OutputError(f"{directory}: no panels kept (set outputs.panel = true in the sweep file)")
    ids = _verified_runs(directory, m, panels=panel)
    if ids:
        import pyarrow.dataset as ds

        files = [str(run_path(directory, "runs", k, "parquet")) for k in ids]
        with reading(directory / "runs"):
            runs = ds.dataset(files, format="parquet").to_table().to_pandas()
        runs = runs.sort_values("run", ignore_index=True)
    else:
        cols = ["run", "point", "replicate", "seed"] + m["parameters"] + m["derived"] + m["outputs"]["summaries"]
        runs = pd.DataFrame(columns=cols + ["run_seconds"])
    if not panel:
        return runs
    panels = []
    for path in (run_path(directory, "panels", k, "parquet") for k in ids):
        if path.exists():
            with reading(path):
                panels.append(pd.read_parquet(path))
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
    require_extra("experiments", "duckdb", what="query")
    import duckdb

    directory = Path(directory)
    m = read_manifest(directory)
    if not _verified_runs(directory, m, panels=bool(m["outputs"]["panel"])):
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

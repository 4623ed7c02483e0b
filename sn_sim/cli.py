"""Command line: a thin layer over the library.

Every user error (bad scenario, bad override, unusable --out) is printed as one line
``sn-sim: error: <file>: <key>: <reason>`` with exit code 2 and nothing written.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

from sn_sim.errors import SnSimError
from sn_sim import arguments

COMMAND_MODULES = ("sn_sim.experiment.cli", "sn_sim.evaluation.cli", "sn_sim.calibration.cli", "sn_sim.app.cli",
                   "sn_sim.report.cli", "sn_sim.report.diagnose")


def _add_scenario_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario TOML file, or the name of a shipped scenario (e.g. national_rollout)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any scenario key, e.g. --set strategy.mix.police=0.5 (repeatable)")
    p.add_argument("--scale", type=float, default=None, metavar="K",
                   help="simulate K agents per inhabitant (0 < K <= 1); rates stay per-capita correct")


def _load(args):
    from sn_sim.scenario import load_scenario

    overrides = list(args.overrides)
    if args.scale is not None:
        overrides.append(f"population.scale={args.scale}")
    return load_scenario(args.scenario, overrides)


def _note_uncalibrated(scenario) -> None:
    """One line when a scenario file does not extend the calibrated free parameters."""
    if scenario.extends_calibrated is False:
        print(f"sn-sim: note: {scenario.name}: does not extend parameters/calibrated.toml; the calibrated "
              "free parameters are at their (uncalibrated) schema defaults", file=sys.stderr)


def cmd_run(args) -> int:
    from tqdm import tqdm

    from sn_sim.api import run
    from sn_sim.observe.storage import check_output_dir, safe_name
    from sn_sim.scenario.calendar import weeks_between

    scenario = _load(args)
    if args.replicates < 1:
        raise SnSimError(f"--replicates: must be at least 1 (got {args.replicates})")
    out = Path(args.out) if args.out else Path("runs") / safe_name(scenario.name)
    check_output_dir(out, args.force, kind="run")  # fail before simulating, not after
    if not args.quiet:
        _note_uncalibrated(scenario)
    n_weeks = weeks_between(scenario.calendar.start, scenario.calendar.end)
    with tqdm(total=n_weeks * args.replicates, unit="week", desc=scenario.name,
              disable=args.quiet, dynamic_ncols=True) as bar:
        results = run(scenario, seed=args.seed, replicates=args.replicates, progress=bar.update)
    twin = None
    if args.twin:
        from sn_sim.evaluation.twins import run_twin

        with tqdm(total=n_weeks * args.replicates, unit="week", desc=f"{scenario.name} twin",
                  disable=args.quiet, dynamic_ncols=True) as bar:
            twin = run_twin(results, progress=bar.update)
    results.save(out, force=args.force, plots=not args.no_plots, twin=twin)
    if not args.quiet:
        m = results.manifest
        print(f"wrote {out}/ (panel.parquet, blocks.parquet, neighbourhoods.parquet, manifest.json"
              f"{', twin/' if twin is not None else ''}{', plots/' if not args.no_plots else ''}) in "
              f"{m['wall_time_s']:.1f} s; scenario hash {m['scenario_hash'][:12]}")
    return 0


def cmd_schema(args) -> int:
    from sn_sim.scenario import scenario_json_schema

    if args.markdown:
        from sn_sim.schema_doc import parameter_table

        print(parameter_table())
    else:
        print(json.dumps(scenario_json_schema(), indent=2, default=str))
    return 0


def cmd_validate(args) -> int:
    scenario = _load(args)
    _note_uncalibrated(scenario)
    print(f"{args.scenario}: ok ({scenario.name}, hash {scenario.digest()[:12]})")
    return 0


def cmd_bench(args) -> int:
    from sn_sim.bench import benchmark

    if args.pool_factor < 1:
        raise SnSimError(f"--pool-factor: must be at least 1 (got {args.pool_factor})")
    benchmark(args.scenario, scale=args.scale, weeks=args.weeks, seed=args.seed, pool_factor=args.pool_factor)
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with the project's one-line errors (exit code 2)."""

    def error(self, message):
        # The same prefix as every other user error, with the subcommand when there is one.
        command = self.prog.removeprefix("sn-sim").strip()
        self.exit(2, f"sn-sim: error: {command + ': ' if command else ''}{message}\n")


def build_parser() -> argparse.ArgumentParser:
    import sn_sim

    parser = _Parser(prog="sn-sim", description="Safe Neighborhood (Barrio Seguro) agent-based model")
    parser.add_argument("--version", action="version", version=f"sn-sim {sn_sim.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("run", help="simulate a scenario and write panel, blocks, manifest and plots")
    _add_scenario_args(p)
    p.add_argument("--replicates", type=arguments.replicates, default=1, metavar="N",
                   help=f"independent replicates (default 1; {arguments.limit_note(arguments.MAX_REPLICATES)})")
    p.add_argument("--seed", type=arguments.seed, default=0, metavar="S", help="root seed (default 0)")
    p.add_argument("--out", default=None, metavar="DIR", help="output directory (default runs/<scenario name>)")
    p.add_argument("--force", action="store_true", help="replace an existing output directory")
    p.add_argument("--twin", action="store_true",
                   help="also simulate the counterfactual twin (the same scenario and seed without the Strategy) "
                        "into DIR/twin/: the plots, 'sn-sim report' and 'sn-sim evaluate' use it (twice the run time)")
    p.add_argument("--no-plots", action="store_true", help="skip the plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("schema", help="print the scenario JSON schema (descriptions, units, ranges, sources)")
    p.add_argument("--markdown", action="store_true", help="print the parameter table used in docs/ODD.md")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("validate", help="check a scenario file and its overrides without running it")
    _add_scenario_args(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("bench", help="resident-steps per second and memory per resident")
    p.add_argument("scenario", nargs="?", default=None, help="scenario (default: the packaged national rollout)")
    p.add_argument("--scale", type=float, default=1.0, help="agents per inhabitant (default 1, i.e. 1:1)")
    p.add_argument("--weeks", type=arguments.positive, default=None, help="simulate only this many weeks (default: whole calendar)")
    p.add_argument("--seed", type=arguments.seed, default=0)
    p.add_argument("--pool-factor", type=arguments.positive, default=1, metavar="K",
                   help="K times as many candidate neighbourhoods per district (default 1): cost vs world size")
    p.set_defaults(func=cmd_bench)

    # Layers above the model (experiments, evaluation, app) add their own subcommands.
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not name.startswith(exc.name or "\0"):  # a real missing dependency, not an absent layer
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Headless: figures are files, never windows (set before anything imports matplotlib; a
    # backend the user chose stays).
    os.environ.setdefault("MPLBACKEND", "Agg")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (one line, code 2), --help and --version (code 0)
        return exc.code if isinstance(exc.code, int) else 0
    try:
        return args.func(args)
    except SnSimError as exc:
        print(f"sn-sim: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into head and closed: not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("sn-sim: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

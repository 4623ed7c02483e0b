"""``sn-sim compare``, ``sweep``, ``sensitivity``, ``screen``, ``optimise`` and ``discover``.

``register(sub)`` adds the subcommands to the main parser's subparsers. User errors are raised
as :class:`sn_sim.errors.SnSimError` subclasses, which the main CLI prints as one line with
exit code 2; nothing is written before every input has been checked. Heavy imports happen
inside the commands so that ``sn-sim --help`` stays quick.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path

from sn_sim.errors import SnSimError, require_extra
from sn_sim import arguments
from sn_sim.observe.storage import safe_name


def _check_workers(args) -> None:
    if args.workers is not None and args.workers < 1:
        raise SnSimError(f"--workers: must be at least 1 (got {args.workers})")
    if args.workers is not None and args.scheduler:
        raise SnSimError("--workers: not used with --scheduler (the cluster's workers run the runs)")
    if args.scheduler:
        from sn_sim.experiment.executors import check_scheduler_address

        check_scheduler_address(args.scheduler)  # its form, before any work


def _cluster(args):
    """The Dask executor for --scheduler (None without it), connected before anything is written:
    a bad or unreachable scheduler then leaves no output directory behind."""
    if not args.scheduler:
        return nullcontext()
    from sn_sim.experiment.executors import make_executor

    return make_executor(scheduler=args.scheduler)


def cmd_compare(args) -> int:
    from sn_sim.experiment.compare import _resolve, check_comparable, compare

    if args.replicates < 1:
        raise SnSimError(f"--replicates: must be at least 1 (got {args.replicates})")
    if len(args.scenarios) < 2:
        raise SnSimError("compare: needs at least two scenarios (the base first)")
    _check_workers(args)
    overrides = list(args.overrides)
    if args.scale is not None:
        overrides.append(f"population.scale={args.scale}")
    scenarios = _resolve(args.scenarios, overrides)  # every file checked before anything is written
    check_comparable(scenarios, list(args.scenarios))
    out = Path(args.out) if args.out else Path("runs") / safe_name(f"compare-{scenarios[0].name}")
    with _cluster(args) as executor:
        if not args.out:
            from sn_sim.observe.storage import check_output_dir

            if out.parent.exists():
                check_output_dir(out, args.force, kind="compare")
            else:
                out.parent.mkdir(parents=True)
        res = compare(scenarios, replicates=args.replicates, seed=args.seed, out=out, workers=args.workers,
                      executor=executor, force=args.force, plots=not args.no_plots, progress=not args.quiet,
                      channels=args.channels)
    if not args.quiet:
        print(res.markdown())
        for decomposition in res.channels.values():
            print("\n" + decomposition.markdown())
        print(f"\nwrote {out}/ (effects.csv, effects.md, summary.csv, replicates.csv, series.parquet, manifest.json"
              f"{', plots/' if not args.no_plots else ''}{', channels/' if res.channels else ''})")
    return 0


def cmd_decompose(args) -> int:
    from sn_sim.experiment.channels import decompose, parse_order
    from sn_sim.experiment.compare import _resolve

    _check_workers(args)
    order = parse_order(args.order)  # before anything runs
    overrides = list(args.overrides)
    if args.scale is not None:
        overrides.append(f"population.scale={args.scale}")
    (scenario,) = _resolve([args.scenario], overrides)
    out = Path(args.out) if args.out else Path("runs") / safe_name(f"decompose-{scenario.name}")
    with _cluster(args) as executor:
        if not args.out:
            from sn_sim.observe.storage import check_output_dir

            if out.parent.exists():
                check_output_dir(out, args.force, kind="decompose")
            else:
                out.parent.mkdir(parents=True)
        res = decompose(scenario, replicates=args.replicates, seed=args.seed, order=order, out=out,
                        workers=args.workers, executor=executor, force=args.force, plots=not args.no_plots,
                        progress=not args.quiet)
    if not args.quiet:
        print(res.markdown())
        print(f"\nwrote {out}/ (channels.csv, channels.md, replicates.csv, neighbourhood_weeks.parquet, manifest.json"
              f"{', plots/' if not args.no_plots else ''})")
    return 0


def cmd_sweep(args) -> int:
    from sn_sim.experiment.executors import ClusterLostError
    from sn_sim.experiment.sweep import plan_from_manifest, plan_sweep, run_sweep

    _check_workers(args)
    source = Path(args.sweep)
    if source.is_dir():
        if not args.resume:
            raise SnSimError(f"{source}: is a sweep directory; pass its sweep file, or --resume to continue it")
        plan = plan_from_manifest(source)
        out = Path(args.out) if args.out else source
    else:
        plan = plan_sweep(source)  # the whole file and every point validated; nothing written yet
        out = Path(args.out) if args.out else None
    shown = out if out is not None else Path("sweeps") / safe_name(plan.name)
    with _cluster(args) as executor:
        try:
            res = run_sweep(plan, out, workers=args.workers, executor=executor, resume=args.resume,
                            force=args.force, progress=not args.quiet)
        except KeyboardInterrupt:
            print(f"sn-sim: interrupted; finished runs are kept in {shown}/ (continue with --resume)",
                  file=sys.stderr)
            return 130
        except ClusterLostError as exc:
            raise SnSimError(f"{exc}; finished runs are kept in {shown}/ (continue with --resume)") from None
    n = res.done + res.failed
    if not args.quiet:
        rate = f", {res.runs_per_minute:.1f} runs/min" if n else ""
        print(f"wrote {res.directory}/: {res.done} runs finished, {res.failed} failed, {res.skipped} already done "
              f"(of {res.runs_total}) in {res.wall_s:.1f} s{rate} on {res.executor}")
    if res.failed:
        print(f"sn-sim: {res.failed} runs failed (see {res.directory}/failures/); retry them with --resume",
              file=sys.stderr)
        return 1
    return 0


def cmd_sensitivity(args) -> int:
    import pandas as pd

    from sn_sim.experiment.sensitivity import sensitivity
    from sn_sim.observe.storage import check_output_dir

    require_extra("experiments", "SALib", what="sensitivity")
    out = Path(args.out) if args.out else Path(args.sweep_dir) / "sensitivity"
    check_output_dir(out, args.force, kind="sensitivity")  # before the bootstrap, not after
    res = sensitivity(args.sweep_dir, args.outputs, method=args.method, num_resamples=args.resamples,
                      seed=args.seed)
    paths = res.save(out, force=args.force)
    if not args.quiet:
        with pd.option_context("display.width", 160, "display.max_columns", 20, "display.precision", 3):
            print(res.indices.to_string(index=False))
        print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0


def cmd_screen(args) -> int:
    from sn_sim.experiment.executors import ClusterLostError
    from sn_sim.experiment.screening import morris_points, plan_screen, screen, sobol_points
    from sn_sim.experiment.screening_report import check_doc, save
    from sn_sim.observe.storage import check_output_dir

    require_extra("experiments", "SALib", what="screen")
    _check_workers(args)
    plan = plan_screen(args.spec)  # the whole file, the scenarios and two corners checked; nothing written
    out = Path(args.out) if args.out else Path("screening") / safe_name(plan.name)
    check_output_dir(out, args.force, kind="screen")
    if args.doc:
        check_doc(Path(args.doc), args.force)
    if not args.quiet:
        n = len(plan.scenarios) * plan.spec.replicates
        print(f"screening {len(plan.parameters)} assumed parameters: {plan.spec.nominal_replicates * len(plan.scenarios)} "
              f"runs at the calibrated point, {morris_points(plan) * n:,} Morris runs, then {sobol_points(plan) * n:,} "
              f"Sobol runs", file=sys.stderr)
    with _cluster(args) as executor:
        try:
            res = screen(args.spec, workers=args.workers, executor=executor, progress=not args.quiet, plan=plan)
        except ClusterLostError as exc:
            raise SnSimError(f"{exc}; nothing was written (the screening does not resume)") from None
    save(res, out, force=args.force, doc=args.doc)
    if not args.quiet:
        print(f"wrote {out}/ (sensitivity.md, parameters.csv, excluded.csv, nominal.csv, morris_points.csv, "
              f"sobol_points.csv, morris.csv, sobol.csv, robustness.csv, plots/, manifest.json)"
              + (f" and {args.doc}" if args.doc else "") + f": {res.manifest['runs']['total']:,} runs in "
              f"{res.manifest['wall_s']['total']:.0f} s")
    return 0


def cmd_discover(args) -> int:
    from sn_sim.experiment.discovery import discover, parse_threshold, sweep_manifest
    from sn_sim.experiment.ema import EXTRA, MODULES
    from sn_sim.observe.storage import check_output_dir

    require_extra(EXTRA, *MODULES, what="discover")
    sweep_dir = Path(args.sweep_dir)
    sweep_manifest(sweep_dir, args.output)  # the inputs first: the default output lies inside the sweep
    parse_threshold(args.threshold)
    out = Path(args.out) if args.out else sweep_dir / safe_name(f"discovery-{args.output}-{args.direction}")
    check_output_dir(out, args.force, kind="discovery")  # before the analysis, not after
    res = discover(sweep_dir, args.output, args.threshold, direction=args.direction, cases=args.cases,
                   boxes=args.boxes, min_density=args.min_density, peel_alpha=args.peel_alpha,
                   mass_min=args.mass_min, seed=args.seed)
    res.save(out, force=args.force)
    if not args.quiet:
        print(res.markdown())
        print(f"wrote {out}/ (boxes.csv, peeling_trajectory.csv, feature_scores.csv, cases.csv, summary.md, "
              "manifest.json, plots/)")
    return 0


def cmd_optimise(args) -> int:
    from sn_sim.experiment.executors import ClusterLostError
    from sn_sim.experiment.optimise import EXTRA, plan_from_directory, plan_optimisation, run_optimisation

    require_extra(EXTRA, "optuna", what="optimise")
    _check_workers(args)
    source = Path(args.spec)
    if source.is_dir():
        if not args.resume:
            raise SnSimError(f"{source}: is an optimisation directory; pass its file, or --resume to continue it")
        plan = plan_from_directory(source)
        out = Path(args.out) if args.out else source
    else:
        plan = plan_optimisation(source)  # the whole file checked, the levers' corners validated
        out = Path(args.out) if args.out else Path("optimise") / safe_name(plan.name)
    with _cluster(args) as executor:
        try:
            res = run_optimisation(plan, out, workers=args.workers, executor=executor, resume=args.resume,
                                   force=args.force, progress=not args.quiet)
        except KeyboardInterrupt:
            print(f"sn-sim: interrupted; evaluated candidates are kept in {out}/ (continue with --resume)",
                  file=sys.stderr)
            return 130
        except ClusterLostError as exc:
            raise SnSimError(f"{exc}; evaluated candidates are kept in {out}/ (continue with --resume)") from None
    if not args.quiet:
        print(res.markdown())
        print(f"wrote {out}/ (candidates.csv, pareto.csv, pareto.md, plots/pareto.png/.svg, manifest.json, "
              f"study.journal): {res.evaluated} candidates evaluated in {res.wall_s:.1f} s")
    return 0


def register(sub) -> None:
    """Add ``compare``, ``decompose``, ``sweep``, ``sensitivity``, ``screen``, ``optimise``, ``discover`` and
    ``validation`` to the main CLI's subparsers."""
    p = sub.add_parser("compare", help="run policy mixes on common random numbers; effects against the first")
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO.toml", help="base scenario first, then the others")
    p.add_argument("--replicates", type=arguments.replicates, default=5, metavar="N",
                   help=f"replicates per scenario (default 5; {arguments.limit_note(arguments.MAX_REPLICATES)})")
    p.add_argument("--seed", type=arguments.seed, default=0, metavar="S", help="root seed shared by all scenarios (default 0)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a key in every scenario (repeatable)")
    p.add_argument("--scale", type=float, default=None, metavar="K", help="agents per inhabitant in every scenario")
    p.add_argument("--out", default=None, metavar="DIR", help="output directory (default runs/compare-<base>)")
    p.add_argument("--workers", type=arguments.positive, default=None, metavar="N", help="local processes (default all cores)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT", help="run on a Dask cluster")
    p.add_argument("--force", action="store_true", help="replace an existing output directory")
    p.add_argument("--no-plots", action="store_true", help="skip the plots")
    p.add_argument("--channels", action="store_true",
                   help="also take each scenario's effects apart by channel, as `sn-sim decompose` does "
                        "(channels/<scenario>/: tables and waterfalls; about 9 more runs per scenario and replicate)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or table")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("decompose", help="take a scenario's effects apart by channel (patrol, operations, programs, ...)")
    p.add_argument("scenario", metavar="SCENARIO.toml", help="scenario (a file or a shipped name)")
    p.add_argument("--replicates", type=arguments.replicates, default=5, metavar="N",
                   help=f"replicates (default 5; {arguments.limit_note(arguments.MAX_REPLICATES)})")
    p.add_argument("--seed", type=arguments.seed, default=0, metavar="S", help="root seed (default 0)")
    p.add_argument("--order", default=None, metavar="A,B,...",
                   help="order in which channels are switched on (default: " + ",".join(
                       ["patrol", "community_policing", "operations", "programs", "culture_points", "juntas",
                        "spaces", "alcohol"]) + ")")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a key of the scenario (repeatable)")
    p.add_argument("--scale", type=float, default=None, metavar="K", help="agents per inhabitant")
    p.add_argument("--out", default=None, metavar="DIR", help="output directory (default runs/decompose-<scenario>)")
    p.add_argument("--workers", type=arguments.positive, default=None, metavar="N", help="local processes (default all cores)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT", help="run on a Dask cluster")
    p.add_argument("--force", action="store_true", help="replace an existing output directory")
    p.add_argument("--no-plots", action="store_true", help="skip the plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar or table")
    p.set_defaults(func=cmd_decompose)

    p = sub.add_parser("sweep", help="run a parameter sweep file into a resumable sweep directory")
    p.add_argument("sweep", metavar="SWEEP.toml", help="sweep file (or, with --resume, a sweep directory)")
    p.add_argument("--workers", type=arguments.positive, default=None, metavar="N",
                   help="local processes (default all cores; 1 = in this process)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run on an existing Dask cluster instead of local processes")
    p.add_argument("--resume", action="store_true", help="continue a sweep directory: run missing and failed runs")
    p.add_argument("--force", action="store_true", help="replace an existing sweep directory")
    p.add_argument("--out", default=None, metavar="DIR", help="sweep directory (default sweeps/<name>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary line")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("sensitivity", help="Sobol or Morris indices (SALib) from a sobol/morris sweep directory")
    p.add_argument("sweep_dir", metavar="SWEEP_DIR", help="a sweep directory")
    p.add_argument("--output", dest="outputs", action="append", required=True, metavar="NAME",
                   help="summary output, e.g. offences_per_1000_year_all (repeatable)")
    p.add_argument("--method", choices=["sobol", "morris"], default=None, help="default: the sweep's design")
    p.add_argument("--resamples", type=arguments.positive, default=200, metavar="N", help="bootstrap resamples (default 200)")
    p.add_argument("--seed", type=arguments.seed, default=0, metavar="S", help="bootstrap seed (default 0)")
    p.add_argument("--out", default=None, metavar="DIR", help="output directory (default SWEEP_DIR/sensitivity)")
    p.add_argument("--force", action="store_true", help="replace an earlier sensitivity output in that directory")
    p.add_argument("--quiet", action="store_true", help="no table")
    p.set_defaults(func=cmd_sensitivity)

    p = sub.add_parser("screen", help="Morris then Sobol screening of every assumed parameter on the pillars' "
                                      "effects and ranking (docs/sensitivity.md)")
    p.add_argument("spec", metavar="SPEC.toml", help="screening spec, e.g. experiments/screening/assumptions.toml")
    p.add_argument("--out", default=None, metavar="DIR", help="output directory (default screening/<name>)")
    p.add_argument("--doc", default=None, metavar="FILE.md",
                   help="also write the report there, its figure links pointing into DIR (e.g. docs/sensitivity.md)")
    p.add_argument("--workers", type=arguments.positive, default=None, metavar="N",
                   help="local processes (default all cores; 1 = in this process)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT", help="run on an existing Dask cluster")
    p.add_argument("--force", action="store_true", help="replace an earlier screening output (and --doc file)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=cmd_screen)

    p = sub.add_parser("optimise", help="Pareto front of policy levers over several objectives, under uncertainty")
    p.add_argument("spec", metavar="SPEC.toml", help="optimisation file (or, with --resume, its output directory)")
    p.add_argument("--workers", type=arguments.positive, default=None, metavar="N",
                   help="local processes (default all cores; 1 = in this process)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT", help="run on an existing Dask cluster")
    p.add_argument("--resume", action="store_true", help="continue an interrupted optimisation")
    p.add_argument("--force", action="store_true", help="replace an existing optimisation directory")
    p.add_argument("--out", default=None, metavar="DIR", help="output directory (default optimise/<name>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or table")
    p.set_defaults(func=cmd_optimise)

    p = sub.add_parser("discover", help="scenario discovery (PRIM, CART, feature scores; EMA Workbench) on a sweep")
    p.add_argument("sweep_dir", metavar="SWEEP_DIR", help="a finished sweep directory")
    p.add_argument("--output", required=True, metavar="NAME", help="summary output, e.g. trust_police_all")
    p.add_argument("--threshold", required=True, metavar="VALUE",
                   help="a number, 'median' or a percentile such as p25 (of the cases' output)")
    p.add_argument("--direction", choices=["above", "below"], default="above",
                   help="cases of interest: output above (default) or below the threshold")
    p.add_argument("--cases", choices=["points", "runs"], default="points",
                   help="points (mean over replicates; default) or single runs")
    p.add_argument("--boxes", type=arguments.positive, default=1, metavar="N", help="PRIM boxes to find (default 1)")
    p.add_argument("--min-density", type=float, default=0.8, metavar="D",
                   help="report the PRIM box of highest coverage with at least this density (default 0.8)")
    p.add_argument("--peel-alpha", type=float, default=0.05, metavar="A", help="PRIM peeling share (default 0.05)")
    p.add_argument("--mass-min", type=float, default=0.05, metavar="M",
                   help="smallest box (PRIM) or leaf (CART) as a share of the cases (default 0.05)")
    p.add_argument("--seed", type=arguments.seed, default=0, metavar="S",
                   help="seed of the feature scores' trees and CART's ties (default 0)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output directory (default SWEEP_DIR/discovery-<output>-<direction>)")
    p.add_argument("--force", action="store_true", help="replace an earlier discovery output there")
    p.add_argument("--quiet", action="store_true", help="no summary")
    p.set_defaults(func=cmd_discover)

    p = sub.add_parser("validation", help="the validation report: stylised facts the model reproduces, against the literature")
    p.add_argument("--out", default="validation.md", metavar="FILE", help="markdown file to write (default validation.md)")
    p.add_argument("--scale", type=float, default=0.05, help="population scale (default 0.05)")
    p.add_argument("--replicates", type=arguments.replicates, default=6, metavar="N", help="replicates (default 6: the effects' confidence intervals need a few)")
    p.add_argument("--seed", type=arguments.seed, default=0, metavar="S")
    p.add_argument("--workers", type=arguments.positive, default=None, metavar="N")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_validation)


def cmd_validation(args) -> int:
    from sn_sim.experiment.validation import write_report

    print(f"wrote {write_report(args.out, args.scale, args.replicates, args.seed, args.workers, args.force)}")
    return 0

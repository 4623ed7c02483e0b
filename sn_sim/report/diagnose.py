"""``sn-sim diagnose SCENARIO``: design diagnosis of the rollout's evaluation (docs/evaluation.md).

The statistics and the per-replicate work are the evaluation layer's
(:mod:`sn_sim.evaluation.diagnosis`); the replicates run on the experiment layer's executors
(a local process pool, or a Dask cluster with ``--scheduler``), as ``compare`` and ``sweep`` do.
Evaluation and experiment are sibling layers that do not import each other, so the command
that joins them lives here, above both. Every input is checked before anything runs or is written.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sn_sim import arguments
from sn_sim.errors import SnSimError, require_extra
from sn_sim.evaluation import FEW_REPLICATES as DEFAULT_REPLICATES


def cmd_diagnose(args) -> int:
    from tqdm import tqdm

    from sn_sim.evaluation.data import check_period
    from sn_sim.evaluation.diagnosis import parse_designs, parse_survey_sizes, run_diagnosis
    from sn_sim.evaluation.report import _resolve_outcomes
    from sn_sim.experiment.cli import _check_workers
    from sn_sim.experiment.executors import LocalPoolExecutor, default_workers, make_executor
    from sn_sim.observe.storage import check_output_dir, safe_name
    from sn_sim.scenario import load_scenario

    if args.replicates < 2:
        raise SnSimError(f"--replicates: a diagnosis needs at least 2 replicates (got {args.replicates}; "
                         f"{DEFAULT_REPLICATES} or more to read coverage)")
    sizes = parse_survey_sizes(args.survey_n)
    designs = parse_designs(args.design)
    outcomes = _resolve_outcomes(args.outcomes)
    check_period(args.period)
    _check_workers(args)
    overrides = list(args.overrides) + ([f"population.scale={args.scale}"] if args.scale is not None else [])
    scenario = load_scenario(args.scenario, overrides)
    out = Path(args.out) if args.out else Path("runs") / safe_name(f"diagnose-{scenario.name}")
    check_output_dir(out, args.force, kind="diagnose")
    require_extra("evaluation", "pyfixest", "diff_diff", what="diagnose")
    if args.scheduler:
        executor = make_executor(scheduler=args.scheduler)
    else:
        executor = LocalPoolExecutor(min(args.workers or default_workers(), args.replicates))
        executor.start()
    try:
        with tqdm(total=args.replicates, unit="replicate", desc=f"diagnose {scenario.name}", disable=args.quiet,
                  dynamic_ncols=True) as bar:
            diag = run_diagnosis(scenario, replicates=args.replicates, seed=args.seed, survey_sizes=sizes,
                                 designs=designs, outcomes=outcomes, period=args.period, out=out, force=args.force,
                                 plots=not args.no_plots, executor=executor, progress=bar.update)
    finally:
        executor.close()
    if not args.quiet:
        m = diag.metadata
        print(f"wrote {out}/ (diagnosis.csv, diagnosis.md, estimates.csv, manifest.json"
              f"{'' if args.no_plots else ', power_curve.png/.svg'}) in {m['wall_time_s']:.0f} s on {executor.description}")
        if m["replicates_failed"]:
            print(f"sn-sim: note: replicates failed and left out: {', '.join(m['replicates_failed'])} "
                  f"(errors in {out / 'manifest.json'})", file=sys.stderr)
    return 0


def register(sub) -> None:
    from sn_sim.scenario.schema import ROLLOUT_DESIGNS

    p = sub.add_parser(
        "diagnose",
        help="design diagnosis: bias, RMSE, coverage, power and minimum detectable effect of each estimator, "
             "across replicate worlds with their twins, survey sizes and rollout designs",
        description="Run N replicate worlds of SCENARIO with their counterfactual twins (once per replicate and "
                    "rollout design), draw the survey at each size, run every estimator of 'sn-sim evaluate' and "
                    "write OUT/diagnosis.csv/.md (mean estimate, true effect, bias, RMSE, coverage, power at 5%, "
                    "minimum detectable effect at 80% power, each with its Monte Carlo standard error), "
                    "estimates.csv, power_curve.png/.svg and manifest.json. See docs/evaluation.md.")
    p.add_argument("scenario", help="scenario TOML file, or the name of a shipped scenario (e.g. national_rollout)")
    p.add_argument("--replicates", type=arguments.replicates, default=DEFAULT_REPLICATES, metavar="N",
                   help=f"replicate worlds (default {DEFAULT_REPLICATES}: with fewer, coverage moves by more than 5 "
                        "points per replicate; at least 2)")
    p.add_argument("--survey-n", default="400,800,1600", metavar="N[,N...]",
                   help="survey respondents 15+ per neighbourhood and year, one or more sizes (default 400,800,1600)")
    p.add_argument("--design", default="diagnosis", metavar="D[,D...]",
                   help=f"rollout design(s) compared side by side: {', '.join(ROLLOUT_DESIGNS)} (default diagnosis; "
                        "sets strategy.rollout_design)")
    p.add_argument("--seed", type=arguments.seed, default=0, metavar="S", help="root seed (default 0)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any scenario key (repeatable)")
    p.add_argument("--scale", type=float, default=None, metavar="K", help="agents per inhabitant (0 < K <= 1)")
    p.add_argument("--outcome", dest="outcomes", action="extend", nargs="+", default=None, metavar="NAME",
                   help="outcomes to diagnose (default all of 'sn-sim evaluate')")
    p.add_argument("--period", default="quarter", choices=("week", "month", "quarter", "year"),
                   help="period of the administrative (recorded-crime) panel (default quarter)")
    p.add_argument("--out", default=None, metavar="DIR", help="output directory (default runs/diagnose-<scenario>)")
    p.add_argument("--workers", type=arguments.positive, default=None, metavar="N", help="local processes (default all cores)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT", help="run on a Dask cluster")
    p.add_argument("--force", action="store_true", help="replace an existing output directory")
    p.add_argument("--no-plots", action="store_true", help="skip the power-curve figure")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=cmd_diagnose)

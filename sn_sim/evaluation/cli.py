"""``sn-sim evaluate RUN_DIR``: estimated against true effects (see docs/evaluation.md).

Registered by ``sn_sim.cli`` through ``register(subparsers)``. Importing this module is cheap:
the estimators (pyfixest) and plots (matplotlib) load only when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sn_sim import arguments
from sn_sim.errors import require_extra

from sn_sim.evaluation.measures import OUTCOMES

OUTCOME_NAMES = tuple(OUTCOMES)


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``evaluate`` subcommand to the ``sn-sim`` subparsers."""
    p = sub.add_parser(
        "evaluate",
        help="estimate the strategy's effects as an evaluator would (survey, recorded crime, DiD estimators) "
             "and hold them against the true effects from a counterfactual twin",
        description="Write RUN_DIR/evaluation/ (or --out): effects.csv/.md (estimates, 95% CI, true effect, bias), "
                    "spillovers.csv, by_stage_pillar.csv, cost_effectiveness.csv, event_study.png/.svg, "
                    "estimator_comparison.png/.svg, scores.csv and scores_by_source.png/.svg (the true effects on "
                    "trust and insecurity by mechanism). If RUN_DIR has no twin/ subdirectory, the no-intervention twin is "
                    "simulated from the run's manifest (same scenario without the rollout, same seed) and saved "
                    "to the evaluation's twin/. Several RUN_DIRs (e.g. police_only, social_only, community_only "
                    "runs) are evaluated in turn and compared in comparison.csv.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directory written by 'sn-sim run'")
    p.add_argument("--survey-size", type=arguments.positive, default=400, metavar="N",
                   help="survey respondents 15+ per neighbourhood and year (default 400)")
    p.add_argument("--seed", type=arguments.seed, default=None, metavar="S", help="survey seed (default: the run's seed)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output directory (default RUN_DIR/evaluation; with several RUN_DIRs, DIR/<run>/ each "
                        "plus DIR/comparison.csv)")
    p.add_argument("--force", action="store_true", help="replace an existing output directory")
    p.add_argument("--outcome", dest="outcomes", action="extend", nargs="+", default=None, metavar="NAME",
                   help=f"outcomes to estimate (default all): {', '.join(OUTCOME_NAMES)}")
    p.add_argument("--period", default="quarter", choices=("week", "month", "quarter", "year"),
                   help="period of the administrative (recorded-crime) panel (default quarter)")
    p.add_argument("--channels", action="store_true",
                   help="also take the effects apart by the Strategy's channels, as `sn-sim decompose` does on the "
                        "run's scenario, seed and replicates (channels/: tables and waterfalls; about 9 more runs "
                        "per replicate)")
    p.add_argument("--workers", type=arguments.positive, default=None, metavar="N",
                   help="local processes for --channels (default all cores)")
    p.add_argument("--no-plots", action="store_true", help="skip the figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=cmd_evaluate)
    return p


def cmd_evaluate(args) -> int:
    require_extra("evaluation", "pyfixest", "diff_diff", what="evaluate")  # before the twin's simulation, not after
    from sn_sim.evaluation import EvaluationError
    from sn_sim.evaluation.data import check_run_dir
    from sn_sim.evaluation.report import evaluate, evaluate_many, unknown_outcome

    if args.outcomes:
        bad = [o for o in args.outcomes if o not in OUTCOME_NAMES]
        if bad:
            raise unknown_outcome(bad[0])
    if args.survey_size < 1:
        raise EvaluationError(f"--survey-size: must be at least 1 (got {args.survey_size})")
    for d in args.run_dirs:
        check_run_dir(d)  # a missing or invalid RUN_DIR fails before any work
    kwargs = dict(survey_size=args.survey_size, seed=args.seed, outcomes=args.outcomes, period=args.period,
                  plots=not args.no_plots, channels=args.channels, workers=args.workers,
                  channel_progress=not args.quiet)
    if len(args.run_dirs) > 1:
        table, evaluations = evaluate_many(args.run_dirs, args.out, force=args.force, progress=None, **kwargs)
        if not args.quiet:
            for label, ev in evaluations.items():
                print(f"wrote {ev.out}/")
            if args.out:
                print(f"wrote {Path(args.out) / 'comparison.csv'}")
            else:
                print(table.to_string(index=False))
        return 0

    run_dir = Path(args.run_dirs[0])
    bars = []

    def progress(weeks: int) -> None:  # a bar only if the twin has to be simulated
        if not bars:
            from tqdm import tqdm

            bars.append(tqdm(unit="week", desc="twin", dynamic_ncols=True, leave=False))
        bars[0].update(weeks)

    try:
        ev = evaluate(run_dir, args.out, force=args.force, progress=None if args.quiet else progress, **kwargs)
    finally:
        for bar in bars:
            bar.close()
    if not args.quiet:
        s = ev.effects_summary
        print(f"wrote {ev.out}/ (report.md, effects.csv, effects.md, spillovers.csv, by_stage_pillar.csv, bacon.csv, honest_did.csv, "
              f"cost_effectiveness.csv, scores.csv{'' if args.no_plots else ', event_study, estimator_comparison and scores_by_source (.png, .svg)'}{', channels/' if args.channels else ''}); "
              f"twin: {ev.metadata['twin_source']}")
        if not s.empty:
            print_summary(s, ev.metadata.get("replicates"))
        print_mechanisms(ev)
    return 0


def print_mechanisms(ev) -> None:
    """The true effects on trust and insecurity by mechanism and, with --channels, by channel."""
    from sn_sim.experiment import scores

    if not ev.scores.empty:
        print("\n" + scores.markdown(ev.scores.assign(run=ev.metadata["scenario_name"]), "run", heading="##"))
    if ev.channels is not None:
        print(ev.channels.markdown())


def print_summary(summary, replicates) -> None:
    """The overall effects on the console: outcome with its unit, the true effect, each estimator
    by its full name with its estimate and bias; and why coverage needs replicates."""
    from sn_sim.evaluation.estimators import estimator_name
    from sn_sim.evaluation.measures import OUTCOMES

    att = summary[summary["term"] == "ATT"]
    for o, d in att.groupby("outcome", sort=False):
        unit = OUTCOMES[o].unit if o in OUTCOMES else ""
        print(f"  {o} ({unit}): true ATT {d['true_att'].iloc[0]:+.3g}")
        for x in d.itertuples():
            print(f"    {estimator_name(x.estimator)}: {x.estimate:+.3g} (bias {x.bias:+.3g})")
    from sn_sim.evaluation.report import replicates_note

    note = replicates_note(replicates)
    if note:
        print(f"note: {note}")

"""`sn-sim calibrate`: fit the free parameters, write the parameter file and the fit report.

Outputs go to one directory, ``--out`` (default ``runs/calibration``): ``calibrated.toml`` (the
fitted parameters as a scenario fragment; not with ``--report-only``), ``calibrated_uncertainty.toml``
(their approximate posterior around the fit; ``uncertainty.py``), ``fit_report.md``,
``fit_table.csv``, ``fit.png`` and ``fit.svg``. It is written whole at the end (nothing is written if the fit
fails) and an existing one is replaced only with ``--force``. To update the shipped defaults in
a source checkout, name them explicitly: ``--params-out scenarios/parameters/calibrated.toml
--report-dir docs/calibration --force`` (docs/calibration.md). Every output is checked before
the fit starts. Candidate points run on the experiment executors (``--workers``, ``--scheduler``);
the result does not depend on where they run.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

from sn_sim.errors import OutputError, SnSimError
from sn_sim import arguments

DEFAULT_SCENARIO = "lima_culture_points"  # shipped; the one scenario with every target in scope
DEFAULT_OUT = Path("runs") / "calibration"
PARAMETER_FILE = "calibrated.toml"
UNCERTAINTY_FILE = "calibrated_uncertainty.toml"
REPORT_FILES = ("fit_report.md", "fit_table.csv", "fit.png", "fit.svg")
OOS_PARAMETERS = ("offending_rate", "reporting_base")  # what the 2015-2017 survey rates inform


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="fit free parameters to the reported figures (simulated method of moments)")
    p.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO, metavar="SCENARIO",
                   help=f"scenario file or shipped name to fit (default: {DEFAULT_SCENARIO}, the national rollout "
                        "with Culture Points, which has every target in scope)")
    p.add_argument("--seed", type=arguments.seed, default=2024, help="seed of the optimiser and of the common random numbers")
    p.add_argument("--replicates", type=arguments.replicates, default=1, help="replicates per evaluation (default 1; common random numbers)")
    p.add_argument("--scale", type=float, default=0.1, help="population scale during the fit (default 0.1)")
    p.add_argument("--workers", type=arguments.positive, default=None, metavar="N",
                   help="local processes (default all cores; 1 = in this process)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="evaluate candidate points on an existing Dask cluster instead of local processes")
    p.add_argument("--method", choices=["least-squares", "differential-evolution"], default="least-squares",
                   help="optimiser (default least-squares)")
    p.add_argument("--maxiter", type=arguments.positive, default=25,
                   help="least-squares iterations, or evolution generations (default 25)")
    p.add_argument("--popsize", type=arguments.positive, default=4, help="population size multiplier (default 4)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help=f"output directory: {PARAMETER_FILE} and the fit report (default {DEFAULT_OUT})")
    p.add_argument("--params-out", default=None, metavar="FILE",
                   help="also write the calibrated parameter file here, e.g. scenarios/parameters/calibrated.toml "
                        "(the file the shipped scenarios extend, in a source checkout); needs --force if it exists")
    p.add_argument("--report-dir", default=None, metavar="DIR",
                   help="also write the fit report here, e.g. docs/calibration; needs --force if it exists")
    p.add_argument("--force", action="store_true", help="replace existing outputs")
    p.add_argument("--report-replicates", type=arguments.replicates, default=10, help="replicates for the fit report (default 10)")
    p.add_argument("--report-scale", type=float, default=0.1, help="population scale for the fit report (default 0.1)")
    p.add_argument("--report-only", action="store_true", help="no fit: report how the scenario as it is fits")
    p.add_argument("--uncertainty-replicates", type=arguments.replicates, default=4,
                   help="replicates per point for the parameters' uncertainty, at the fit's --scale (default 4)")
    p.add_argument("--uncertainty-out", default=None, metavar="FILE",
                   help=f"also write {UNCERTAINTY_FILE} here, e.g. scenarios/parameters/{UNCERTAINTY_FILE} "
                        "(what sn-sim optimise samples the calibrated parameters from); needs --force if it exists")
    p.add_argument("--no-uncertainty", action="store_true",
                   help=f"skip the parameters' uncertainty ({UNCERTAINTY_FILE})")
    p.add_argument("--no-identifiability", action="store_true", help="skip profiles and elasticities")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_calibrate)


def _check_args(args) -> None:
    if args.workers is not None and args.workers < 1:
        raise SnSimError(f"--workers: must be at least 1 (got {args.workers})")
    if args.workers is not None and args.scheduler:
        raise SnSimError("--workers: not used with --scheduler (the cluster's workers run the evaluations)")
    if args.scheduler:
        from sn_sim.experiment.executors import check_scheduler_address

        check_scheduler_address(args.scheduler)  # its form, before any work
    for flag in ("replicates", "report_replicates", "maxiter"):
        if getattr(args, flag) < 1:
            raise SnSimError(f"--{flag.replace('_', '-')}: must be at least 1 (got {getattr(args, flag)})")
    if args.report_only and args.params_out:
        raise SnSimError("--params-out: nothing to write with --report-only")
    if args.no_uncertainty and args.uncertainty_out:
        raise SnSimError("--uncertainty-out: nothing to write with --no-uncertainty")
    if args.uncertainty_replicates < 2 and not args.no_uncertainty:
        raise SnSimError("--uncertainty-replicates: must be at least 2 (the simulation noise is their spread)")


def _check_file(path: Path, force: bool, option: str = "--params-out") -> None:
    """An output file: refused if it exists (without --force) or if its directory is missing."""
    if path.exists() and not force:
        raise OutputError(f"{path}: {option}: already exists (use --force to replace it)")
    if path.exists() and not path.is_file():
        raise OutputError(f"{path}: {option}: exists and is not a file")
    if not path.parent.is_dir():
        raise OutputError(f"{path}: {option}: directory {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise OutputError(f"{path}: {option}: directory {path.parent} is not writable")


def _write_file(source: Path, path: Path) -> None:
    """Copy ``source`` to ``path`` atomically (a temporary sibling renamed into place)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_calibrate(args) -> int:
    from tqdm import tqdm

    from sn_sim.calibration.calibrate import calibrate, write_parameter_file
    from sn_sim.calibration.report import fit_report
    from sn_sim.calibration.uncertainty import estimate_uncertainty
    from sn_sim.experiment.executors import make_executor
    from sn_sim.observe.storage import check_output_dir, staged_directory
    from sn_sim.scenario import load_scenario

    _check_args(args)
    scenario = load_scenario(args.scenario)
    out = Path(args.out) if args.out else DEFAULT_OUT
    params_out = Path(args.params_out) if args.params_out else None
    report_dir = Path(args.report_dir) if args.report_dir else None
    # Every output is checked before the fit (which takes minutes) starts.
    check_output_dir(out, args.force, kind="calibrate")
    if params_out is not None:
        _check_file(params_out, args.force)
    uncertainty_out = Path(args.uncertainty_out) if args.uncertainty_out else None
    if uncertainty_out is not None:
        _check_file(uncertainty_out, args.force, option="--uncertainty-out")
    if report_dir is not None:
        check_output_dir(report_dir, args.force, kind="calibration-report", option="--report-dir")

    result = oos_result = None
    header = [f"Scenario `{scenario.name}` (hash {scenario.digest()[:12]}), written "
              f"{dt.date.today().isoformat()} by `sn-sim calibrate`."]
    with make_executor(args.workers, args.scheduler) as executor:
        if not args.report_only:
            with tqdm(total=args.maxiter, unit="step", desc="calibrating", disable=args.quiet) as bar:
                result = calibrate(scenario, seed=args.seed, replicates=args.replicates, scale=args.scale,
                                   maxiter=args.maxiter, popsize=args.popsize, progress=lambda: bar.update(1),
                                   method=args.method, executor=executor)
            print(f"objective {result.fun:.4f} after {result.evaluations} evaluations in {result.wall_s:.0f} s "
                  f"on {executor.description}")
            header.append(f"Fit: {args.method}, seed {args.seed}, {args.replicates} replicates per evaluation "
                          f"at scale {args.scale}, {result.evaluations} evaluations, {result.wall_s:.0f} s, "
                          f"objective {result.fun:.4f} (sum of squared errors in half-band units, steepened near "
                          f"the band edges, over the fitted targets; docs/calibration.md).")
            # Out-of-sample check: refit what the survey rates inform on 2015-2017 figures only.
            oos_result = calibrate(scenario, seed=args.seed, replicates=args.replicates, scale=args.scale,
                                   maxiter=max(4, args.maxiter // 2), popsize=args.popsize,
                                   include_out_of_sample=False, only=list(OOS_PARAMETERS), fixed=result.values(),
                                   method=args.method, executor=executor)
            scenario = scenario.with_overrides(result.overrides())
        uncertainty = None
        if not args.no_uncertainty:
            # Around the fit, at the fit's scale (the scale its moments were matched at).
            uncertainty = estimate_uncertainty(scenario.with_overrides({"population.scale": args.scale}),
                                               seed=args.seed, replicates=args.uncertainty_replicates,
                                               executor=executor, fit_replicates=args.replicates)
        report_scenario = scenario.with_overrides({"population.scale": args.report_scale})
        header.append(f"Report: {args.report_replicates} replicates at scale {args.report_scale}, seed {args.seed}.")
        with staged_directory(out, "calibrate") as tmp:
            if result is not None:
                write_parameter_file(result, tmp / PARAMETER_FILE)
            if uncertainty is not None:
                (tmp / UNCERTAINTY_FILE).write_text(uncertainty.to_toml(f"scenario {scenario.name}"))
            fit_report(report_scenario, tmp, seed=args.seed, replicates=args.report_replicates, header=header,
                       result=result, identify=not args.no_identifiability, oos_result=oos_result,
                       executor=executor, uncertainty=uncertainty)
    written = [out]
    if params_out is not None:
        _write_file(out / PARAMETER_FILE, params_out)
        written.append(params_out)
    if uncertainty_out is not None:
        _write_file(out / UNCERTAINTY_FILE, uncertainty_out)
        written.append(uncertainty_out)
    if report_dir is not None:
        with staged_directory(report_dir, "calibration-report") as tmp:
            for name in REPORT_FILES:
                shutil.copyfile(out / name, tmp / name)
        written.append(report_dir)
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0

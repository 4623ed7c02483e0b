"""`sn-sim calibrate`: fit the free parameters, write the parameter file and the fit report."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

from sn_sim.errors import OutputError

REPO = Path(__file__).resolve().parents[2]
OOS_PARAMETERS = ("offending_rate", "reporting_base")  # what the 2015-2017 survey rates inform


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="fit free parameters to the reported figures (simulated method of moments)")
    p.add_argument("scenario", nargs="?", default=str(REPO / "scenarios" / "lima_culture_points.toml"),
                   help="scenario to fit (default: scenarios/lima_culture_points.toml, which has every target in scope)")
    p.add_argument("--seed", type=int, default=2024, help="seed of the optimiser and of the common random numbers")
    p.add_argument("--replicates", type=int, default=1, help="replicates per evaluation (default 1; common random numbers)")
    p.add_argument("--scale", type=float, default=0.1, help="population scale during the fit (default 0.1)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)")
    p.add_argument("--method", choices=["least-squares", "differential-evolution"], default="least-squares",
                   help="optimiser (default least-squares)")
    p.add_argument("--maxiter", type=int, default=25,
                   help="least-squares iterations, or evolution generations (default 25)")
    p.add_argument("--popsize", type=int, default=4, help="population size multiplier (default 4)")
    p.add_argument("--params-out", default=str(REPO / "scenarios" / "parameters" / "calibrated.toml"),
                   help="calibrated parameter file that the default scenarios extend")
    p.add_argument("--report-dir", default=str(REPO / "docs" / "calibration"), help="where the fit report goes")
    p.add_argument("--report-replicates", type=int, default=10, help="replicates for the fit report (default 10)")
    p.add_argument("--report-scale", type=float, default=0.1, help="population scale for the fit report (default 0.1)")
    p.add_argument("--report-only", action="store_true", help="no fit: report how the scenario as it is fits")
    p.add_argument("--no-identifiability", action="store_true", help="skip profiles and elasticities")
    p.set_defaults(func=cmd_calibrate)


def _atomic_write(path: Path, writer) -> None:
    if not path.parent.is_dir():
        raise OutputError(f"{path}: --params-out: directory {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        writer(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_calibrate(args) -> int:
    from tqdm import tqdm

    from sn_sim.calibration.calibrate import calibrate, write_parameter_file
    from sn_sim.calibration.report import fit_report
    from sn_sim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    report_dir = Path(args.report_dir)
    if report_dir.exists() and not report_dir.is_dir():
        raise OutputError(f"{report_dir}: --report-dir: exists and is not a directory")
    result = oos_result = None
    header = [f"Scenario `{Path(args.scenario).name}` (hash {scenario.digest()[:12]}), written "
              f"{dt.date.today().isoformat()} by `sn-sim calibrate`."]
    if not args.report_only:
        with tqdm(total=args.maxiter, unit="step", desc="calibrating") as bar:
            result = calibrate(scenario, seed=args.seed, replicates=args.replicates, scale=args.scale,
                               workers=args.workers, maxiter=args.maxiter, popsize=args.popsize,
                               progress=lambda: bar.update(1), method=args.method)
        _atomic_write(Path(args.params_out), lambda p: write_parameter_file(result, p))
        print(f"objective {result.fun:.4f} after {result.evaluations} evaluations in {result.wall_s:.0f} s; "
              f"wrote {args.params_out}")
        header.append(f"Fit: {args.method}, seed {args.seed}, {args.replicates} replicates per evaluation "
                      f"at scale {args.scale}, {result.evaluations} evaluations, {result.wall_s:.0f} s, "
                      f"objective {result.fun:.4f} (sum of squared errors in half-band units, steepened near the "
                      f"band edges, over the fitted targets; docs/calibration.md).")
        # Out-of-sample check: refit what the survey rates inform on 2015-2017 figures only.
        oos_result = calibrate(scenario, seed=args.seed, replicates=args.replicates, scale=args.scale,
                               workers=args.workers, maxiter=max(4, args.maxiter // 2), popsize=args.popsize,
                               include_out_of_sample=False, only=list(OOS_PARAMETERS), fixed=result.values(),
                               method=args.method)
        scenario = scenario.with_overrides(result.overrides())
    report_scenario = scenario.with_overrides({"population.scale": args.report_scale})
    header.append(f"Report: {args.report_replicates} replicates at scale {args.report_scale}, seed {args.seed}.")
    path = fit_report(report_scenario, report_dir, seed=args.seed, replicates=args.report_replicates,
                      header=header, result=result, workers=args.workers, identify=not args.no_identifiability,
                      oos_result=oos_result)
    print(f"wrote {path}")
    return 0

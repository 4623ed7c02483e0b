"""Which parameters drive crime and trust? Sobol indices from a Saltelli sweep.

    python experiments/sensitivity.py                           # -> sweeps/sensitivity/
    python experiments/sensitivity.py --scheduler tcp://HOST:8786

Runs experiments/sweeps/sensitivity.toml (eight mechanism parameters and the police share,
160 runs; resumable), then computes first-order (S1) and total (ST) Sobol indices with
bootstrap 95% intervals for crime and trust outputs, and writes
OUT/sensitivity/sensitivity-sobol.csv, .png and .svg. A parameter with a large ST but small S1
acts through interactions; one with ST near 0 can be fixed anywhere in its range.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sn_sim.experiment import run_sweep, sensitivity

HERE = Path(__file__).resolve().parent
OUTPUTS = ["offences_per_1000_year_all", "offences_per_1000_year_treated", "trust_police_all", "trust_police_treated"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", type=Path, default=HERE / "sweeps" / "sensitivity.toml")
    ap.add_argument("--out", type=Path, default=Path("sweeps/sensitivity"))
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--scheduler", default=None)
    args = ap.parse_args(argv)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    res = run_sweep(args.sweep, args.out, workers=args.workers, scheduler=args.scheduler, resume=True)
    print(f"{res.done} runs now, {res.skipped} before, {res.failed} failed")
    if res.failed:
        raise SystemExit("some runs failed: fix them and run again (finished runs are kept)")

    result = sensitivity(args.out, OUTPUTS, method="sobol")
    paths = result.save(args.out / "sensitivity")
    for output in OUTPUTS:
        top = result.indices[result.indices["output"] == output].sort_values("ST", ascending=False)
        print(f"\n{output}: parameters by total index")
        for _, row in top.iterrows():
            print(f"  {row['parameter']:<32} ST {row['ST']:6.2f} +/- {row['ST_conf']:.2f}   "
                  f"S1 {row['S1']:6.2f} +/- {row['S1_conf']:.2f}")
    print(f"\nwrote {', '.join(str(p) for p in paths)}")


if __name__ == "__main__":
    main()

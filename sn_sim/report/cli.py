"""``sn-sim report``: the one-page HTML report of a run or compare directory.

``register(sub)`` adds the subcommand to the main parser. Everything is checked before the page
is drawn (the directory, its checksums, the output file); user errors are one line, exit code 2.
"""

from __future__ import annotations


def cmd_report(args) -> int:
    from sn_sim.report.page import write_report

    out = write_report(args.directory, args.out, force=args.force)
    if not args.quiet:
        print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB; self-contained: open it offline or forward it)")
    return 0


def register(sub) -> None:
    p = sub.add_parser("report", help="one self-contained HTML page of a run or compare directory, for a policy team")
    p.add_argument("directory", metavar="RUN_OR_COMPARE_DIR", help="a directory written by 'sn-sim run' or 'sn-sim compare'")
    p.add_argument("--out", default=None, metavar="FILE", help="the HTML file (default RUN_OR_COMPARE_DIR/report.html)")
    p.add_argument("--force", action="store_true", help="replace an existing report written by sn-sim report")
    p.add_argument("--quiet", action="store_true", help="no summary line")
    p.set_defaults(func=cmd_report)

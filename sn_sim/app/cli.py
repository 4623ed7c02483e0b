"""``sn-sim app [SCENARIO]``: serve the interactive page (Mesa SolaraViz) on 127.0.0.1.

The scenario and its ``--set`` overrides are validated first: a bad scenario is one line on
stderr and exit code 2, and no server starts. The page then runs in this process under Solara's
server (production mode, no browser opened unless ``--open``, no telemetry or version check), so
stopping this process stops the server.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from sn_sim.errors import SnSimError
from sn_sim import arguments

APP_FILE = Path(__file__).resolve().parent / "app.py"


def register(sub) -> None:
    """Add the ``app`` subcommand to the ``sn-sim`` subparsers."""
    from sn_sim.app.controls import DEFAULT_SCALE

    p = sub.add_parser(
        "app", help="interactive page in the browser: move the policy mix, watch crime and trust (Mesa SolaraViz)",
        description="Serve the interactive page (needs the app extra: pip install -e \".[app]\").")
    p.add_argument("scenario", nargs="?", default=None,
                   help="scenario TOML file or shipped scenario name (default: national_rollout)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=arguments.port, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--scale", type=float, default=None, metavar="K",
                   help=f"agents per inhabitant the page starts with (default {DEFAULT_SCALE})")
    p.add_argument("--seed", type=arguments.seed, default=0, metavar="S", help="random seed the page starts with (default 0)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a scenario key before the page starts (repeatable)")
    p.add_argument("--open", action="store_true", help="open the page in the default web browser")
    p.set_defaults(func=cmd_app)


def _check(args) -> tuple[str, float]:
    """Validate everything the page will need; return (scenario, scale): the scenario as an
    absolute path for a file, or the name of a shipped scenario."""
    from sn_sim.app.model import DEFAULT_SCALE, DEFAULT_SCENARIO, load_base

    scenario = args.scenario or DEFAULT_SCENARIO
    scale = DEFAULT_SCALE if args.scale is None else args.scale
    if not (0 < scale <= 1):
        raise SnSimError(f"--scale: must be in (0, 1] (got {scale:g})")
    if not (0 <= args.port <= 65535):
        raise SnSimError(f"--port: must be 0-65535 (got {args.port})")
    if args.seed < 0:
        raise SnSimError(f"--seed: must be non-negative (got {args.seed})")
    load_base(scenario, args.overrides, scale=scale)  # ScenarioError -> one line, exit 2
    try:
        import mesa.visualization  # noqa: F401
        import solara  # noqa: F401
    except ImportError as exc:
        raise SnSimError(f"app: needs the app extra ({exc.name} is missing): pip install -e \".[app]\"") from None
    return (str(Path(scenario).resolve()) if Path(scenario).is_file() else scenario), scale


def _bindable_port(host: str, port: int) -> int:
    """The port to serve on (a free one for 0); SnSimError if the address cannot be used."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
            return s.getsockname()[1]
    except OSError as exc:
        raise SnSimError(f"--host/--port: cannot listen on {host}:{port} ({exc.strerror or exc})") from None


def missing_browser_assets() -> list[str]:
    """Front-end bundles the page asks Solara's asset proxy for that are not installed locally.

    Solara serves its JavaScript from ``<prefix>/share/solara/cdn`` (filled by the
    ``solara-assets`` package) and otherwise fetches it from a public CDN, which fails offline.
    """
    try:
        import re

        import solara.server
        import solara.util
        from solara.server import settings

        template = Path(solara.server.__file__).parent / "templates" / "solara.html.j2"
        names = set(re.findall(r"@widgetti/solara-vuetify3?-app@[\w.\-]+", template.read_text(encoding="utf-8")))
        wanted = [n for n in names if ("vuetify3" in n) == bool(solara.util.IPYVUETIFY_V3)] + ["requirejs@2.3.6"]
        cache = Path(settings.assets.proxy_cache_dir)
        return sorted(n for n in wanted if not (cache / n).is_dir())
    except Exception:  # a Solara layout we do not know: say nothing rather than guess
        return []


def cmd_app(args) -> int:
    # Nothing leaves the machine: no usage telemetry (read when Solara's settings are imported).
    os.environ["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "false"
    scenario, scale = _check(args)
    os.environ.update({
        "SN_SIM_APP_SCENARIO": scenario,
        "SN_SIM_APP_SCALE": repr(scale),
        "SN_SIM_APP_SEED": str(args.seed),
        "SN_SIM_APP_OVERRIDES": json.dumps(list(args.overrides)),
    })
    port = _bindable_port(args.host, args.port)
    missing = missing_browser_assets()
    if missing:
        print(f"sn-sim app: warning: Solara's browser assets are not installed ({', '.join(missing)}); the page "
              "will try to fetch them from a public CDN and stay blank offline. Install the app extra "
              "(pip install -e \".[app]\", which brings solara-assets and ipyvuetify<3).", file=sys.stderr, flush=True)
    print(f"sn-sim app: serving {Path(scenario).name} at http://{args.host}:{port}/ (Ctrl-C to stop)", flush=True)

    import warnings

    # Solara warns on every page load that its session cookie falls back to SameSite=Lax over plain
    # http; that is expected for a page served on localhost.
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")
    from solara.__main__ import run as solara_run

    argv = [str(APP_FILE), "--host", args.host, "--port", str(port), "--production", "--no-check-version",
            "--open" if args.open else "--no-open", "--log-level", "warning"]
    import click

    try:
        solara_run.main(argv, prog_name="sn-sim app", standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort):  # Ctrl-C: click turns it into Abort
        print("sn-sim app: stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover - python -m sn_sim.app.cli
    parser = argparse.ArgumentParser(prog="sn-sim")
    register(parser.add_subparsers(dest="command", required=True))
    ns = parser.parse_args(["app", *sys.argv[1:]])
    try:
        sys.exit(ns.func(ns))
    except SnSimError as exc:
        print(f"sn-sim: error: {exc}", file=sys.stderr)
        sys.exit(2)

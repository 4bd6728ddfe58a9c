"""The ``tocsin`` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence

from supervision import configure_logging


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tocsin", description="Real-time alerting")
    parser.add_argument("--log-level", default="info", help="debug, info, warning, error")
    parser.add_argument("--log-json", action="store_true", help="one JSON object per line")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="run Tocsin (for now: a live example of the supervised actor runtime)",
    )
    serve.add_argument("--interval", type=float, default=1.0, help="sampling interval (s)")
    serve.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tocsin`` command; return the process exit status."""
    args = _build_parser().parse_args(argv)
    configure_logging(args.log_level, json=args.log_json)
    if args.command == "serve":
        from gateway._demo import run_demo

        if args.interval <= 0:
            print("tocsin: --interval must be > 0", file=sys.stderr)
            return 2
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_demo(args.interval, args.duration))
        return 0
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())

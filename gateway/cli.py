"""The ``tocsin`` command line: serve, demo, check-config, and small protocol clients."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Coroutine, Sequence
from typing import Any, TextIO

from gateway.config import ConfigInvalid, TocsinConfig, load_config
from supervision import ActorStartError, SystemFailed, configure_logging

__all__ = ["json_logs", "main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tocsin", description="Real-time alerting")
    parser.add_argument("--log-level", default="info", help="debug, info, warning, error")
    logs = parser.add_mutually_exclusive_group()
    logs.add_argument(
        "--log-json", action="store_true", default=None, help="one JSON object per line"
    )
    logs.add_argument("--log-pretty", dest="log_json", action="store_false", help="console logs")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the Tocsin server (gateway, rules, alerts)")
    demo = commands.add_parser(
        "demo", help="serve with a synthetic feed that fires, escalates and resolves alerts"
    )
    for command in (serve, demo):
        command.add_argument("--config", help="a TOML file (default: built-in defaults)")
        command.add_argument("--host", help="listen on this address (overrides the config)")
        command.add_argument("--port", type=int, help="listen on this port (0: any free one)")
        command.add_argument("--duration", type=float, help="stop after N seconds")
    demo.add_argument(
        "--period",
        type=float,
        default=60.0,
        help="seconds of one demo cycle (fire, escalate, resolve); default 60",
    )

    check = commands.add_parser("check-config", help="validate a TOML config; exit 1 if bad")
    check.add_argument("file")

    for name, text in (
        ("alerts", "list alerts"),
        ("ack", "acknowledge an alert"),
        ("tail", "stream alert events as JSON lines"),
    ):
        client = commands.add_parser(name, help=text)
        client.add_argument("--url", default="ws://127.0.0.1:8765/ws", help="the gateway")
        client.add_argument(
            "--token",
            help="bearer token (default: $TOCSIN_TOKEN or the "
            "admin token tocsin serve wrote in the data directory)",
        )
        client.add_argument("--timeout", type=float, default=10.0, help="seconds per reply")
        if name == "alerts":
            client.add_argument("--state", action="append", default=[], help="repeatable")
            client.add_argument("--json", action="store_true", help="one JSON object per line")
        elif name == "ack":
            client.add_argument("alert_id")
            client.add_argument("--comment", default="")
        else:
            client.add_argument("--severity", action="append", default=[], help="repeatable")
            client.add_argument("--count", type=int, help="stop after N events")
    return parser


def _server_config(args: argparse.Namespace) -> TocsinConfig:
    config = load_config(args.config)
    server: dict[str, Any] = {}
    if args.host is not None:
        server["host"] = args.host
    if args.port is not None:
        server["port"] = args.port
    if server:
        config = config.model_copy(update={"server": config.server.model_copy(update=server)})
    return config


def json_logs(choice: bool | None, stream: TextIO) -> bool:
    """Return whether logs are JSON lines: ``choice`` if given (``--log-json`` or
    ``--log-pretty``), else JSON for log shippers unless a person watches (a TTY)."""
    return choice if choice is not None else not stream.isatty()


def _run_on(event_loop: str, main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` to completion on ``[server] event_loop``: uvloop's or asyncio's.

    Only the server picks its loop: an embedded ``AlertSystem`` runs on its host's.
    """
    if event_loop == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, sort_keys=True), flush=True)


def _run_client(args: argparse.Namespace) -> int:
    from gateway._client import ClientError, ack, default_token, list_alerts, tail

    token = args.token or default_token()
    try:
        if args.command == "alerts":
            alerts = asyncio.run(
                list_alerts(args.url, token, states=tuple(args.state), timeout=args.timeout)
            )
            for alert in alerts:
                if args.json:
                    _print_json(alert)
                else:
                    labels = ",".join(f"{k}={v}" for k, v in sorted(alert["labels"].items()))
                    print(
                        f"{alert['alert_id']}\t{alert['state']}\t{alert['severity']}\t"
                        f"{alert['rule_id']}\t{labels}"
                    )
        elif args.command == "ack":
            _print_json(
                asyncio.run(ack(args.url, token, args.alert_id, args.comment, timeout=args.timeout))
            )
        else:
            asyncio.run(
                tail(
                    args.url,
                    token,
                    _print_json,
                    severities=tuple(args.severity),
                    count=args.count,
                    timeout=args.timeout,
                )
            )
    except ClientError as exc:
        print(f"tocsin {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tocsin`` command; return the process exit status."""
    args = _build_parser().parse_args(argv)
    if args.command == "check-config":
        try:
            config = load_config(args.file)
        except ConfigInvalid as exc:
            print(exc, file=sys.stderr)
            return 1
        rules = len(config.rules.inline)
        receivers = [receiver.name for receiver in config.receivers.receivers()]
        print(
            f"{args.file}: OK ({rules} inline rules, {len(config.rules.files)} rule files, "
            f"receivers {receivers})"
        )
        return 0
    configure_logging(args.log_level, json=json_logs(args.log_json, sys.stderr), stream=sys.stderr)
    if args.command in ("serve", "demo"):
        from gateway._serve import demo_config, run_server

        try:
            config = _server_config(args)
            if args.command == "demo":
                if not args.period > 0:
                    print("tocsin demo: --period must be > 0", file=sys.stderr)
                    return 2
                config = demo_config(config, args.period)
        except ConfigInvalid as exc:
            print(exc, file=sys.stderr)
            return 1
        try:
            demo = args.command == "demo"
            period = args.period if demo else 60.0
            _run_on(
                config.server.event_loop,
                run_server(config, duration=args.duration, demo=demo, demo_period=period),
            )
        except ActorStartError as exc:
            # e.g. the port is taken, the store cannot be opened, a TLS file is unreadable
            cause: BaseException = exc
            while isinstance(cause, ActorStartError) and cause.__cause__ is not None:
                cause = cause.__cause__
            print(f"tocsin {args.command}: cannot start: {cause}", file=sys.stderr)
            return 1
        except SystemFailed as exc:
            print(f"tocsin {args.command}: failed: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:  # before the signal handlers are in place
            return 130
        return 0
    return _run_client(args)


if __name__ == "__main__":
    sys.exit(main())

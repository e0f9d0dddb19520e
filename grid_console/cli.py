"""`grid-console`: serve (ingest + API) and migrate. Every subcommand takes --data-dir / --db."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from grid_console import admin_cli
from grid_console.auth.bootstrap import ENV_ADMIN_PASSWORD
from grid_console.cases.policy import DEFAULT_AUTO_REGISTER, CasePolicy
from grid_console.clips.fetch import FetchLimits
from grid_console.clips.service import ClipSettings
from grid_console.clips.tokens import parse_node_tokens
from grid_console.clock import system_clock
from grid_console.config_file import ConfigError, defaults_from, read_config
from grid_console.db.engine import make_engine
from grid_console.db.migrate import upgrade
from grid_console.dispatch.policy import DispatchMode, DispatchPolicy, parse_rules
from grid_console.ingest.broker import ENV_PASSWORD as ENV_BROKER_PASSWORD
from grid_console.ingest.broker import (
    BrokerAddress,
    BrokerLogin,
    broker_address,
    parse_broker_url,
)
from grid_console.ingest.schemas import SchemaError, default_schemas_dir
from grid_console.notify import setup as notify_setup
from grid_console.per_node import parse_per_node_files
from grid_console.settings import DEFAULT_CLIENT_ID, DEFAULT_DATA_DIR, Settings

logger = logging.getLogger("grid_console")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = _parse(parser, argv)
    except ConfigError as exc:
        print(f"grid-console: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.command == "migrate":
            return _migrate(args)
        if args.command == "serve":
            return _serve(args)
        return _directory(args)
    except (ValueError, SchemaError) as exc:
        print(f"grid-console: {exc}", file=sys.stderr)
        return 2


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse once to find --config, then again with the file's values as the defaults, so
    that the command line still wins."""
    args = parser.parse_args(argv)
    config = getattr(args, "config", None)
    if args.command != "serve" or config is None:
        return args
    serve = _subparser(parser, "serve")
    serve.set_defaults(**defaults_from(serve, read_config(config), config))
    return parser.parse_args(argv)


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found = action.choices[name]
            assert isinstance(found, argparse.ArgumentParser)
            return found
    raise AssertionError(f"no subcommand {name}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grid-console", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="where SQLite lives (default %(default)s)",
    )
    common.add_argument(
        "--db",
        default="",
        help="database URL, e.g. postgresql+psycopg://USER:PW@HOST/DB (default: SQLite)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", parents=[common], help="bring the database to the newest schema")
    admin_cli.add_parsers(sub, common)
    serve = sub.add_parser("serve", parents=[common], help="ingest alerts and serve the API")
    serve.add_argument("--config", type=Path, help="read these options from a TOML or YAML file")
    serve.add_argument(
        "--broker", default="mqtt://127.0.0.1:1883", help="mqtt://HOST:PORT or mqtts://HOST:PORT"
    )
    serve.add_argument("--broker-username", help="the console's user name at the broker")
    serve.add_argument(
        "--broker-password-file",
        type=Path,
        help=f"a file holding the broker password (or the environment's {ENV_BROKER_PASSWORD})",
    )
    serve.add_argument(
        "--broker-ca-file", type=Path, help="the CA that signed the broker's certificate (mqtts)"
    )
    serve.add_argument(
        "--broker-cert-file", type=Path, help="the console's client certificate (PEM, mqtts)"
    )
    serve.add_argument(
        "--broker-key-file", type=Path, help="the client certificate's private key (PEM, mqtts)"
    )
    serve.add_argument("--topic-root", default="grid", help="nodes publish under ROOT/SITE/NODE")
    serve.add_argument("--host", default="127.0.0.1", help="HTTP bind address")
    serve.add_argument("--port", type=_port, default=8090, help="HTTP port")
    serve.add_argument(
        "--command-key-file",
        action="append",
        default=[],
        metavar="[SITE/NODE=]FILE",
        help="the key that signs commands to a node (repeatable; FILE alone: every node)",
    )
    serve.add_argument(
        "--node-token-file",
        action="append",
        default=[],
        metavar="[SITE/NODE=]FILE",
        help="a node's API token, sent when fetching its clips (repeatable; FILE alone: any node)",
    )
    serve.add_argument(
        "--clip-max-mib", type=_positive, default=32, help="largest clip fetched from a node"
    )
    serve.add_argument(
        "--clip-timeout-s", type=_positive, default=20, help="deadline of one clip download"
    )
    serve.add_argument(
        "--clip-prefetch-s",
        type=_not_negative,
        default=10,
        help="how often to fetch new cases' clips ahead of time (0: only when a case is opened)",
    )
    serve.add_argument(
        "--metrics-token-file",
        type=Path,
        help="the bearer token a Prometheus server sends for /metrics (read on each scrape)",
    )
    serve.add_argument(
        "--client-id", default=DEFAULT_CLIENT_ID, help="MQTT client id; one per replica"
    )
    serve.add_argument("--share-group", help="replicas with one group split the messages")
    serve.add_argument("--session-expiry-s", type=int, default=7 * 24 * 3600)
    serve.add_argument("--schemas-dir", type=Path, default=default_schemas_dir())
    notify_setup.add_arguments(serve)
    serve.add_argument(
        "--join-window-s",
        type=_positive,
        default=600.0,
        help="a re-raised alert of the same zone or sensor joins the open case within this",
    )
    serve.add_argument(
        "--escalate-s",
        type=_positive,
        default=300.0,
        help="from telling the grid head of an overdue case (督办) to telling the grid leader",
    )
    serve.add_argument(
        "--dispatch",
        action="append",
        default=[],
        metavar="KIND=MODE",
        type=_rule,
        help="auto-dispatch for a kind: on_duty, all_on_duty or manual (repeatable)",
    )
    serve.add_argument(
        "--dispatch-severity",
        action="append",
        default=[],
        metavar="SEVERITY=MODE",
        type=_rule,
        help="auto-dispatch for a severity, when the kind has no rule (repeatable)",
    )
    serve.add_argument(
        "--dispatch-default",
        choices=[m.value for m in DispatchMode],
        default=DispatchMode.ON_DUTY.value,
        help="auto-dispatch when neither kind nor severity has a rule",
    )
    serve.add_argument("--timezone", default="Asia/Shanghai", help="the rosters' time zone")
    serve.add_argument(
        "--insecure-cookies",
        action="store_true",
        help="send session cookies over plain HTTP too (only behind no TLS, for trials)",
    )
    serve.add_argument(
        "--auto-register",
        default=",".join(sorted(DEFAULT_AUTO_REGISTER)),
        help="kinds registered without an operator (comma-separated; empty for none)",
    )
    serve.add_argument(
        "--response-s",
        action="append",
        default=[],
        metavar="[KIND=]SECONDS",
        help="response deadline, default or per kind (repeatable)",
    )
    serve.add_argument(
        "--handle-s",
        action="append",
        default=[],
        metavar="[KIND=]SECONDS",
        help="handling deadline, default or per kind (repeatable)",
    )
    return parser


def _migrate(args: argparse.Namespace) -> int:
    settings = Settings(
        data_dir=args.data_dir, broker=parse_broker_url("mqtt://localhost"), db_url=args.db
    )
    engine = make_engine(settings.database_url())
    try:
        revision = upgrade(engine)
    finally:
        engine.dispose()
    print(f"database at revision {revision}")
    return 0


def _directory(args: argparse.Namespace) -> int:
    settings = Settings(
        data_dir=args.data_dir, broker=parse_broker_url("mqtt://localhost"), db_url=args.db
    )
    engine = make_engine(settings.database_url())
    try:
        upgrade(engine)
        return admin_cli.run(args, engine, system_clock, sys.stdin, print)
    finally:
        engine.dispose()


def _serve(args: argparse.Namespace) -> int:
    # Only the server needs these; `migrate` starts faster without them.
    import uvicorn  # noqa: PLC0415

    from grid_console.app import Console  # noqa: PLC0415

    settings = Settings(
        data_dir=args.data_dir,
        broker=_broker(args),
        db_url=args.db,
        topic_root=args.topic_root,
        host=args.host,
        port=args.port,
        command_key_files=parse_per_node_files(args.command_key_file, "command-key-file"),
        client_id=args.client_id,
        share_group=args.share_group,
        session_expiry_s=args.session_expiry_s,
        schemas_dir=args.schemas_dir,
        policy=_policy(args),
        notify=notify_setup.from_arguments(args),
        admin_password=os.environ.get(ENV_ADMIN_PASSWORD) or None,
        cookie_secure=not args.insecure_cookies,
        metrics_token_file=args.metrics_token_file,
        clips=_clips(args),
    )
    console = Console(settings)
    console.start()
    try:
        server = uvicorn.Server(
            uvicorn.Config(console.app, host=settings.host, port=settings.port, log_level="warning")
        )
        logger.info("grid console on http://%s:%d", settings.host, settings.port)
        # uvicorn stops on SIGINT/SIGTERM and then re-raises the signal to the handler that
        # was there before it; with the default one the process would die before the console
        # below disconnects cleanly. This one lets `run` return instead.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _stop_requested)
        server.run()
    finally:
        console.stop()
    return 0


def _broker(args: argparse.Namespace) -> BrokerAddress:
    login = BrokerLogin(
        username=args.broker_username,
        password_file=args.broker_password_file,
        ca_file=args.broker_ca_file,
        cert_file=args.broker_cert_file,
        key_file=args.broker_key_file,
    )
    return broker_address(args.broker, login, os.environ)  # a ValueError names the option


def _clips(args: argparse.Namespace) -> ClipSettings:
    tokens = parse_node_tokens(args.node_token_file)  # a ValueError names the option
    limits = FetchLimits(int(args.clip_max_mib * 1024 * 1024), float(args.clip_timeout_s))
    return ClipSettings(limits=limits, tokens=tokens, prefetch_s=float(args.clip_prefetch_s))


def _stop_requested(signum: int, frame: object) -> None:
    logger.info("stopping on signal %d", signum)


def _policy(args: argparse.Namespace) -> CasePolicy:
    kinds = frozenset(k.strip() for k in args.auto_register.split(",") if k.strip())
    base = CasePolicy()
    response_s, response_by_kind = _deadlines(
        args.response_s, base.response_s, base.response_by_kind
    )
    handle_s, handle_by_kind = _deadlines(args.handle_s, base.handle_s, base.handle_by_kind)
    try:
        ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone {args.timezone!r} is not a known time zone") from None
    base_dispatch = DispatchPolicy()
    dispatch = DispatchPolicy(
        default=DispatchMode(args.dispatch_default),
        by_kind={**base_dispatch.by_kind, **parse_rules(args.dispatch, "dispatch")},
        by_severity={
            **base_dispatch.by_severity,
            **parse_rules(args.dispatch_severity, "dispatch-severity"),
        },
        timezone=args.timezone,
    )
    return CasePolicy(
        join_window_s=args.join_window_s,
        escalate_s=args.escalate_s,
        dispatch=dispatch,
        auto_register=kinds,
        response_s=response_s,
        response_by_kind=response_by_kind,
        handle_s=handle_s,
        handle_by_kind=handle_by_kind,
    )


def _rule(text: str) -> str:
    parse_rules([text], "rule")  # refuses a bad one here, where the option is named
    return text


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise ValueError(f"port {value} is not in 1-65535")
    return value


def _not_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError(f"{text} is not a number of seconds >= 0")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"{text} is not a positive number of seconds")
    return value


def _deadlines(
    values: list[str], default: float, by_kind: object
) -> tuple[float, dict[str, float]]:
    kinds = dict(by_kind) if isinstance(by_kind, dict) else {}
    for value in values:
        kind, _, seconds = value.rpartition("=")
        try:
            number = float(seconds)
        except ValueError:
            raise ValueError(f"deadline {value!r}: expected [KIND=]SECONDS") from None
        if number <= 0:
            raise ValueError(f"deadline {value!r} must be positive")
        if kind:
            kinds[kind] = number
        else:
            default = number
    return default, kinds

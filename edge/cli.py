"""Command line: `edge check-config | run | replay | demo | models`.

This is the program's edge: it parses arguments, reads the GRID_* environment variables and
decides exit codes (config secrets may name other variables: edge/config/secrets.py).
Logs go to stderr (or a rotated --log-file; edge/logsetup.py); replay's alerts go to stdout.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from edge import __version__, logsetup
from edge.api.connections import raise_open_files_limit
from edge.app import Node
from edge.clock import SystemClock
from edge.config.check import check_config
from edge.config.loader import ConfigError, ConfigIssue, SiteConfig, load_config
from edge.demo import run_demo
from edge.detect.onnx_yolo import ModelError, inspect_model
from edge.replay import replay
from edge.verify.cli import register as register_verifier_commands
from edge.video.source import VideoSourceError
from grid_contract.signing import generate_key

EXIT_OK, EXIT_ERROR, EXIT_INVALID = 0, 1, 2
MODELS_ENV = "GRID_MODELS_DIR"
DATA_ENV = "GRID_DATA_DIR"

log = logging.getLogger("edge")


def _models_dir(args: argparse.Namespace) -> Path | None:
    value = args.models_dir or os.environ.get(MODELS_ENV)
    return Path(value).expanduser().resolve() if value else None


def _load(args: argparse.Namespace) -> SiteConfig:
    return load_config(Path(args.config), models_dir=_models_dir(args))


def _print_issues(issues: Sequence[ConfigIssue]) -> None:
    for issue in issues:
        print(issue, file=sys.stderr)


def _check(args: argparse.Namespace, *, load_model: bool = True) -> SiteConfig:
    """The one check `edge run`, the API and `reload` use too (edge/config/check.py)."""
    return check_config(Path(args.config), models_dir=_models_dir(args), load_model=load_model)


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        site = _check(args, load_model=not args.skip_model)
    except ConfigError as exc:
        _print_issues(exc.issues)
        print(f"{len(exc.issues)} problem(s) in {args.config}", file=sys.stderr)
        return EXIT_INVALID
    s = site.settings
    zones = sum(len(c.zones) for c in s.cameras)
    print(f"{args.config}: OK ({len(s.cameras)} cameras, {zones} zones, site {s.site.id})")
    if s.commands.key is None:
        print(
            f"{site.path.name} commands: "
            + (
                "allow_unsigned is on: anyone who can publish on the broker can command this "
                "node (a lab only)"
                if s.commands.allow_unsigned
                else "no key: the node will refuse every platform command "
                "(set commands.key; `edge keygen` makes one)"
            ),
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    try:
        site = _load(args)
        site.settings.camera(args.camera)
    except ConfigError as exc:
        _print_issues(exc.issues)
        return EXIT_INVALID
    except KeyError as exc:
        print(f"--camera: {exc.args[0]}", file=sys.stderr)
        return EXIT_INVALID
    try:
        result = replay(
            site,
            args.camera,
            Path(args.source),
            sys.stdout,
            still_seconds=args.still_seconds,
            snapshots_dir=Path(args.snapshots) if args.snapshots else None,
            release_each=args.release_each,
        )
    except VideoSourceError as exc:
        print(f"--source: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except ModelError as exc:
        print(f"{site.path.name} models: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(
        f"replayed {result.video_s:.1f} s of video in {result.wall_s:.1f} s "
        f"({result.speed:.1f}x): {result.frames} frames, {result.events} alert events, "
        f"{result.open_at_end} open at the end",
        file=sys.stderr,
    )
    return EXIT_OK


def _wait_for_signal() -> tuple[threading.Event, threading.Event]:
    """(stop, reload): SIGINT/SIGTERM stop the node; SIGHUP re-reads the config file, the way
    `systemctl reload` and `kill -HUP` expect a daemon to (an API token added to a node that
    had none takes effect this way: the API itself refuses writes until then)."""
    stop, reload = threading.Event(), threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: reload.set())
    return stop, reload


def cmd_run(args: argparse.Namespace) -> int:
    try:
        site = _check(args)
    except ConfigError as exc:
        _print_issues(exc.issues)
        return EXIT_INVALID
    soft, hard = raise_open_files_limit()  # the HTTP side is bounded to a third of it
    log.info("open files limit %d (hard limit %d)", soft, hard)
    stop, reload = _wait_for_signal()
    try:
        node = Node(site, SystemClock())
    except Exception as exc:  # the check caught the known causes; anything left, in words
        log.debug("node construction failed", exc_info=True)
        print(f"{site.path.name}: cannot start: {exc}", file=sys.stderr)
        return EXIT_INVALID
    node.start()
    try:
        # Wake regularly: a signal handled while another thread holds the GIL only sets the
        # event, and a main thread asleep in an untimed wait would not see it promptly.
        deadline = args.duration
        waited = 0.0
        while not stop.wait(1.0):
            waited += 1.0
            if deadline and waited >= deadline:
                break
            if reload.is_set():
                reload.clear()  # signals arriving during the reload are answered by this one
                outcome = node.reload()
                (log.info if outcome.ok else log.error)("SIGHUP: %s", outcome.message)
    finally:
        node.stop()
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    data = args.data_dir or os.environ.get(DATA_ENV)
    if not data:
        print(f"--data-dir: give the footage directory or set {DATA_ENV}", file=sys.stderr)
        return EXIT_INVALID
    raise_open_files_limit()  # the demo runs a whole node, its HTTP API included
    return run_demo(
        Path(data).expanduser().resolve(),
        models_dir=_models_dir(args),
        broker_url=args.broker,
        duration_s=args.duration,
        workdir=Path(args.workdir).resolve(),
        console=not args.no_console,
    )


def cmd_models_info(args: argparse.Namespace) -> int:
    try:
        names, (h, w) = inspect_model(Path(args.file))
    except (ModelError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    print(f"{args.file}: input {w}x{h}, {len(names)} classes")
    print(", ".join(names))
    return EXIT_OK


def cmd_keygen(args: argparse.Namespace) -> int:
    # The node's commands.key and the platform's copy of it; print only, never stored here.
    print(generate_key())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge", description="Grid Sentinel edge node")
    p.add_argument("--version", action="version", version=f"grid-sentinel {__version__}")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    p.add_argument("--log-file", help="write the log to this file, rotated, instead of stderr")
    p.add_argument("--log-max-mib", type=float, default=10.0,
                   help="rotate the log file at this size (default 10 MiB)")  # fmt: skip
    p.add_argument("--log-backups", type=int, default=3,
                   help="rotated log files kept (default 3): at most (3 + 1) x 10 MiB")  # fmt: skip
    sub = p.add_subparsers(dest="command", required=True)
    models_help = f"directory of the ONNX models (overrides models.dir; env {MODELS_ENV})"

    c = sub.add_parser("check-config", help="validate a site config; exit 0 valid, 2 not")
    c.add_argument("config")
    c.add_argument("--models-dir", help=models_help)
    c.add_argument("--skip-model", action="store_true", help="do not open the model file")
    c.set_defaults(func=cmd_check_config)

    r = sub.add_parser("run", help="run the node: cameras, rules, alerts to the broker")
    r.add_argument("--config", required=True)
    r.add_argument("--models-dir", help=models_help)
    r.add_argument("--duration", type=float, help="stop after this many seconds")
    r.set_defaults(func=cmd_run)

    rp = sub.add_parser("replay", help="replay a clip or image through the pipeline")
    rp.add_argument("--config", required=True)
    rp.add_argument("--camera", required=True, help="camera id whose zones and rules apply")
    rp.add_argument("--source", required=True, help="video file, or one image")
    rp.add_argument("--still-seconds", type=float, default=5.0, help="an image lasts this long")
    rp.add_argument("--snapshots", help="where evidence JPEGs go (default <storage>/replay-...)")
    rp.add_argument("--models-dir", help=models_help)
    rp.add_argument(
        "--release-each",
        action="store_true",
        help="answer every alert 'false alarm' as soon as it is raised, to check on this "
        "footage that a released object stays released (zones' release_hold_s)",
    )
    rp.set_defaults(func=cmd_replay)

    d = sub.add_parser("demo", help="run a ready config on sample footage, embedded broker")
    d.add_argument("--data-dir", help=f"footage directory (env {DATA_ENV})")
    d.add_argument("--models-dir", help=models_help)
    d.add_argument("--broker", help="use this broker URL instead of an embedded one")
    d.add_argument("--duration", type=float, default=60.0, help="seconds to run (default 60)")
    d.add_argument("--workdir", default="var/demo", help="where the demo keeps its state")
    d.add_argument(
        "--no-console",
        action="store_true",
        help="do not start the grid console beside the node (it starts when its dependencies "
        "and mosquitto are installed)",
    )
    d.set_defaults(func=cmd_demo)

    k = sub.add_parser("keygen", help="print a fresh command key (commands.key)")
    k.set_defaults(func=cmd_keygen)

    m = sub.add_parser("models", help="inspect models; train and evaluate the lift verifier")
    msub = m.add_subparsers(dest="models_command", required=True)
    mi = msub.add_parser("info", help="input size and class names of an ONNX model")
    mi.add_argument("file")
    mi.set_defaults(func=cmd_models_info)
    register_verifier_commands(msub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.log_file and (args.log_max_mib <= 0 or args.log_backups < 1):
        parser.error("--log-max-mib must be above 0 and --log-backups at least 1")
    try:
        logsetup.configure(
            args.log_level,
            log_file=Path(args.log_file) if args.log_file else None,
            max_bytes=max(1, int(args.log_max_mib * 2**20)),
            backups=args.log_backups,
        )
    except OSError as exc:
        print(f"--log-file: {exc}", file=sys.stderr)
        return EXIT_INVALID
    # pymodbus logs an ERROR for every refused connection; the poller reports outages itself.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())

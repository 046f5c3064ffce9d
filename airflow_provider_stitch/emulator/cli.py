"""``stitch-emulator``: run the emulator in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn

DEFAULT_WAREHOUSE = "stitch_emulator.duckdb"


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"must be an integer between 0 and 65535, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="stitch-emulator", description="Local Stitch Connect API emulator.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    parser.add_argument("--port", type=_port, default=8765, help="port; 0 picks a free one (default 8765)")
    parser.add_argument("--seed", type=Path, help="seed JSON file (default: the packaged demo seed)")
    parser.add_argument("--speed", type=_positive_float, default=1.0, help="divide job phase durations by X")
    parser.add_argument(
        "--warehouse", type=Path, default=Path(DEFAULT_WAREHOUSE), help="DuckDB file for loads"
    )
    parser.add_argument(
        "--enforce-rate-limit",
        action="store_true",
        help="answer 429 to the 31st jobs call in 10 minutes (emulator-only behaviour)",
    )
    parser.add_argument(
        "--list-running-extractions",
        action="store_true",
        help="list running jobs in GET extractions, with null statuses",
    )
    parser.add_argument(
        "--strict-stop",
        action="store_true",
        help="DELETE .../sync with no running job answers 400 instead of 200",
    )
    parser.add_argument(
        "--run-schedules",
        action="store_true",
        help="start jobs as each source's own frequency schedule would (every frequency / speed)",
    )
    parser.add_argument(
        "--clock-skew",
        type=_finite_float,
        default=0.0,
        metavar="SECONDS",
        help="add SECONDS to every timestamp the API returns (negative: behind the host clock)",
    )
    parser.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from airflow_provider_stitch.emulator.seed import SeedError
    from airflow_provider_stitch.emulator.server import EmulatorServer

    try:
        server = EmulatorServer(
            seed=args.seed,
            speed=args.speed,
            warehouse_path=args.warehouse.resolve(),
            enforce_rate_limit=args.enforce_rate_limit,
            list_running_extractions=args.list_running_extractions,
            port=args.port,
            host=args.host,
            strict_stop=args.strict_stop,
            run_schedules=args.run_schedules,
            clock_skew=args.clock_skew,
            log_level=args.log_level,
        )
        server.start()
    except SeedError as exc:
        sys.stderr.write(f"stitch-emulator: error: {exc}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(
            f"stitch-emulator: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}\n"
        )
        return 2

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    print(f"Stitch Connect emulator listening on {server.base_url}")
    print(f"  account {server.client_id}, token {server.token}; partner {server.partner_id}")
    print(f"  warehouse (DuckDB): {server.warehouse_path}")
    print(f"  admin API: {server.base_url}/_emulator/health")
    print(f"AIRFLOW_CONN_STITCH_DEFAULT='{server.connection_uri}'", flush=True)
    while not stop.wait(0.5):
        pass
    server.stop()
    print("Stitch Connect emulator stopped", flush=True)
    return 0

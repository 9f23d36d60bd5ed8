"""The ``microslip`` command line: one subcommand per module under ``edge/commands``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from edge import __version__
from edge.errors import MicroslipError

# Subcommand modules, in help order. Each exposes register(subparsers); a module that is
# not written yet is simply skipped so that partial checkouts still run.
COMMANDS: tuple[str, ...] = (
    "run",
    "replay",
    "record",
    "tail",
    "check",
    "demo",
    "models",
    "eval",
    "practice",
)

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="microslip",
        description="Spot micro-expressions (emotion slips) and publish them over MQTT.",
    )
    parser.add_argument("--version", action="version", version=f"microslip {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"edge.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, dispatch, turn user-facing errors into one line and an exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # a command may log more by default (`run`: what journalctl -f should show); -v adds to it
    base = int(getattr(args, "log_level", logging.WARNING))
    level = max(logging.DEBUG, base - 10 * min(int(args.verbose), 2))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except MicroslipError as exc:
        print(f"microslip: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

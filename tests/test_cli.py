"""The CLI entry point: help, version, and that errors become exit codes, not tracebacks."""

from __future__ import annotations

import subprocess
import sys

from edge import __version__
from edge.cli import build_parser, main


def test_version_flag_prints_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "edge", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"microslip {__version__}"


def test_no_command_prints_help_and_exits_2(capsys: object) -> None:
    assert main([]) == 2


def test_parser_builds() -> None:
    assert build_parser().prog == "microslip"

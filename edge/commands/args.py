"""Argument types shared by the subcommands: argparse prints their message and exits 2."""

from __future__ import annotations

import argparse
import math


def positive_number(text: str) -> float:
    """A finite number > 0 (``--fps``, ``--timeout``): -1, 0, inf and nan are refused."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value

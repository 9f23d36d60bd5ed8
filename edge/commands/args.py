"""Checks of argument values shared by the subcommands: one UsageError line (exit 2)."""

from __future__ import annotations

import math

from edge.errors import UsageError


def require_positive(flag: str, value: float | None) -> None:
    """A finite number > 0 (``--fps``, ``--timeout``), or None (not given); -1, 0, nan fail."""
    if value is not None and not 0 < value < math.inf:  # `not 0 < x` also catches nan
        raise UsageError(f"{flag} must be a positive number, got {value}")

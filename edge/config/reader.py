"""Reading typed keys out of one TOML table; every problem names its key."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from edge.errors import ConfigError

T = TypeVar("T")


class _Section:
    """Reads typed keys out of one TOML table and rejects whatever is left unread."""

    def __init__(self, name: str, raw: Any) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{name}: expected a table [{name}], got {type(raw).__name__}")
        self.name = name
        self.raw: dict[str, Any] = dict(raw)

    def key(self, k: str) -> str:
        return f"{self.name}.{k}"

    def get(
        self, k: str, kind: type[T], default: T, check: Callable[[T], str | None] | None = None
    ) -> T:
        if k not in self.raw:
            return default
        value = self.raw.pop(k)
        # TOML has distinct int and float; accept an int where a float is wanted, never a bool.
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ConfigError(
                f"{self.key(k)}: expected {kind.__name__}, got {type(value).__name__} {value!r}"
            )
        if check is not None:
            problem = check(value)
            if problem:
                raise ConfigError(f"{self.key(k)}: {problem}, got {value!r}")
        return value

    def opt_str(self, k: str) -> str | None:
        value = self.get(k, str, "")
        return value or None

    def opt_path(self, k: str, base: Path | None, must_exist: bool) -> Path | None:
        value = self.opt_str(k)
        if value is None:
            return None
        path = Path(value).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        if must_exist and not path.is_file():
            raise ConfigError(f"{self.key(k)}: file not found: {path}")
        return path

    def done(self) -> None:
        if self.raw:
            unknown = sorted(self.raw)[0]
            raise ConfigError(f"{self.key(unknown)}: unknown key")


def _range(lo: float, hi: float) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if lo <= v <= hi else f"must be between {lo:g} and {hi:g}"

    return check


def _one_of(*choices: str) -> Callable[[str], str | None]:
    def check(v: str) -> str | None:
        return None if v in choices else "must be one of " + ", ".join(repr(c) for c in choices)

    return check


def _pattern(rx: re.Pattern[str], what: str) -> Callable[[str], str | None]:
    def check(v: str) -> str | None:
        return None if rx.match(v) else what

    return check

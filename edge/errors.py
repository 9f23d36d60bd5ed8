"""Errors a user can act on; the CLI prints their message (no traceback) and exits with the code."""

from __future__ import annotations


class MicroslipError(Exception):
    """Base for user-facing errors: message is shown as is, exit_code is returned by the CLI."""

    exit_code = 1


class ConfigError(MicroslipError):
    """A configuration value is missing or invalid; the message names the key."""

    exit_code = 2


class ModelError(MicroslipError):
    """A model file is missing, corrupt or fails its sha256 check."""

    exit_code = 3


class SourceError(MicroslipError):
    """A frame source (camera, clip, recording) cannot be opened or read."""

    exit_code = 4


class InputError(MicroslipError):
    """An input argument (array shape, dtype, file content) is invalid."""

    exit_code = 2

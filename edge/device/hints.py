"""What a failed MQTT connection probably means: one line with the likely fix."""

from __future__ import annotations

import ssl
from typing import Any

from edge.config import Config


def refused_hint(reason: Any) -> str:
    """The broker's CONNACK refusal, with what to check."""
    text = str(reason)
    low = text.lower()
    if "not authorized" in low or "bad user name or password" in low:
        what = (
            "check mqtt.username and the password (mqtt.password_file or $MICROSLIP_MQTT_PASSWORD)"
        )
    elif "identifier" in low:
        what = "check mqtt.client_id"
    else:
        what = "see the broker's log"
    return f"broker refused the connection: {text} ({what})"


def connect_error_hint(exc: BaseException, cfg: Config) -> str:
    """A connect() failure as one line, with a hint for a TLS/plain port mismatch."""
    text = f"{type(exc).__name__}: {exc}"
    tls = cfg.mqtt.tls
    wrong_version = isinstance(exc, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(exc)
    reset = isinstance(exc, (ConnectionResetError, ssl.SSLEOFError, BrokenPipeError))
    if tls and (wrong_version or reset):
        return f"{text} (TLS to a plain MQTT port? TLS usually listens on 8883)"
    if not tls and reset:
        return f"{text} (a TLS port? set mqtt.tls_ca for TLS)"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"{text} (check mqtt.tls_ca and that mqtt.host matches the certificate)"
    return text

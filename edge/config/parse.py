"""One TOML file -> a frozen, validated :class:`~edge.config.sections.Config`.

Each table is read by its own function; a key left unread is an error naming it.
Secrets come from a file, the environment or a systemd credential, never the file itself.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge.config.reader import _one_of, _pattern, _range, _Section
from edge.config.sections import (
    CameraConfig,
    Config,
    DeviceConfig,
    EventsConfig,
    MetricsConfig,
    MqttConfig,
    PipelineConfig,
    PracticeConfig,
    StateConfig,
    WebConfig,
)
from edge.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

DEFAULT_PATH = Path("/etc/microslip/config.toml")
PASSWORD_ENV = "MICROSLIP_MQTT_PASSWORD"
# systemd LoadCredential= puts secrets here; a file there named like this is the password.
CREDENTIAL_NAME = "mqtt_password"
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_BIND_RE = re.compile(r"^[A-Za-z0-9.:_-]{1,253}$")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")


def default_device_id() -> str:
    """The host name reduced to the characters allowed in a topic level and HA id."""
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "microslip"
    return host[:64]


def default_state_dir() -> Path:
    """systemd's $STATE_DIRECTORY, else /var/lib/microslip as root, else ~/.local/state."""
    env = os.environ.get("STATE_DIRECTORY")
    if env:
        return Path(env.split(":")[0])
    if os.geteuid() == 0:
        return Path("/var/lib/microslip")
    return Path.home() / ".local" / "state" / "microslip"


def _read_password(mqtt_password_file: Path | None, env: Mapping[str, str]) -> str | None:
    """A secret from password_file, then $MICROSLIP_MQTT_PASSWORD, then a systemd credential."""
    if mqtt_password_file is not None:
        # a FIFO or a device would block (or never end) the read: only a regular file
        if mqtt_password_file.exists() and not mqtt_password_file.is_file():
            raise ConfigError(f"mqtt.password_file: {mqtt_password_file} is not a regular file")
        try:
            return mqtt_password_file.read_text(encoding="utf-8").strip("\r\n")
        except OSError as exc:
            raise ConfigError(
                f"mqtt.password_file: cannot read {mqtt_password_file}: {exc.strerror}"
            ) from exc
        except UnicodeDecodeError as exc:  # never echo the bytes: they are a secret
            raise ConfigError(
                f"mqtt.password_file: {mqtt_password_file} is not UTF-8 text"
            ) from exc
    if env.get(PASSWORD_ENV):
        return env[PASSWORD_ENV]
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        cred = Path(cred_dir) / CREDENTIAL_NAME
        if cred.is_file():
            return cred.read_text(encoding="utf-8").strip("\r\n")
    return None


def _device(top: dict[str, Any]) -> DeviceConfig:
    """The [device] table."""
    dev = _Section("device", top.pop("device", None))
    device_id = dev.get("id", str, "", _pattern(_ID_RE, "must be 1-64 of A-Z a-z 0-9 _ -"))
    device_id = device_id or default_device_id()
    device = DeviceConfig(id=device_id, name=dev.get("name", str, f"microslip {device_id}"))
    dev.done()
    return device


def _camera(top: dict[str, Any], base: Path | None) -> CameraConfig:
    """The [camera] table."""
    cam = _Section("camera", top.pop("camera", None))
    source = cam.get("source", str, "picamera2", lambda v: None if v else "must not be empty")
    if source not in ("picamera2", "synthetic"):
        path = Path(source).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        if not path.exists():
            raise ConfigError(f"camera.source: file not found: {path}")
        if not path.is_file():
            raise ConfigError(f"camera.source: not a file: {path}")
        source = str(path)
    fps_raw = cam.get("fps", float, 0.0, _range(1, 240))
    camera = CameraConfig(
        source=source,
        fps=fps_raw or (None if source not in ("picamera2", "synthetic") else 30.0),
        loop=cam.get("loop", bool, False),
        width=cam.get("width", int, 640, _range(64, 4608)),
        height=cam.get("height", int, 480, _range(64, 3456)),
    )
    cam.done()
    return camera


def _pipeline(top: dict[str, Any]) -> PipelineConfig:
    """The [pipeline] table."""
    pipe = _Section("pipeline", top.pop("pipeline", None))
    pipeline = PipelineConfig(
        mesh=pipe.get("mesh", str, "468", _one_of("468", "478")),
        max_faces=pipe.get("max_faces", int, 4, _range(1, 16)),
        idle_every=pipe.get("idle_every", int, 8, _range(1, 60)),
    )
    pipe.done()
    return pipeline


def _mqtt(
    top: dict[str, Any], base: Path | None, env: Mapping[str, str], device_id: str
) -> MqttConfig:
    """The [mqtt] table."""
    mq = _Section("mqtt", top.pop("mqtt", None))
    if "password" in mq.raw:
        raise ConfigError(
            f"mqtt.password: secrets do not belong in the config file; "
            f"use mqtt.password_file or ${PASSWORD_ENV}"
        )
    host = mq.get("host", str, "localhost", lambda v: None if v.strip() else "must not be empty")
    tls_ca = mq.opt_path("tls_ca", base, must_exist=True)
    tls_cert = mq.opt_path("tls_cert", base, must_exist=True)
    tls_key = mq.opt_path("tls_key", base, must_exist=True)
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError(
            f"mqtt.{'tls_key' if tls_key is None else 'tls_cert'}: "
            "tls_cert and tls_key must be given together"
        )
    tls = tls_ca is not None or tls_cert is not None
    port = mq.get("port", int, 8883 if tls else 1883, _range(1, 65535))
    protocol_raw = mq.raw.get("protocol", "5")
    if isinstance(protocol_raw, (int, float)) and not isinstance(protocol_raw, bool):
        mq.raw["protocol"] = "5" if protocol_raw == 5 else str(protocol_raw)
    protocol = mq.get("protocol", str, "5", _one_of("5", "3.1.1"))
    password_file = mq.opt_path("password_file", base, must_exist=False)
    username = mq.opt_str("username")
    mqtt = MqttConfig(
        host=host,
        port=port,
        prefix=mq.get(
            "prefix",
            str,
            "microslip",
            _pattern(_PREFIX_RE, "must be topic levels of A-Z a-z 0-9 _ - separated by /"),
        ),
        username=username,
        password=_read_password(password_file, env),
        password_file=password_file,
        tls_ca=tls_ca,
        tls_cert=tls_cert,
        tls_key=tls_key,
        protocol=protocol,
        client_id=mq.get(
            "client_id",
            str,
            f"microslip-{device_id}",
            _pattern(_ID_RE, "must be 1-64 of A-Z a-z 0-9 _ -"),
        ),
        keepalive=mq.get("keepalive", int, 30, _range(5, 3600)),
        stats_interval=mq.get("stats_interval", float, 10.0, _range(0.1, 3600)),
        discovery=mq.get("discovery", bool, True),
        discovery_prefix=mq.get(
            "discovery_prefix",
            str,
            "homeassistant",
            _pattern(_PREFIX_RE, "must be topic levels of A-Z a-z 0-9 _ -"),
        ),
    )
    mq.done()
    return mqtt


def _state(top: dict[str, Any], base: Path | None) -> StateConfig:
    """The [state] table."""
    st = _Section("state", top.pop("state", None))
    state_dir = st.opt_path("dir", base, must_exist=False) or default_state_dir()
    state = StateConfig(
        dir=state_dir,
        outbox_max=st.get("outbox_max", int, 100_000, _range(10, 10_000_000)),
        synchronous=st.get("synchronous", str, "normal", _one_of("normal", "full")),
    )
    st.done()
    return state


def _events(top: dict[str, Any]) -> EventsConfig:
    """The [events] table."""
    ev = _Section("events", top.pop("events", None))
    events = EventsConfig(include_motion=ev.get("include_motion", bool, False))
    ev.done()
    return events


def _web(top: dict[str, Any]) -> WebConfig:
    """The [web] table."""
    wb = _Section("web", top.pop("web", None))
    web = WebConfig(
        enabled=wb.get("enabled", bool, False),
        bind=wb.get("bind", str, "127.0.0.1", _pattern(_BIND_RE, "must be an IP address or host")),
        port=wb.get("port", int, 8088, _range(0, 65535)),
        max_clients=wb.get("max_clients", int, 4, _range(1, 64)),
    )
    wb.done()
    return web


def _metrics(top: dict[str, Any]) -> MetricsConfig:
    """The [metrics] table."""
    mt = _Section("metrics", top.pop("metrics", None))
    metrics = MetricsConfig(
        enabled=mt.get("enabled", bool, False),
        bind=mt.get("bind", str, "127.0.0.1", _pattern(_BIND_RE, "must be an IP address or host")),
        port=mt.get("port", int, 9108, _range(0, 65535)),
    )
    mt.done()
    return metrics


def _practice(top: dict[str, Any]) -> PracticeConfig:
    """The [practice] table."""
    pr = _Section("practice", top.pop("practice", None))
    practice = PracticeConfig(
        library_max=pr.get("library_max", int, 500, _range(0, 100_000)),
        library_days=pr.get("library_days", float, 30.0, _range(0.01, 3650)),
    )
    pr.done()
    return practice


def parse_config(
    data: Mapping[str, Any], *, base: Path | None = None, env: Mapping[str, str] | None = None
) -> Config:
    """Validate a parsed TOML document; relative paths resolve against ``base``."""
    env = os.environ if env is None else env
    top = dict(data)
    device = _device(top)
    cfg = Config(
        device=device,
        camera=_camera(top, base),
        pipeline=_pipeline(top),
        mqtt=_mqtt(top, base, env, device.id),
        state=_state(top, base),
        events=_events(top),
        web=_web(top),
        metrics=_metrics(top),
        practice=_practice(top),
    )
    if top:
        unknown = sorted(top)[0]
        raise ConfigError(f"{unknown}: unknown section or key")
    return cfg


def load_config(path: Path | str | None, *, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a TOML file (default /etc/microslip/config.toml)."""
    p = Path(path) if path is not None else DEFAULT_PATH
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{p}: config file not found") from exc
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:  # TOML is UTF-8 by definition
        raise ConfigError(f"{p}: not valid TOML: not UTF-8 text ({exc.reason})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    cfg = parse_config(data, base=p.resolve().parent, env=env)
    return dataclasses.replace(cfg, path=p)

"""The validated settings: one frozen dataclass per TOML table, and the whole Config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """``[device]``: identity used in topics, client id and Home Assistant."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class CameraConfig:
    """``[camera]``: where frames come from and at what rate."""

    source: str  # "picamera2", "synthetic" or a path to a video / .npz recording
    fps: float | None  # None = a file's own rate; the Pi camera defaults to 30
    loop: bool
    width: int
    height: int

    @property
    def is_live(self) -> bool:
        """True for the camera; files and the synthetic source are played at their own rate."""
        return self.source == "picamera2"


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """``[pipeline]``: face-stage options handed to :class:`edge.pipeline.Pipeline`."""

    mesh: str
    max_faces: int
    idle_every: int  # with no face in view for a second, process only every n-th frame


@dataclass(frozen=True, slots=True)
class EventsConfig:
    """``[events]``: optional payload content."""

    include_motion: bool  # add the slip's head-aligned landmark motion (edge/events/motion.py)


@dataclass(frozen=True, slots=True)
class WebConfig:
    """``[web]``: the optional live page (edge/web), off by default, localhost only."""

    enabled: bool = False
    bind: str = "127.0.0.1"
    port: int = 8088  # 0 = any free port (tests)
    max_clients: int = 4


@dataclass(frozen=True, slots=True)
class PracticeConfig:
    """``[practice]``: this device's slips kept for the practice page (edge/practice)."""

    library_max: int = 500  # slips kept (with [events] include_motion); 0 keeps none
    library_days: float = 30.0  # older slips are forgotten


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """``[metrics]``: Prometheus /metrics (edge/device/metrics.py), off by default, loopback."""

    enabled: bool = False
    bind: str = "127.0.0.1"
    port: int = 9108  # 0 = any free port (tests)


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """``[mqtt]``: broker, identity, TLS and topics."""

    host: str
    port: int
    prefix: str
    username: str | None
    password: str | None  # read from password_file / env / systemd credential, never TOML
    password_file: Path | None
    tls_ca: Path | None
    tls_cert: Path | None
    tls_key: Path | None
    protocol: str  # "5" | "3.1.1"
    client_id: str
    keepalive: int
    stats_interval: float
    discovery: bool
    discovery_prefix: str

    @property
    def tls(self) -> bool:
        """True when any TLS setting is given."""
        return self.tls_ca is not None or self.tls_cert is not None


@dataclass(frozen=True, slots=True)
class StateConfig:
    """``[state]``: the durable outbox."""

    dir: Path
    outbox_max: int
    synchronous: str  # "normal" | "full"


@dataclass(frozen=True, slots=True)
class Config:
    """The whole validated configuration."""

    device: DeviceConfig
    camera: CameraConfig
    pipeline: PipelineConfig
    mqtt: MqttConfig
    state: StateConfig
    events: EventsConfig = EventsConfig(include_motion=False)
    web: WebConfig = WebConfig()
    metrics: MetricsConfig = MetricsConfig()
    practice: PracticeConfig = PracticeConfig()
    path: Path | None = None

    @property
    def base_topic(self) -> str:
        """``<prefix>/<device_id>``: every topic of this device lives below it."""
        return f"{self.mqtt.prefix}/{self.device.id}"

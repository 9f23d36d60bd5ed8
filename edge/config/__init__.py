"""Configuration: one TOML file -> frozen, validated settings (``sections``), read table by
table (``parse``) with typed keys that name themselves in every error (``reader``).

Every error raises :class:`edge.errors.ConfigError` whose one-line message names the key
(``mqtt.port: ...``), so the CLI exits 2 with something a user can fix.
"""

from edge.config.parse import (
    DEFAULT_PATH,
    PASSWORD_ENV,
    default_device_id,
    default_state_dir,
    load_config,
    parse_config,
)
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

__all__ = [
    "DEFAULT_PATH",
    "PASSWORD_ENV",
    "CameraConfig",
    "Config",
    "DeviceConfig",
    "EventsConfig",
    "MetricsConfig",
    "MqttConfig",
    "PipelineConfig",
    "PracticeConfig",
    "StateConfig",
    "WebConfig",
    "default_device_id",
    "default_state_dir",
    "load_config",
    "parse_config",
]

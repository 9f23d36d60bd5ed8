"""Config: defaults, secrets, and every kind of malformed config -> exit 2 naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import PASSWORD_ENV, load_config, parse_config
from edge.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_example_config_loads(tmp_path: Path) -> None:
    cfg = load_config(REPO / "config.example.toml", env={})
    assert cfg.camera.source == "picamera2" and cfg.camera.fps == 30
    assert cfg.mqtt.protocol == "5" and cfg.base_topic == f"microslip/{cfg.device.id}"


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"")
    (tmp_path / "ca.pem").write_text("x")
    path = tmp_path / "c.toml"
    path.write_text(
        '[device]\nid = "kitchen"\n[camera]\nsource = "clip.mp4"\nloop = true\n'
        '[mqtt]\ntls_ca = "ca.pem"\nprotocol = "3.1.1"\n[state]\ndir = "state"\n'
    )
    cfg = load_config(path, env={})
    assert cfg.camera.source == str(tmp_path / "clip.mp4") and cfg.camera.fps is None
    assert cfg.camera.loop and not cfg.camera.is_live
    assert cfg.mqtt.tls and cfg.mqtt.port == 8883  # TLS changes the default port
    assert cfg.mqtt.client_id == "microslip-kitchen" and cfg.mqtt.protocol == "3.1.1"
    assert cfg.state.dir == tmp_path / "state" and cfg.path == path


def test_password_from_file_env_or_systemd_credential(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    doc = {"mqtt": {"username": "u", "password_file": str(secret)}}
    assert parse_config(doc, env={PASSWORD_ENV: "other"}).mqtt.password == "s3cret"
    assert parse_config({"mqtt": {"username": "u"}}, env={PASSWORD_ENV: "e"}).mqtt.password == "e"
    (tmp_path / "mqtt_password").write_text("cred")
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert parse_config({}, env=env).mqtt.password == "cred"
    assert parse_config({}, env={}).mqtt.password is None


BAD: list[tuple[str, str]] = [
    ('[device]\nid = "has space"\n', "device.id"),
    ('[device]\nidd = "x"\n', "device.idd: unknown key"),
    ('[camera]\nfps = "fast"\n', "camera.fps"),
    ("[camera]\nfps = 1000\n", "camera.fps"),
    ('[camera]\nsource = "/no/such/clip.mp4"\n', "camera.source"),
    ("[camera]\nloop = 1\n", "camera.loop"),
    ('[mqtt]\nport = "1883"\n', "mqtt.port"),
    ("[mqtt]\nport = 70000\n", "mqtt.port"),
    ('[mqtt]\nprotocol = "4"\n', "mqtt.protocol"),
    ('[mqtt]\npassword = "hunter2"\n', "mqtt.password"),
    ('[mqtt]\ntls_ca = "/no/such/ca.pem"\n', "mqtt.tls_ca"),
    ('[mqtt]\nprefix = "a/#"\n', "mqtt.prefix"),
    ('[mqtt]\nhost = ""\n', "mqtt.host"),
    ('[state]\nsynchronous = "off"\n', "state.synchronous"),
    ("[state]\noutbox_max = 0\n", "state.outbox_max"),
    ('[pipeline]\nmesh = "999"\n', "pipeline.mesh"),
    ("[events]\ninclude_motion = 'yes'\n", "events.include_motion"),
    ("[mqqt]\nhost = 'x'\n", "mqqt: unknown"),
    ('device = "x"\n', "device: expected a table"),
    ("[mqtt\nhost = 1\n", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "key"), BAD, ids=[k for _, k in BAD])
def test_malformed_config_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=key.replace("[", r"\[")) as info:
        load_config(path, env={})
    assert "\n" not in str(info.value)


def test_camera_source_that_is_a_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="camera.source: not a file"):
        parse_config({"camera": {"source": str(tmp_path)}}, env={})


def test_config_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[device]\nname = "Küche"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="latin1.toml: not valid TOML: not UTF-8"):
        load_config(path, env={})


def test_tls_cert_without_key_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("x")
    with pytest.raises(ConfigError, match="mqtt.tls_key"):
        parse_config({"mqtt": {"tls_cert": str(tmp_path / "c.pem")}}, env={})


def test_unreadable_password_file_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mqtt.password_file"):
        parse_config({"mqtt": {"password_file": str(tmp_path / "missing")}}, env={})
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfesecret")
    with pytest.raises(ConfigError, match="mqtt.password_file: .*binary is not UTF-8"):
        parse_config({"mqtt": {"password_file": str(binary)}}, env={})


@pytest.mark.parametrize("command", ["run", "check"])
def test_cli_exits_2_with_one_line_naming_the_key(tmp_path: Path, command: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[mqtt]\nport = 0\n")
    out = subprocess.run(
        [sys.executable, "-m", "edge", command, "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "mqtt.port" in lines[0], out.stderr


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "edge", "run", "--config", str(tmp_path / "nope.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "config file not found" in out.stderr

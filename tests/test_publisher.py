"""Publisher against a real mosquitto: discovery, 3.1.1, bad password and TLS mismatch."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.config import Config, parse_config
from edge.device.outbox import Outbox
from edge.device.publisher import Publisher, make_client
from edge.errors import ConfigError
from edge.events import EMOTIONS, event_to_json
from tests.broker import Mosquitto, Subscriber, find_mosquitto, free_port, make_event

pytestmark = pytest.mark.broker


def cfg_for(tmp_path: Path, port: int, **mqtt: object) -> Config:
    doc = {"device": {"id": "testdev"}, "mqtt": {"host": "127.0.0.1", "port": port, **mqtt},
           "state": {"dir": str(tmp_path)}}  # fmt: skip
    return parse_config(doc, env={})


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    # Polls counters that paho's network thread bumps; there is no event to wait on.
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(tmp_path / "outbox.db") as box:
        yield box


def _queue(box: Outbox, n: int) -> list[str]:
    ids = []
    for i in range(n):
        ev = make_event(i)
        box.put(ev.id, "microslip/testdev/events", event_to_json(ev).encode())
        ids.append(ev.id)
    return ids


def test_discovery_document_and_resend_on_ha_birth(
    mosquitto: Mosquitto, tmp_path: Path, outbox: Outbox
) -> None:
    topic = "homeassistant/device/testdev/config"
    sub = Subscriber(mosquitto.port, [topic])
    pub = Publisher(cfg_for(tmp_path, mosquitto.port), outbox, with_temperature=True)
    pub.start()
    try:
        assert sub.wait_for(lambda m: len(m.get(topic, [])) == 1)
        doc = json.loads(sub.payloads(topic)[0])
        assert doc["dev"]["ids"] == ["microslip_testdev"] and doc["o"]["name"] == "microslip"
        assert doc["availability_topic"] == "microslip/testdev/status"
        cmps = doc["cmps"]
        assert cmps["slip"]["p"] == "event" and cmps["slip"]["event_types"] == list(EMOTIONS)
        assert cmps["slip"]["state_topic"] == "microslip/testdev/events"
        assert {c["p"] for c in cmps.values()} == {"event", "sensor", "binary_sensor"}
        assert {"fps", "slips_last_hour", "face", "cpu_temperature"} <= set(cmps)
        assert len({c["unique_id"] for c in cmps.values()}) == len(cmps)
        # Home Assistant restarts and announces itself: the device answers with discovery.
        sub.client.publish("homeassistant/status", "online", qos=1).wait_for_publish(5)
        assert sub.wait_for(lambda m: len(m.get(topic, [])) == 2)
    finally:
        pub.stop()
        sub.close()


def test_flush_without_a_broker_says_events_are_kept(
    tmp_path: Path, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    _queue(outbox, 3)
    pub = Publisher(cfg_for(tmp_path, free_port()), outbox, backoff=(0.05, 0.1))
    pub.start()
    try:
        assert not pub.flush(0.1)
    finally:
        pub.stop()
    assert outbox.depth == 3
    assert "broker not connected: 3 events kept in the outbox" in caplog.text


def test_silent_server_is_logged_as_no_connack_and_events_stay(
    tmp_path: Path, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    # Something accepts TCP on the port but never speaks MQTT (a wrong port, a TLS port).
    with socket.create_server(("127.0.0.1", 0)) as server:
        _queue(outbox, 2)
        cfg = cfg_for(tmp_path, server.getsockname()[1], keepalive=5)
        pub = Publisher(cfg, outbox, backoff=(0.05, 0.1))
        pub.start()
        try:
            assert wait_until(lambda: pub.connect_failures >= 1, timeout=20)
        finally:
            pub.stop()
    assert "no CONNACK within 5 s" in pub.last_error
    assert "no CONNACK within 5 s" in caplog.text
    assert outbox.depth == 2


def test_mqtt_311_publishes_and_deletes_on_puback(
    mosquitto: Mosquitto, tmp_path: Path, outbox: Outbox
) -> None:
    ids = _queue(outbox, 30)
    sub = Subscriber(mosquitto.port, ["microslip/testdev/events"])
    pub = Publisher(cfg_for(tmp_path, mosquitto.port, protocol="3.1.1"), outbox)
    pub.start()
    try:
        assert sub.wait_for(lambda m: len(m.get("microslip/testdev/events", [])) >= 30)
        got = [json.loads(p)["id"] for p in sub.payloads("microslip/testdev/events")]
        assert got == ids  # oldest first
        assert pub.wait_drained(10) and outbox.depth == 0 and pub.acked == 30
    finally:
        pub.stop()
        sub.close()


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    if find_mosquitto() is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto / mosquitto_passwd not installed")
    pwfile = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pwfile), "dev", "right"], check=True)
    pwfile.chmod(0o600)
    broker = Mosquitto(tmp_path, extra=f"allow_anonymous false\npassword_file {pwfile}\n")
    broker.start()
    yield broker
    broker.stop()


def test_wrong_password_logs_clear_error_and_retries(
    password_broker: Mosquitto, tmp_path: Path, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="edge.device.publisher")
    _queue(outbox, 3)
    (tmp_path / "pw").write_text("wrong\n")
    cfg = cfg_for(
        tmp_path, password_broker.port, username="dev", password_file=str(tmp_path / "pw")
    )
    pub = Publisher(cfg, outbox, backoff=(0.05, 0.2))
    pub.start()
    try:
        assert wait_until(lambda: pub.connect_failures >= 3)
        assert not pub.connected.is_set() and outbox.depth == 3  # nothing lost
        messages = [r.getMessage() for r in caplog.records]
        assert any("refused" in m and ("authori" in m.lower() or "password" in m) for m in messages)
    finally:
        pub.stop()
    (tmp_path / "pw").write_text("right\n")
    cfg = cfg_for(
        tmp_path, password_broker.port, username="dev", password_file=str(tmp_path / "pw")
    )
    good = Publisher(cfg, outbox)
    good.start()
    try:
        assert good.wait_connected(10) and good.wait_drained(10)
    finally:
        good.stop()


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _make_ca(d: Path, name: str) -> tuple[Path, Path]:
    key, pem = d / f"{name}.key", d / f"{name}.pem"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(pem), "-days", "1",
             "-subj", f"/CN={name}")  # fmt: skip
    return key, pem


def _make_cert(d: Path, name: str, ca: tuple[Path, Path], san: str | None) -> tuple[Path, Path]:
    key, csr, pem = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem"
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}")  # fmt: skip
    ext = d / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[1]), "-CAkey", str(ca[0]),
             "-CAcreateserial", "-out", str(pem), "-days", "1", "-extfile", str(ext))  # fmt: skip
    return key, pem


@pytest.mark.parametrize("keys", [("tls_ca",), ("tls_cert", "tls_key")])
def test_junk_tls_file_is_a_config_error_naming_the_key(tmp_path: Path, keys: tuple[str]) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    cfg = cfg_for(tmp_path, free_port(), **{k: str(junk) for k in keys})
    with pytest.raises(ConfigError, match=f"mqtt.{keys[0]}"):
        make_client(cfg)


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, Path]]:
    """A TLS-only mosquitto that requires client certificates; yields it and the cert dir."""
    if find_mosquitto() is None or shutil.which("openssl") is None:
        pytest.skip("mosquitto / openssl not installed")
    d = tmp_path / "pki"
    d.mkdir()
    ca = _make_ca(d, "ca")
    _make_ca(d, "otherca")
    server = _make_cert(d, "server", ca, "IP:127.0.0.1")
    _make_cert(d, "client", ca, None)
    extra = (f"cafile {ca[1]}\ncertfile {server[1]}\nkeyfile {server[0]}\n"
             "require_certificate true\nallow_anonymous true\n")  # fmt: skip
    broker = Mosquitto(tmp_path, extra=extra)
    broker.start()
    yield broker, d
    broker.stop()


# paho 2.2 does not close the SSL socket of a failed handshake; CPython frees it with the
# exception (no fd leak), but its destructor warns.
@pytest.mark.filterwarnings("ignore:unclosed <ssl.SSLSocket:ResourceWarning")
def test_tls_mismatch_logs_clear_error_and_retries_then_right_ca_connects(
    tls_broker: tuple[Mosquitto, Path],
    tmp_path: Path,
    outbox: Outbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker, d = tls_broker
    caplog.set_level(logging.ERROR, logger="edge.device.publisher")
    _queue(outbox, 2)
    client = {"tls_cert": str(d / "client.pem"), "tls_key": str(d / "client.key")}
    bad = Publisher(
        cfg_for(tmp_path, broker.port, tls_ca=str(d / "otherca.pem"), **client),
        outbox,
        backoff=(0.05, 0.2),
    )
    bad.start()
    try:
        assert wait_until(lambda: bad.connect_failures >= 3)
        assert not bad.connected.is_set() and outbox.depth == 2
        assert any("certificate verify failed" in r.getMessage() for r in caplog.records)
    finally:
        bad.stop()
    good = Publisher(cfg_for(tmp_path, broker.port, tls_ca=str(d / "ca.pem"), **client), outbox)
    good.start()
    try:
        assert good.wait_connected(10) and good.wait_drained(10)
    finally:
        good.stop()

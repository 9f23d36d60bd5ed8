"""MQTT publisher: availability, events from the durable outbox, stats, HA discovery.

Two threads: the *network* thread owns the paho connection (connect with exponential
backoff, then ``loop()`` until the link drops) so that every connection failure is logged
with its real cause (refused, TLS verify, bad password); the *sender* thread moves events
from the outbox into paho, at most ``window`` unacknowledged at a time, and deletes each one
when its PUBACK arrives. paho calls ``on_publish`` while holding its own lock, so that
callback only appends to a deque: the sender thread alone maps mids to event ids.
"""

from __future__ import annotations

import collections
import json
import logging
import random
import ssl
import threading
import time
from typing import Any

from edge.config import Config
from edge.device.discovery import discovery_payload, discovery_topic
from edge.device.hints import connect_error_hint, refused_hint
from edge.device.outbox import Outbox, Pending
from edge.device.stats import Stats
from edge.device.topics import stats_topic, status_topic
from edge.errors import ConfigError

log = logging.getLogger(__name__)

HA_STATUS_TOPIC_SUFFIX = "status"


def make_client(cfg: Config, client_id: str | None = None) -> Any:
    """A paho 2 client with protocol, credentials and TLS from the config (not connected)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    protocol = mqtt.MQTTv5 if cfg.mqtt.protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or cfg.mqtt.client_id,
        protocol=protocol,
    )
    if cfg.mqtt.username:
        client.username_pw_set(cfg.mqtt.username, cfg.mqtt.password)
    if cfg.mqtt.tls:
        _check_tls_files(cfg)
        client.tls_set(
            ca_certs=str(cfg.mqtt.tls_ca) if cfg.mqtt.tls_ca else None,
            certfile=str(cfg.mqtt.tls_cert) if cfg.mqtt.tls_cert else None,
            keyfile=str(cfg.mqtt.tls_key) if cfg.mqtt.tls_key else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
    return client


def _check_tls_files(cfg: Config) -> None:
    """Load each TLS file once so a bad one is a ConfigError naming its key, not an SSLError."""
    ctx = ssl.create_default_context()
    m = cfg.mqtt
    try:
        if m.tls_ca:
            ctx.load_verify_locations(str(m.tls_ca))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"mqtt.tls_ca: {m.tls_ca} is not a usable CA file ({exc})") from exc
    try:
        if m.tls_cert:
            ctx.load_cert_chain(str(m.tls_cert), str(m.tls_key) if m.tls_key else None)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"mqtt.tls_cert/tls_key: {m.tls_cert} and {m.tls_key} are not a usable "
            f"certificate and key ({exc})"
        ) from exc


def _jitter(delay: float) -> float:
    """``delay`` ±20 %: a fleet restarted with its broker does not retry in lockstep."""
    return delay * random.uniform(0.8, 1.2)


class Publisher:
    """Publishes the outbox, status, stats and discovery for one device; survives broker loss."""

    def __init__(
        self,
        cfg: Config,
        outbox: Outbox,
        *,
        window: int = 64,
        backoff: tuple[float, float] = (1.0, 30.0),
        with_temperature: bool = False,
    ) -> None:
        self.cfg = cfg
        self.outbox = outbox
        self.window = window
        self.backoff = backoff
        self.with_temperature = with_temperature
        self.connected = threading.Event()
        self.connects = 0  # successful CONNACKs
        self.connect_failures = 0
        self.last_error = ""
        self.sent = 0
        self.acked = 0
        self.rejected = 0
        self._client: Any = None
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._acks: collections.deque[tuple[int, bool]] = collections.deque()
        self._inflight: dict[int, str] = {}
        self._inflight_ids: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._connack_ok = False
        self._refused = ""  # the broker's refusal of the current attempt, if any

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Create the client and start the network and sender threads; returns at once."""
        client = make_client(self.cfg)
        client.will_set(status_topic(self.cfg.base_topic), "offline", qos=1, retain=True)
        client.max_inflight_messages_set(20)  # mosquitto's default Receive Maximum
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._client = client
        for name, target in (("mqtt-net", self._net_loop), ("mqtt-send", self._send_loop)):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def wake(self) -> None:
        """Tell the sender that the outbox has new messages."""
        self._wake.set()

    def wait_connected(self, timeout: float) -> bool:
        """Block until the broker accepted the connection (or timeout)."""
        return self.connected.wait(timeout)

    def wait_drained(self, timeout: float) -> bool:
        """Block until the outbox is empty and nothing is in flight (or timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outbox.depth == 0 and not self._inflight:
                return True
            self._wake.set()
            time.sleep(0.02)
        return self.outbox.depth == 0 and not self._inflight

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the outbox to drain while connected; False if it did not."""
        if self._client is None or not self.connected.is_set():
            if self.outbox.depth:
                # say so: a file run ending while the broker is down otherwise exits silently
                log.warning("broker not connected: %s", self._left())
            return self.outbox.depth == 0
        if self.wait_drained(timeout):
            return True
        log.warning("after %.1f s: %s", timeout, self._left())
        return False

    def _left(self) -> str:
        memory = self.outbox.in_memory
        text = f"{self.outbox.depth - memory} events kept in the outbox for the next start"
        if memory:
            text += f", {memory} held in memory only (the disk refused them)"
        return text

    def stop(self, flush_timeout: float = 5.0) -> None:
        """Flush what the broker can take, publish retained ``offline``, disconnect cleanly."""
        if self._client is None:
            return
        if self.connected.is_set():
            if flush_timeout > 0:
                self.flush(flush_timeout)
            info = self._client.publish(
                status_topic(self.cfg.base_topic), "offline", qos=1, retain=True
            )
            try:
                info.wait_for_publish(timeout=2.0)
            except RuntimeError as exc:  # not connected any more: the last will covers it
                log.debug("offline not confirmed: %s", exc)
        self._stopping.set()
        self._wake.set()
        self._client.disconnect()
        for t in self._threads:
            t.join(timeout=5.0)
        self._threads.clear()
        self._client = None

    # ------------------------------------------------------------------ publishing
    def publish_stats(self, stats: Stats) -> None:
        """Send one stats document (QoS 0, not retained); skipped while disconnected."""
        if self._client is not None and self.connected.is_set():
            self._client.publish(
                stats_topic(self.cfg.base_topic), json.dumps(stats.to_dict()), qos=0
            )

    def publish_discovery(self) -> None:
        """(Re)send the Home Assistant device-discovery document."""
        if self._client is None or not self.cfg.mqtt.discovery:
            return
        doc = discovery_payload(
            device_id=self.cfg.device.id,
            device_name=self.cfg.device.name,
            base_topic=self.cfg.base_topic,
            with_temperature=self.with_temperature,
        )
        topic = discovery_topic(self.cfg.mqtt.discovery_prefix, self.cfg.device.id)
        self._client.publish(topic, json.dumps(doc), qos=1)

    # ------------------------------------------------------------------ threads
    def _net_loop(self) -> None:
        import paho.mqtt.client as mqtt

        client = self._client
        delay = self.backoff[0]
        first = True
        while not self._stopping.is_set():
            self._refused = ""
            started = time.monotonic()
            try:
                if first:
                    client.connect(self.cfg.mqtt.host, self.cfg.mqtt.port, self.cfg.mqtt.keepalive)
                    first = False
                else:
                    client.reconnect()
            except (OSError, ssl.SSLError, ValueError) as exc:
                wait = _jitter(delay)
                self._connect_failed(connect_error_hint(exc, self.cfg), wait)
                if self._stopping.wait(wait):
                    break
                delay = min(delay * 2, self.backoff[1])
                continue
            rc = mqtt.MQTT_ERR_SUCCESS
            while rc == mqtt.MQTT_ERR_SUCCESS and not self._stopping.is_set():
                rc = client.loop(timeout=0.2)
            self.connected.clear()
            if self._stopping.is_set():
                # Let paho send DISCONNECT and the final bytes.
                for _ in range(10):
                    if client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
                        break
                break
            if self._connack_ok:
                delay = self.backoff[0]  # a link that worked: retry quickly
                wait = _jitter(delay)
                log.warning(
                    "MQTT connection to %s:%d lost (%s); reconnecting in %.2f s",
                    self.cfg.mqtt.host,
                    self.cfg.mqtt.port,
                    mqtt.error_string(rc),
                    wait,
                )
            else:
                # one line per failed attempt, with the delay really waited
                wait = _jitter(delay)
                self._connect_failed(self._no_connack(time.monotonic() - started), wait)
                delay = min(delay * 2, self.backoff[1])
            self._connack_ok = False
            if self._stopping.wait(wait):
                break

    def _no_connack(self, elapsed: float) -> str:
        """Why a TCP connection ended without a CONNACK that accepted us."""
        if self._refused:
            return self._refused
        keepalive = self.cfg.mqtt.keepalive
        if elapsed < keepalive * 0.9:
            hint = "" if self.cfg.mqtt.tls else "; a TLS port? set mqtt.tls_ca for TLS"
            return f"the broker closed the connection before CONNACK{hint}"
        return f"no CONNACK within {keepalive} s (not an MQTT broker, or a TLS port without TLS?)"

    def _connect_failed(self, why: str, delay: float) -> None:
        self.connect_failures += 1
        self.last_error = why
        log.error(
            "cannot connect to MQTT broker %s:%d: %s; retrying in %.2f s",
            self.cfg.mqtt.host,
            self.cfg.mqtt.port,
            why,
            delay,
        )

    def _send_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            self._resolve_acks()
            if not self.connected.is_set():
                continue
            room = self.window - len(self._inflight)
            if room <= 0:
                continue
            batch = self.outbox.pending(room, exclude=self._inflight_ids)
            for msg in batch:
                if not self._send(msg):
                    break
        self._resolve_acks()

    def _send(self, msg: Pending) -> bool:
        import paho.mqtt.client as mqtt

        info = self._client.publish(msg.topic, msg.payload, qos=1)
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            return False  # paho's queue is full; retry on the next wake
        # NO_CONN still queues a QoS 1 message inside paho: it goes out after the reconnect.
        self._inflight[info.mid] = msg.id
        self._inflight_ids.add(msg.id)
        self.sent += 1
        return True

    def _resolve_acks(self) -> None:
        done: list[str] = []
        while self._acks:
            mid, ok = self._acks.popleft()
            event_id = self._inflight.pop(mid, None)
            if event_id is None:
                continue  # a status/discovery message, or an ack we already saw
            self._inflight_ids.discard(event_id)
            if ok:
                self.acked += 1
            else:
                self.rejected += 1
                log.error("broker rejected event %s; dropping it from the outbox", event_id)
            done.append(event_id)
        # One transaction for every PUBACK that arrived since the last pass.
        self.outbox.delete_many(done)
        if self.outbox.depth and self.connected.is_set() and len(self._inflight) < self.window:
            self._wake.set()

    # ------------------------------------------------------------------ paho callbacks
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            # logged once by the network loop when the connection ends, with the real delay
            self._refused = refused_hint(reason)
            return
        self.connects += 1
        self._connack_ok = True
        self.last_error = ""
        log.info("connected to MQTT broker %s:%d", self.cfg.mqtt.host, self.cfg.mqtt.port)
        client.publish(status_topic(self.cfg.base_topic), "online", qos=1, retain=True)
        if self.cfg.mqtt.discovery:
            client.subscribe(f"{self.cfg.mqtt.discovery_prefix}/{HA_STATUS_TOPIC_SUFFIX}", qos=1)
            self.publish_discovery()
        self.connected.set()
        self._wake.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.connected.clear()
        if not self._stopping.is_set():
            log.debug("disconnected: %s", reason)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        # Runs under paho's message lock: only record it, the sender thread does the rest.
        self._acks.append((mid, not reason.is_failure))
        self._wake.set()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        if msg.topic.endswith(f"/{HA_STATUS_TOPIC_SUFFIX}") and msg.payload == b"online":
            log.info("Home Assistant came online: re-sending discovery")
            self.publish_discovery()

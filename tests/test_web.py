"""Live page server: routes, SSE delivery, bounded queues and bad input, on a real socket."""

from __future__ import annotations

import http.client
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.device.web.server import LiveHub, WebServer
from edge.events import validate
from tests.web_support import make_slip, sse_events, wait_for


@pytest.fixture
def server() -> Iterator[WebServer]:
    srv = WebServer(LiveHub(recent=5, client_queue=8, max_clients=2), port=0)
    assert srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _get(srv: WebServer, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    conn.request(method, path)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def test_page_and_assets_are_served_locally(server: WebServer) -> None:
    status, headers, body = _get(server, "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    html = body.decode()
    assert "/static/app.js" in html and "/static/style.css" in html
    assert "http://" not in html and "https://" not in html  # no CDN, works offline
    assert "default-src 'self'" in headers["content-security-policy"]
    for name, ctype in (("app.js", "text/javascript"), ("style.css", "text/css")):
        status, headers, body = _get(server, f"/static/{name}")
        assert status == 200 and headers["content-type"].startswith(ctype) and len(body) > 500
        assert b"https://" not in body


def test_status_lists_recent_slips_bounded(server: WebServer) -> None:
    hub = server.hub
    hub.set_status("online")
    hub.update_stats({"fps": 29.9, "dropped_frames": 2})
    for n in range(12):
        hub.publish_event(make_slip(n, "surprise" if n % 2 else "happiness"))
    status, _, body = _get(server, "/api/status")
    snap = json.loads(body)
    assert status == 200 and snap["status"] == "online" and snap["stats"]["fps"] == 29.9
    assert [s["id"] for s in snap["slips"]] == [make_slip(n).id for n in range(7, 12)]
    assert snap["events_seen"] == 12
    for s in snap["slips"]:
        validate(s)


def test_layout_endpoint_matches_motion_layout(server: WebServer) -> None:
    _, _, body = _get(server, "/api/layout")
    lay = json.loads(body)
    assert lay["layout"] == "microslip-face73-v1" and lay["n_points"] == 73


def test_stream_delivers_hello_then_live_slips_and_stats(server: WebServer) -> None:
    hub = server.hub
    hub.publish_event(make_slip(0))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/api/stream")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
    events = sse_events(resp)
    name, hello = next(events)
    assert name == "hello" and [s["id"] for s in hello["slips"]] == [make_slip(0).id]
    assert wait_for(lambda: hub.clients == 1)
    hub.publish_event(make_slip(1, "fear"))
    hub.update_stats({"fps": 30.0})
    hub.set_status("offline")
    got = [next(events) for _ in range(3)]
    assert got[0][0] == "slip" and got[0][1]["emotion"] == "fear"
    assert got[1] == ("stats", {"fps": 30.0})
    assert got[2] == ("status", "offline")
    resp.close()
    conn.close()


def test_client_disconnect_mid_stream_is_cleaned_up(
    server: WebServer, caplog: pytest.LogCaptureFixture
) -> None:
    hub = server.hub
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /api/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        seen = b""
        while b"event: hello" not in seen:  # headers and body may arrive in separate reads
            chunk = sock.recv(65536)
            assert chunk, "stream closed before hello"
            seen += chunk
        assert wait_for(lambda: hub.clients == 1)
        # Reset (not a graceful close) so the server's next write fails like a vanished page.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with caplog.at_level(logging.INFO, logger="edge.device.web.server"):
        for n in range(50):
            hub.publish_event(make_slip(n))
            if hub.clients == 0:
                break
            wait_for(lambda: False, timeout=0.02)
        assert wait_for(lambda: hub.clients == 0)
    assert "disconnected mid-stream" in caplog.text
    assert _get(server, "/api/status")[0] == 200  # still serving


def test_slow_page_loses_oldest_not_the_producer(server: WebServer) -> None:
    hub = server.hub
    client = hub.subscribe()
    assert client is not None
    for n in range(100):
        hub.publish_event(make_slip(n))  # nobody reads: must not block or grow
    msgs = hub.next_messages(client, 0.1)
    assert msgs is not None and len(msgs) == 8 and client.dropped == 92
    assert msgs[-1][1].id == make_slip(99).id
    hub.unsubscribe(client)


def test_too_many_pages_get_503(server: WebServer) -> None:
    a, b = server.hub.subscribe(), server.hub.subscribe()
    assert a is not None and b is not None
    assert _get(server, "/api/stream")[0] == 503
    server.hub.unsubscribe(a)
    server.hub.unsubscribe(b)


@pytest.mark.parametrize(
    ("path", "method", "code"),
    [
        ("/nope", "GET", 404),
        ("/static/../server.py", "GET", 404),
        ("/static/server.py", "GET", 404),
        ("/api/status", "POST", 405),
        ("/", "HEAD", 200),
    ],
)
def test_bad_paths_and_methods(server: WebServer, path: str, method: str, code: int) -> None:
    assert _get(server, path, method)[0] == code


def test_malformed_request_gets_400_and_server_survives(server: WebServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"\x16\x03\x01 garbage not http\r\n\r\n")
        reply = sock.recv(4096)
    # The request line never parsed, so the stdlib answers HTTP/0.9 style: a bare error body.
    assert b"400" in reply and b"Bad request" in reply
    assert _get(server, "/")[0] == 200


def test_port_in_use_logs_one_clear_error(
    server: WebServer, caplog: pytest.LogCaptureFixture
) -> None:
    other = WebServer(LiveHub(), port=server.port)
    with caplog.at_level(logging.ERROR, logger="edge.device.web.server"):
        assert other.start() is False
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and f":{server.port}" in errors[0].getMessage()
    assert "detection continues" in errors[0].getMessage()
    other.hub.publish_event(make_slip(0))  # the producer side still works without a server


def test_stop_ends_open_streams(server: WebServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/api/stream")
    resp = conn.getresponse()
    events = sse_events(resp)
    assert next(events)[0] == "hello"
    server.stop()
    assert list(events) == []  # the stream ended cleanly
    resp.close()
    conn.close()


def _service(tmp_path: Path, port: int, enabled: bool = True) -> Any:
    from edge.config import parse_config
    from edge.device.outbox import Outbox
    from edge.device.service import Service
    from tests.fake_device import SlipEveryFrame, TickSource

    cfg = parse_config(
        {
            "device": {"id": "webdev"},
            "camera": {"source": "synthetic", "fps": 100},
            "mqtt": {"stats_interval": 0.1},
            "state": {"dir": str(tmp_path / "state")},
            "web": {"enabled": enabled, "port": port},
        },
        env={},
    )
    box = Outbox(tmp_path / "o.db")
    proc = SlipEveryFrame(20, device="webdev")
    return Service(cfg, proc, lambda: TickSource(100, 60), box, None), box, proc


def test_service_feeds_the_page_and_survives_a_busy_port(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from edge.device.wiring import start_web

    svc, box, proc = _service(tmp_path, 0)
    web = start_web(svc.cfg, svc)
    assert web is not None and svc.web is web
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    conn.request("GET", "/api/stream")
    resp = conn.getresponse()
    events = sse_events(resp)
    assert next(events)[0] == "hello"
    assert wait_for(lambda: web.hub.clients == 1)
    # A second service on the same port: one clear error, no page, the loop still runs.
    svc2, box2, proc2 = _service(tmp_path / "two", web.port)
    with caplog.at_level(logging.ERROR, logger="edge.device.web.server"):
        assert start_web(svc2.cfg, svc2) is None
    assert sum(r.levelno == logging.ERROR for r in caplog.records) == 1
    svc2.run()
    assert box2.depth == 20
    svc.run()
    got = []
    for name, data in events:
        if name == "slip":
            got.append(data["id"])
        if len(got) == 20:
            break
    assert got == [e.id for e in proc.emitted]
    web.stop()
    resp.close()
    conn.close()
    box.close()
    box2.close()


def test_web_disabled_starts_nothing(tmp_path: Path) -> None:
    from edge.device.wiring import start_web

    svc, box, _ = _service(tmp_path, 0, enabled=False)
    assert start_web(svc.cfg, svc) is None and svc.web is None
    box.close()

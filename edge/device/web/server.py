"""Live page server: status, stats and slips over server-sent events, never pixels.

The camera loop only ever calls ``LiveHub.publish_event`` / ``update_stats`` /
``set_status``: each is an O(1) append under a short lock and never blocks. With no page
open that is all that happens (no JSON is built). Each connected page has its own bounded
queue; a slow page loses its oldest messages, never the camera loop's time.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Protocol
from urllib.parse import urlsplit

from edge.device.stats import Stats
from edge.events import SlipEvent, event_to_dict
from edge.events.motion import layout

log = logging.getLogger(__name__)

STATIC: Mapping[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
# No third-party origin is ever needed: the page and its scripts come from this server only.
_CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'"
KEEPALIVE_S = 15.0


class PracticeRoutes(Protocol):
    """The practice trainer's routes (``edge.practice.PracticeAPI``), served beside the page."""

    max_body: int

    def handle(
        self, method: str, path: str, query: str, body: bytes | None
    ) -> tuple[int, str, bytes] | None: ...

    def close(self) -> None: ...


class _Client:
    """One connected page: a bounded queue of (event name, payload to serialise)."""

    def __init__(self, maxlen: int) -> None:
        # Payloads are serialised by the page's own handler thread, never by the camera loop.
        self.queue: deque[tuple[str, Any]] = deque(maxlen=maxlen)
        self.dropped = 0


class LiveHub:
    """Fan-out of slips, stats and status to page clients; bounded and non-blocking."""

    def __init__(self, recent: int = 50, client_queue: int = 256, max_clients: int = 8) -> None:
        self._lock = threading.Condition()
        self._recent: deque[SlipEvent] = deque(maxlen=recent)
        self._clients: list[_Client] = []
        self._client_queue = client_queue
        self.max_clients = max_clients
        self._stats: Mapping[str, Any] = {}
        self._status = "starting"
        self._closed = False
        self.events_seen = 0

    # --- producer side (camera loop / service thread) ---
    def publish_event(self, ev: SlipEvent) -> None:
        """Remember a slip and queue it for every open page (drop-oldest when a page lags)."""
        with self._lock:
            self._recent.append(ev)
            self.events_seen += 1
            if self._clients:
                self._push("slip", ev)

    def update_stats(self, stats: Mapping[str, Any]) -> None:
        """Replace the latest stats (the service's periodic stats payload)."""
        with self._lock:
            self._stats = dict(stats)
            if self._clients:
                self._push("stats", self._stats)

    def set_status(self, status: str) -> None:
        """Set the device status shown on the page (online, offline, ...)."""
        with self._lock:
            self._status = status
            if self._clients:
                self._push("status", status)

    def on_event(self, event: SlipEvent) -> None:
        """ServiceListener hook: a slip was stored."""
        self.publish_event(event)

    def on_stats(self, stats: Stats) -> None:
        """ServiceListener hook: a stats tick (JSON from here on)."""
        self.update_stats(stats.to_dict())

    def _push(self, name: str, data: Any) -> None:
        for c in self._clients:
            if len(c.queue) == c.queue.maxlen:
                c.dropped += 1
                if c.dropped == 1:
                    log.info("web: a page is too slow, dropping its oldest messages")
            c.queue.append((name, data))
        self._lock.notify_all()

    # --- consumer side (HTTP handler threads) ---
    def snapshot(self) -> dict[str, Any]:
        """Status, stats and recent slips (oldest first) as JSON-ready data."""
        with self._lock:
            recent = list(self._recent)
            stats, status = dict(self._stats), self._status
        return {
            "status": status,
            "stats": stats,
            "events_seen": self.events_seen,
            "slips": [event_to_dict(ev) for ev in recent],
        }

    def subscribe(self) -> _Client | None:
        """Register a page; None when max_clients pages are already open."""
        with self._lock:
            if self._closed or len(self._clients) >= self.max_clients:
                return None
            c = _Client(self._client_queue)
            self._clients.append(c)
            return c

    def unsubscribe(self, c: _Client) -> None:
        """Forget a page (its queue is freed)."""
        with self._lock:
            if c in self._clients:
                self._clients.remove(c)

    def next_messages(self, c: _Client, timeout: float) -> list[tuple[str, Any]] | None:
        """Wait up to timeout for queued messages; None once the hub is closed."""
        with self._lock:
            if not c.queue and not self._closed:
                self._lock.wait(timeout)
            if self._closed:
                return None
            out = list(c.queue)
            c.queue.clear()
            return out

    @property
    def clients(self) -> int:
        """Number of open pages."""
        with self._lock:
            return len(self._clients)

    def close(self) -> None:
        """Wake and end every stream (server shutdown)."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()


def to_json(data: Any) -> str:
    """Compact JSON of a queued payload (a SlipEvent becomes its MQTT payload)."""
    if isinstance(data, SlipEvent):
        data = event_to_dict(data)
    return json.dumps(data, separators=(",", ":"), default=str)


def _static(name: str) -> bytes:
    return resources.files("edge.device.web").joinpath("static").joinpath(name).read_bytes()


class _Handler(BaseHTTPRequestHandler):
    """Routes: /, /static/*, /api/status, /api/layout, /api/stream (SSE)."""

    server_version = "microslip"
    protocol_version = "HTTP/1.1"
    hub: LiveHub  # set on the subclass made per server
    practice: PracticeRoutes | None = None  # /practice and /api/practice/* when set

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib name)
        log.debug("web: %s " + format, self.address_string(), *args)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        # Malformed requests land here; one line at info is enough, never a traceback.
        log.info("web: %s " + format, self.address_string(), *args)

    def _send(self, code: int, body: bytes, ctype: str, cache: bool = False) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=300" if cache else "no-store")
        self.send_header("Content-Security-Policy", _CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any) -> None:
        self._send(200, json.dumps(data, default=str).encode(), "application/json")

    def do_HEAD(self) -> None:  # noqa: N802 (stdlib naming)
        """HEAD is GET without a body."""
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        """Serve the page, its assets and the JSON/SSE API."""
        path = urlsplit(self.path).path
        try:
            if path in ("/", "/index.html"):
                self._send(200, _static("index.html"), STATIC["index.html"])
            elif path.startswith("/static/") and path[8:] in STATIC:
                self._send(200, _static(path[8:]), STATIC[path[8:]], cache=True)
            elif path == "/api/status":
                self._json(self.hub.snapshot())
            elif path == "/api/layout":
                self._json(layout())
            elif path == "/api/stream" and self.command == "GET":
                self._stream()
            elif not self._practice(path, None):
                self._send(404, b"not found\n", "text/plain; charset=utf-8")
        except (BrokenPipeError, ConnectionResetError, TimeoutError) as exc:
            log.debug("web: client went away: %s", exc)
            self.close_connection = True

    def _refuse(self) -> None:
        path = urlsplit(self.path).path
        if self.practice is not None and path.startswith(("/api/practice/", "/practice")):
            try:
                body = self._body() if self.command == "POST" else None
                if body is None and self.command == "POST":
                    return  # _body() has answered (411/413)
                if self._practice(path, body):
                    return
            except (BrokenPipeError, ConnectionResetError, TimeoutError) as exc:
                log.debug("web: client went away: %s", exc)
                self.close_connection = True
                return
        self.close_connection = True
        self._send(405, b"method not allowed\n", "text/plain; charset=utf-8")

    def _body(self) -> bytes | None:
        """The request body, or None after answering 411/413 (the body is never read then)."""
        assert self.practice is not None
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            self._json_error(411, "a body needs a Content-Length")
            return None
        if int(length) > self.practice.max_body:
            self.close_connection = True  # the unread body must not be parsed as a request
            self._json_error(413, f"body over {self.practice.max_body} bytes")
            return None
        return self.rfile.read(int(length))

    def _json_error(self, code: int, message: str) -> None:
        body = json.dumps({"error": message, "status": code}).encode()
        self._send(code, body, "application/json")

    def _practice(self, path: str, body: bytes | None) -> bool:
        """Serve a practice route; False when the path is not one (or practice is off)."""
        if self.practice is None:
            return False
        reply = self.practice.handle(self.command, path, urlsplit(self.path).query, body)
        if reply is None:
            return False
        status, ctype, data = reply
        self._send(status, data, ctype, cache=status == 200 and path.startswith("/practice/"))
        return True

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    def _stream(self) -> None:
        client = self.hub.subscribe()
        if client is None:
            self._send(503, b"too many pages open\n", "text/plain; charset=utf-8")
            return
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.close_connection = True  # the stream ends the connection
            hello = json.dumps(self.hub.snapshot(), default=str)
            self.wfile.write(f"retry: 2000\nevent: hello\ndata: {hello}\n\n".encode())
            self.wfile.flush()
            while True:
                msgs = self.hub.next_messages(client, KEEPALIVE_S)
                if msgs is None:
                    return
                # A comment line keeps proxies and the browser from timing the stream out and
                # is how a vanished page is noticed (the write fails).
                chunk = "".join(f"event: {n}\ndata: {to_json(d)}\n\n" for n, d in msgs)
                chunk = chunk or ": ping\n\n"
                self.wfile.write(chunk.encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError) as exc:
            log.info("web: page disconnected mid-stream (%s)", type(exc).__name__)
        finally:
            self.hub.unsubscribe(client)


class WebServer:
    """The live page on its own daemon threads; start() never raises on a busy port."""

    def __init__(
        self,
        hub: LiveHub,
        bind: str = "127.0.0.1",
        port: int = 8088,
        practice: PracticeRoutes | None = None,
    ) -> None:
        self.hub = hub
        self.practice = practice
        self.bind = bind
        self.port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Listen and serve in a thread; log one clear error and return False if it cannot."""
        handler = type("Handler", (_Handler,), {"hub": self.hub, "practice": self.practice})
        try:
            httpd = ThreadingHTTPServer((self.bind, self.port), handler)
        except OSError as exc:
            log.error(
                "web: cannot listen on %s:%d (%s); live page disabled, detection continues",
                self.bind,
                self.port,
                exc.strerror or exc,
            )
            return False
        httpd.daemon_threads = True
        self._httpd = httpd
        self.port = int(httpd.server_address[1])
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="web", daemon=True
        )
        self._thread.start()
        log.info("web: live page at %s", self.url)
        return True

    @property
    def url(self) -> str:
        """Base URL of the page."""
        host = "127.0.0.1" if self.bind in ("", "0.0.0.0") else self.bind
        return f"http://{host}:{self.port}/"

    def stop(self, timeout: float = 2.0) -> None:
        """End streams, stop serving and close the socket."""
        self.hub.close()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self.practice is not None:
            self.practice.close()  # the server owns the trainer it serves

"""The optional live page (``[web] enabled``): a stdlib HTTP server with server-sent events."""

from edge.web.server import LiveHub, WebServer

__all__ = ["LiveHub", "WebServer"]

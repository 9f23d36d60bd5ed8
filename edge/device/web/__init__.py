"""The optional live page (``[web] enabled``): a stdlib HTTP server with server-sent events."""

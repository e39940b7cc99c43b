"""The web process's gunicorn worker: gunicorn's own asyncio worker (``asgi``), with the two bounds
it leaves out.

- A connection whose first request's headers are not complete within ``WEB_HEADER_TIMEOUT_SECONDS``
  (10) is closed. gunicorn times out the wait between requests on a kept-alive connection
  (``keepalive``), not the wait for the first one, so without this a client that connects and sends
  nothing, or a byte now and then, holds a descriptor for good.
- A worker holds at most ``worker_connections`` (``GUNICORN_WORKER_CONNECTIONS``) connections: one
  beyond is answered 503 with ``Retry-After`` and closed at once. gunicorn counts them
  (``nr_conns``) but serves every one.

- Running out of descriptors is logged at most once a second, with how many were left out. asyncio
  stops accepting for a second on such an error, but logs it once for every connection waiting in
  the backlog, hundreds a second.

gunicorn builds the protocol of each connection from ``gunicorn.workers.gasgi.ASGIProtocol``; the
worker points that name at the subclass below in its own process when it starts.
"""

from __future__ import annotations

import asyncio
import errno
import json
import math

from environs import Env
from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.workers import gasgi

HEADER_TIMEOUT_SECONDS = Env().float("WEB_HEADER_TIMEOUT_SECONDS", 10.0, validate=lambda value: value > 0)

_OVER_CAPACITY_BODY = json.dumps(
    {
        "error": {
            "type": "service_unavailable",
            "message": "The server holds as many connections as it can; try again in a second.",
        }
    }
).encode()
OVER_CAPACITY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    + f"Content-Length: {len(_OVER_CAPACITY_BODY)}\r\n".encode()
    + b"Connection: close\r\n\r\n"
    + _OVER_CAPACITY_BODY
)


class BoundedProtocol(ASGIProtocol):
    """One connection: closed when its first request's headers take too long, refused over the cap."""

    def __init__(self, worker):
        super().__init__(worker)
        self._header_deadline: asyncio.TimerHandle | None = None
        application = worker.asgi

        async def first_request_arrived(scope, receive, send):
            # gunicorn calls the application once a request's headers are complete.
            self._cancel_header_deadline()
            return await application(scope, receive, send)

        self.app = first_request_arrived

    def connection_made(self, transport):
        super().connection_made(transport)
        if self.worker.nr_conns > self.worker.cfg.worker_connections:
            transport.write(OVER_CAPACITY)
            transport.close()  # connection_lost counts it out again
            return
        self._header_deadline = self.worker.loop.call_later(HEADER_TIMEOUT_SECONDS, self._header_timeout)

    def connection_lost(self, exc):
        self._cancel_header_deadline()
        super().connection_lost(exc)

    def _header_timeout(self):
        self._header_deadline = None
        self.transport.abort()

    def _cancel_header_deadline(self):
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None


class AcceptErrorLog:
    """The event loop's exception handler: out-of-resource accept errors at most once a second."""

    OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

    def __init__(self):
        self.last = -math.inf
        self.left_out = 0

    def __call__(self, loop, context):
        exception = context.get("exception")
        if isinstance(exception, OSError) and exception.errno in self.OUT_OF_RESOURCES:
            if loop.time() - self.last < 1:
                self.left_out += 1
                return
            self.last = loop.time()
            if self.left_out:
                context = {**context, "message": f"{context['message']}\n({self.left_out} more left out of the log)"}
                self.left_out = 0
        loop.default_exception_handler(context)


class ASGIWorker(gasgi.ASGIWorker):
    """``worker_class`` in gunicorn.conf.py."""

    def init_process(self):
        gasgi.ASGIProtocol = BoundedProtocol
        super().init_process()

    def run(self):
        self.loop.set_exception_handler(AcceptErrorLog())
        super().run()

"""The ASGI entry point gunicorn serves (`gunicorn.conf.py`: gunicorn's asyncio worker).

gunicorn's asyncio worker reads every request in its event loop, so a client that sends its headers
or its body slowly holds no thread and no database connection: only a whole request reaches Django.
Django's WSGI handler then answers it on one thread per process, one request at a time as a sync
worker would, keeping that thread's database connection from request to request (DB_CONN_MAX_AGE);
the answer goes back to the loop whole, which writes it out however slowly the client reads.

Why not Django's own ASGI handler: it runs each request's synchronous code on a thread of its own,
which would open a database connection per request. asgiref's WsgiToAsgi keeps one thread but hands
every piece of the answer back to the loop separately and never closes the response (Django's end of
request); this is the same idea in one hop each way.
"""

import asyncio
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "invitations_project.settings")

Headers = list[tuple[bytes, bytes]]


def _environ(scope: dict, body: bytes) -> dict:
    """The WSGI environ of an ASGI HTTP scope (PEP 3333; header values kept as latin-1 text)."""
    script_name = scope.get("root_path", "").encode("utf8").decode("latin1")
    path_info = scope["path"].encode("utf8").decode("latin1")
    if script_name and path_info.startswith(script_name):
        path_info = path_info[len(script_name) :]
    server = scope.get("server") or ("localhost", 80)
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": scope.get("query_string", b"").decode("latin1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] if server[1] is not None else 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if scope.get("client"):
        environ["REMOTE_ADDR"] = scope["client"][0]
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin1").upper().replace("-", "_")
        key = name if name in ("CONTENT_LENGTH", "CONTENT_TYPE") else f"HTTP_{name}"
        value = raw_value.decode("latin1")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


class BufferedWsgi:
    """An ASGI application that answers each whole request with a WSGI application on one thread."""

    def __init__(self, wsgi_application, *, max_body: int):
        self.wsgi_application = wsgi_application
        self.max_body = max_body
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="django")

    def _answer(self, scope: dict, body: bytes) -> tuple[int, Headers, bytes]:
        started: dict = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info=None):
            started["status"] = int(status.split(" ", 1)[0])
            # Names as the application wrote them (Request-Id, RateLimit-Policy): gunicorn sends them so.
            started["headers"] = [(name.encode("latin1"), value.encode("latin1")) for name, value in headers]

        response = self.wsgi_application(_environ(scope, body), start_response)
        try:
            content = b"".join(response)
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()  # Django's end of request: request_finished, connections checked
        return started["status"], started["headers"], content

    async def _body(self, receive) -> tuple[bytes, int] | None:
        """The request's body (empty past max_body) and its size; None if the client left first."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= self.max_body:
                chunks.append(chunk)
            if not message.get("more_body"):
                return (b"".join(chunks) if size <= self.max_body else b""), size

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            raise ValueError(f"Only HTTP is served here, not {scope['type']}.")
        received = await self._body(receive)
        if received is None:
            return  # the client left before its request was whole: nothing to answer
        body, size = received
        if size > self.max_body:
            # Kept out of memory; Django sees the size and refuses it (413 under /v1/ and /webhooks/).
            scope = {**scope, "headers": _with_content_length(scope.get("headers", []), size)}
        loop = asyncio.get_running_loop()
        status, headers, content = await loop.run_in_executor(self.executor, self._answer, scope, body)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


def _with_content_length(headers: Headers, size: int) -> Headers:
    kept = [(name, value) for name, value in headers if name.lower() != b"content-length"]
    return [*kept, (b"content-length", str(size).encode())]


_wsgi = get_wsgi_application()  # sets Django up, settings included
application = BufferedWsgi(_wsgi, max_body=settings.API_MAX_BODY_BYTES)

"""gunicorn's settings, read from the working directory: `gunicorn invitations_project.asgi`
(the Procfile's web process), or `gunicorn invitations_project.wsgi`.

Environment: PORT (8000) or GUNICORN_BIND, WEB_CONCURRENCY (workers; 2 per CPU + 1),
GUNICORN_TIMEOUT (30 s), GUNICORN_WORKER_CONNECTIONS (1000), WEB_HEADER_TIMEOUT_SECONDS (10 s).
`kill -HUP` on the master reloads the code gracefully: new workers start, the old ones finish their
requests (up to graceful_timeout) and exit.
"""

import json
import multiprocessing
import os
import time

from gunicorn.glogging import Logger

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
# gunicorn's asyncio worker for Django's ASGI application: it reads each request in its event loop, so
# clients that send slowly (or hold half-sent headers open) cost a socket each, never a thread. At most
# worker_connections per worker, and a connection's first request must arrive within
# WEB_HEADER_TIMEOUT_SECONDS (invitations_project/webserver.py). The WSGI application runs on the
# threaded worker (``on_starting``).
ASGI_WORKER = "invitations_project.webserver.ASGIWorker"
worker_class = ASGI_WORKER
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
asgi_lifespan = "off"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Behind a proxy on another host, set FORWARDED_ALLOW_IPS to its address (gunicorn reads it).

# gunicorn's control socket (gunicornc) only where GUNICORN_CONTROL_SOCKET names one: its default path
# in $HOME is shared by every gunicorn of the user on the host.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True

accesslog = "-"
errorlog = "-"


class JsonAccessLogger(Logger):
    """The access log as one JSON object a line, like the application's logs, with the answer's
    Request-Id. Serialized, never filled into a text template: whatever a request line holds (a
    newline, an escape character, quotes) stays inside its string. The query string is left out:
    it may hold a searched recipient."""

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        headers = resp.headers.items() if hasattr(resp.headers, "items") else resp.headers
        request_id = next((str(value) for name, value in headers if str(name).lower() == "request-id"), None)
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "level": "INFO",
            "logger": "gunicorn.access",
            "request_id": request_id,
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "status": int(status) if str(status).isdigit() else None,
            "duration_ms": request_time.seconds * 1000 + request_time.microseconds // 1000,
            "bytes": getattr(resp, "sent", None),
            "remote": environ.get("REMOTE_ADDR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "pid": os.getpid(),
        }
        try:
            self.access_log.info("%s", json.dumps(line, ensure_ascii=True))
        except Exception:
            self.exception("Could not write the access log line")


logger_class = JsonAccessLogger


def child_exit(server, worker):
    # A worker that is gone leaves its live gauges behind in the metrics directory; drop them. The
    # master never reads Django's settings: it asks the same function they do where the directory is.
    from ops.checks import metrics_directory

    directory = metrics_directory(os.environ)
    if directory:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, directory)


def on_starting(server):
    # `gunicorn invitations_project.wsgi`, the command Django's deployment docs show, names the WSGI
    # application: run it on gunicorn's threaded worker rather than hand it to the ASGI worker.
    module = (server.app.app_uri or "").partition(":")[0]
    if server.cfg.worker_class_str in ("asgi", ASGI_WORKER) and module.endswith(".wsgi"):
        server.cfg.set("worker_class", "gthread")
        server.cfg.set("threads", int(os.environ.get("GUNICORN_THREADS", "8")))
        server.worker_class = server.cfg.worker_class
        server.log.warning(
            "%s is a WSGI application: serving it on the threaded worker, where a slow client holds a "
            "thread; `gunicorn invitations_project.asgi` reads requests in an event loop instead.",
            module,
        )

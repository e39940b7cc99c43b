"""gunicorn's settings, read from the working directory: `gunicorn invitations_project.wsgi`.

Environment: PORT (8000) or GUNICORN_BIND, WEB_CONCURRENCY (workers; 2 per CPU + 1),
GUNICORN_TIMEOUT (30 s). `kill -HUP` on the master reloads the code gracefully: new workers start,
the old ones finish their requests (up to graceful_timeout) and exit.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
# Sync workers: every request holds one worker; the slow parts (providers, webhooks) run in rq.
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Behind a proxy on another host, set FORWARDED_ALLOW_IPS to its address (gunicorn reads it).

# One JSON object a line, like the application's logs, with the request's Request-Id. The query
# string is left out: it may hold a searched recipient.
accesslog = "-"
errorlog = "-"
access_log_format = (
    '{"time": "%(t)s", "level": "INFO", "logger": "gunicorn.access", "request_id": "%({request-id}o)s", '
    '"method": "%(m)s", "path": "%(U)s", "status": %(s)s, "duration_ms": %(M)s, "bytes": "%(B)s", '
    '"remote": "%(h)s", "user_agent": "%(a)s"}'
)

"""The web process's application: Django's own ASGI handler, served by gunicorn's asyncio worker
(`gunicorn invitations_project.asgi`; gunicorn.conf.py).

gunicorn's event loop reads each request, so a client that sends slowly holds a socket, never a
thread. Django runs each whole request's views on a thread of its own, drawing a PostgreSQL
connection from the process's pool (DB_POOL_MAX_SIZE) and giving it back when the request ends.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "invitations_project.settings")
application = get_asgi_application()

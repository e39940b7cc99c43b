"""Django's WSGI application, for `gunicorn invitations_project.wsgi` (gunicorn.conf.py then runs it
on gunicorn's threaded worker) or any WSGI server. The Procfile serves the ASGI application."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "invitations_project.settings")
application = get_wsgi_application()

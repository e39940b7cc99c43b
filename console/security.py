"""What guards the support console's login besides Django's own: django-axes' lockout page and its
view of the caller's address (two-factor is the site's own, console/sites.py)."""

import ipaddress
import math

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from api.throttling import client_ip


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' answer to a locked-out login: a 429 page that says for how long."""
    minutes = math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    context = {**admin.site.each_context(request), "minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT}
    response = render(request, "admin/lockout.html", context, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response


def login_client_ip(request: HttpRequest) -> str | None:
    """django-axes' view of the caller's IP: the throttles' (trusted proxies honoured), or None when
    that is no address (axes stores an address)."""
    ip = client_ip(request)
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return None
    return ip

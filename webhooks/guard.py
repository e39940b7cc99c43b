"""The address guard and the one HTTP client of outbound webhooks.

An endpoint's URL must be https:// and its host must resolve only to public addresses, checked when
it is saved and again at every try; the try then connects to the very address it checked (no second
lookup a DNS rebinding could change), with TLS verified against the host name. Redirects are never
followed. WEBHOOK_ALLOW_PRIVATE_URLS=1 lifts both rules, for development and tests.
"""

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings

RESPONSE_BODY_MAX = 1024


class AddressNotAllowed(ValueError):
    pass


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    # is_global leaves out loopback, private, link-local, shared (100.64/10) and reserved ranges;
    # multicast is "global" to ipaddress and must be refused on its own.
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str  # the checked IP the try connects to


def resolve(url: str) -> Target:
    """The URL's target, every address of its host checked; AddressNotAllowed says why not."""
    parts = urlsplit(url)
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_URLS
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        raise AddressNotAllowed("The URL must start with https://.")
    if not parts.hostname or parts.username or parts.password:
        raise AddressNotAllowed("The URL must name a host, without credentials.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError) as exc:
        raise AddressNotAllowed(f"The host {parts.hostname} does not resolve.") from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    if not allow_private and not all(_is_public(address) for address in addresses):
        raise AddressNotAllowed("address not allowed: the host resolves to a private or reserved address.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port, path, str(addresses[0]))


@dataclass(frozen=True)
class Answer:
    status: int | None
    body: str
    duration_ms: int
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Answer:
    """POST ``body`` to ``url`` through the guard, within WEBHOOK_TIMEOUT_SECONDS to connect and to
    read; never raises: a refused address, a timeout or a broken connection is an Answer's error."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = resolve(url)
    except AddressNotAllowed as exc:
        return Answer(None, "", elapsed(), str(exc))
    timeout = urllib3.Timeout(connect=settings.WEBHOOK_TIMEOUT_SECONDS, read=settings.WEBHOOK_TIMEOUT_SECONDS)
    options = {"timeout": timeout, "retries": False, "maxsize": 1}
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address, target.port, server_hostname=target.host, assert_hostname=target.host, **options
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, **options)
    host_header = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            preload_content=False,
        )
        try:
            excerpt = response.read(RESPONSE_BODY_MAX, decode_content=True)
        finally:
            response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        reason = "timed out" if isinstance(exc, urllib3.exceptions.TimeoutError) else "connection failed"
        return Answer(None, "", elapsed(), f"{reason}: {exc}"[:500])
    except (OSError, ValueError) as exc:  # the try failed, not the dispatcher: it records the error
        return Answer(None, "", elapsed(), f"connection failed: {exc.__class__.__name__}: {exc}"[:500])
    finally:
        pool.close()
    text = excerpt.decode("utf-8", errors="replace").replace("\x00", "")
    error = ""
    if 300 <= response.status < 400:
        error = "redirects are not followed"
    elif not 200 <= response.status < 300:
        error = f"HTTP {response.status}"
    return Answer(response.status, text, elapsed(), error)

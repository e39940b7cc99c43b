"""The address guard and the one HTTP client of outbound webhooks.

An endpoint's URL must be https:// and its host must resolve only to public addresses, checked when
it is saved and again at every try; the try then connects to the very address it checked (no second
lookup a DNS rebinding could change), with TLS verified against the host name. Redirects are never
followed. WEBHOOK_ALLOW_PRIVATE_URLS=1 lifts both rules, for development and tests.

A try has one deadline, WEBHOOK_TIMEOUT_SECONDS from its start to the last byte read: the lookup,
the connection, the TLS handshake, the request and the answer all share it, however slowly the
receiver drips its bytes. (urllib3's and requests' timeouts bound each socket operation, so a
receiver sending a byte every few seconds would hold a try for ever; hence this small client.)
"""

import http.client
import io
import ipaddress
import socket
import ssl
import threading
import time
import zlib
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from django.conf import settings

RESPONSE_BODY_MAX = 1024
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 forms that carry an IPv4 address inside (NAT64, 6to4, Teredo, IPv4-compatible, SIIT) reach
# whatever that address is, private or not, through a translator; site-local is deprecated private
# space. None is a customer's endpoint. 192.88.99.0/24 is the 6to4 relay anycast range.
_REFUSED_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "2002::/16",
        "2001::/32",
        "::/96",
        "::ffff:0:0:0/96",
        "fec0::/10",
        "192.88.99.0/24",
    )
)


class AddressNotAllowed(ValueError):
    pass


class DeadlineExceeded(TimeoutError):
    pass


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address.version == network.version and address in network for network in _REFUSED_NETWORKS):
        return False
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


def _lookup(host: str, port: int, deadline: float) -> list[tuple]:
    """getaddrinfo within the deadline: it cannot be interrupted, so it runs on a thread of its own
    that is left to finish by itself if the resolver outlasts the try."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, ValueError, UnicodeError) as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="webhook-lookup", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    if thread.is_alive():
        raise DeadlineExceeded(f"looking up {host} took too long")
    if "error" in outcome:
        raise AddressNotAllowed(f"The host {host} does not resolve.") from outcome["error"]
    return outcome["infos"]


def resolve(url: str, *, deadline: float | None = None) -> Target:
    """The URL's target, every address of its host checked; AddressNotAllowed says why not."""
    parts = urlsplit(url)
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_URLS
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        raise AddressNotAllowed("The URL must start with https://.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise AddressNotAllowed("The URL's port is not a number from 1 to 65535.") from exc
    if not parts.hostname or parts.username or parts.password:
        raise AddressNotAllowed("The URL must name a host, without credentials.")
    if deadline is None:
        deadline = time.monotonic() + settings.WEBHOOK_TIMEOUT_SECONDS
    infos = _lookup(parts.hostname, port, deadline)
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    if not addresses:
        raise AddressNotAllowed(f"The host {parts.hostname} does not resolve.")
    if not allow_private and not all(is_public(address) for address in addresses):
        raise AddressNotAllowed("address not allowed: the host resolves to a private or reserved address.")
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~") + (
        "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?") if parts.query else ""
    )
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


class _DeadlineReader(io.RawIOBase):
    """The socket's bytes, each read given only what is left of the try's deadline."""

    def __init__(self, sock: socket.socket, deadline: float):
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded("the answer took too long")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class _DeadlineSocket:
    """What http.client.HTTPResponse needs of a socket: a file to read the answer from."""

    def __init__(self, sock: socket.socket, deadline: float):
        self._reader = io.BufferedReader(_DeadlineReader(sock, deadline))

    def makefile(self, mode: str) -> "io.BufferedReader[_DeadlineReader]":
        return self._reader


def _host_header(target: Target) -> str:
    host = target.host.encode("idna").decode("ascii") if not target.host.isascii() else target.host
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return host if target.port == (443 if target.scheme == "https" else 80) else f"{host}:{target.port}"


def _request_bytes(target: Target, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {target.path} HTTP/1.1", f"Host: {_host_header(target)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


def _exchange(target: Target, request: bytes, deadline: float) -> tuple[int, bytes]:
    """Send the request and read the status and up to RESPONSE_BODY_MAX bytes of the body."""

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded("the try took too long")
        return remaining

    sock = socket.create_connection((target.address, target.port), timeout=left())
    try:
        if target.scheme == "https":
            # The handshake as a whole is bounded by the socket's timeout (ssl's own deadline).
            sock.settimeout(left())
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=target.host)
        sock.settimeout(left())
        sock.sendall(request)  # bounded as a whole by the timeout, too
        response = http.client.HTTPResponse(_DeadlineSocket(sock, deadline), method="POST")  # type: ignore[arg-type]
        response.begin()
        excerpt = response.read(RESPONSE_BODY_MAX)
        encoding = (response.getheader("Content-Encoding") or "").strip().lower()
        if encoding in ("gzip", "deflate") and excerpt:
            try:
                excerpt = zlib.decompressobj(wbits=47).decompress(excerpt, RESPONSE_BODY_MAX)
            except zlib.error:
                pass  # a cut-off or broken body: keep the bytes as they came
        return response.status, excerpt
    finally:
        sock.close()


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Answer:
    """POST ``body`` to ``url`` through the guard, all within WEBHOOK_TIMEOUT_SECONDS; never raises:
    a refused address, the deadline or a broken connection is an Answer's error."""
    started = time.monotonic()
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    deadline = started + timeout

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = resolve(url, deadline=deadline)
        status, excerpt = _exchange(target, _request_bytes(target, body, headers), deadline)
    except AddressNotAllowed as exc:
        return Answer(None, "", elapsed(), str(exc))
    except (DeadlineExceeded, TimeoutError) as exc:
        return Answer(None, "", elapsed(), f"timed out: no complete answer within {timeout} s ({exc})"[:500])
    except ssl.SSLCertVerificationError as exc:
        return Answer(None, "", elapsed(), f"TLS certificate not valid for the host: {exc.verify_message}"[:500])
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # The try failed, not the dispatcher: it records the error.
        return Answer(None, "", elapsed(), f"connection failed: {exc.__class__.__name__}: {exc}"[:500])
    text = excerpt.decode("utf-8", errors="replace").replace("\x00", "")
    error = ""
    if 300 <= status < 400:
        error = "redirects are not followed"
    elif not 200 <= status < 300:
        error = f"HTTP {status}"
    return Answer(status, text, elapsed(), error)

"""Providers' HTTP APIs on 127.0.0.1, speaking their protocols, answering each call after a set latency:
Postmark's (anymail's Postmark backend, pointed at it with ANYMAIL_POSTMARK_API_URL) and Twilio's
Messages API (the twilio client, pointed at it with TWILIO_API_BASE_URL).

Each records the messages it took per attempt: for Postmark, the X-Delivery-Attempt header; for
Twilio, the attempt named in the status callback URL. Neither API takes an idempotency key, so each
call makes a message, as theirs do: an attempt named in two messages is an email or SMS its recipient
got twice. The service finds an earlier try's message as it would at the real ones: Postmark's
outbound message search by metadata, Twilio's message list.
"""

import base64
import json
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A real API's accept backlog: with socketserver's 5, the connections a worker's provider threads
    # open at once overflow it, and the kernel resets some of them.
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        # A worker SIGKILLed mid-call leaves its connection half-read: nothing to report.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeProvider:
    """The server and its bookkeeping; a subclass answers ``handle(handler, body) -> (status, payload)``."""

    def __init__(self, latency: float):
        self.latency = latency
        self.calls: Counter[str] = Counter()
        self.answers: dict[str, str] = {}
        self.connections = 0
        # Calls read and not yet answered; ``received`` is set by the first call.
        self.in_flight = 0
        self.received = threading.Event()
        # Take each POST's messages but close the connection instead of answering, as a connection
        # cut after the provider took a call does.
        self.drop_answers = False
        # Answer every call 503 (an outage), taking nothing; ``requests`` counts every call, answered or not.
        self.down = False
        self.requests = 0
        self.lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                # The headers and the body go as written, as a real API's server sends them (no
                # Nagle wait for the client's delayed ACK between the two writes).
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with provider.lock:
                    provider.connections += 1

            def do_GET(self):
                self.do_POST()

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with provider.lock:
                    provider.in_flight += 1
                    provider.requests += 1
                provider.received.set()
                try:
                    time.sleep(provider.latency)
                    if provider.down:
                        status, payload, content_type = 503, {"message": "Service Unavailable"}, "application/json"
                    else:
                        status, payload, content_type = provider.handle(self, body)
                finally:
                    with provider.lock:
                        provider.in_flight -= 1
                if provider.drop_answers and self.command == "POST":
                    self.close_connection = True
                    return
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def record(self, key: str) -> str:
        """Count a message for ``key``; a new message id."""
        with self.lock:
            self.calls[key] += 1
            self.answers[key] = message_id = uuid.uuid4().hex
            return message_id

    def repeated(self) -> int:
        """Messages beyond the first for an attempt: each one a message its recipient got again."""
        return sum(count - 1 for count in self.calls.values() if count > 1)

    def stop(self) -> None:
        self.server.shutdown()


class FakePostmark(FakeProvider):
    """Postmark's /email, /email/batch and the outbound message search (GET /messages/outbound with
    count, offset and metadata_<key> filters, newest first); ``messages`` keeps every message's JSON,
    ``lookups`` counts the searches. A recipient in
    ``fail_once`` makes the next call with it answer 500 once, as a passing outage would (the whole
    call, batch or not). One in ``inactive`` is refused as Postmark refuses an address that bounced
    before: HTTP 422 ErrorCode 406 for a single message, that message's result in a batch. One in
    ``rate_limited_once`` gets ErrorCode 429 (rate limit exceeded) once, the same way."""

    def __init__(self, latency: float):
        self.messages: list[dict] = []
        self.fail_once: set[str] = set()
        self.inactive: set[str] = set()
        self.rate_limited_once: set[str] = set()
        self.batch_calls = 0
        self.lookups = 0
        self.search_fails = False
        self.sent: list[tuple[str, dict]] = []
        super().__init__(latency)

    def handle(self, handler, body: bytes):
        if handler.command == "GET":
            if self.search_fails:
                return 500, {"ErrorCode": 500, "Message": "Internal server error"}, "application/json"
            return self.search(handler.path)
        if handler.command != "POST":
            return 405, {"ErrorCode": 405, "Message": "Method not allowed"}, "application/json"
        data = json.loads(body or b"{}")
        batch = handler.path.rstrip("/").endswith("batch")
        if batch != isinstance(data, list):
            return 422, {"ErrorCode": 402, "Message": "Received invalid JSON input."}, "application/json"
        messages = data if batch else [data]
        with self.lock:
            self.batch_calls += batch
            failing = self.fail_once & {message.get("To") for message in messages}
            self.fail_once -= failing
        if failing:
            return 500, {"ErrorCode": 500, "Message": "Internal server error (a passing outage)"}, "application/json"
        answers = [self.accept(message) for message in messages]
        if batch:
            return 200, answers, "application/json"
        status = {0: 200, 429: 429}.get(answers[0]["ErrorCode"], 422)
        return status, answers[0], "application/json"

    def accept(self, message: dict) -> dict:
        with self.lock:
            limited = message.get("To") in self.rate_limited_once
            self.rate_limited_once.discard(message.get("To"))
        if limited:
            return {"ErrorCode": 429, "Message": "Rate limit exceeded."}
        if message.get("To") in self.inactive:
            return {
                "ErrorCode": 406,
                "Message": "You tried to send to recipient(s) that have been marked as inactive. Found inactive "
                f"addresses: {message['To']}. Inactive recipients are ones that have generated a hard bounce, a spam "
                "complaint, or a manual suppression.",
            }
        key = next((h["Value"] for h in message.get("Headers", []) if h.get("Name") == "X-Delivery-Attempt"), "")
        message_id = str(uuid.UUID(self.record(key)))
        with self.lock:
            self.messages.append(message)
            self.sent.append((message_id, message))
        return {
            "To": message.get("To", ""),
            "SubmittedAt": "2026-12-01T12:00:00.0000000Z",
            "MessageID": message_id,
            "ErrorCode": 0,
            "Message": "OK",
        }

    def search(self, target: str):
        path, _, query = target.partition("?")
        if path.rstrip("/") != "/messages/outbound":
            return 404, {"ErrorCode": 404, "Message": "Not found"}, "application/json"
        params = {name: values[0] for name, values in parse_qs(query).items()}
        try:
            count, offset = int(params["count"]), int(params["offset"])
        except (KeyError, ValueError):
            return 422, {"ErrorCode": 1, "Message": "count and offset are required."}, "application/json"
        wanted = {
            name.removeprefix("metadata_"): value for name, value in params.items() if name.startswith("metadata_")
        }
        with self.lock:
            self.lookups += 1
            found = [
                (message_id, message)
                for message_id, message in reversed(self.sent)
                if all((message.get("Metadata") or {}).get(name) == value for name, value in wanted.items())
            ]
        summaries = [
            {
                "MessageID": message_id,
                "MessageStream": "outbound",
                "To": [{"Email": message.get("To", ""), "Name": None}],
                "Recipients": [message.get("To", "")],
                "From": message.get("From", ""),
                "Subject": message.get("Subject", ""),
                "Tag": message.get("Tag", ""),
                "Metadata": message.get("Metadata") or {},
                "Status": "Sent",
                "ReceivedAt": "2026-12-01T07:00:00.0000000-05:00",
            }
            for message_id, message in found[offset : offset + count]
        ]
        return 200, {"TotalCount": len(found), "Messages": summaries}, "application/json"


class FakeSendGrid(FakeProvider):
    """SendGrid's v3 Mail Send (POST /v3/mail/send, anymail's SendGrid backend pointed at it with
    ANYMAIL_SENDGRID_API_URL): Bearer auth with the API key, 202 and no body. ``messages`` keeps each
    personalization (one recipient) with the message's headers and custom args."""

    def __init__(self, latency: float, *, api_key: str):
        self.api_key = api_key
        self.messages: list[dict] = []
        super().__init__(latency)

    def handle(self, handler, body: bytes):
        if handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, {"errors": [{"message": "The provided authorization grant is invalid."}]}, "application/json"
        if handler.command != "POST" or handler.path.rstrip("/") != "/v3/mail/send":
            return 404, {"errors": [{"message": "Not found"}]}, "application/json"
        data = json.loads(body or b"{}")
        headers = data.get("headers") or {}
        for personalization in data.get("personalizations", []):
            to = personalization["to"][0]["email"]
            self.record(headers.get("X-Delivery-Attempt", ""))
            with self.lock:
                self.messages.append(
                    {
                        "To": to,
                        "Headers": headers,
                        "CustomArgs": {**data.get("custom_args", {}), **personalization.get("custom_args", {})},
                    }
                )
        return 202, "", "application/json"


class FakeTwilio(FakeProvider):
    """Twilio's /2010-04-01/Accounts/{AccountSid}/Messages.json: HTTP Basic auth with the account's
    SID and auth token. POST a form: 201 with the message resource (or Twilio's error body: 401 for
    wrong credentials, 400 code 21604 without a To, 21602 without a Body). GET: the account's
    messages, newest first, one page of PageSize, filtered by To. A number in ``refused`` gets
    Twilio's error for it instead (its code: 21610 for one that replied STOP, 21211 for an invalid
    one), as Twilio answers: HTTP 400 and no message."""

    REFUSALS = {
        21610: "Attempt to send to unsubscribed recipient",
        21211: "The 'To' number is not a valid phone number.",
    }

    def __init__(self, latency: float, *, account_sid: str, auth_token: str):
        self.account_sid, self.auth_token = account_sid, auth_token
        self.refused: dict[str, int] = {}
        self.messages: list[dict] = []
        self.resources: list[dict] = []
        self.lookups = 0
        super().__init__(latency)

    def handle(self, handler, body: bytes):
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if handler.headers.get("Authorization") != expected:
            return 401, self.error(20003, "Authenticate", 401), "application/json"
        path, _, query = handler.path.partition("?")
        if path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return 404, self.error(20404, "The requested resource was not found", 404), "application/json"
        if handler.command == "GET":
            with self.lock:
                self.lookups += 1
            return 200, self.page({name: values[0] for name, values in parse_qs(query).items()}), "application/json"
        form = {name: values[0] for name, values in parse_qs(body.decode()).items()}
        if not form.get("To"):
            return 400, self.error(21604, "A 'To' phone number is required.", 400), "application/json"
        if not form.get("Body"):
            return 400, self.error(21602, "Message body is required.", 400), "application/json"
        if form["To"] in self.refused:
            code = self.refused[form["To"]]
            return 400, self.error(code, self.REFUSALS.get(code, "Refused"), 400), "application/json"
        sid = "SM" + self.record(form.get("StatusCallback", ""))
        resource = self.message(sid, form)
        with self.lock:
            self.messages.append(form)
            self.resources.append(resource)
        return 201, resource, "application/json"

    def page(self, query: dict) -> dict:
        size = int(query.get("PageSize", 50))
        with self.lock:
            found = [m for m in reversed(self.resources) if "To" not in query or m["to"] == query["To"]][:size]
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json?PageSize={size}&Page=0"
        return {
            "messages": found,
            "page": 0,
            "page_size": size,
            "start": 0,
            "end": max(0, len(found) - 1),
            "uri": uri,
            "first_page_uri": uri,
            "previous_page_uri": None,
            "next_page_uri": None,
        }

    def message(self, sid: str, form: dict) -> dict:
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "to": form["To"],
            "from": form.get("From"),
            "body": form["Body"],
            "status": "queued",
            "num_segments": "1",
            "num_media": "0",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "date_created": format_datetime(datetime.now(UTC)),
            "date_updated": format_datetime(datetime.now(UTC)),
            "date_sent": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
        }

    @staticmethod
    def error(code: int, message: str, status: int) -> dict:
        return {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }

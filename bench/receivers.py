"""Customers' webhook receivers on 127.0.0.1, for the benchmarks and the tests: one that records when
each event arrived, and one that is slow on purpose (a tenant's endpoints holding tries open)."""

import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SlowReceiver:
    """A raw TCP receiver that counts its connections, open now and at most at once. Each answers
    "HTTP/1.1 200 OK" and then, with ``drip``, one header byte every ``every`` seconds for ever (a
    receiver that never finishes its answer); without, it waits ``hold`` seconds and answers 200."""

    def __init__(self, *, drip: bool = True, every: float = 0.5, hold: float = 0.0):
        self.drip, self.every, self.hold = drip, every, hold
        self.lock = threading.Lock()
        self.open = 0
        self.most_open = 0
        self.connections = 0
        self.stopped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with self.lock:
            self.open += 1
            self.connections += 1
            self.most_open = max(self.most_open, self.open)
        try:
            conn.settimeout(30)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            if self.drip:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                while not self.stopped.is_set():
                    # Counted as open until the sender hangs up (EOF), not until a write fails.
                    if select.select([conn], [], [], self.every)[0]:
                        if not conn.recv(65536):
                            return
                    else:
                        conn.sendall(b"X")
            else:
                time.sleep(self.hold)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        except OSError:
            pass  # the sender gave up: that is the point
        finally:
            conn.close()
            with self.lock:
                self.open -= 1

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()


class RecordingReceiver:
    """Answers every POST 200 at once and notes when each event type arrived for each invitation:
    ``arrivals[(token, type)]`` is the monotonic time of its first arrival."""

    def __init__(self):
        self.arrivals: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.monotonic()
                event = json.loads(body)
                token = (event.get("data", {}).get("invitation") or {}).get("token", "")
                with receiver.lock:
                    receiver.arrivals.setdefault((token, event["type"]), now)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

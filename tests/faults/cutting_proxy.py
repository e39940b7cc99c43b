"""A TCP proxy between the service and PostgreSQL that cuts every connection at a chosen moment.

The moment is a piece of SQL text seen in the client-to-server stream (the API key lookup, an
INSERT, the COMMIT). Either the message carrying it never reaches the server (``forward=False``:
the server sees the connection drop and rolls back whatever was open), or it reaches the server,
the server's answer is read and thrown away, and only then is the client cut (``forward=True``:
the server did the work, the client never hears so; for a COMMIT, the answer lost).

The proxy answers TLS and GSS encryption requests with "no", so the SQL stays readable.
"""

import contextlib
import select
import socket
import struct
import threading
from dataclasses import dataclass, field

# The 8-byte requests a client sends before its startup message to ask for an encrypted session.
ENCRYPTION_REQUESTS = {struct.pack("!ii", 8, 80877103), struct.pack("!ii", 8, 80877104)}
# ReadyForQuery: the server has finished answering a query.
READY_FOR_QUERY = b"Z\x00\x00\x00\x05"


@dataclass
class Cut:
    sql: bytes
    forward: bool
    fired: threading.Event = field(default_factory=threading.Event)
    connections_cut: int = 0


class CuttingProxy:
    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[tuple[socket.socket, socket.socket]] = set()
        self._cut: Cut | None = None
        self._down = False
        self.connections_accepted = 0
        threading.Thread(target=self._accept, daemon=True, name="cutting-proxy").start()

    def cut_when(self, sql: bytes, *, forward: bool = False) -> Cut:
        """Arm a cut for the next message containing ``sql``; it fires once."""
        with self._lock:
            self._cut = Cut(sql=sql, forward=forward)
            return self._cut

    def disarm(self) -> None:
        with self._lock:
            self._cut = None

    def set_down(self, down: bool) -> None:
        """While down, PostgreSQL is unreachable: open connections are cut, new ones closed at once."""
        with self._lock:
            self._down = down
        if down:
            self._cut_all()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.close()
        self._cut_all()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self._down:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.add((client, server))
                self.connections_accepted += 1
            threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()

    def _cut_all(self) -> int:
        with self._lock:
            pairs, self._open = list(self._open), set()
        for pair in pairs:
            for sock in pair:
                # Wakes the pair's own thread, which then closes both sockets.
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        return len(pairs)

    def _take_cut(self, tail: bytes, data: bytes) -> Cut | None:
        with self._lock:
            cut = self._cut
            if cut is None:
                return None
            # The SQL may straddle two reads; a match wholly inside the previous read does not count.
            if (tail + data).find(cut.sql, max(0, len(tail) - len(cut.sql) + 1)) == -1:
                return None
            self._cut = None
            return cut

    def _fire(self, cut, data: bytes, client: socket.socket, server: socket.socket) -> None:
        """Cut every connection at this statement: before it reaches PostgreSQL, or (``forward``)
        once PostgreSQL has run it and answered, so only the answer is lost."""
        if cut.forward:
            server.sendall(data)
            answer = b""
            while READY_FOR_QUERY not in answer:
                chunk = server.recv(65536)
                if not chunk:
                    break
                answer += chunk
        with self._lock:
            self._open.discard((client, server))
        cut.connections_cut = 1 + self._cut_all()
        cut.fired.set()

    # One loop over both directions of the pair, in the order the wire protocol needs them read:
    # split apart, the order that makes a cut land between two statements would be hard to follow.
    def _pipe(self, client: socket.socket, server: socket.socket) -> None:  # noqa: C901
        tail = b""
        first = True
        try:
            while True:
                readable, _, _ = select.select([client, server], [], [])
                if server in readable:
                    data = server.recv(65536)
                    if not data:
                        return
                    client.sendall(data)
                if client in readable:
                    data = client.recv(65536)
                    if not data:
                        return
                    if first and data[:8] in ENCRYPTION_REQUESTS:
                        client.sendall(b"N")
                        data = data[8:]
                        if not data:
                            continue
                    first = False
                    cut = self._take_cut(tail, data)
                    tail = data[-256:]
                    if cut is None:
                        server.sendall(data)
                        continue
                    self._fire(cut, data, client, server)
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._open.discard((client, server))
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

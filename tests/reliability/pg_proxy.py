"""A TCP proxy on 127.0.0.1 in front of PostgreSQL that a test can cut and restore.

Cutting it closes every proxied connection and turns new ones away (accepted, then closed at
once), which is what the bot sees when the server restarts: its pooled connections are dead
and reconnecting fails until the server is back. The shared PostgreSQL itself is never touched.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress

from sqlalchemy.engine import make_url


class PgProxy:
    """Forwards 127.0.0.1:<port> to the PostgreSQL server of a URL, until cut."""

    def __init__(self, url: str) -> None:
        target = make_url(url)
        self.target = (target.host or "127.0.0.1", target.port or 5432)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.up = True
        self.refused = 0  # connections turned away while cut
        self._closing = False
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, url: str) -> str:
        """Return url pointed at this proxy."""
        return make_url(url).set(host="127.0.0.1", port=self.port).render_as_string(False)

    def cut(self) -> None:
        """Drop every connection and refuse new ones (the server went away)."""
        self.up = False
        with self._lock:
            sockets, self._open = self._open, set()
        for s in sockets:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        """Accept connections again (the server is back)."""
        self.up = True

    def close(self) -> None:
        """Stop listening and drop everything."""
        self.cut()
        self._closing = True
        with suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
            pass  # wakes the accept loop, which then sees _closing
        self._thread.join(timeout=5)
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # the listener was closed
            if self._closing:
                client.close()
                return
            if not self.up:
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes one way until either side closes."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

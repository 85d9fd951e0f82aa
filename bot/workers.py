"""`lessons run --workers N`: one port served by N processes, forked from a master that stays.

The master binds N listening sockets to the same address with SO_REUSEPORT (the kernel spreads
new connections across them), then forks one worker per socket. Each worker builds its own app
(its own database pool; nothing is shared but the database) and serves its socket; worker 0
alone runs the scheduler. A worker that stops is started again; one that stops within
`SETTLE` seconds of starting (a refused token, a schema out of date) stops them all, and the
master exits with its status. SIGINT and SIGTERM stop every worker gracefully.

Only on PostgreSQL: SQLite has one writer at a time, and each process would keep caches of its
own that the others' writes cannot reach (on PostgreSQL they hear each other through LISTEN).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from types import FrameType

from aiohttp import web

log = logging.getLogger(__name__)

SETTLE = 10.0  # a worker that dies sooner than this after starting stops the whole server
BACKLOG = 512


class WorkersError(RuntimeError):
    """The workers could not be started (or kept running); the message says why."""


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """Bind `count` sockets to host:port with SO_REUSEPORT; a clear error if it is taken."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.set_inheritable(True)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise WorkersError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sockets


class Master:
    """Forks the workers, starts again those that stop, stops them all on a signal."""

    def __init__(
        self, sockets: list[socket.socket], build: Callable[[int], web.Application]
    ) -> None:
        self.sockets, self.build = sockets, build
        self.children: dict[int, tuple[int, float]] = {}  # pid → (worker index, started)
        self.stopping = False
        self.status = 0

    def run(self) -> int:
        """Serve until a signal (0) or a worker that could not start (its status)."""
        previous = {s: signal.signal(s, self._stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for index in range(len(self.sockets)):
                self._fork(index)
            while self.children:
                self._reap()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for sock in self.sockets:
                sock.close()
        return self.status

    def _fork(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            os._exit(self._serve(index))
        self.children[pid] = (index, time.monotonic())

    def _serve(self, index: int) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)  # aiohttp installs its own while it runs
        for i, sock in enumerate(self.sockets):
            if i != index:
                sock.close()
        try:
            web.run_app(self.build(index), sock=self.sockets[index], print=None)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # a worker's failure is printed, never a traceback
            print(f"lessons: worker {index} stopped: {exc}", file=sys.stderr, flush=True)
            return 2
        finally:
            sys.stdout.flush()
        return 0

    def _reap(self) -> None:
        try:
            pid, status = os.wait()
        except InterruptedError:  # a signal arrived: _stop ran, keep waiting
            return
        except ChildProcessError:
            self.children.clear()
            return
        index, started = self.children.pop(pid, (-1, 0.0))
        code = os.waitstatus_to_exitcode(status)
        if self.stopping or index < 0:
            return
        if time.monotonic() - started < SETTLE:
            log.error("worker %d stopped at start (status %d): stopping", index, code)
            self.status = code or 1
            self._stop(signal.SIGTERM, None)
            return
        log.warning("worker %d stopped (status %d): starting it again", index, code)
        self._fork(index)

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

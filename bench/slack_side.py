"""The Slack side of `lessons bench slack`, in its own process: the load and the Web API sink.

`python -m bench.slack_side` (started by `SlackSide.start`, from the bot's process) sends
correctly signed `event_callback` bodies over keep-alive connections and serves a minimal Web
API sink (`auth.test`, `users.info`, `conversations.open`, `chat.postMessage`, …) that counts
the answers. The two processes talk over the child's stdin/stdout, one JSON line per command.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import logging
import math
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import web

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]  # the checkout: the child imports bench from there

JSON = dict[str, Any]

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"
TEAM = "T0BENCH"
BOT_USER = "U0BOT"
PATH = "/slack/events"
RATE = 50.0
GRACE = 5.0
PREFIX = "BENCH "  # marks the child's protocol lines on its stdout
# Slack users of the bench, each a person of the demo directory (users.info gives the email).
USERS = {
    "U0BENCHAD": ("amina.diallo@un.example", "Amina Diallo"),
    "U0BENCHTH": ("tomas.herrera@un.example", "Tomás Herrera"),
    "U0BENCHPR": ("priya.raman@un.example", "Priya Raman"),
    "U0BENCHND": ("nyibol.deng@un.example", "Nyibol Deng"),
}
TOPICS = (
    "elections",
    "protection of civilians",
    "gender",
    "logistics",
    "mediation",
    "early warning",
    "civil-military coordination",
    "community engagement",
)
SORRY = "something went wrong"  # in the bot's apology (handlers.router.SORRY, on_error)

# The Slack side, seen from the bot's process ---------------------------------------------------


class SlackSide:
    """The child process that plays Slack: the load generator and the Web API sink."""

    def __init__(self, process: asyncio.subprocess.Process, api_url: str) -> None:
        self.process = process
        self.api_url = api_url

    @classmethod
    @asynccontextmanager
    async def start(cls) -> AsyncIterator[SlackSide]:
        """Start the child, wait for its sink's URL, and stop it afterwards."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.slack_side",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        try:
            hello = await cls._read(process, timeout=60)
            yield cls(process, str(hello["api_url"]))
        finally:
            if process.stdin is not None and not process.stdin.is_closing():
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()

    async def load(
        self,
        url: str,
        mode: str,
        *,
        seconds: float,
        rate: float = RATE,
        concurrency: int = 1,
        grace: float | None = None,
    ) -> JSON:
        """Run one load against url; with a grace, wait for answers (at the sink) that long."""
        command = {
            "url": url,
            "mode": mode,
            "seconds": seconds,
            "rate": rate,
            "concurrency": concurrency,
            "answers": grace is not None,
            "grace": grace or 0.0,
        }
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        return await self._read(self.process, timeout=seconds + (grace or 0) + 120)

    @staticmethod
    async def _read(process: asyncio.subprocess.Process, *, timeout: float) -> JSON:  # noqa: ASYNC109
        assert process.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                line = await process.stdout.readline()
                if not line:
                    raise RuntimeError(f"the Slack side stopped (exit status {process.returncode})")
                text = line.decode()
                if text.startswith(PREFIX):
                    found: JSON = json.loads(text.removeprefix(PREFIX))
                    if "error" in found:
                        raise RuntimeError(f"the Slack side failed: {found['error']}")
                    return found


# The Slack side, in its own process ------------------------------------------------------------


class Sink:
    """A minimal Slack Web API on 127.0.0.1 that records where and when answers arrive."""

    def __init__(self) -> None:
        self.answers: dict[str, float] = {}  # thread_ts → arrival (time.monotonic())
        self.failed: dict[str, str] = {}  # thread_ts → what arrived instead of an answer
        self.waiters: dict[str, asyncio.Future[None]] = {}
        self.calls: dict[str, int] = {}
        self._ts = itertools.count(1)

    def app(self) -> web.Application:
        """The aiohttp app: `/api/<method>`, GET or POST."""
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one Web API call."""
        method = request.match_info["method"]
        self.calls[method] = self.calls.get(method, 0) + 1
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                args.update(body)
        elif request.method == "POST":
            args.update((k, v) for k, v in (await request.post()).items() if isinstance(v, str))
        return web.json_response(self.answer(method, args))

    def answer(self, method: str, args: dict[str, Any]) -> JSON:
        """The Web API's answer to a call (and the record of a delivered answer)."""
        match method:
            case "auth.test":
                return {
                    "ok": True,
                    "url": "https://bench.slack.example/",
                    "team": "Bench",
                    "user": "lessons",
                    "team_id": TEAM,
                    "user_id": BOT_USER,
                    "bot_id": "B0BOT",
                }
            case "users.info":
                user = str(args.get("user", ""))
                email, name = USERS.get(user, (f"{user.lower()}@bench.example", user))
                return {
                    "ok": True,
                    "user": {
                        "id": user,
                        "team_id": TEAM,
                        "name": email.partition("@")[0],
                        "real_name": name,
                        "tz": "Africa/Bangui",
                        "is_bot": False,
                        "profile": {"email": email, "real_name": name},
                    },
                }
            case "conversations.info":
                channel = str(args.get("channel", ""))
                return {"ok": True, "channel": {"id": channel, "name": f"bench-{channel[-2:]}"}}
            case "conversations.open":
                return {"ok": True, "channel": {"id": f"D{args.get('users', 'X')}"}}
            case "chat.postMessage" | "chat.postEphemeral":
                ts = f"1900000000.{next(self._ts):06d}"
                self.delivered(method, args)
                return {"ok": True, "channel": args.get("channel"), "ts": ts, "message_ts": ts}
        return {"ok": True}

    def delivered(self, method: str, args: dict[str, Any]) -> None:
        """Record an answer in a mention's thread (an apology or a private reply is a failure)."""
        thread = str(args.get("thread_ts", ""))
        if not thread:
            return
        text = str(args.get("text", ""))
        if method == "chat.postEphemeral" or SORRY in text:
            self.failed[thread] = f"{method}: {text[:200]}"
        else:
            self.answers[thread] = time.monotonic()
        waiter = self.waiters.pop(thread, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Connection:
    """One keep-alive HTTP/1.1 connection that posts and reads whole responses (no chunking).

    A client this small keeps the load generator's cost per request low, so the server, not
    the generator, is what runs out of CPU first.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        """Connect to host:port."""
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def post(self, request: bytes) -> tuple[int, bool]:
        """Send a whole request; return the response status and whether the server closes."""
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, closing = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            match name.strip().lower():
                case b"content-length":
                    length = int(value)
                case b"connection":
                    closing = value.strip().lower() == b"close"
                case b"transfer-encoding":
                    raise ValueError("chunked responses are not supported")
        if length:
            await self.reader.readexactly(length)
        return status, closing

    async def close(self) -> None:
        """Close the connection."""
        self.writer.close()
        with suppress(OSError):
            await self.writer.wait_closed()


class Mentions:
    """Correctly signed `event_callback` bodies, each with a unique event_id and ts."""

    def __init__(self) -> None:
        self._seq = itertools.count()
        self.secret = SECRET.encode()
        self.users = list(USERS)

    def next(self, host: str, path: str) -> tuple[str, bytes]:
        """Return the event's ts (the thread the answer goes to) and the whole HTTP request."""
        seq = next(self._seq)
        ts = f"{1_700_000_000 + seq // 1_000_000}.{seq % 1_000_000:06d}"
        topic = seq % len(TOPICS)
        now = int(time.time())
        body = json.dumps(
            {
                "token": "bench-verification-token",
                "team_id": TEAM,
                "api_app_id": "A0BENCH",
                "event": {
                    "type": "app_mention",
                    "user": self.users[seq % len(self.users)],
                    "text": f"<@{BOT_USER}> what did we learn about {TOPICS[topic]}?",
                    "ts": ts,
                    "channel": f"C0BENCH{topic:02d}",  # one channel per topic
                    "event_ts": ts,
                },
                "type": "event_callback",
                "event_id": f"Ev0BENCH{seq:010d}",
                "event_time": now,
                "authorizations": [
                    {"team_id": TEAM, "user_id": BOT_USER, "is_bot": True, "enterprise_id": None}
                ],
                "is_ext_shared_channel": False,
            }
        ).encode()
        base = f"v0:{now}:".encode() + body
        signature = hmac.new(self.secret, base, hashlib.sha256).hexdigest()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"X-Slack-Request-Timestamp: {now}\r\nX-Slack-Signature: v0={signature}\r\n\r\n"
        )
        return ts, head.encode() + body


class Answers(Protocol):
    """Where a load's answers are counted (the Web API sink, or the Teams side's connector)."""

    answers: dict[str, float]
    failed: dict[str, str]
    waiters: dict[str, asyncio.Future[None]]


class Requests(Protocol):
    """What a load sends: the next request, and the key its answer will be counted under."""

    def next(self, host: str, path: str) -> tuple[str, bytes]:
        """Return the answer's key and the whole HTTP request."""
        ...


class Phase:
    """One load against one URL, and what it measured."""

    def __init__(self, sink: Answers, mentions: Requests, command: JSON) -> None:
        self.sink = sink
        self.mentions = mentions
        url = urlsplit(str(command["url"]))
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 80
        self.path = url.path or PATH
        self.mode = str(command["mode"])
        self.seconds = float(command["seconds"])
        self.rate = float(command["rate"])
        self.concurrency = int(command["concurrency"])
        self.want_answers = bool(command["answers"])
        self.grace = float(command["grace"])
        self.due: dict[str, float] = {}  # ts → when it was due (acked 200 only)
        self.ack_ms: list[float] = []
        self.sent = 0
        self.errors: dict[str, int] = {}
        self.idle: list[Connection] = []

    async def run(self) -> JSON:
        """Send for the phase's seconds, then wait for the answers; return the figures."""
        cpu = os.times()
        start = time.monotonic()
        if self.mode == "rate":
            await self._open_loop(start)
        else:
            await self._closed_loop(start, paced=self.mode == "paced")
        stopped = time.monotonic()
        for conn in self.idle:
            await conn.close()
        answered, drain = None, None
        backlog = sum(1 for ts in self.due if ts not in self.sink.answers)
        if self.want_answers:
            remaining = list(self.due)
            deadline = stopped + self.grace
            while True:
                remaining = [
                    ts
                    for ts in remaining
                    if ts not in self.sink.answers and ts not in self.sink.failed
                ]
                if not remaining or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.02)
            answered = sum(1 for ts in self.due if ts in self.sink.answers)
            drain = max(0.0, self._last_answer(stopped) - stopped)
        figures = self._figures(start, stopped, answered, backlog, drain)
        now = os.times()
        spent = now.user - cpu.user + now.system - cpu.system
        figures["slack_side_cores_busy"] = round(spent / (time.monotonic() - start), 2)
        return figures

    def _last_answer(self, default: float) -> float:
        times = [self.sink.answers[ts] for ts in self.due if ts in self.sink.answers]
        return max(times, default=default)

    def _figures(
        self,
        start: float,
        stopped: float,
        answered: int | None,
        backlog: int,
        drain: float | None,
    ) -> JSON:
        elapsed = stopped - start
        answer_ms = [
            (self.sink.answers[ts] - due) * 1000
            for ts, due in self.due.items()
            if ts in self.sink.answers
        ]
        answered_per_s = None
        if answered is not None:
            span = max(stopped, self._last_answer(stopped)) - start
            answered_per_s = round(answered / span, 1) if span > 0 else 0.0
        return {
            "mode": self.mode,
            "rate": self.rate if self.mode == "rate" else None,
            "concurrency": self.concurrency if self.mode != "rate" else None,
            "seconds": round(elapsed, 2),
            "sent": self.sent,
            "acked": len(self.due),
            "errors": sum(self.errors.values()),
            "error_kinds": self.errors,
            "acks_per_s": round(len(self.due) / elapsed, 1) if elapsed > 0 else 0.0,
            "ack_ms": _summary(self.ack_ms),
            "answered": answered,
            "failed_answers": sum(1 for ts in self.due if ts in self.sink.failed),
            "failures": sorted({self.sink.failed[ts] for ts in self.due if ts in self.sink.failed})[
                :3
            ],
            "all_answered": answered == len(self.due) if answered is not None else None,
            "answered_per_s": answered_per_s,
            "answer_ms": _summary(answer_ms),
            "backlog_at_stop": backlog if answered is not None else None,
            "drain_s": round(drain, 2) if drain is not None else None,
        }

    async def _send(self, due: float, conn: Connection | None) -> tuple[Connection | None, str]:
        """Send the next mention on conn (or a new connection).

        Return the connection to keep using, and the mention's ts when it was acked (else "").
        """
        ts, request = self.mentions.next(f"{self.host}:{self.port}", self.path)
        self.sent += 1
        try:
            if conn is None:
                conn = await Connection.open(self.host, self.port)
            status, closing = await conn.post(request)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            kind = type(exc).__name__
            self.errors[kind] = self.errors.get(kind, 0) + 1
            if conn is not None:
                await conn.close()
            return None, ""
        if 200 <= status < 300:  # Slack's acks are 200, Teams' 200 or 202
            self.due[ts] = due
            self.ack_ms.append((time.monotonic() - due) * 1000)
        else:
            self.errors[str(status)] = self.errors.get(str(status), 0) + 1
            ts = ""
        if closing:
            await conn.close()
            return None, ts
        return conn, ts

    async def _open_loop(self, start: float) -> None:
        """Send at a fixed rate whatever the server does; latency counts from when it was due."""
        tasks: set[asyncio.Task[None]] = set()

        async def one(due: float) -> None:
            conn, _ = await self._send(due, self.idle.pop() if self.idle else None)
            if conn is not None:
                self.idle.append(conn)

        for i in range(int(self.seconds * self.rate)):
            due = start + i / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks)

    async def _closed_loop(self, start: float, *, paced: bool) -> None:
        """C senders, each sending again as soon as its ack (paced: its answer) is back."""
        deadline = start + self.seconds
        loop = asyncio.get_running_loop()

        async def sender() -> None:
            conn: Connection | None = None
            while time.monotonic() < deadline:
                conn, ts = await self._send(time.monotonic(), conn)
                if paced and ts and ts not in self.sink.answers and ts not in self.sink.failed:
                    waiter: asyncio.Future[None] = loop.create_future()
                    self.sink.waiters[ts] = waiter
                    with suppress(TimeoutError):
                        await asyncio.wait_for(waiter, timeout=max(self.grace, 1.0))
                    self.sink.waiters.pop(ts, None)
            if conn is not None:
                await conn.close()

        await asyncio.gather(*(sender() for _ in range(self.concurrency)))


def _summary(ms: list[float]) -> JSON:
    if not ms:
        return {"p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(ms)

    def pct(p: float) -> float:
        return round(ordered[max(0, math.ceil(p * len(ordered)) - 1)], 2)

    return {
        "p50": pct(0.50),
        "p90": pct(0.90),
        "p99": pct(0.99),
        "max": round(ordered[-1], 2),
        "mean": round(statistics.fmean(ordered), 2),
    }


async def slack_side() -> None:
    """The child process: start the sink, print its URL, then run each load read from stdin."""
    sink = Sink()
    runner = web.AppRunner(sink.app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        _say({"api_url": f"http://127.0.0.1:{runner.addresses[0][1]}/api/"})
        reader = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
        )
        mentions = Mentions()  # one sequence for the whole run: event ids never repeat
        try:
            while line := await reader.readline():
                try:
                    _say(await Phase(sink, mentions, json.loads(line)).run())
                except Exception as exc:
                    log.exception("load failed")
                    _say({"error": f"{type(exc).__name__}: {exc}"})
        finally:
            transport.close()
    finally:
        await runner.cleanup()


def _say(message: JSON) -> None:
    print(PREFIX + json.dumps(message), flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(slack_side())

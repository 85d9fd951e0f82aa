"""A minimal Slack Web API on 127.0.0.1 with Slack's rate limits, for the scheduler benchmark.

It answers what the reminder path calls (`conversations.open`, `chat.postMessage`,
`conversations.history`, `users.lookupByEmail`) and enforces what Slack documents for posts:
about one message a second per channel, and a workspace cap (`workspace_rate` per second); a
post over either gets HTTP 429 with Retry-After, as Slack answers. No validation of blocks:
the tests' fake Slack does that; this one only has to be cheap, so it does not skew timings.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from typing import Any

from aiohttp import web

from bench.scheduler import make_due
from bot.slack.reminders import ReminderNotifier, reminder_client
from scheduler.clock import ManualClock
from scheduler.jobs import Scheduler
from scheduler.pace import Pace

Json = dict[str, Any]


class SlackSink:
    """Counts posts, keeps them per channel, and says 429 when a limit is crossed."""

    def __init__(self, *, workspace_rate: float = 0.0, channel_interval: float = 1.0) -> None:
        self.workspace_rate = workspace_rate
        self.channel_interval = channel_interval
        self.posted = 0
        self.limited = 0
        self.messages: dict[str, list[Json]] = {}
        self._last: dict[str, float] = {}
        self._window: deque[float] = deque()
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        """Serve on a free port of 127.0.0.1."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._call)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/api/"

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _call(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: Json = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(await request.post())
        if method == "conversations.open":
            user = str(args.get("users", ""))
            return web.json_response({"ok": True, "channel": {"id": "D" + user[1:]}})
        if method == "chat.postMessage":
            return self._post(args)
        if method == "conversations.history":
            found = self.messages.get(str(args.get("channel", "")), [])
            return web.json_response({"ok": True, "messages": list(reversed(found[-50:]))})
        if method == "users.lookupByEmail":
            return web.json_response({"ok": False, "error": "users_not_found"})
        return web.json_response({"ok": False, "error": "unknown_method"})

    def _post(self, args: Json) -> web.Response:
        now = time.monotonic()
        channel = str(args.get("channel", ""))
        while self._window and now - self._window[0] > 1.0:
            self._window.popleft()
        busy = now - self._last.get(channel, -1e9) < self.channel_interval * 0.9
        full = self.workspace_rate > 0 and len(self._window) >= self.workspace_rate
        if busy or full:
            self.limited += 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
            )
        self._last[channel] = now
        self._window.append(now)
        self.posted += 1
        ts = f"1700000000.{next(self._ts):06d}"
        message = {"ts": ts, "text": args.get("text", ""), "metadata": args.get("metadata")}
        self.messages.setdefault(channel, []).append(message)
        return web.json_response({"ok": True, "channel": channel, "ts": ts})


async def deliver_through_sink(
    scheduler: Scheduler, count: int, rate: float, offset: int
) -> dict[str, Any]:
    """Deliver `count` recipients' reminders through a sink, paced at `rate` a second (0: not).

    The recipients are people of the time zone UTC+`offset` (see bench.scheduler.make_due).

    The sink's workspace cap is 50 posts a second when paced (the pace should stay under it:
    no 429), none when unpaced (the figure is then what the scheduler and one HTTP session can
    push).
    """
    sink = SlackSink(workspace_rate=50.0 if rate else 0.0)
    await sink.start()
    notifier = ReminderNotifier(reminder_client("xoxb-bench", sink.url), pace=1.0)
    deliverer = scheduler.deliverer
    before = (deliverer.notifiers, deliverer.pace)
    deliverer.notifiers, deliverer.pace = [notifier], Pace(rate)
    try:
        due = await make_due(scheduler, count, offset)
        clock = scheduler.clock
        assert isinstance(clock, ManualClock)
        clock.set(due)
        started = time.perf_counter()
        outcomes: dict[str, int] = {}
        while (done := await deliverer.batch()) is not None:
            for d in done:
                outcomes[d.outcome] = outcomes.get(d.outcome, 0) + 1
        seconds = time.perf_counter() - started
    finally:
        deliverer.notifiers, deliverer.pace = before
        await notifier.aclose()
        await sink.close()
    return {
        "recipients": count,
        "messages": sink.posted,
        "seconds": round(seconds, 2),
        "messages_per_s": round(sink.posted / seconds, 1) if seconds else 0.0,
        "pace_per_s": rate,
        "rate_limited_429": sink.limited,
        "outcomes": outcomes,
    }

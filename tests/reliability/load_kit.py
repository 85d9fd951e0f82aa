"""Correctly signed Slack and Teams requests, a bounded load loop, and the figures it yields."""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import _fakes  # noqa: F401
import aiohttp
from fake_slack import FakeSlack, app_mention, event_callback, signed_headers, slash_command
from fake_teams import FakeTeams, Member, personal_message

SECRET = "soak-signing-secret"
TOKEN = "xoxb-soak"
SLACK_USERS = {
    "U0SOAKAD": ("amina.diallo@un.example", "Amina Diallo"),
    "U0SOAKTH": ("tomas.herrera@un.example", "Tomás Herrera"),
    "U0SOAKPR": ("priya.raman@un.example", "Priya Raman"),
}
# Many people, each in a personal chat of their own: Teams lets a bot send only 60 messages in
# 30 s to one conversation, and the bot keeps to that (bot/teams/pace.py), so a load on one or
# two conversations would measure the pacing, not the bot.
TEAMS_MEMBERS = tuple(
    Member(f"aad-soak-{n}", f"29:soak-{n}", f"Soak Person {n}", f"soak.person{n}@un.example")
    for n in range(128)
)
TOPICS = ("elections", "protection of civilians", "logistics", "mediation", "early warning")
KINDS = ("app_mention", "slash_command", "teams_message")

Request = tuple[str, bytes, dict[str, str]]  # path, body, headers


class Requests:
    """Builds the three kinds of request the bot acks: each one new (ids, ts, trigger)."""

    def __init__(self, slack: FakeSlack, teams: FakeTeams) -> None:
        self.slack = slack
        self.teams = teams
        self.teams_token = teams.token(expires_in=3 * 3600)
        self._seq = itertools.count(1)
        self.users = list(SLACK_USERS)

    def build(self, kind: str) -> Request:
        """Return the next request of a kind."""
        seq = next(self._seq)
        question = f"what did we learn about {TOPICS[seq % len(TOPICS)]}?"
        user = self.users[seq % len(self.users)]
        if kind == "app_mention":
            ts = f"{1_800_000_000 + seq // 1_000_000}.{seq % 1_000_000:06d}"
            event = app_mention(f"<@{self.slack.bot_user_id}> {question}", user, "C0SOAK01", ts)
            body = json.dumps(event_callback(event, event_id=f"Ev0SOAK{seq:010d}")).encode()
            return "/slack/events", body, self._signed(body, "application/json")
        if kind == "slash_command":
            fields = slash_command(
                question, user, "C0SOAK01", response_url=self.slack.response_url(f"soak{seq}")
            )
            body = urlencode(fields).encode()
            return "/slack/events", body, self._signed(body, "application/x-www-form-urlencoded")
        member = TEAMS_MEMBERS[seq % len(TEAMS_MEMBERS)]
        body = json.dumps(personal_message(self.teams, member, question)).encode()
        headers = {
            "Authorization": f"Bearer {self.teams_token}",
            "Content-Type": "application/json",
        }
        return "/api/messages", body, headers

    @staticmethod
    def _signed(body: bytes, content_type: str) -> dict[str, str]:
        return {**signed_headers(body, SECRET), "Content-Type": content_type}


@dataclass
class Tally:
    """Ack latencies and errors of one load."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    ended: float = 0.0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    def figures(self) -> dict[str, Any]:
        """Return count, errors, throughput and ack p50/p99/max in ms."""
        ms = sorted(self.latencies_ms)
        wall = (self.ended or time.monotonic()) - self.started
        return {
            "acked": len(ms),
            "errors": dict(self.errors),
            "seconds": round(wall, 1),
            "acked_per_s": round(len(ms) / wall, 1) if wall > 0 else 0.0,
            "ack_p50_ms": round(statistics.median(ms), 1) if ms else None,
            "ack_p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 1) if ms else None,
            "ack_max_ms": round(ms[-1], 1) if ms else None,
        }


async def send(session: aiohttp.ClientSession, url: str, request: Request, tally: Tally) -> None:
    """Post one request and record its ack time, or why it failed."""
    path, body, headers = request
    start = time.perf_counter()
    try:
        async with session.post(url + path, data=body, headers=headers) as response:
            await response.read()
            if response.status >= 300:
                tally.error(f"http {response.status}")
                return
    except (aiohttp.ClientError, TimeoutError) as exc:
        tally.error(type(exc).__name__)
        return
    tally.latencies_ms.append((time.perf_counter() - start) * 1000)


async def closed_loop(
    url: str, build: Callable[[], Request], *, concurrency: int, seconds: float, limit: int
) -> Tally:
    """C workers, each sending again once acked; bounded by time and by count."""
    tally = Tally()
    deadline = time.monotonic() + seconds
    budget = itertools.count()
    timeout = aiohttp.ClientTimeout(total=30)

    async def worker(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline and next(budget) < limit:
            await send(session, url, build(), tally)

    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    tally.ended = time.monotonic()
    return tally


async def open_loop(
    url: str,
    build: Callable[[], Request],
    *,
    rate: float,
    seconds: float,
    every: float,
    sample: Callable[[], float],
) -> tuple[Tally, list[tuple[float, float]]]:
    """Send at a fixed rate for `seconds` (rate * seconds requests); sample every `every`."""
    tally, samples = Tally(), [(0.0, sample())]
    timeout = aiohttp.ClientTimeout(total=30)
    in_flight: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(timeout=timeout) as session:
        start = time.monotonic()
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
            task = asyncio.create_task(send(session, url, build(), tally))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            elapsed = time.monotonic() - start
            if elapsed - samples[-1][0] >= every:
                samples.append((round(elapsed, 1), sample()))
        await asyncio.gather(*in_flight)
        samples.append((round(time.monotonic() - start, 1), sample()))
    tally.ended = time.monotonic()
    return tally, samples


def flatness(samples: list[tuple[float, float]]) -> dict[str, Any]:
    """Judge RSS flat: the least-squares slope over the last 2/3 of the samples, in MB/min."""
    tail = samples[len(samples) // 3 :]
    xs, ys = [t for t, _ in tail], [mb for _, mb in tail]
    slope = statistics.linear_regression(xs, ys).slope if len(tail) > 1 else 0.0
    span = xs[-1] - xs[0] if len(xs) > 1 else 0.0
    return {
        "first_mb": samples[0][1],
        "max_mb": max(mb for _, mb in samples),
        "last_mb": samples[-1][1],
        "tail_slope_mb_per_min": round(slope * 60, 3),
        "tail_growth_mb": round(slope * span, 2),
    }

"""Replicas: `lessons scheduler run-once` processes against one database and the fake Slack.

3,000 overdue actions of 600 owners (three delivery batches). On PostgreSQL three replicas run
at once and the one holding claims is killed with SIGKILL mid-run; on SQLite one process is
killed the same way.
A later run (after the lease) finishes the work. Deliveries are counted where they land, at
the fake Slack: every owner gets exactly one nudge message for the period, nothing is lost and
nothing is duplicated.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import private_schema, schema_url
from fake_slack import FakeSlack, dm_channel_id
from scheduler_world import at_local, bulk_overdue
from sqlalchemy import func, select

from knowledge.database import make_engine, upgrade
from knowledge.models import Notification, NotificationStatus, Person
from knowledge.storage import Store

OWNERS = 600
PER_OWNER = 5
WED = date(2026, 11, 25)
NOW = at_local(WED, 9, 5)
TOKEN = "xoxb-replicas"
LEASE_SECONDS = 5
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Return the URL of an empty, migrated database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'replicas.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    with private_schema("lessons_replicas") as schema:
        engine = make_engine(schema_url(schema))
        upgrade(engine)
        engine.dispose()
        yield schema_url(schema)


def _env(url: str, slack: FakeSlack) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LESSONS_", "SLACK_"))}
    env.update(
        LESSONS_DATABASE_URL=url,
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_API_URL=slack.api_url,
        LESSONS_SLACK_PACE_SECONDS="0",
        LESSONS_PLATFORM_RATE="0",
        LESSONS_SCHEDULER_LEASE_SECONDS=str(LEASE_SECONDS),
        LESSONS_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


async def _replica(env: dict[str, str], now: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "scheduler", "run-once", "--now", now,
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def _claims(store: Store) -> Counter[str]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(Notification.claimed_by, func.count())
            .where(Notification.status == NotificationStatus.CLAIMED)
            .group_by(Notification.claimed_by)
        ).all()
    return Counter({str(who): int(n) for who, n in rows})


async def _kill_one_holding_claims(
    procs: list[asyncio.subprocess.Process], store: Store, slack: FakeSlack
) -> int:
    """Wait until deliveries flow, then SIGKILL a replica that holds claims; return its pid."""
    deadline = asyncio.get_running_loop().time() + 180  # start-up is slow on a loaded machine
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
        if len(slack.calls_to("chat.postMessage")) < OWNERS // 10:
            continue
        claims = await asyncio.to_thread(_claims, store)
        for proc in procs:
            if proc.returncode is None and any(f":{proc.pid}:" in who for who in claims):
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
                return proc.pid
    raise AssertionError("no replica was caught holding claims")


async def test_every_owner_gets_exactly_one_nudge_despite_a_killed_replica(
    database: str,
) -> None:
    store = Store.open(database)
    try:
        bulk_overdue(
            store, owners=OWNERS, per_owner=PER_OWNER, due=WED - timedelta(days=1), slack=True
        )
        with store.engine.connect() as conn:
            people = conn.execute(select(Person.slack_user_id, Person.email)).all()
        async with FakeSlack(token=TOKEN) as slack:
            for user_id, email in people:
                slack.add_user(user_id, email=email)
            env = _env(database, slack)
            replicas = 3 if database.startswith("postgres") else 1
            procs = [await _replica(env, NOW.isoformat()) for _ in range(replicas)]
            victim = await _kill_one_holding_claims(procs, store, slack)
            outputs = [await p.communicate() for p in procs if p.pid != victim]
            for p, (_, err) in zip([p for p in procs if p.pid != victim], outputs, strict=True):
                assert p.returncode == 0, err.decode()
            # The next tick, five minutes on: the killed replica's lease has run out (survivors
            # may already have taken over its recipients), and it finishes whatever is left.
            later = (NOW + timedelta(minutes=5)).isoformat()
            last = await _replica(env, later)
            out, err = await last.communicate()
            assert last.returncode == 0, err.decode()
            await slack.settle(quiet=0.2)

            per_channel = Counter(channel for (channel, _) in slack.messages)
            channels = {dm_channel_id(user_id) for user_id, _ in people}
            assert set(per_channel) == channels  # nobody lost
            assert set(per_channel.values()) == {1}  # nobody twice
            with store.engine.connect() as conn:
                statuses = dict(
                    conn.execute(
                        select(Notification.status, func.count()).group_by(Notification.status)
                    ).all()
                )
                refs = conn.execute(
                    select(func.count(func.distinct(Notification.message_ref)))
                ).scalar_one()
            assert statuses == {NotificationStatus.SENT: OWNERS * PER_OWNER}
            assert refs == len(slack.messages) == OWNERS
            for message in slack.messages.values():
                assert str(message["text"]).count("Action ") == PER_OWNER
            assert "Deliveries:" in out.decode()
            slack.assert_clean()
    finally:
        store.close()

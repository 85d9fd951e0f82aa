"""Teams' connector failing under proactive nudges: 500s, connection resets, throttling.

A nudge the connector never took is not marked sent; a later run delivers it, once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import _fakes  # noqa: F401
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_teams import CA_VARIABLES, FakeTeams, Member, installed_personal, text_of
from scheduler_world import ledger
from sqlalchemy import select

from bot import reminders
from bot.app import build_app
from bot.settings import Settings
from knowledge.models import Action, ActionStatus, NotificationStatus
from knowledge.storage import Store
from scheduler.clock import ManualClock
from scheduler.config import SchedulerSettings
from scheduler.jobs import Scheduler

Client = TestClient[web.Request, web.Application]
TOMAS = Member("aad-tomas", "29:tomas", "Tomás Herrera", "tomas.herrera@un.example")
PERSONAL = "a:personal-aad-tomas"
SQLITE_ONLY = pytest.mark.parametrize("store", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTeams]:
    with pytest.MonkeyPatch.context() as env, FakeTeams() as f:
        for name in CA_VARIABLES:
            env.setenv(name, str(f.ca_file))
        f.add_member(TOMAS)
        yield f


@pytest.fixture
async def installed(demo_store: Store, fake: FakeTeams) -> AsyncIterator[FakeTeams]:
    """Tomás has the bot in his personal scope, and one of his actions is overdue."""
    fake.reset()
    client: Client = TestClient(
        TestServer(build_app(Settings.from_env(fake.env()), store=demo_store), host="127.0.0.1")
    )
    await client.start_server()
    response = await client.post(
        "/api/messages",
        json=installed_personal(fake, TOMAS),
        headers={"Authorization": f"Bearer {fake.token()}"},
    )
    assert response.status == 202
    await client.close()
    person = await demo_store.person_for("teams", TOMAS.aad)
    with demo_store.session() as s:
        action = s.scalars(select(Action).where(Action.owner_id == person)).first()
        assert action is not None
        action.status, action.due_date = ActionStatus.OPEN, date(2026, 11, 20)
    fake.reset()
    yield fake


def nudges(teams: FakeTeams) -> list[str]:
    return [t for card in teams.cards(PERSONAL) if "overdue" in (t := text_of(card)).lower()]


@SQLITE_ONLY
@pytest.mark.parametrize("fault", ["500", "reset"])
async def test_a_nudge_the_connector_never_took_is_sent_later_once(
    installed: FakeTeams, demo_store: Store, fault: str
) -> None:
    teams = installed
    tomas = await demo_store.person_for("teams", TOMAS.aad)
    for _ in range(8):  # more than the notifier's retries: this run cannot get through
        teams.fail_next(500) if fault == "500" else teams.drop_next()
    clock = ManualClock(datetime(2026, 11, 25, 9, 5, tzinfo=ZoneInfo("Africa/Bangui")))
    scheduler = Scheduler(
        store=demo_store,
        notifiers=reminders.notifiers(Settings.from_env(teams.env()), demo_store),
        settings=SchedulerSettings(platform_rate=0),
        clock=clock,
        reviews=False,
    )
    try:
        await scheduler.tick()
        his = [r for r in ledger(demo_store, "nudge") if r.recipient_id == tomas]
        assert his and all(r.status != NotificationStatus.SENT for r in his)  # none marked sent
        teams.reset()  # the connector is back
        clock.set(clock() + timedelta(hours=3))  # past the backoff
        await scheduler.tick()
    finally:
        await scheduler.aclose()
    assert len(nudges(teams)) == 1  # delivered once
    his = [r for r in ledger(demo_store, "nudge") if r.recipient_id == tomas]
    assert his and {r.status for r in his} == {NotificationStatus.SENT}

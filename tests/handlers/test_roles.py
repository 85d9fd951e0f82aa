"""Roles from chat: admins grant and revoke them (named by mention, @Name or email), anyone in
the directory lists them, caches follow at once, and every change is in the audit trail."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from handlers.chat import Command, ConversationRef, Incoming, Message, Reply, Text, UserRef
from handlers.deps import Deps
from handlers.roles import split_grant
from handlers.router import dispatch
from knowledge.audit import Audit
from knowledge.errors import DomainError
from knowledge.models import Role
from knowledge.records import PersonRecord, ProductRecord
from knowledge.roles import Roles
from knowledge.storage import Store

DEMO = Path(__file__).resolve().parents[2] / "knowledge" / "demo" / "corpus.json"
HERE = ConversationRef("local", "dm")
CHEN = UserRef("local", "chen.wei@un.example", "Chen Wei")  # the demo's admin
FARIDA = UserRef("local", "farida.rahimi@un.example", "Farida Rahimi")
TOMAS = UserRef("local", "tomas.herrera@un.example", "Tomás Herrera")


@dataclass
class Inbox:
    platform: str = "local"
    sent: list[tuple[UserRef, Reply]] = field(default_factory=list)

    async def send(self, to: UserRef, reply: Reply) -> None:
        self.sent.append((to, reply))

    async def post(self, where: ConversationRef, reply: Reply) -> ConversationRef | None:
        raise AssertionError("roles never post in channels")


@pytest.fixture
async def directory(store: Store, today: date) -> Store:
    people = json.loads(DEMO.read_text(encoding="utf-8"))["people"]
    records: list[tuple[int, PersonRecord | ProductRecord]] = [
        (i, PersonRecord.from_mapping(p, today=today)) for i, p in enumerate(people, 1)
    ]
    await store.import_records(records, source="people")
    return store


async def say(store: Store, who: UserRef, words: str, inbox: Inbox | None = None) -> Reply:
    incoming: Incoming = Command(who, HERE, "lessons", words)
    reply = await dispatch(incoming, Deps(store=store, notifier=inbox or Inbox()))
    assert reply is not None
    return reply


def text(reply: Reply) -> str:
    return "\n".join(e.markdown for e in reply.elements if isinstance(e, Text))


async def roles_of(store: Store, email: str) -> tuple[str, ...]:
    person = await store.person_for("local", email)
    assert person is not None
    [holder] = await Roles(store).holders(person)
    return holder.labels


async def test_an_admin_grants_a_scoped_role_and_it_holds_at_once(directory: Store) -> None:
    inbox = Inbox()
    tomas = await directory.person_for("local", TOMAS.user_id)
    before = await directory.viewer_for(tomas)  # cached: the grant must show through it

    reply = await say(directory, CHEN, "role grant @Tomás Herrera pbpo minusca", inbox)

    assert reply.private
    assert text(reply) == (
        "✅ Tomás Herrera is now a PBPO of MINUSCA. I told Tomás Herrera.\n"
        "Their roles now: pbpo (MINUSCA), staff."
    )
    [(to, news)] = inbox.sent
    assert to.user_id == TOMAS.user_id
    assert text(news) == "Chen Wei made you a PBPO of MINUSCA in Lessons Bot."
    assert "group:pbpo" not in before.principals
    assert "group:pbpo" in (await directory.viewer_for(tomas)).principals
    [row] = await Audit(directory).events()
    assert (row.person, row.surface, row.operation, row.subject, row.after) == (
        "Chen Wei",
        "local",
        "grant_role",
        f"person:{tomas}",
        {"roles": ["pbpo:MINUSCA", "staff"]},
    )
    again = await say(directory, CHEN, "role grant tomas.herrera@un.example PBPO MINUSCA")
    assert text(again).startswith("Tomás Herrera is a PBPO of MINUSCA already.")
    assert len(await Audit(directory).events()) == 1


async def test_only_admins_grant_or_revoke_and_they_are_told_so(directory: Store) -> None:
    for words in ("role grant @Tomás Herrera admin", "role revoke @Chen Wei admin"):
        reply = await say(directory, FARIDA, words)
        assert reply.private
        assert text(reply) in (
            "⚠️ Only an admin can grant roles.",
            "⚠️ Only an admin can revoke roles.",
        )
    assert await roles_of(directory, "chen.wei@un.example") == ("admin", "staff")
    assert await Audit(directory).events() == []


async def test_revoking_and_the_last_admin(directory: Store) -> None:
    done = await say(directory, CHEN, "role revoke @Farida Rahimi pbpo")
    assert text(done).startswith("✅ Farida Rahimi is no longer a PBPO.")
    nothing = await say(directory, CHEN, "role revoke @Farida Rahimi pbpo MINUSCA")
    assert text(nothing).startswith("Farida Rahimi is not a PBPO of MINUSCA, so nothing changed.")
    last = await say(directory, CHEN, "role revoke @Chen Wei admin")
    assert text(last) == "⚠️ Chen Wei is the last admin: grant admin to someone else first."
    await say(directory, CHEN, "role grant @Farida Rahimi admin")
    assert "no longer an admin" in text(await say(directory, CHEN, "role revoke @Chen Wei admin"))
    assert "admin" not in await roles_of(directory, "chen.wei@un.example")


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("role grant @Tomás Herrera boss", "⚠️ Name the person, then the role"),
        ("role grant @Tomás Herrera admin MINUSCA", "⚠️ The admin role holds everywhere"),
        ("role grant @Nobody Here pbpo", "⚠️ I could not find “@Nobody Here”"),
        ("role grant pbpo MINUSCA", "⚠️ Name the person, then the role"),
    ],
)
async def test_a_grant_that_cannot_be_read_says_how(
    directory: Store, words: str, message: str
) -> None:
    assert text(await say(directory, CHEN, words)).startswith(message)


async def test_a_slack_mention_names_the_person(directory: Store) -> None:
    await directory.link_user("slack", "UCHEN", email=CHEN.user_id, name="Chen Wei")
    await directory.link_user("slack", "UTOMAS", email=TOMAS.user_id, name="Tomás Herrera")
    chen = UserRef("slack", "UCHEN", "Chen Wei")

    reply = await dispatch(
        Command(chen, ConversationRef("slack", "D1"), "lessons", "role grant <@UTOMAS> manager"),
        Deps(store=directory),
    )

    assert reply is not None and text(reply).startswith("✅ Tomás Herrera is now a manager.")
    [row] = await Audit(directory).events()
    assert row.surface == "slack"


async def test_anyone_lists_the_roles_and_questions_stay_questions(directory: Store) -> None:
    listing = await say(directory, TOMAS, "roles")
    lines = text(listing).splitlines()
    assert lines[0] == "*Who holds which role*"
    assert "• Farida Rahimi: pbpo" in lines
    assert "• Chen Wei: admin, staff" in lines
    assert not any("Tomás" in line for line in lines)  # staff only
    one = await say(directory, TOMAS, "roles @Grace Achieng")
    assert text(one) == "*Grace Achieng*: manager, pbpo."

    question = await dispatch(
        Message(TOMAS, HERE, "roles of women in mediation"), Deps(store=directory)
    )
    assert question is not None and "Who holds which role" not in question.fallback


def test_the_role_is_found_between_the_person_and_the_scope() -> None:
    assert split_grant("@Farida Rahimi pbpo MINUSCA") == ("@Farida Rahimi", Role.PBPO, "MINUSCA")
    assert split_grant("<@U1> mission leader DPO HQ New York") == (
        "<@U1>",
        Role.MISSION_LEADER,
        "DPO HQ New York",
    )
    assert split_grant("a@un.example admin") == ("a@un.example", Role.ADMIN, "")
    with pytest.raises(DomainError):
        split_grant("pbpo")

"""Where the bot can post on Teams later: conversation references and users, in our database.

Teams lets a bot post proactively only into a conversation it holds a reference for (service
URL, tenant, bot and conversation ids). The SDK's own `Conversation` item (the reference plus
the claims it came with) is kept as JSON in `teams_references`, one row per personal chat,
group chat and channel, saved on install and on every interaction; a channel is kept under its
own id, so any of its threads can be posted to. `teams_users` knows each Teams user seen, to
open a personal chat with someone met only in a channel. `teams_sent` holds the reminders Teams
confirmed (see `TeamsNotifier.find`). Every query runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from microsoft_agents.activity import ConversationReference
from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.app.proactive import Conversation
from sqlalchemy import Engine, delete, select, true
from sqlalchemy.dialects import postgresql, sqlite

from bot.teams.incoming import base_id
from knowledge.models import Person, TeamsReference, TeamsSent, TeamsUser

KEEP_SENT = timedelta(days=14)
_CACHE = 20_000


@dataclass(frozen=True, slots=True)
class Seen:
    """A Teams user as an activity shows them."""

    aad_object_id: str
    user_id: str
    tenant_id: str | None
    service_url: str


class References:
    """Conversation references, Teams users and confirmed reminders, in our database."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock
        self._saved: dict[str, str] = {}  # conversation id → digest of what is stored
        self._marks: dict[str, str] = {}  # conversation id → what its last turn showed
        self._users: dict[str, Seen] = {}

    # Conversations ------------------------------------------------------------------------

    async def save_turn(
        self, context: TurnContext, wire: dict[str, Any], *, kind: str, team_id: str | None
    ) -> bool:
        """Keep the reference of a turn's conversation; False if unchanged.

        What a reference is made of (the conversation, both parties, the service URL, the
        claims kept) is compared first, from the activity as sent: building and serializing the
        SDK's `Conversation` for every message cost more than the rest of this.
        """
        key = base_id(str(wire.get("conversation", {}).get("id", "")))
        claims = Conversation.claims_from_identity(context.identity) if context.identity else {}
        mark = json.dumps(
            [
                {**wire.get("conversation", {}), "id": key},
                *(wire.get(k) for k in ("from", "recipient", "channelId", "locale", "serviceUrl")),
                kind,
                team_id,
                claims,
            ],
            sort_keys=True,
            default=str,
        )
        if self._marks.get(key) == mark:
            return False
        saved = await self.save(Conversation.from_turn_context(context), kind=kind, team_id=team_id)
        if len(self._marks) > _CACHE:
            self._marks.clear()
        self._marks[key] = mark
        return saved

    async def save(self, conversation: Conversation, *, kind: str, team_id: str | None) -> bool:
        """Keep a conversation's reference (a channel under its own id); False if unchanged."""
        reference = conversation.conversation_reference
        reference.conversation.id = base_id(reference.conversation.id)
        reference.activity_id = None  # a reference is to the conversation, not one message
        reference.request_id = None  # the SDK's id of this HTTP request: new on every turn
        item = conversation.store_item_to_json()
        item.pop("_span_context", None)
        digest = hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest()
        key = reference.conversation.id
        if self._saved.get(key) == digest:
            return False
        user = reference.user
        row = {
            "conversation_id": key[:256],
            "kind": kind,
            "user_aad_id": (user.aad_object_id if user and kind == "personal" else None),
            "tenant_id": reference.conversation.tenant_id,
            "team_id": team_id,
            "service_url": reference.service_url or "",
            "reference": item,
            "updated_at": self.clock(),
        }
        await asyncio.to_thread(self._upsert, TeamsReference, ["conversation_id"], row)
        if len(self._saved) > _CACHE:
            self._saved.clear()
        self._saved[key] = digest
        return True

    async def conversation(self, conversation_id: str) -> Conversation | None:
        """Return the stored reference of a conversation (a channel for any of its threads)."""
        key = base_id(conversation_id)
        found = await asyncio.to_thread(self._item, TeamsReference.conversation_id == key)
        return _conversation(found)

    async def personal(self, aad_object_id: str) -> Conversation | None:
        """Return the newest personal chat with a user, or None."""
        found = await asyncio.to_thread(
            self._item,
            (TeamsReference.user_aad_id == aad_object_id) & (TeamsReference.kind == "personal"),
        )
        return _conversation(found)

    async def any_in(self, tenant_id: str | None) -> Conversation | None:
        """Return any reference in a tenant: the bot's own account and service URL there."""
        where = TeamsReference.tenant_id == tenant_id if tenant_id else true()
        return _conversation(await asyncio.to_thread(self._item, where))

    async def teams(self, limit: int = 20) -> list[Conversation]:
        """Return a reference of each team the bot is in (for looking people up by email)."""
        return await asyncio.to_thread(self._teams, limit)

    async def forget(self, conversation_id: str, *, team_id: str | None = None) -> None:
        """Forget a conversation (the bot was removed), or every channel of a team."""
        await asyncio.to_thread(self._forget, base_id(conversation_id), team_id)
        self._saved.clear()
        self._marks.clear()

    # Users --------------------------------------------------------------------------------

    async def saw(self, seen: Seen) -> None:
        """Remember a Teams user (their Teams id opens a personal chat with them)."""
        if not seen.aad_object_id or self._users.get(seen.aad_object_id) == seen:
            return
        row = {
            "aad_object_id": seen.aad_object_id[:64],
            "user_id": seen.user_id[:256],
            "tenant_id": seen.tenant_id,
            "service_url": seen.service_url[:512],
            "seen_at": self.clock(),
        }
        await asyncio.to_thread(self._upsert, TeamsUser, ["aad_object_id"], row)
        if len(self._users) > _CACHE:
            self._users.clear()
        self._users[seen.aad_object_id] = seen

    async def user(self, aad_object_id: str) -> Seen | None:
        """Return a Teams user seen before, by Entra object id."""
        known = self._users.get(aad_object_id)
        if known is None:
            known = await asyncio.to_thread(self._user, aad_object_id)
        return known

    async def aad_of(self, email: str) -> str | None:
        """Return the Entra object id of a directory person with this email seen on Teams."""
        return await asyncio.to_thread(self._aad_of, email.strip().lower())

    # Confirmed reminders ------------------------------------------------------------------

    async def sent(self, key: str, aad_object_id: str, activity_id: str) -> None:
        """Record a reminder Teams confirmed (and forget those older than two weeks)."""
        row = {
            "key": key[:200],
            "user_aad_id": aad_object_id[:64],
            "activity_id": activity_id[:256] or "-",
            "sent_at": self.clock(),
        }
        await asyncio.to_thread(self._record_sent, row)

    async def sent_as(self, key: str, aad_object_id: str) -> str | None:
        """Return the activity id of a confirmed reminder to this user, or None."""
        return await asyncio.to_thread(self._sent_as, key[:200], aad_object_id)

    # Worker threads -----------------------------------------------------------------------

    def _upsert(self, model: Any, keys: list[str], row: dict[str, Any]) -> None:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        changed = {k: v for k, v in row.items() if k not in keys}
        statement = dialect.insert(model).values(row)
        statement = statement.on_conflict_do_update(index_elements=keys, set_=changed)
        with self.engine.begin() as conn:
            conn.execute(statement)

    def _item(self, where: Any) -> dict[str, Any] | None:
        query = (
            select(TeamsReference.reference)
            .where(where)
            .order_by(TeamsReference.updated_at.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar_one_or_none()
        return found if isinstance(found, dict) else None

    def _teams(self, limit: int) -> list[Conversation]:
        query = (
            select(TeamsReference.team_id, TeamsReference.reference)
            .where(TeamsReference.team_id.is_not(None))
            .order_by(TeamsReference.updated_at.desc())
        )
        found: dict[str, Conversation] = {}
        with self.engine.connect() as conn:
            for team_id, item in conn.execute(query):
                conversation = _conversation(item)
                if team_id and team_id not in found and conversation is not None:
                    found[team_id] = conversation
                if len(found) >= limit:
                    break
        return list(found.values())

    def _forget(self, key: str, team_id: str | None) -> None:
        where = TeamsReference.conversation_id == key
        if team_id:
            where = where | (TeamsReference.team_id == team_id)
        with self.engine.begin() as conn:
            conn.execute(delete(TeamsReference).where(where))

    def _user(self, aad_object_id: str) -> Seen | None:
        u = TeamsUser
        query = select(u.user_id, u.tenant_id, u.service_url).where(
            u.aad_object_id == aad_object_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return Seen(aad_object_id, row[0], row[1], row[2]) if row is not None else None

    def _aad_of(self, email: str) -> str | None:
        query = select(Person.teams_aad_id).where(
            (Person.email == email) & Person.teams_aad_id.is_not(None)
        )
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar_one_or_none()
        return str(found) if found else None

    def _record_sent(self, row: dict[str, Any]) -> None:
        self._upsert(TeamsSent, ["key"], row)
        with self.engine.begin() as conn:
            conn.execute(delete(TeamsSent).where(TeamsSent.sent_at < self.clock() - KEEP_SENT))

    def _sent_as(self, key: str, aad_object_id: str) -> str | None:
        query = select(TeamsSent.activity_id).where(
            (TeamsSent.key == key) & (TeamsSent.user_aad_id == aad_object_id)
        )
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar_one_or_none()
        return str(found) if found else None


def _conversation(item: dict[str, Any] | None) -> Conversation | None:
    if item is None:
        return None
    try:
        conversation = Conversation.from_json_to_store_item(item)
        conversation.validate()
    except ValueError:  # pydantic's ValidationError is a ValueError
        return None
    return conversation


def reference_of(conversation: Conversation, conversation_id: str) -> Conversation:
    """Return a copy of a stored conversation addressed to another id (a thread of it)."""
    reference: ConversationReference = conversation.conversation_reference.model_copy(deep=True)
    reference.conversation.id = conversation_id
    return Conversation(dict(conversation.claims), reference)

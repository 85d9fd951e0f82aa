"""Slack installations in our database, for the app installed in many workspaces (OAuth).

Each workspace (or Enterprise Grid organisation, for an org-wide install) that installs the app
gets a row in slack_sdk's own tables `slack_installations` and `slack_bots`; the OAuth `state`
of installs under way lives in `slack_oauth_states`. Our `slack_sightings` remembers the
workspace each person and channel was last seen in, so a message sent outside any request (a
reminder) goes out with that workspace's token. Migration 0005 creates all four tables.

slack_sdk's SQLAlchemy stores are synchronous; every call here runs in a worker thread so the
event loop never waits on the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Boolean, Column, DateTime, Engine, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite

log = logging.getLogger(__name__)

METADATA = MetaData()
INSTALLATIONS = SQLAlchemyInstallationStore.build_installations_table(
    METADATA, SQLAlchemyInstallationStore.default_installations_table_name
)
BOTS = SQLAlchemyInstallationStore.build_bots_table(
    METADATA, SQLAlchemyInstallationStore.default_bots_table_name
)
OAUTH_STATES = SQLAlchemyOAuthStateStore.build_oauth_states_table(
    METADATA, SQLAlchemyOAuthStateStore.default_table_name
)
SIGHTINGS = Table(
    "slack_sightings",
    METADATA,
    Column("slack_id", String(32), primary_key=True),  # a person (U…, W…) or a channel (C…, D…)
    Column("enterprise_id", String(32)),
    Column("team_id", String(32)),  # NULL for an org-wide install
    Column("is_enterprise_install", Boolean, nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class Workspace:
    """Where one installation of the app lives: a workspace, or a whole organisation."""

    enterprise_id: str | None
    team_id: str | None  # None for an org-wide install
    is_enterprise_install: bool = False

    @classmethod
    def of(
        cls, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None
    ) -> Workspace:
        """Return the installation an event of this team belongs to (org-wide: no team)."""
        org_wide = bool(is_enterprise_install)
        return cls(enterprise_id, None if org_wide else team_id, org_wide)


class Installations(AsyncInstallationStore):
    """slack_sdk's SQLAlchemy installation store on our engine, off the event loop."""

    def __init__(self, client_id: str, engine: Engine) -> None:
        self.sync = SQLAlchemyInstallationStore(client_id=client_id, engine=engine, logger=log)

    @property
    def logger(self) -> logging.Logger:
        """The logger Bolt and slack_sdk use for this store."""
        return log

    async def async_save(self, installation: Installation) -> None:
        """Save an installation (and its bot)."""
        await asyncio.to_thread(self.sync.save, installation)

    async def async_save_bot(self, bot: Bot) -> None:
        """Save a bot installation."""
        await asyncio.to_thread(self.sync.save_bot, bot)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        """Return the newest bot of a workspace or organisation."""
        found: Bot | None = await asyncio.to_thread(
            self.sync.find_bot,
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        return found

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        """Return the newest installation of a workspace or organisation."""
        found: Installation | None = await asyncio.to_thread(
            self.sync.find_installation,
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            is_enterprise_install=is_enterprise_install,
        )
        return found

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """Forget the bots of a workspace or organisation."""
        await asyncio.to_thread(self.sync.delete_bot, enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        """Forget the installations of a workspace or organisation (or of one installer)."""
        await asyncio.to_thread(
            self.sync.delete_installation,
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
        )

    async def workspaces(self) -> list[Workspace]:
        """Return every workspace or organisation with a bot token."""
        return await asyncio.to_thread(self._workspaces)

    def _workspaces(self) -> list[Workspace]:
        c = self.sync.bots.c
        query = (
            select(c.enterprise_id, c.team_id, c.is_enterprise_install)
            .where(c.client_id == self.sync.client_id, c.bot_token.is_not(None))
            .distinct()
        )
        with self.sync.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [Workspace(e, t, bool(org)) for e, t, org in rows]

    async def token_for(self, workspace: Workspace) -> str | None:
        """Return the bot token of a workspace or organisation, when it is installed."""
        bot = await self.async_find_bot(
            enterprise_id=workspace.enterprise_id,
            team_id=workspace.team_id,
            is_enterprise_install=workspace.is_enterprise_install,
        )
        return bot.bot_token if bot is not None else None


class OAuthStates(AsyncOAuthStateStore):
    """slack_sdk's SQLAlchemy OAuth state store on our engine, off the event loop.

    Issuing a state also drops expired ones: anyone may open the install page, and states
    that were never used would otherwise pile up.
    """

    def __init__(self, engine: Engine, *, expiration_seconds: int = 600) -> None:
        self.sync = SQLAlchemyOAuthStateStore(
            expiration_seconds=expiration_seconds, engine=engine, logger=log
        )

    @property
    def logger(self) -> logging.Logger:
        """The logger Bolt and slack_sdk use for this store."""
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        """Return a new state for one install."""
        return await asyncio.to_thread(self._issue)

    async def async_consume(self, state: str) -> bool:
        """Use up a state; False when it is unknown, used already or expired."""
        consumed: bool = await asyncio.to_thread(self.sync.consume, state)
        return consumed

    def _issue(self) -> str:
        table = self.sync.oauth_states
        now = datetime.now(UTC).replace(tzinfo=None)  # slack_sdk stores naive UTC times
        with self.sync.engine.begin() as conn:
            conn.execute(table.delete().where(table.c.expire_at < now))
        state: str = self.sync.issue()
        return state


class Sightings:
    """The workspace each Slack person and channel was last seen in."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock
        self._known: dict[str, Workspace] = {}

    async def saw(self, workspace: Workspace, *slack_ids: str | None) -> None:
        """Remember that these people or channels were seen in a workspace."""
        changed = [i for i in dict.fromkeys(slack_ids) if i and self._known.get(i) != workspace]
        if not changed:
            return
        await asyncio.to_thread(self._save, workspace, changed)
        if len(self._known) > 50_000:  # a cache: the table has them all
            self._known.clear()
        self._known.update(dict.fromkeys(changed, workspace))

    async def workspace_of(self, slack_id: str) -> Workspace | None:
        """Return where a person or channel was last seen, or None."""
        known = self._known.get(slack_id)
        if known is None:
            known = await asyncio.to_thread(self._load, slack_id)
            if known is not None:
                self._known[slack_id] = known
        return known

    def _save(self, workspace: Workspace, slack_ids: list[str]) -> None:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        values = {
            "enterprise_id": workspace.enterprise_id,
            "team_id": workspace.team_id,
            "is_enterprise_install": workspace.is_enterprise_install,
            "seen_at": self.clock(),
        }
        insert = dialect.insert(SIGHTINGS).values([{"slack_id": i, **values} for i in slack_ids])
        upsert = insert.on_conflict_do_update(index_elements=["slack_id"], set_=values)
        with self.engine.begin() as conn:
            conn.execute(upsert)

    def _load(self, slack_id: str) -> Workspace | None:
        c = SIGHTINGS.c
        query = select(c.enterprise_id, c.team_id, c.is_enterprise_install).where(
            c.slack_id == slack_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return Workspace(row[0], row[1], bool(row[2])) if row is not None else None

"""Channel audiences bound to platform identities: links, and the report of what is unlinked.

A restricted product may name a channel by name ("channel:elections-team"); that name alone
opens nothing, on any platform or workspace. A PBPO links the audience from inside the channel
(`/lessons audience link elections-team`): the channel's platform identity (its `space`, see
`handlers.chat.ConversationRef`) then holds the audience's principal. A product may also name a
channel by identity directly ("channel:slack:T0123:C0456"), in an import.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from knowledge import audit
from knowledge.errors import DomainError
from knowledge.models import AudienceLink, ProductAudience
from knowledge.permissions import Operation, require
from knowledge.roles import actor_of
from knowledge.storage import Store

PLATFORMS = ("slack:", "teams:", "local:")
_SLACK_CHANNEL = re.compile(r"<#[A-Z0-9]+\|([^>]+)>")
MAX_AUDIENCE = 200


@dataclass(frozen=True, slots=True)
class Link:
    """One conversation an audience is linked to."""

    space: str
    channel_name: str | None


@dataclass(frozen=True, slots=True)
class AudienceStatus:
    """A channel audience that products name, and where it is linked (nowhere: flagged)."""

    audience: str
    products: int
    links: tuple[Link, ...]
    by_id: bool  # the audience names a channel by its platform identity: nothing to link

    @property
    def flagged(self) -> bool:
        """Return True when no conversation opens it yet: a PBPO must link it."""
        return not self.links and not self.by_id

    def as_json(self) -> dict[str, object]:
        """Return the status as plain JSON values."""
        return {
            "audience": self.audience,
            "products": self.products,
            "by_id": self.by_id,
            "flagged": self.flagged,
            "links": [{"space": k.space, "channel_name": k.channel_name} for k in self.links],
        }


def audience_named(text: str) -> str:
    """Return the channel audience a PBPO named ("elections-team", "#x", "channel:x")."""
    value = " ".join(text.split())
    if found := _SLACK_CHANNEL.fullmatch(value):  # Slack writes "#name" as <#C123|name>
        value = found.group(1)
    value = value.removeprefix("#")
    if not value.startswith("channel:"):
        value = f"channel:{value}"
    name = value.removeprefix("channel:").lstrip("#")
    if not name or " " in name or len(value) > MAX_AUDIENCE or name.startswith(PLATFORMS):
        raise DomainError(
            "Name the channel audience to link, as the lessons name it: "
            "`audience link elections-team` (for lessons restricted to `channel:elections-team`)."
        )
    return f"channel:{name}"


class Audiences:
    """Audience links, over a Store's sessions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _link(
        self,
        audience: str,
        *,
        space: str | None,
        channel_name: str | None,
        actor_id: int | None,
        surface: str,
        on: bool = True,
    ) -> tuple[bool, int]:
        """Link (or unlink) an audience to a conversation; return (changed, products naming it)."""
        if not space:
            raise DomainError(
                "Run this inside the channel to link (not in a direct message): the link is "
                "made to that channel's own identity, never to its name."
            )
        audience = audience_named(audience)
        with self.store.session() as s:
            require(actor_of(s, actor_id), Operation.LINK_AUDIENCE)
            products = (
                s.scalar(select(func.count()).where(ProductAudience.principal == audience)) or 0
            )
            row = s.get(AudienceLink, (audience, space))
            if on and row is None:
                s.add(
                    AudienceLink(
                        audience=audience,
                        space=space,
                        channel_name=(channel_name or "")[:100] or None,
                        linked_by=actor_id,
                        linked_at=self.store.clock(),
                    )
                )
            elif not on and row is not None:
                s.execute(
                    delete(AudienceLink).where(
                        AudienceLink.audience == audience, AudienceLink.space == space
                    )
                )
            else:
                return False, int(products)
            audit.record(
                s,
                at=self.store.clock(),
                person_id=actor_id,
                surface=surface,
                operation=Operation.LINK_AUDIENCE.value,
                kind="channel",
                subject_id=0,
                before={"linked": not on},
                after={"linked": on, "audience": audience, "space": space},
                note=channel_name,
            )
            return True, int(products)

    async def link(
        self,
        audience: str,
        *,
        space: str | None,
        channel_name: str | None,
        actor_id: int | None,
        surface: str,
        on: bool = True,
    ) -> tuple[bool, int]:
        """Link (or unlink) an audience to a conversation (a PBPO or an admin, from inside it)."""
        return await asyncio.to_thread(
            self._link,
            audience,
            space=space,
            channel_name=channel_name,
            actor_id=actor_id,
            surface=surface,
            on=on,
        )

    def _linked(self, space: str) -> list[str]:
        with self.store.session() as s:
            rows = s.scalars(
                select(AudienceLink.audience)
                .where(AudienceLink.space == space)
                .order_by(AudienceLink.audience)
            )
            return list(rows)

    async def linked(self, space: str) -> list[str]:
        """Return the audiences linked to a conversation."""
        return await asyncio.to_thread(self._linked, space)

    def _report(self) -> list[AudienceStatus]:
        with self.store.session() as s:
            counts = dict(
                s.execute(
                    select(ProductAudience.principal, func.count())
                    .where(ProductAudience.principal.like("channel:%"))
                    .group_by(ProductAudience.principal)
                ).all()
            )
            links: dict[str, list[Link]] = defaultdict(list)
            for row in s.scalars(select(AudienceLink).order_by(AudienceLink.space)):
                links[row.audience].append(Link(row.space, row.channel_name))
        names = sorted(set(counts) | set(links))
        return [
            AudienceStatus(
                audience=name,
                products=int(counts.get(name, 0)),
                links=tuple(links.get(name, ())),
                by_id=name.removeprefix("channel:").startswith(PLATFORMS),
            )
            for name in names
        ]

    async def report(self) -> list[AudienceStatus]:
        """Return every channel audience, its products and links; unlinked ones are flagged."""
        return await asyncio.to_thread(self._report)

"""Reaching a person of the directory on the platform a notifier speaks for."""

from __future__ import annotations

import logging

from handlers.chat import Reply, UserRef
from handlers.deps import Deps
from handlers.errors import UserError
from knowledge.people import resolve
from knowledge.reviews import Member, Reviews

log = logging.getLogger(__name__)


async def user_for(member: Member, deps: Deps) -> UserRef | None:
    """Return how to reach a person: their platform id, else found by email (then remembered).

    A person who never used the bot on Slack has no Slack id yet; the notifier looks them up
    by email (users.lookupByEmail) and the id is kept for next time.
    """
    notifier = deps.notifier
    if notifier is None:
        return None
    user_id = member.user_id(notifier.platform)
    if user_id:
        return UserRef(notifier.platform, user_id, member.name)
    if not member.email:
        return None
    found = await notifier.lookup(member.email)
    if not found:
        return None
    if notifier.platform in ("slack", "teams"):
        await deps.store.link_user(notifier.platform, found, email=member.email, name=member.name)
    return UserRef(notifier.platform, found, member.name)


async def send(member: Member | None, reply: Reply, deps: Deps) -> bool:
    """Send a reply to a person directly; False when they cannot be reached."""
    if member is None or deps.notifier is None:
        return False
    try:
        to = await user_for(member, deps)
        if to is None:
            return False
        await deps.notifier.send(to, reply)
    except Exception:  # what was saved stays saved; the caller says who was not reached
        log.warning("could not send a card to person %s", member.id, exc_info=True)
        return False
    return True


async def send_to(person_id: int | None, reply: Reply, deps: Deps) -> bool:
    """Send a reply to a person of the directory by id."""
    if person_id is None:
        return False
    return await send(await Reviews(deps.store).member(person_id), reply, deps)


async def named(text: str, deps: Deps) -> Member:
    """Return the person of the directory a text names: a mention, a name or an email.

    Nobody found: a UserError that says whom they may have meant.
    """
    if not text.strip():
        raise UserError("Name someone: a name, an @mention or an email address.")
    found = resolve(text, await Reviews(deps.store).members())
    if found.member is None:
        raise UserError(found.problem())
    return found.member

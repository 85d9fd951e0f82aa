"""Starting and staffing an After-Action Review: `/aar start`, `schedule`, `facilitator`, `invite`.

`/aar start <event>` posts the ground rules and the first question as a new channel message
(`opening_for`); its thread is the review. `/aar schedule <event> <when it ends>` starts it
later, from the scheduler's clock. In the review's thread, the facilitator hands the review over
or invites people to hear from.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from handlers import reach
from handlers.chat import Command, ConversationRef, Divider, Element, Reply, Text, UserRef
from handlers.deps import Deps
from handlers.errors import UserError
from handlers.reviews.cards import opening_reply, question_elements
from handlers.reviews.config import MINUTES_ENV, question_set, question_time, start_delay
from handlers.reviews.conversation import private
from knowledge.dates import DateError, PastDate, parse_moment, zone
from knowledge.reviews import Member, Reviews, ReviewView, find_mentions
from knowledge.reviews.participants import Participants
from knowledge.search.answer import Answer

CLOSED_GRACE = timedelta(hours=6)  # late messages in a closed review's thread are answered
MAX_WHEN_WORDS = 12  # the longest "when it ends" phrase split_schedule tries


async def start(cmd: Command, text: str, deps: Deps) -> Reply:
    person = await _known(cmd.who, deps)
    where = cmd.where
    event, mentioned = await _mentions(text, deps)
    review = await Reviews(deps.store).start(
        event=event,
        platform=where.platform,
        channel_id=where.channel_id,
        thread_id=where.thread_id,
        channel_name=where.channel_name,
        space=where.space,
        facilitator_id=person,
        questions=question_set(deps.settings),
    )
    await Participants(deps.store).join(review.id, [m.id for m in mentioned])
    return opening_for(review, deps)


def opening_for(review: ReviewView, deps: Deps) -> Reply:
    """Build a review's opening as posted: a new channel message whose thread becomes the review."""
    opening = opening_reply(review, time_box=question_time(deps.settings))
    if review.thread_id is not None:
        return opening
    return Reply(opening.elements, in_thread=False, anchor=f"aar:{review.id}")


async def schedule(cmd: Command, text: str, deps: Deps) -> Reply:
    person = await _known(cmd.who, deps)
    reviews = Reviews(deps.store)
    member = await reviews.member(person)
    tz = member.timezone if member else "UTC"
    event, ends = split_schedule(text, now=deps.store.clock(), tz=tz)
    event, mentioned = await _mentions(event, deps)
    where = cmd.where
    review = await reviews.start(
        event=event,
        platform=where.platform,
        channel_id=where.channel_id,
        thread_id=where.thread_id,
        channel_name=where.channel_name,
        space=where.space,
        facilitator_id=person,
        questions=question_set(deps.settings),
        starts_at=ends + start_delay(deps.settings),
    )
    await Participants(deps.store).join(review.id, [m.id for m in mentioned])
    viewer = await deps.store.viewer_for(None, channel=where.space)
    before = await deps.store.ask(event, viewer=viewer, limit=3)
    return scheduled_reply(review, ends, before)


def split_schedule(text: str, *, now: datetime, tz: str) -> tuple[str, datetime]:
    """Split "<event> <when it ends>" at the longest ending that reads as a future time."""
    parts = text.split()
    past: DateError | None = None
    # An ending is a few words ("on the 3rd of December 2026 at 4 pm"): trying every split
    # of a long text would read each tail again, quadratic in its length.
    for i in range(max(1, len(parts) - MAX_WHEN_WORDS), len(parts)):
        try:
            ends = parse_moment(" ".join(parts[i:]), now=now, tz=tz)
        except PastDate as exc:
            past = past or exc
            continue
        except DateError:
            continue
        event = " ".join(parts[:i]).rstrip(" ,;:|-\u2013").strip()
        for glue in (" ends", " ending", " on", " at"):
            event = event.removesuffix(glue)
        if event:
            return event, ends
    if past is not None:
        raise UserError(f"{past.message} If the event is over, use `/aar start <event>` now.")
    raise UserError(
        "Give the event and when it ends, for example `/aar schedule Election day tomorrow "
        "17:00` or `/aar schedule Town hall 2026-12-03 16:00`."
    )


def scheduled_reply(review: ReviewView, ends: datetime, before: Answer) -> Reply:
    """Build the reply to a scheduled review: when it starts, and what we learned last time."""
    place = ends.tzinfo
    starts = (review.starts_at or ends).astimezone(place)
    elements: list[Element] = [
        Text(
            f"🗓 *After-Action Review scheduled: {review.event}*\nThe event ends "
            f"{ends:%a %d %b %Y %H:%M} ({zone(str(place)).key}); I will start the review here "
            f"at {starts:%a %d %b %H:%M}, facilitated by {review.facilitator_name}."
        ),
        Divider(),
        Text("*Before you start: what we learned last time*"),
    ]
    if not before.hits:
        elements.append(Text("No earlier lessons on this yet: this review will be the first."))
    for hit in before.hits:
        year = f", {hit.date.year}" if hit.date else ""
        elements.append(Text(f"• *{hit.title}* ({hit.product_type.label}{year})\n{hit.takeaway}"))
    return Reply.of(*elements)


async def hand_over(cmd: Command, who: str, deps: Deps) -> Reply:
    review = await active_here(cmd.where, deps)
    person = await deps.store.person_for(cmd.who.platform, cmd.who.user_id)
    member = await reach.named(who, deps)
    updated = await Reviews(deps.store).hand_over(review.id, actor_id=person, to_id=member.id)
    return Reply.of(
        Text(f"{updated.facilitator_name} is now the facilitator of this review."),
        *question_elements(updated),
    )


async def invite(cmd: Command, text: str, deps: Deps) -> Reply:
    review = await active_here(cmd.where, deps)
    person = await deps.store.person_for(cmd.who.platform, cmd.who.user_id)
    if person is None or person != review.facilitator_id:
        raise UserError(f"Only the facilitator ({review.facilitator_name}) can invite people.")
    _, owners = find_mentions(text, await Reviews(deps.store).members())
    found = list({o.member.id: o.member for o in owners if o.member is not None}.values())
    unknown = [o.hint for o in owners if o.member is None and o.hint]
    missing = f" I could not find {', '.join(unknown)} in the staff directory." if unknown else ""
    if not found:
        raise UserError(
            "Mention who to hear from, for example `/aar invite @Tomás Herrera @Priya Raman`."
            + missing
        )
    await Participants(deps.store).join(review.id, [m.id for m in found])
    names = ", ".join(m.name for m in found)
    lines = [f"Noted: {names}."]
    if question_time(deps.settings):
        lines.append(
            "If they have not answered by half time of a question, I remind each of them once, "
            "privately."
        )
    else:
        lines.append(f"Reminders are off here ({MINUTES_ENV} is 0), so I will not remind them.")
    return private(" ".join(lines) + missing)


async def _mentions(text: str, deps: Deps) -> tuple[str, list[Member]]:
    """Split "<event> with @a @b" into the event and the people it mentions.

    When nobody mentioned is in the directory, the text stays whole: "Town hall @Bangui office"
    names a place, not a person.
    """
    if "@" not in text and "<at>" not in text.lower():
        return text, []
    event, owners = find_mentions(text, await Reviews(deps.store).members())
    found = [o.member for o in owners if o.member is not None]
    return (event if found else text), found


async def thread_review(where: ConversationRef, deps: Deps) -> ReviewView | None:
    if where.thread_id is None:
        return None
    return await Reviews(deps.store).in_thread(
        where.platform,
        where.channel_id,
        where.thread_id,
        closed_since=deps.store.clock() - CLOSED_GRACE,
    )


async def active_here(where: ConversationRef, deps: Deps) -> ReviewView:
    review = await thread_review(where, deps)
    if review is None or not review.status.is_active:
        raise UserError("No review runs here: use this inside the thread of a running review.")
    return review


async def _known(who: UserRef, deps: Deps) -> int:
    person = await deps.store.person_for(who.platform, who.user_id)
    if person is None:
        raise UserError(
            "I could not find you in the staff directory, and a review needs a facilitator I "
            "can name (its record, actions and validation go through them). Ask a PBPO to add "
            "you, then start again."
        )
    return person

"""`audience link <name>` in a channel: a PBPO binds a channel audience to this channel's identity.

Lessons restricted to `channel:elections-team` open to no conversation by that name: only to
those a PBPO (or an admin) linked, from inside each, with `/lessons audience link
elections-team` on Slack, `audience link elections-team` to the bot on Teams and in the local
chat. `audience unlink <name>` undoes it; `audience` lists what this conversation opens.
"""

from __future__ import annotations

from handlers.chat import ConversationRef, Reply, Text, UserRef
from handlers.deps import Deps
from handlers.errors import UserError
from knowledge.audiences import Audiences

USAGE = (
    "In the channel to link: `audience link <name>` (lessons restricted to `channel:<name>` "
    "then open here), `audience unlink <name>`, or `audience` to see what opens here."
)


def requested(text: str) -> bool:
    """Return True for `audience …` (or `audiences`)."""
    word = text.strip().split(" ", 1)[0].lower().lstrip("/")
    return word in ("audience", "audiences")


async def command(who: UserRef, where: ConversationRef, text: str, deps: Deps) -> Reply:
    """Run `audience [link|unlink <name>]` in a conversation."""
    words = text.split()[1:]
    audiences = Audiences(deps.store)
    here = f"#{where.channel_name}" if where.channel_name else "this conversation"
    match [w.lower() for w in words[:1]]:
        case []:
            if not where.space:
                raise UserError("Direct messages open no channel audience. " + USAGE)
            linked = await audiences.linked(where.space)
            listed = ", ".join(f"`{a}`" for a in linked) or "none yet"
            return Reply.of(
                Text(f"Channel audiences that open in {here}: {listed}.\n{USAGE}"), private=True
            )
        case ["link" | "unlink" as verb] if len(words) == 2:
            person = await deps.store.person_for(who.platform, who.user_id)
            on = verb == "link"
            changed, products = await audiences.link(
                words[1], space=where.space, channel_name=where.channel_name,
                actor_id=person, surface=who.platform, on=on,
            )  # fmt: skip
            name = words[1].lstrip("#")
            lessons = f"{products} restricted product{'s' * (products != 1)}"
            if not changed:
                state = "linked to" if on else "not linked to"
                return Reply.of(Text(f"`{name}` is {state} {here} already."), private=True)
            if on:
                line = (
                    f"✅ Linked: lessons restricted to `channel:{name}` ({lessons}) now open in "
                    f"{here}, known by its id `{where.space}`. A channel's name opens nothing: "
                    "another one called the same does not see them."
                )
            else:
                line = f"Unlinked: lessons restricted to `channel:{name}` no longer open in {here}."
            return Reply.of(Text(line), private=True)
    raise UserError(USAGE)

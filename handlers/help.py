"""The help text: everything the bot can do, in one place."""

import re

from handlers.chat import Reply, Text

HELP = """*Lessons Bot* helps us learn from each other.
• Ask: *what did we learn about election security?*
• Narrow it down: *only AARs*, *in MINUSCA*, *since 2023*, *last year*, *#gender*, \
*theme:wps*, *type:eoar*, *status:applied*
• Acronyms work: *DDR*, *PoC*, *WPS*, *QIPs*, *JMAC* … and small typos are forgiven.
• Your follow-up actions: `actions` — mark them done (with evidence), snooze, set a new \
date, say what blocks them, or hand them over.
• Log a lesson: `/lessons new` (or *Save as lesson* on any message). It is saved as \
*identified*, searchable at once, and your manager or PBPO is asked to validate it.
• Reminders come in your working hours, grouped in one message: a few days before a due \
date, then on days 1, 3 and 7 after it and weekly. `reminders` shows your settings; \
`reminders daily`, `reminders instant`, `reminders mute`, `reminders pause 3d` or \
`reminders away <from> <to>` change them.
• `home`: your actions, lessons awaiting your validation and recently applied lessons, in \
one place (the bot's Home tab on Slack).
• After-Action Review in a channel: `/aar start <event>` runs it in a thread, one question at \
a time (30 minutes each unless set otherwise); `/aar schedule <event> <when it ends>` starts it \
later. `/aar help` for more.
• Leaving your post? `/lessons eoar` interviews you for your End of Assignment Report in our \
direct messages. It stays visible only to you, your manager and your mission's PBPOs until \
validated.
• Managers and PBPOs validate from the card I send them (or from `home`): validate, request \
changes (a note to the author) or reject (with a reason). `/lessons withdraw <lesson> <why>` \
withdraws a lesson: kept on record, out of answers.
• Every lesson shows its evidence: ◌ observation → ◍ lesson (validated) → ★ good practice \
→ ✪ guidance. PBPOs promote good practices to channels with `/practice promote <lesson>` (or \
*Promote* on a lesson card), boost, down-rank or hide lessons in search \
(`/practice boost|down|hide <lesson> <why>`), flag priority lessons for mission leaders \
(`/practice priority <lesson> <why>`, `/practice priorities`) and start a practice of the week \
in a channel (`/practice weekly on`). `/practice list`: the good practices; `/practice help`.
• `/lessons roles`: who holds which role. Admins grant them: \
`/lessons role grant @name pbpo MINUSCA`.
• *Who knows about election security?* (or `/lessons who <topic>`): the people who wrote \
or applied the closest lessons, to contact directly.
• Managers, PBPOs and mission leaders: `/lessons report [mission] [since 2026-01]` sums up \
lessons captured, validated and applied, open and overdue actions, lesson reuse and the \
questions without a good answer; `/lessons usefulness` shows which lessons askers found \
helpful and which need work.
• A lesson is learned once it is *applied*: identified → validated → applied."""


# Teams has no slash commands: the same words work typed to the bot (in its personal chat, or
# with an @mention in a channel), and it has no Home tab or message shortcut.
_TEAMS = (
    (" (or *Save as lesson* on any message)", ""),
    (" (the bot's Home tab on Slack)", ""),
    ("`/lessons new`", "`new lesson`"),
    (" (or `/lessons who <topic>`)", ""),
    ("`/lessons report [mission] [since 2026-01]`", "`report [mission] [since 2026-01]`"),
    ("`/lessons ", "`"),
    ("`/aar ", "`aar "),
    ("`/practice ", "`practice "),
)


_SLASH = re.compile(r"(?<![\w/.:-])/(lessons|aar|practice)\b( new\b)?( ?)")


def as_typed(text: str, platform: str | None) -> str:
    """Return a text with its slash commands as they are typed on this platform.

    Teams has no slash commands: `/lessons report` is typed `report`, `/lessons new` is
    `new lesson`, `/aar start` is `aar start`, `/practice list` is `practice list` (in the bot's
    personal chat, or after an @mention in a channel). Other platforms keep the text as it is.
    """
    if platform != "teams" or "/" not in text:
        return text

    def typed(match: re.Match[str]) -> str:
        command, new, space = match.groups()
        if command != "lessons":
            return f"{command}{new or ''}{space}"
        if new:
            return f"new lesson{space}"
        return "" if space else "help"  # `/lessons <question>` is the question alone

    return _SLASH.sub(typed, text)


def help_text(platform: str | None = None) -> str:
    """Return the help text naming the commands as they work on this platform."""
    if platform != "teams":
        return HELP
    text = HELP
    for slack, teams in _TEAMS:
        text = text.replace(slack, teams)
    return text


def help_reply(platform: str | None = None) -> Reply:
    """Return the help text, as commands are typed on this platform."""
    return Reply.of(Text(help_text(platform)))


# The prompts a new conversation with the bot suggests (Slack's agent view, Teams' prompt
# starters): a title to show and the message it sends.
SUGGESTED_PROMPTS: tuple[tuple[str, str], ...] = (
    ("What did we learn about…?", "what did we learn about elections?"),
    ("My actions", "my actions"),
    ("Start an AAR", "aar help"),
    ("Log a lesson", "new lesson"),
)
WELCOME = (
    "Hi! Ask me what we learned about anything — *what did we learn about convoy security?* — "
    "or pick one of the prompts below. Type `help` for everything I can do."
)
SEARCHING = "is searching the lessons…"

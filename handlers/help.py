"""The help text: everything the bot can do, in one place."""

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
• `home`: your actions, lessons awaiting your validation and recently applied lessons, in \
one place (the bot's Home tab on Slack).
• After-Action Review in a channel: `/aar start <event>` runs it in a thread, one question at \
a time; `/aar schedule <event> <when it ends>` starts it later. `/aar help` for more.
• A lesson is learned once it is *applied*: identified → validated → applied."""


def help_reply() -> Reply:
    """Return the help text."""
    return Reply.of(Text(HELP))

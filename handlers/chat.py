"""Platform-neutral chat types: what comes in (Incoming) and what goes out (Reply)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Protocol

# Control characters no database keeps (PostgreSQL refuses NUL) and lone surrogates (bad UTF-16
# inside JSON's \u escapes), which no encoder can write.
_UNCLEAN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
FORGED = "\ufffd"  # what a button value with control characters is read as: no id, no JSON


@dataclass(frozen=True, slots=True)
class UserRef:
    """A user on one platform, by the platform's own id."""

    platform: str
    user_id: str
    display_name: str | None = None
    bot: bool = False  # a bot (ours included): its messages are never answers


@dataclass(frozen=True, slots=True)
class ConversationRef:
    """A conversation (channel, DM or thread) on one platform."""

    platform: str
    channel_id: str
    thread_id: str | None = None
    channel_name: str | None = None  # for people to read; it never opens an audience
    # The conversation's platform identity, for audiences ("slack:<team>:<channel id>",
    # "teams:<tenant>:<team>:<channel>", "teams:<tenant>:chat:<id>", "local:<channel>"); None
    # in a DM. Restricted lessons open to it only by id, or through a PBPO's link.
    space: str | None = None


@dataclass(frozen=True, slots=True)
class Command:
    """A slash command or a typed command: `/lessons <text>`."""

    who: UserRef
    where: ConversationRef
    name: str
    text: str


@dataclass(frozen=True, slots=True)
class Message:
    """A message the bot can see: addressed to it (mention, DM) or posted in a thread it runs.

    `direct` is False for a message in a channel or thread that did not mention the bot: the
    router answers it only when it belongs to a conversation the bot runs there (an AAR).
    """

    who: UserRef
    where: ConversationRef
    text: str
    direct: bool = True
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class Edit:
    """A message the user changed after posting it."""

    who: UserRef
    where: ConversationRef
    message_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Deletion:
    """A message the user deleted."""

    who: UserRef
    where: ConversationRef
    message_id: str


@dataclass(frozen=True, slots=True)
class ButtonPress:
    """A click on a button the bot posted."""

    who: UserRef
    where: ConversationRef
    action: str
    value: str


@dataclass(frozen=True, slots=True)
class FormSubmit:
    """A submitted form (modal, card or web form)."""

    who: UserRef
    where: ConversationRef
    form: str
    values: dict[str, str] = field(default_factory=dict)


Incoming = Command | Message | ButtonPress | FormSubmit | Edit | Deletion


def clean_text(text: str) -> str:
    """Return typed text without control characters, a lone surrogate as U+FFFD."""
    if _UNCLEAN.search(text) is None:
        return text
    return _UNCLEAN.sub(lambda m: "\ufffd" if m.group() >= "\ud800" else "", text)


def unlinked(text: str) -> str:
    """Return user text to repeat in a reply with its `[label](url)` links shown, not followed.

    The renderers turn the bot's CommonMark links into real ones; a user's text repeated by the
    bot must not become a link that reads "Reset your password" under the bot's name.
    """
    return text.replace("](", "] (")


def cleaned(incoming: Incoming) -> Incoming:
    """Return an incoming event with its typed text cleaned (see `clean_text`)."""
    match incoming:
        case Command() | Message() | Edit():
            return replace(incoming, text=clean_text(incoming.text))
        case ButtonPress():
            # The bot never puts a control character in a button's value (ids, ASCII JSON): one
            # that carries one was not made by it, and no handler may read it as the id it was
            # cleaned into ('116\x00' is not lesson 116).
            value = incoming.value
            return replace(incoming, value=value if clean_text(value) == value else FORGED)
        case FormSubmit():
            values = {k: clean_text(v) for k, v in incoming.values.items()}
            return replace(incoming, values=values)
    return incoming


@dataclass(frozen=True, slots=True)
class Text:
    """A paragraph in a CommonMark subset: bold, italic, links, lists."""

    markdown: str


@dataclass(frozen=True, slots=True)
class Fields:
    """Label/value pairs shown side by side where the platform can.

    `folded`: the pairs are details, shown behind a *Details* disclosure where the platform has
    one (the local chat, Adaptive Cards); Slack, which has none, shows them as one line of
    small text.
    """

    pairs: tuple[tuple[str, str], ...]
    folded: bool = False


@dataclass(frozen=True, slots=True)
class Button:
    """A button; adjacent buttons render as one row."""

    label: str
    action: str
    value: str = ""
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Input:
    """One input of a form."""

    name: str
    label: str
    multiline: bool = False
    initial: str = ""
    optional: bool = False
    date: bool = False  # a date: a date picker where the platform has one (Teams Input.Date)
    error: str | None = None  # what was wrong with the value last sent (shown beside it)


@dataclass(frozen=True, slots=True)
class Form:
    """A form the user fills in (a modal on Slack, a card on Teams)."""

    form: str
    title: str
    inputs: tuple[Input, ...]
    submit: str = "Save"


@dataclass(frozen=True, slots=True)
class Divider:
    """A visual break between items."""


Element = Text | Fields | Button | Form | Divider


@dataclass(frozen=True, slots=True)
class Reply:
    """What the bot says.

    - `private`: only the person who acted sees it (ephemeral on Slack, a personal card on Teams).
    - `in_thread`: answer in the thread of the message (starting one under a channel message).
    - `replace`: after a button press, update the message that carried the button instead of
      posting a new one (a card updating in place).
    - `anchor`: the adapter posts the reply as a new message in the channel and reports where it
      landed through `router.posted(anchor, where)`: an AAR learns the thread it runs in this way.
    - `retire`: after a button press whose answer is posted as a new message, the card that
      carried the button is updated in place to these elements (the outcome and who decided,
      no live buttons that could only answer "already done").
    - `field`: a refusal of a submitted form names the input it is about, so the form can show
      it beside that input (Slack's `response_action: errors`, the local chat's open form).
    - `key`: a reminder's delivery key. The platform keeps it with the message (Slack message
      metadata, the local chat log), so `Notifier.find` can tell whether a send whose outcome
      was unknown (a timeout, a 5xx, a crash mid-send) arrived after all.
    - `undo`: a move that holds only once people see it (an AAR's next question). When the
      adapter cannot post the reply, it reports `router.not_posted(undo)` and the move is
      rolled back.
    """

    elements: tuple[Element, ...]
    private: bool = False
    in_thread: bool = True
    replace: bool = False
    anchor: str | None = None
    key: str | None = None
    undo: str | None = None
    field: str | None = None  # a refused form: the input the refusal is about
    retire: tuple[Element, ...] | None = None  # what the pressed card becomes (no buttons)

    @classmethod
    def of(cls, *elements: Element, private: bool = False, replace: bool = False) -> Reply:
        """Build a reply from elements."""
        return cls(elements=tuple(elements), private=private, replace=replace)

    @property
    def fallback(self) -> str:
        """Return the reply as plain text, for notifications and screen readers."""
        lines: list[str] = []
        for element in self.elements:
            match element:
                case Text(markdown=markdown):
                    lines.append(markdown)
                case Fields(pairs=pairs):
                    lines.append(" · ".join(f"{label}: {value}" for label, value in pairs))
                case Form(title=title):
                    lines.append(title)
                case Button() | Divider():
                    pass
        return "\n".join(lines)


class Notifier(Protocol):
    """Sends proactive messages (reminders, digests, cards for other people) on one platform."""

    platform: str

    async def send(self, to: UserRef, reply: Reply) -> str | None:
        """Deliver a reply to a user directly (a DM with the bot); return its message id if known.

        A reply with a `key` carries it, for `find`.
        """

    async def post(self, where: ConversationRef, reply: Reply) -> ConversationRef | None:
        """Post a reply in a channel or thread; return where it landed, when known."""

    async def lookup(self, email: str) -> str | None:
        """Return the platform's id for the person with this email, when it can find one."""

    async def find(self, to: UserRef, key: str) -> str | None:
        """Return the id of a recent message to this user carrying `key`, or None if none did."""

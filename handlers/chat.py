"""Platform-neutral chat types: what comes in (Incoming) and what goes out (Reply)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class UserRef:
    """A user on one platform, by the platform's own id."""

    platform: str
    user_id: str
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationRef:
    """A conversation (channel, DM or thread) on one platform."""

    platform: str
    channel_id: str
    thread_id: str | None = None
    channel_name: str | None = None


@dataclass(frozen=True, slots=True)
class Command:
    """A slash command or a typed command: `/lessons <text>`."""

    who: UserRef
    where: ConversationRef
    name: str
    text: str


@dataclass(frozen=True, slots=True)
class Message:
    """A message addressed to the bot (mention, DM or a reply in its thread)."""

    who: UserRef
    where: ConversationRef
    text: str


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


Incoming = Command | Message | ButtonPress | FormSubmit


@dataclass(frozen=True, slots=True)
class Text:
    """A paragraph in a CommonMark subset: bold, italic, links, lists."""

    markdown: str


@dataclass(frozen=True, slots=True)
class Fields:
    """Label/value pairs shown side by side where the platform can."""

    pairs: tuple[tuple[str, str], ...]


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
    """What the bot says: elements, shown privately and/or in the thread."""

    elements: tuple[Element, ...]
    private: bool = False
    in_thread: bool = True

    @classmethod
    def of(cls, *elements: Element, private: bool = False) -> Reply:
        """Build a reply from elements."""
        return cls(elements=tuple(elements), private=private)


class Notifier(Protocol):
    """Sends proactive messages (reminders, digests) on one platform."""

    async def send(self, to: UserRef, reply: Reply) -> None:
        """Deliver a reply to a user directly."""

"""User errors: messages that are safe and useful to show in chat."""

from datetime import UTC, datetime

from knowledge.errors import DomainError


class UserError(DomainError):
    """Something the user can fix; the message tells them how."""


class UnknownCommand(UserError):
    """A command word the bot does not know."""

    def __init__(self, word: str) -> None:
        super().__init__(f"I don't know the command '{word}'. Try `help` to see what I can do.")


def owed_apology(platform: str, at: datetime, reference: str) -> str:
    """What someone is told once their platform answers again, when neither the answer to their
    message nor the apology for it could be posted at the time."""
    when = at.astimezone(UTC).strftime("%d %b, %H:%M UTC")
    return (
        f"Sorry: on {when} I could not answer your message, because {platform} was not taking "
        f"my replies (reference {reference}). It is working again now; please send your "
        "message again if you still need an answer."
    )

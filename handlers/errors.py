"""User errors: messages that are safe and useful to show in chat."""

from knowledge.errors import DomainError


class UserError(DomainError):
    """Something the user can fix; the message tells them how."""


class UnknownCommand(UserError):
    """A command word the bot does not know."""

    def __init__(self, word: str) -> None:
        super().__init__(f"I don't know the command '{word}'. Try `help` to see what I can do.")

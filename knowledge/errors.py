"""Domain errors of the lessons index; their messages are safe to show to users."""


class DomainError(Exception):
    """A rule of the lessons index was broken; the message says what and how to fix it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LifecycleError(DomainError):
    """A lesson or action transition that the lifecycle does not allow."""


class NotAllowed(DomainError):
    """An operation the actor's roles do not allow; the message says who can do it."""


class NotFound(DomainError):
    """A lesson, action, product or person that does not exist (or is not visible)."""


class ImportFailed(DomainError):
    """An import file could not be read; nothing was written."""

    def __init__(self, message: str, *, row: int | None = None, field: str | None = None) -> None:
        where = []
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + message)
        self.row = row
        self.field = field

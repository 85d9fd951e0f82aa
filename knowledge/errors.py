"""Domain errors of the lessons index; their messages are safe to show to users."""

from sqlalchemy import exc as sa_exc


class DomainError(Exception):
    """A rule of the lessons index was broken; the message says what and how to fix it.

    `field` names the form input the message is about, when it is about one (a form then shows
    the message beside that input).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


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
        super().__init__(prefix + message, field=field)
        self.row = row


def database_trouble(exc: BaseException) -> str | None:
    """Say why the database could not do its part: "busy", "unreachable", or None (a bug).

    "busy": every pooled connection was in use for the pool's whole timeout, or SQLite's
    busy timeout ran out ("database is locked"). "unreachable": the connection failed or was
    lost (the server restarted, the network dropped). In both cases the transaction was rolled
    back, so nothing of it was written.
    """
    if isinstance(exc, sa_exc.TimeoutError):
        return "busy"
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    if exc.connection_invalidated:
        return "unreachable"
    if isinstance(exc, sa_exc.OperationalError):
        reason = str(exc.orig).lower()
        if "locked" in reason or "busy" in reason:
            return "busy"
        if type(exc.orig).__module__.startswith("psycopg"):  # connection-level on PostgreSQL
            return "unreachable"
    return None

"""Logging for `lessons`: one stderr handler whose formatter blanks out secrets.

Libraries log more than we do: at DEBUG, slack_sdk writes whole Web API responses, the tokens
an OAuth install issues included. The formatter redacts, in every formatted line and traceback,
the secrets the settings hold and anything shaped like a Slack token or a bearer token, so no
log level shows one.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import TextIO

from sqlalchemy.engine import make_url

from bot.settings import Settings

REDACTED = "[redacted]"
FORMAT = "%(levelname)s %(name)s: %(message)s"
_SHAPES = re.compile(
    r"\bxox[abposre]-[A-Za-z0-9-]+"  # Slack bot, user and refresh tokens
    r"|\bxapp-[A-Za-z0-9-]+"  # Slack app-level tokens
    r"|\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"  # a JWT (Teams, Entra)
    r"|(?<=Bearer )[A-Za-z0-9._~+/-]+=*"
    r"|(?<=[?&]code=)[^&\s\"]+"  # an OAuth code in a logged URL (aiohttp's access log)
)
_MIN_SECRET = 6  # shorter values would blank out ordinary words


class RedactingFormatter(logging.Formatter):
    """A formatter that replaces secrets in the whole formatted record, traceback included."""

    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        found = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)
        self._secrets = re.compile("|".join(map(re.escape, found))) if found else None

    def format(self, record: logging.LogRecord) -> str:
        """Format the record, then blank out every secret in it."""
        return redact(super().format(record), self._secrets)


def redact(text: str, secrets: re.Pattern[str] | None = None) -> str:
    """Return text with token-shaped strings (and the given secrets) replaced."""
    text = secrets.sub(REDACTED, text) if secrets is not None else text
    return _SHAPES.sub(REDACTED, text)


def secrets_of(settings: Settings) -> list[str]:
    """Return every secret value the settings hold."""
    found = [
        settings.login_token,
        settings.slack_bot_token,
        settings.slack_signing_secret,
        settings.slack_app_token,
        settings.slack_client_secret,
        *(value for key, value in settings.teams_sdk if key.endswith(("SECRET", "PASSWORD"))),
        *(_password(url) for url in (settings.database_url, settings.postgres_eval_url)),
    ]
    return [s for s in found if s]


def configure(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Log to stderr (or `stream`) at the settings' level, secrets redacted; return the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(RedactingFormatter(FORMAT, secrets_of(settings)))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    return handler


def _password(url: str) -> str | None:
    try:
        return make_url(url).password
    except Exception:  # not a URL SQLAlchemy reads: nothing to hide in it
        return None

"""Settings read once from the environment; secrets have no defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from handlers.deps import HandlerSettings
from knowledge.database import DEFAULT_URL
from scheduler import config as scheduler_config
from scheduler.config import SchedulerSettings

DEFAULT_EVAL_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MAX_WORKERS = 64
TEAMS_PREFIX = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the bot reads from its environment (its repr shows no secret)."""

    database_url: str = field(default=DEFAULT_URL, repr=False)
    host: str = "127.0.0.1"
    port: int = 3000
    workers: int = 1
    glossary: Path | None = None
    log_level: str = "INFO"
    postgres_eval_url: str = field(default=DEFAULT_EVAL_URL, repr=False)
    login_token: str | None = field(default=None, repr=False)
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_api_url: str = "https://slack.com/api/"
    slack_pace_seconds: float = 1.0
    slack_client_id: str | None = None
    slack_client_secret: str | None = field(default=None, repr=False)
    slack_redirect_uri: str | None = None
    # Teams: the Agents SDK's own variables (CONNECTIONS__SERVICE_CONNECTION__SETTINGS__…)
    teams_sdk: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    teams_jwks_url: str | None = None
    teams_service_hosts: tuple[str, ...] = ()
    # What the handlers and the scheduler read, carried to them (Deps.settings, the Scheduler):
    # nothing below bot/ reads the environment.
    handlers: HandlerSettings = field(default_factory=HandlerSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    scheduler_on: bool = True  # LESSONS_SCHEDULER=off: the bot sends no reminders

    @property
    def slack_enabled(self) -> bool:
        """Return True when Slack is configured: a bot token, or OAuth (even half of it)."""
        return bool(self.slack_bot_token) or self.slack_oauth

    @property
    def slack_oauth(self) -> bool:
        """Return True when OAuth (installs in many workspaces) is asked for.

        Half a configuration counts, so that the Slack surface can refuse it by name.
        """
        return bool(self.slack_client_id or self.slack_client_secret)

    @property
    def teams_enabled(self) -> bool:
        """Return True when the SDK's service connection has any setting (Teams is on)."""
        return any(key.startswith(TEAMS_PREFIX) for key, _ in self.teams_sdk)

    @property
    def teams_client_id(self) -> str | None:
        """Return the bot's app id (`…SETTINGS__CLIENTID`), when set."""
        return dict(self.teams_sdk).get(TEAMS_PREFIX + "CLIENTID") or None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from the environment (or the mapping given)."""
        env = os.environ if env is None else env
        handlers = _handler_settings(env)
        port = env.get("LESSONS_PORT", "3000")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"LESSONS_PORT must be a port number, not '{port}'")
        glossary = env.get("LESSONS_GLOSSARY")
        workers = env.get("LESSONS_WORKERS") or "1"
        if not workers.isdigit() or not 1 <= int(workers) <= MAX_WORKERS:
            raise ValueError(f"LESSONS_WORKERS must be a number from 1 to {MAX_WORKERS}")
        return cls(
            database_url=env.get("LESSONS_DATABASE_URL") or DEFAULT_URL,
            host=env.get("LESSONS_HOST") or "127.0.0.1",
            port=int(port),
            workers=int(workers),
            glossary=Path(glossary) if glossary else None,
            log_level=(env.get("LESSONS_LOG_LEVEL") or "INFO").upper(),
            postgres_eval_url=env.get("LESSONS_EVAL_POSTGRES_URL")
            or env.get("LESSONS_TEST_POSTGRES_URL")
            or DEFAULT_EVAL_URL,
            login_token=env.get("LESSONS_LOGIN_TOKEN") or None,
            slack_bot_token=env.get("SLACK_BOT_TOKEN") or None,
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET") or None,
            slack_app_token=env.get("SLACK_APP_TOKEN") or None,
            slack_api_url=_api_url(env.get("SLACK_API_URL") or "https://slack.com/api/"),
            slack_pace_seconds=_seconds(env.get("LESSONS_SLACK_PACE_SECONDS", "1.0")),
            slack_client_id=env.get("SLACK_CLIENT_ID") or None,
            slack_client_secret=env.get("SLACK_CLIENT_SECRET") or None,
            slack_redirect_uri=_redirect_uri(env.get("SLACK_REDIRECT_URI") or None),
            teams_sdk=tuple(
                sorted(
                    (key, value.strip())
                    for key, value in env.items()
                    if key.startswith(("CONNECTIONS__", "CONNECTIONSMAP__")) and value.strip()
                )
            ),
            teams_jwks_url=_https_url(
                "LESSONS_TEAMS_JWKS_URL", env.get("LESSONS_TEAMS_JWKS_URL") or None
            ),
            teams_service_hosts=tuple(
                host.strip().lower()
                for host in (env.get("LESSONS_TEAMS_SERVICE_HOSTS") or "").split(",")
                if host.strip()
            ),
            handlers=handlers,
            # A bad scheduler setting stops the start here, named.
            scheduler=replace(SchedulerSettings.from_env(env), handlers=handlers),
            scheduler_on=scheduler_config.enabled(env),
        )


def _handler_settings(env: Mapping[str, str]) -> HandlerSettings:
    questions = (env.get("LESSONS_AAR_QUESTIONS") or "").strip()
    return HandlerSettings(
        work_hours=env.get("LESSONS_WORK_HOURS") or "09:00-17:00",
        work_days=env.get("LESSONS_WORK_DAYS") or "mon-fri",
        aar_questions=Path(questions) if questions else None,
        aar_delay_hours=(env.get("LESSONS_AAR_DELAY_HOURS") or "").strip(),
        aar_question_minutes=(env.get("LESSONS_AAR_QUESTION_MINUTES") or "").strip(),
    )


def _api_url(url: str) -> str:
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"SLACK_API_URL must be an http(s) URL, not '{url}'")
    return url if url.endswith("/") else url + "/"


def _https_url(name: str, url: str | None) -> str | None:
    if url is not None and not url.startswith("https://"):
        raise ValueError(f"{name} must be an https URL, not '{url}'")
    return url


def _redirect_uri(url: str | None) -> str | None:
    if url is not None and not url.startswith(("https://", "http://")):
        raise ValueError(f"SLACK_REDIRECT_URI must be an http(s) URL, not '{url}'")
    return url


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"LESSONS_SLACK_PACE_SECONDS must be a number, not '{value}'") from None
    if not 0 <= seconds <= 60:
        raise ValueError("LESSONS_SLACK_PACE_SECONDS must be between 0 and 60")
    return seconds

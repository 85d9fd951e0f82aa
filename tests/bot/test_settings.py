"""Settings from the environment: Slack's variables, and clear errors for bad values."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.settings import Settings
from handlers.reviews.config import DEFAULT_DELAY, start_delay


def test_slack_is_off_without_a_token() -> None:
    settings = Settings.from_env({})
    assert settings.slack_enabled is False
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.slack_pace_seconds == 1.0


def test_slack_variables_are_read() -> None:
    settings = Settings.from_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_SIGNING_SECRET": "s",
            "SLACK_APP_TOKEN": "xapp-1",
            "SLACK_API_URL": "http://127.0.0.1:9/api",
            "LESSONS_SLACK_PACE_SECONDS": "0",
        }
    )
    assert settings.slack_enabled
    assert (settings.slack_bot_token, settings.slack_signing_secret) == ("xoxb-1", "s")
    assert settings.slack_app_token == "xapp-1"
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"  # the SDK needs the slash
    assert settings.slack_pace_seconds == 0


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"SLACK_API_URL": "slack.com/api"}, r"SLACK_API_URL must be an http\(s\) URL"),
        ({"LESSONS_SLACK_PACE_SECONDS": "fast"}, "must be a number"),
        ({"LESSONS_SLACK_PACE_SECONDS": "-1"}, "between 0 and 60"),
    ],
)
def test_bad_slack_values_are_refused_with_the_variable_named(
    env: dict[str, str], says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("raw", "delay"),
    [
        ("", DEFAULT_DELAY),
        ("0", timedelta(0)),
        ("1.5", timedelta(minutes=90)),
        ("soon", DEFAULT_DELAY),
        ("-3", DEFAULT_DELAY),
        ("nan", DEFAULT_DELAY),
        ("inf", DEFAULT_DELAY),
    ],
)
def test_aar_start_delay_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str, delay: timedelta
) -> None:
    assert start_delay(Settings.from_env({"LESSONS_AAR_DELAY_HOURS": raw}).handlers) == delay


@pytest.mark.parametrize("value", ["0", "-1", "two", "65"])
def test_a_bad_number_of_workers_is_refused_with_the_variable_named(value: str) -> None:
    with pytest.raises(ValueError, match="LESSONS_WORKERS"):
        Settings.from_env({"LESSONS_WORKERS": value})
    assert Settings.from_env({"LESSONS_WORKERS": "4"}).workers == 4
    assert Settings.from_env({}).workers == 1

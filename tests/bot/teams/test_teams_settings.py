"""Teams settings: the Agents SDK's own variables, read once; with none set, Teams is off."""

from __future__ import annotations

import pytest

from bot.settings import Settings

PREFIX = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"


def test_teams_is_off_without_the_sdk_variables() -> None:
    settings = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "LESSONS_TEAMS_JWKS_URL": ""})
    assert not settings.teams_enabled and settings.teams_sdk == ()
    assert settings.teams_client_id is None and settings.teams_jwks_url is None


def test_the_sdk_variables_turn_teams_on_and_nothing_else_is_kept() -> None:
    settings = Settings.from_env(
        {
            f"{PREFIX}CLIENTID": " 00000000-0000-4000-8000-000000000001 ",
            f"{PREFIX}CLIENTSECRET": "s3cret",
            f"{PREFIX}TENANTID": "",
            "CONNECTIONSMAP__0__CONNECTION": "SERVICE_CONNECTION",
            "CONNECTIONS_NOT_OURS": "x",
            "PATH": "/usr/bin",
            "LESSONS_TEAMS_SERVICE_HOSTS": " smba.example.us, ,Teams.Example.US ",
        }
    )
    assert settings.teams_enabled
    assert settings.teams_client_id == "00000000-0000-4000-8000-000000000001"
    assert dict(settings.teams_sdk) == {
        f"{PREFIX}CLIENTID": "00000000-0000-4000-8000-000000000001",
        f"{PREFIX}CLIENTSECRET": "s3cret",
        "CONNECTIONSMAP__0__CONNECTION": "SERVICE_CONNECTION",
    }
    assert settings.teams_service_hosts == ("smba.example.us", "teams.example.us")


def test_anonymous_development_mode_alone_turns_teams_on() -> None:
    assert Settings.from_env({f"{PREFIX}ANONYMOUS_ALLOWED": "true"}).teams_enabled


def test_the_key_set_url_must_be_https() -> None:
    with pytest.raises(ValueError, match="LESSONS_TEAMS_JWKS_URL must be an https URL"):
        Settings.from_env({"LESSONS_TEAMS_JWKS_URL": "http://keys.example/jwks"})
    url = "https://login.botframework.com/v1/.well-known/keys"
    assert Settings.from_env({"LESSONS_TEAMS_JWKS_URL": url}).teams_jwks_url == url

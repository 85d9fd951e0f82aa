"""Errors of the Slack surface that stop the bot with a clear message."""


class SlackStartupError(RuntimeError):
    """Slack is configured but cannot be used (bad token, missing secret or app token)."""

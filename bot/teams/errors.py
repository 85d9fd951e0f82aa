"""Errors of the Teams surface."""


class TeamsStartupError(RuntimeError):
    """Teams is configured but cannot be used (bad settings, refused credentials, wrong SDK)."""


class Unreachable(RuntimeError):
    """Teams cannot reach this person: no personal chat, and Teams refused to open one.

    `unreachable` is the neutral mark the scheduler reads (as it reads `retry_after`): such a
    person is reported in the PBPO digest instead of being retried forever.
    """

    unreachable = True

"""Benchmarks that run the bot as production does, against local stand-ins for the platforms.

This package lives beside `tests/`, outside the installed distribution: `lessons bench teams`
and the other `lessons bench` commands import it from the repository checkout (an editable
install): search quality and latency (`search`), the scheduler (`scheduler`, with its Slack
sink `slack_sink`), Slack (`slack`, `slack_side`), Teams (`teams`, `teams_side`) and the
multi-worker runs (`workers`). Nothing in the production packages imports it.
"""

"""Benchmarks that run the bot as production does, against local stand-ins for the platforms.

This package lives beside `tests/`, outside the installed distribution: `lessons bench teams`
imports it from the repository checkout (an editable install). The older benchmarks still live
in the production packages (`knowledge/bench.py`, `bot/slack/bench.py`, `scheduler/bench.py`).
"""

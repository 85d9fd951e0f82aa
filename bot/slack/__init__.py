"""Slack: Bolt listeners, payloads to neutral values, and replies to Block Kit."""

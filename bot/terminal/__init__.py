"""The terminal chat: the same handlers and replies, rendered as plain text."""

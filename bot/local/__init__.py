"""The local web chat: the same handlers and replies, in a browser, with no credentials."""

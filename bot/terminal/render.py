"""Reply → plain text for a terminal."""

from __future__ import annotations

import re
from typing import assert_never

from handlers.chat import Button, Divider, Fields, Form, Reply, Text

_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def render(reply: Reply) -> str:
    """Return the reply as text: links as 'title <url>', buttons as [labels]."""
    lines: list[str] = []
    buttons: list[str] = []
    for element in reply.elements:
        if not isinstance(element, Button) and buttons:
            lines.append("  " + "  ".join(buttons))
            buttons = []
        match element:
            case Text(markdown=markdown):
                lines.append(_LINK.sub(r"\1 <\2>", markdown).replace("*", ""))
            case Fields(pairs=pairs):
                lines.append("  " + " · ".join(f"{k}: {v}" for k, v in pairs))
            case Button(label=label):
                buttons.append(f"[{label}]")
            case Divider():
                lines.append("")
            case Form(title=title):
                lines.append(f"(form: {title} — not available in the terminal)")
            case _:
                assert_never(element)
    if buttons:
        lines.append("  " + "  ".join(buttons))
    return "\n".join(lines)

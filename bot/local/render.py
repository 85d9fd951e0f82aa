"""Reply → HTML for the local web chat: pure, and escaped so any text is safe to show.

Every piece of user text (lessons, questions, names, form values) is cleaned of control
characters and escaped with `html.escape(quote=True)` before anything else; formatting is
then applied to the escaped text. The formatting markers (`*`, `_`, backtick, `[`, `]`,
`(`, `)`) never occur inside the entities that escaping produces, so splitting the escaped
text at a marker never cuts an entity in two.

The inline parser is linear: each line is scanned once to find, for every position, the
next closer of each kind, and each kind of formatting may not nest inside itself, so a
line is walked at most four times whatever markers it holds.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from typing import assert_never

from handlers.chat import Button, Divider, Fields, Form, Input, Reply, Text
from knowledge.models import ActionStatus, LessonStatus

PRIVATE_NOTE = "Only you can see this"

_NEW_TAB = ' target="_blank" rel="noopener noreferrer"'
_SCHEMES = frozenset({"http", "https", "mailto"})
_STATUSES = frozenset(str(status) for status in (*LessonStatus, *ActionStatus))

# Control characters go (tab and newline stay), and so do the bidi embeddings, overrides and
# isolates that could make text read differently from what it says (`dir="auto"` handles
# right-to-left text); lone surrogates, which cannot be encoded, become U+FFFD.
_CLEAN: dict[int, str | None] = {
    **{code: None for code in (*range(0x00, 0x20), *range(0x7F, 0xA0)) if code not in (9, 10)},
    **{code: None for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))},
    **{code: "\ufffd" for code in range(0xD800, 0xE000)},
}

# Inline markers: `*x*` and `**x**` are bold (the bot writes Slack-style `*bold*`), `_x_` is
# italic, `[label](url)` is a link; code spans are found first and hold no formatting.
_EMPHASIS = frozenset({"*", "**", "_"})
_ALL = frozenset({*_EMPHASIS, "["})
_BULLETS = "•-*"


def render(reply: Reply) -> str:
    """Return the reply as one HTML fragment: a `div.reply` card, adjacent buttons in one row."""
    parts: list[str] = []
    buttons: list[str] = []
    for element in reply.elements:
        if buttons and not isinstance(element, Button):
            parts.append(_actions(buttons))
            buttons = []
        match element:
            case Text(markdown=source):
                parts.append(markdown(source))
            case Fields(pairs=pairs, folded=True):
                parts.append(
                    f'<details class="details"><summary>Details</summary>{_fields(pairs)}</details>'
                )
            case Fields(pairs=pairs):
                parts.append(_fields(pairs))
            case Button():
                buttons.append(_button(element))
            case Form():
                parts.append(_form(element))
            case Divider():
                parts.append("<hr>")
            case _:
                assert_never(element)
    if buttons:
        parts.append(_actions(buttons))
    if reply.private:
        note = f'<div class="private-note">{PRIVATE_NOTE}</div>'
        return f'<div class="reply private">{note}{"".join(parts)}</div>'
    return f'<div class="reply">{"".join(parts)}</div>'


def markdown(text: str) -> str:
    """Return the bot's CommonMark subset as escaped HTML: paragraphs, lists, emphasis, links."""
    blocks: list[str] = []
    for kind, group in groupby(_clean(text).split("\n"), key=_line_kind):
        lines = list(group)
        if kind == "item":
            items = "".join(f'<li dir="auto">{_inline_line(_bullet_text(li))}</li>' for li in lines)
            blocks.append(f"<ul>{items}</ul>")
        elif kind == "text":
            blocks.append(f'<p dir="auto">{"<br>".join(_inline_line(li) for li in lines)}</p>')
    return "".join(blocks)


def user_message(text: str) -> str:
    """Return what a person typed as escaped HTML, line breaks kept and no formatting applied."""
    escaped = "<br>".join(_escape(line) for line in _clean(text).split("\n"))
    return f'<div class="user-message" dir="auto">{escaped}</div>'


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").translate(_CLEAN)


def _escape(text: str) -> str:
    """Return text cleaned and escaped for element content and double-quoted attributes."""
    return html.escape(_clean(text), quote=True)


def _link_target(url: str) -> str | None:
    """Return the attributes a link to url needs, or None when it may not be a link at all.

    Only http(s), mailto and same-site paths qualify: never `javascript:`, `data:` or any other
    scheme, nor `//host` or `/\\host`, which browsers read as another site.
    """
    if not url or any(char.isspace() for char in url):
        return None
    scheme, colon, _ = url.partition(":")
    if colon and scheme.isascii() and scheme.lower() in _SCHEMES:
        return _NEW_TAB if scheme.lower() != "mailto" else ""
    if url.startswith("/") and not url.startswith(("//", "/\\")):
        return ""
    return None


# Elements


def _actions(buttons: list[str]) -> str:
    return f'<div class="actions">{"".join(buttons)}</div>'


def _button(button: Button) -> str:
    label = _escape(button.label)
    if button.url is None:
        action, value = _escape(button.action), _escape(button.value)
        return (
            f'<button type="button" class="btn" data-action="{action}" data-value="{value}">'
            f"{label}</button>"
        )
    if _link_target(_clean(button.url)) is None:
        return f'<button type="button" class="btn" disabled>{label}</button>'
    return f'<a class="btn" href="{_escape(button.url)}"{_NEW_TAB}>{label}</a>'


def _fields(pairs: tuple[tuple[str, str], ...]) -> str:
    rows = "".join(
        f'<div class="field"><dt>{_escape(label)}</dt><dd dir="auto">{_field_value(label, value)}'
        "</dd></div>"
        for label, value in pairs
    )
    return f'<dl class="fields">{rows}</dl>'


def _field_value(label: str, value: str) -> str:
    """Return a value as inline markdown; a known status becomes a badge."""
    content = "<br>".join(_inline_line(line) for line in _clean(value).split("\n"))
    words = value.split()
    status = words[-1].casefold() if words else ""
    if label.strip().casefold() == "status" and status in _STATUSES:
        return f'<span class="badge" data-status="{status}">{content}</span>'
    return content


def _form(form: Form) -> str:
    inputs = "".join(_input(item) for item in form.inputs)
    return (
        f'<form class="reply-form" data-form="{_escape(form.form)}">'
        f'<div class="form-title">{_escape(form.title)}</div>{inputs}'
        f'<button type="submit" class="btn primary">{_escape(form.submit)}</button></form>'
    )


def _input(item: Input) -> str:
    name, initial = _escape(item.name), _escape(item.initial)
    required = "" if item.optional else " required"
    if item.multiline:
        # HTML drops a newline right after <textarea>: add one so an initial newline survives.
        lead = "\n" if initial.startswith("\n") else ""
        control = f'<textarea name="{name}" rows="4"{required}>{lead}{initial}</textarea>'
    else:
        control = f'<input type="text" name="{name}" value="{initial}"{required}>'
    said = item.label.casefold()
    hint = ' <span class="optional">(optional)</span>' if item.optional else ""
    if "optional" in said:  # "Why it moves (optional)" says so already
        hint = ""
    label = f'<span class="input-label">{_escape(item.label)}{hint}</span>'
    error = (
        f'<span class="input-error" role="alert">{_escape(item.error)}</span>' if item.error else ""
    )
    return f'<label class="input">{label}{control}{error}</label>'


# Blocks


def _line_kind(line: str) -> str:
    stripped = line.lstrip()
    if not stripped:
        return "blank"
    if stripped[0] in _BULLETS and stripped[1:2].isspace():
        return "item"
    return "text"


def _bullet_text(line: str) -> str:
    return line.lstrip()[1:].strip()


# Inline formatting


@dataclass(frozen=True, slots=True)
class _Line:
    """One escaped line, scanned once: its code spans, openers and the next closer of each kind.

    `closers[kind][i]` is the position of the first closer of that kind at or after i, or
    `len(text)` when there is none: `"*"`, `"**"`, `"_"`, `"]"`, and `")"` (which also stands
    for any whitespace, since a link's address ends at either).
    """

    text: str
    code: dict[int, int]
    in_code: list[bool]
    openers: dict[int, str]
    closers: dict[str, list[int]]


def _inline_line(raw: str) -> str:
    line = _scan(html.escape(raw, quote=True))
    return _inline(line, 0, len(line.text), _ALL)


def _scan(text: str) -> _Line:
    ticks = [i for i, char in enumerate(text) if char == "`"]
    code = {a: b for a, b in zip(ticks[::2], ticks[1::2], strict=False) if b > a + 1}
    in_code = [False] * len(text)
    for start, end in code.items():
        in_code[start : end + 1] = [True] * (end + 1 - start)
    openers: dict[int, str] = {}
    found: dict[str, list[int]] = {kind: [] for kind in (*_EMPHASIS, "]", ")")}
    for i, char in enumerate(text):
        if char == ")" or char.isspace():
            found[")"].append(i)
        elif char == "]" and not in_code[i]:
            found["]"].append(i)
    for start, end in _runs(text, in_code):
        marker = text[start:end]
        if marker not in _EMPHASIS:
            continue  # `***`, `__init__`: literal
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if not before.isalnum() and not after.isspace():
            openers[start] = marker
        if not before.isspace() and not after.isalnum():
            found[marker].append(start)
    closers = {kind: _nearest(positions, len(text)) for kind, positions in found.items()}
    return _Line(text, code, in_code, openers, closers)


def _runs(text: str, in_code: list[bool]) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of each run of one emphasis character outside code spans."""
    i = 0
    while i < len(text):
        end = i + 1
        if text[i] in "*_" and not in_code[i]:
            while end < len(text) and text[end] == text[i]:
                end += 1
            yield i, end
        i = end


def _nearest(positions: list[int], size: int) -> list[int]:
    nearest = [size] * (size + 1)
    for position in positions:
        nearest[position] = position
    for i in range(size - 1, -1, -1):
        if nearest[i] == size:
            nearest[i] = nearest[i + 1]
    return nearest


def _inline(line: _Line, lo: int, hi: int, allowed: frozenset[str]) -> str:
    """Return `line.text[lo:hi]` as HTML, applying only the formatting in `allowed`."""
    out: list[str] = []
    start = i = lo
    while i < hi:
        token = _token(line, i, hi, allowed)
        if token is None:
            i += 1
            continue
        out += [line.text[start:i], token[0]]
        i = start = token[1]
    out.append(line.text[start:hi])
    return "".join(out)


def _token(line: _Line, i: int, hi: int, allowed: frozenset[str]) -> tuple[str, int] | None:
    """Return the HTML of the formatted span starting at i and where it ends, if there is one."""
    text = line.text
    if text[i] == "`":
        end = line.code.get(i, hi)
        return (f"<code>{text[i + 1 : end]}</code>", end + 1) if end < hi else None
    marker = line.openers.get(i)
    if marker is not None and marker in allowed:
        return _emphasis(line, i, hi, marker, allowed)
    if text[i] == "[" and "[" in allowed and not line.in_code[i]:
        return _link(line, i, hi, allowed)
    return None


def _emphasis(
    line: _Line, i: int, hi: int, marker: str, allowed: frozenset[str]
) -> tuple[str, int] | None:
    width = len(marker)
    close = line.closers[marker][i + width]
    if close >= hi:
        return None
    if marker == "_":
        tag, inner = "em", allowed - {"_"}
    else:
        tag, inner = "strong", allowed - {"*", "**"}
    return f"<{tag}>{_inline(line, i + width, close, inner)}</{tag}>", close + width


def _link(line: _Line, i: int, hi: int, allowed: frozenset[str]) -> tuple[str, int] | None:
    text = line.text
    bracket = line.closers["]"][i + 1]
    paren = bracket + 1
    if paren >= hi or text[paren] != "(" or bracket == i + 1:
        return None
    end = line.closers[")"][paren + 1]
    if end >= hi or text[end] != ")" or end == paren + 1:
        return None
    href = text[paren + 1 : end]
    target = _link_target(html.unescape(href))
    if target is None:
        return None
    label = _inline(line, i + 1, bracket, allowed - {"["})
    return f'<a href="{href}"{target}>{label}</a>', end + 1

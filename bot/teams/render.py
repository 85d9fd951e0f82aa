"""Reply → Adaptive Card 1.5 (what Teams renders) plus fallback text: pure, safe for any text.

Conventions `bot.teams.incoming` relies on:

- A `Button` is an `Action.Execute` whose `verb` is the neutral action id; its data carries
  `lessons.kind: "button"`, the action id again (`lessons.action`, for an `Action.Submit`
  replay) and the value (`lessons.value`). A button with an http(s) `url` is `Action.OpenUrl`.
- A `Form` is shown in the card itself: one `Input.Text` per input (its id is the input name;
  `Input.Date` for a date), the error of a value sent back beside its input,
  then an `Action.Execute` whose verb is the form id and data `lessons.kind: "form"`. Teams
  adds the inputs' values to the action's data.
- Adjacent buttons share one `ActionSet` (five a row); a `Divider` becomes the next element's
  separator; `Fields` are a `FactSet`.

Text: control characters and bidi overrides go; the bot's `*bold*` becomes `**bold**`;
links stay only for http(s) and mailto addresses. Adaptive Cards render no HTML and Teams pings
nobody without a mention entity, so nothing else needs escaping. A text block is cut at 4,000
characters and a card at about 24 KB (Teams refuses activities over ~28 KB), the last block
then saying how many elements were left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, assert_never

from bot.teams.incoming import ACTION, KIND, PLATFORM, VALUE
from handlers.chat import Button, Divider, Element, Fields, Form, Input, Reply, Text
from handlers.help import as_typed

Json = dict[str, Any]
Sized = tuple[Json, int]  # a block and the bytes of its JSON

CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
VERSION = "1.5"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
MAX_CARD_BYTES = 24_000
MAX_TEXT = 4_000
MAX_FALLBACK = 2_000
MAX_FACT = 1_000
MAX_LABEL = 80
MAX_VALUE = 2_000
ROW = 5

_UNCLEAN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_BULLET = re.compile(r"^[ \t]*[-*•][ \t]+")
_SINGLE_BOLD = re.compile(r"(?<![*\w])\*(?=[^\s*])([^*\n]*?[^\s*])\*(?![*\w])")
_PLAIN_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_HINT = re.compile(r"\s*\([^()]*\)$")  # "Due date (15 Jan, in 3 weeks)": a picker needs no hint
_LINK = re.compile(r"\[([^\]\n]+)\]\(((?:[^()\s]|\([^()\s]*\))+)\)")


def card(reply: Reply) -> Json:
    """Return the reply as an Adaptive Card 1.5."""
    body = _fit(list(_body(reply.elements)))
    return {
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": VERSION,
        "body": body or [_text_block("…")],
        "fallbackText": fallback(reply),
    }


def submit_only(card: Json) -> Json:
    """Return a copy of a card whose `Action.Execute`s are `Action.Submit`s with the same data.

    Only Teams runs Action.Execute (Universal Actions); other Bot Framework clients, such as
    Web Chat, show the button and send nothing when it is pressed. The data already names the
    action (`lessons.action`), which is how an Action.Submit is read back.
    """

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        if node.get("type") == "Action.Execute":
            return {"type": "Action.Submit", "title": node.get("title", ""), "data": node["data"]}
        return {key: convert(value) for key, value in node.items()}

    converted: Json = convert(card)
    return converted


def attachment(reply: Reply) -> Json:
    """Return the reply as a message attachment."""
    return {"contentType": CONTENT_TYPE, "content": card(reply)}


def fallback(reply: Reply) -> str:
    """Return the reply as plain text: notifications, previews, clients without cards.

    Plain means plain: no `*bold*`, `_italic_` or `[label](url)` markup (Teams shows a
    notification's and a toast's text as it is).
    """
    text = plain(_clean(reply.fallback)).strip()
    if not text:
        text = " · ".join(
            _flat(e.label, MAX_LABEL) for e in reply.elements if isinstance(e, Button)
        )
    return _clip(text or "…", MAX_FALLBACK)


def plain(source: str) -> str:
    """Return the bot's CommonMark subset as plain text: markup gone, link labels kept."""
    text = _LINK.sub(lambda m: m.group(1), as_typed(source, PLATFORM))
    text = _SINGLE_BOLD.sub(lambda m: m.group(1), text)
    text = _PLAIN_ITALIC.sub(lambda m: m.group(1), text)
    return text.replace("`", "")


def markdown(source: str) -> str:
    """Return the bot's CommonMark subset as Adaptive Card markdown (a TextBlock's text)."""
    lines = [_line(line) for line in _clean(as_typed(source, PLATFORM)).split("\n")]
    out: list[str] = []
    for line in lines:
        if out and line.startswith("- ") and out[-1].startswith("- "):
            out[-1] += "\n" + line  # list items stay one list
        else:
            out.append(line)
    return "\n\n".join(part for part in out if part.strip())


# Elements -------------------------------------------------------------------------------


def _body(elements: Iterable[Element]) -> Iterable[Sized]:
    """Yield the card's elements with their sizes: buttons in rows, dividers as separators."""
    row: list[Button] = []
    separate = False
    folded = 0
    for element in elements:
        if row and not isinstance(element, Button):
            for block in _actions(row):
                yield _separated(_sized(block), separate)
                separate = False
            row = []
        found: Sized | None = None
        match element:
            case Text(markdown=source):
                found = _text_cached(source) if len(source) <= _CACHED_CHARS else _text(source)
            case Fields(pairs=pairs, folded=True) if pairs:
                folded += 1
                for block in _details(pairs, f"details{folded}"):
                    yield _separated(_sized(block), separate)
                    separate = False
            case Fields(pairs=pairs) if pairs:
                small = sum(len(a) + len(b) for a, b in pairs) <= _CACHED_CHARS
                found = _facts_cached(pairs) if small else _sized(_facts(pairs))
            case Fields():
                pass
            case Button():
                row.append(element)
            case Form():
                found = _sized(_form(element))
            case Divider():
                separate = True
            case _:
                assert_never(element)
        if found is not None:
            yield _separated(found, separate)
            separate = False
    for block in _actions(row):
        yield _separated(_sized(block), separate)
        separate = False


def _sized(block: Json) -> Sized:
    return block, len(json.dumps(block, ensure_ascii=False).encode())


def _separated(found: Sized, separate: bool) -> Sized:
    if not separate:
        return found
    block, size = found
    return {**block, "separator": True, "spacing": "Medium"}, size + _SEPARATOR_BYTES


def _text(source: str) -> Sized | None:
    text = markdown(source)
    return _sized(_text_block(text)) if text else None


# The same takeaways, labels and facts come back in answer after answer: their blocks are made
# once. Cached blocks are shared, so nothing may change them after rendering (`_separated`
# copies a block it adds a separator to).
_text_cached = lru_cache(maxsize=4_096)(_text)
_CACHED_CHARS = 1_000
_SEPARATOR_BYTES = len(', "separator": true, "spacing": "Medium"')


@lru_cache(maxsize=4_096)
def _facts_cached(pairs: tuple[tuple[str, str], ...]) -> Sized:
    return _sized(_facts(pairs))


def _text_block(text: str) -> Json:
    return {"type": "TextBlock", "text": _clip(text, MAX_TEXT), "wrap": True}


def _facts(pairs: tuple[tuple[str, str], ...]) -> Json:
    facts = [
        {"title": _flat(label, MAX_LABEL) or "—", "value": _clip(markdown(value), MAX_FACT) or "—"}
        for label, value in pairs
    ]
    return {"type": "FactSet", "facts": facts}


def _details(pairs: tuple[tuple[str, str], ...], element_id: str) -> list[Json]:
    """Return a *Details* toggle and the facts it shows (hidden until it is pressed)."""
    toggle = {"type": "Action.ToggleVisibility", "title": "Details", "targetElements": [element_id]}
    return [
        {"type": "ActionSet", "actions": [toggle]},
        {"type": "Container", "id": element_id, "isVisible": False, "items": [_facts(pairs)]},
    ]


def _actions(row: list[Button]) -> list[Json]:
    return [
        {"type": "ActionSet", "actions": [_button(b) for b in row[start : start + ROW]]}
        for start in range(0, len(row), ROW)
    ]


def _button(button: Button) -> Json:
    title = _flat(button.label, MAX_LABEL) or "…"
    url = _web_url(button.url)
    if url is not None:
        return {"type": "Action.OpenUrl", "title": title, "url": url}
    if not button.action:
        raise ValueError("a button needs an action id")
    if len(button.value) > MAX_VALUE:
        raise ValueError(f"the value of {button.action!r} is over {MAX_VALUE} characters")
    # Plain strings: an action id is often a StrEnum member, which the SDK's serializer (pydantic)
    # would convert in Python, one member at a time, for every card sent.
    action = str(button.action)
    data = {KIND: "button", ACTION: action, VALUE: str(button.value)}
    return {"type": "Action.Execute", "title": title, "verb": action, "data": data}


def _form(form: Form) -> Json:
    items: list[Json] = []
    if form.title.strip():
        items.append({**_text_block(f"**{_flat(form.title, 200)}**"), "size": "Medium"})
    items += [block for item in form.inputs for block in _inputs(item)]
    submit = {
        "type": "Action.Execute",
        "title": _flat(form.submit, MAX_LABEL) or "Save",
        "verb": str(form.form),
        "data": {KIND: "form", ACTION: str(form.form)},
    }
    items.append({"type": "ActionSet", "actions": [submit]})
    return {"type": "Container", "items": items}


def _inputs(item: Input) -> list[Json]:
    """Return an input, and the error of the value last sent beside it (a form sent back)."""
    blocks = [_input(item)]
    if item.error:
        error = _text_block(_flat(item.error, 500))
        blocks.append({**error, "color": "Attention", "spacing": "None"})
    return blocks


def _input(item: Input) -> Json:
    initial = _clip(_clean(item.initial), 3000)
    label = _flat(item.label, 200) or item.name
    if item.date and (not initial or _ISO_DAY.fullmatch(initial)):
        # Teams' date picker: it sends YYYY-MM-DD, which the date reader takes as it is.
        block: Json = {
            "type": "Input.Date",
            "id": item.name,
            "label": _HINT.sub("", label) or label,
            "isRequired": not item.optional,
        }
        if initial:
            block["value"] = initial
        if not item.optional:
            block["errorMessage"] = "Please pick a date."
        return block
    block = {
        "type": "Input.Text",
        "id": item.name,
        "label": label,
        "isMultiline": item.multiline,
        "isRequired": not item.optional,
        "maxLength": 3000 if item.multiline else 500,
    }
    if initial:
        block["value"] = initial
    if not item.optional:
        block["errorMessage"] = "Please fill this in."
    return block


def _fit(body: list[Sized]) -> list[Json]:
    """Return the body cut to the card's size budget, the last block saying what was left."""
    if sum(size for _, size in body) <= MAX_CARD_BYTES:
        return [block for block, _ in body]
    kept, total = 0, 0
    while kept < len(body) and total + body[kept][1] <= MAX_CARD_BYTES - 200:
        total += body[kept][1]
        kept += 1
    left = f"…and {len(body) - kept} more (too long for one card)."
    return [*(block for block, _ in body[:kept]), _text_block(left)]


# Text -----------------------------------------------------------------------------------


def _line(line: str) -> str:
    bullet = _BULLET.match(line)
    text = _SINGLE_BOLD.sub(r"**\1**", line[bullet.end() :] if bullet else line)
    out: list[str] = []
    start = 0
    for match in _LINK.finditer(text):
        out += [_unlinked(text[start : match.start()]), _link(match)]
        start = match.end()
    out.append(_unlinked(text[start:]))
    return ("- " if bullet else "") + "".join(out)


def _unlinked(text: str) -> str:
    """Return text that cannot form a link of its own (whatever its parentheses hold)."""
    return text.replace("](", "] (")


def _link(match: re.Match[str]) -> str:
    label, url = match.groups()
    scheme, colon, rest = url.partition(":")
    web = scheme.lower() in ("http", "https") and rest.startswith("//") and len(rest) > 2
    mail = scheme.lower() == "mailto" and bool(rest)
    return f"[{label}]({url})" if colon and (web or mail) else f"{label} ({url})"


def _web_url(url: str | None) -> str | None:
    if url is None or _clean(url) != url or any(char.isspace() for char in url):
        return None
    scheme, _, rest = url.partition("://")
    return url if scheme.lower() in ("http", "https") and rest and len(url) <= 2000 else None


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _UNCLEAN.sub(lambda m: "\ufffd" if "\ud800" <= m.group() <= "\udfff" else "", text)


def _flat(text: str, limit: int) -> str:
    return _clip(" ".join(_clean(text).split()), limit)


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = max(head.rfind(" "), head.rfind("\n"))
    if space > limit // 2:
        head = head[:space]
    return head.rstrip() + "…"

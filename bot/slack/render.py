"""Reply → Slack Block Kit (message, modal, App Home) plus fallback text: pure, safe for any text.

Conventions the listeners rely on:

- `message` returns `(blocks, text)`; `text` is the notification fallback, already mrkdwn.
- Block ids are `b0`, `b1`, … in order (skipping input names in a modal); they mean nothing.
- A button's `action_id` is the neutral action id. Slack wants action ids unique within a
  block, so when one actions block holds the same action again it becomes `<action>#2`,
  `<action>#3`, …: read the action as `action_id.partition("#")[0]`. A neutral action id
  containing `#` is refused. An empty value is left out of the button: read a missing `value`
  as "". A button with an http(s) `url` opens it and still sends block_actions (ack it).
- In a message, a "Helpful" button followed by a "Not helpful" button with the same value
  becomes Slack's native feedback (a `context_actions` block with one `feedback_buttons`
  element, action id `ask.feedback`); each button's value is `<action>#<value>`, which
  `incoming.button` reads back as a press of that action. Views keep plain buttons.
- No button gets a `style`: the neutral model does not say which choice is the main one, and
  a green "Helpful" beside a grey "Not helpful" would tip the vote.
- A modal's `callback_id` is the form id; each input is an `input` block whose `block_id` and
  element `action_id` are the input name, so `values(view["state"])` gives `{name: value}`.
- A reply over a surface's block limit is cut, with a last context block "…and N more"; a
  text over 3,000 characters becomes several sections, split between lines.

Safety: text is cleaned of control characters and bidi overrides, then `&`, `<` and `>` are
escaped before any formatting is applied, so no text can produce `<!channel>`, `<@U…>`,
`<#C…>` or a `<url|label>` link of its own; the words `@here`, `@channel`, `@everyone` and
`@group` get a word joiner after the `@`, so Slack's automatic parsing cannot make them mass
mentions. Lengths are counted in UTF-16 code units, never fewer than characters, so a text is
within Slack's limits whichever way Slack counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from itertools import count
from typing import Any, assert_never

from handlers.ask import AskAction
from handlers.chat import Button, Divider, Element, Fields, Form, Input, Reply, Text

Block = dict[str, Any]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT = 3000  # a section's text, the fallback text, an initial value, private metadata
MAX_FIELD = 2000
MAX_FIELDS = 10
MAX_BUTTONS = 25
MAX_LABEL = 75
MAX_VALUE = 2000
MAX_ERROR = 300  # a modal input's error (response_action: errors)
MAX_URL = 3000
MAX_ID = 255
MAX_TITLE = 24
MAX_INPUT_LABEL = 2000

_MAX_FIELD_LABEL = 200
_MAX_LINK = 2000  # a longer address stays plain text, so a link never outgrows a section
_BOLD_STAR = "\u2217"  # asterisk operator: a `*` in a bold label would end the bold early
_JOINER = "\u2060"  # word joiner: invisible, and "@\u2060here" is no mention

# Control characters go (tab and newline stay), and so do the bidi embeddings, overrides and
# isolates that could make text read differently from what it says; lone surrogates, which
# cannot be encoded, become U+FFFD. A regex finds them (str.translate with a dict costs a
# Python lookup per character, ~1 ms a card).
_UNCLEAN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_MENTION = re.compile(r"@(?=here|channel|everyone|group)", re.IGNORECASE)
_BULLET = re.compile(r"^([ \t]*)[-*•][ \t]+")
_INLINE = re.compile(r"(`[^`\n]+`)|\[([^\]\n]+)\]\(([^()\s]+)\)")
_DOUBLE_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")


def message(reply: Reply) -> tuple[list[Block], str]:
    """Return the reply as message blocks (at most 50) and its notification text."""
    blocks = _blocks(reply.elements, feedback=True)
    return _numbered(blocks, limit=MAX_MESSAGE_BLOCKS), _fallback(reply)


def modal(reply: Reply, *, private_metadata: str = "") -> Block:
    """Return a reply holding exactly one form as a modal view: its other elements, then inputs.

    Raises:
        ValueError: no form or several, a form id or input name that is empty, too long or
            repeated, more than 100 inputs, or private metadata over 3,000 characters.
    """
    form = _the_form(reply)
    if _size(private_metadata) > MAX_TEXT:
        raise ValueError(f"private_metadata is over {MAX_TEXT} characters")
    inputs = [_input(item) for item in form.inputs]
    others = _blocks(element for element in reply.elements if element is not form)
    taken = frozenset(item.name for item in form.inputs)
    view: Block = {
        "type": "modal",
        "callback_id": form.form,
        "title": _plain(form.title, MAX_TITLE, default="Form"),
        "submit": _plain(form.submit, MAX_TITLE, default="Save"),
        "close": _plain("Cancel", MAX_TITLE),
        "blocks": _numbered(others, limit=MAX_VIEW_BLOCKS - len(inputs), taken=taken) + inputs,
    }
    if private_metadata:
        view["private_metadata"] = private_metadata
    return view


def home(reply: Reply) -> Block:
    """Return the reply as an App Home view (at most 100 blocks)."""
    return {"type": "home", "blocks": _numbered(_blocks(reply.elements), limit=MAX_VIEW_BLOCKS)}


def mrkdwn(markdown: str) -> str:
    """Return the bot's CommonMark subset as Slack mrkdwn, escaped first so text cannot ping."""
    if len(markdown) <= _CACHED_CHARS:  # the same takeaways and labels come back all the time
        return _mrkdwn_cached(markdown)
    return _mrkdwn(markdown)


def _mrkdwn(markdown: str) -> str:
    return "\n".join(_line(line) for line in escape(markdown).split("\n"))


_CACHED_CHARS = 1_000
_mrkdwn_cached = lru_cache(maxsize=4_096)(_mrkdwn)


def escape(text: str) -> str:
    """Return raw text safe inside mrkdwn: cleaned, `&<>` escaped, mass mentions defused."""
    cleaned = _clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION.sub("@" + _JOINER, cleaned)


# Elements


def _blocks(elements: Iterable[Element], *, feedback: bool = False) -> list[Block]:
    """Return the blocks of the elements, adjacent buttons in actions rows, without block ids.

    With `feedback` (messages), helpful / not helpful pairs become Slack's feedback buttons.
    """
    blocks: list[Block] = []
    row: list[Button] = []
    for element in elements:
        if row and not isinstance(element, Button):
            blocks += _rows(row, feedback)
            row = []
        match element:
            case Text(markdown=source):
                blocks += (
                    _sections_cached(source) if len(source) <= _CACHED_CHARS else _sections(source)
                )
            case Fields(pairs=pairs, folded=True):
                blocks.append(_folded(pairs))  # Block Kit has no disclosure: one small line
            case Fields(pairs=pairs):
                small = sum(len(a) + len(b) for a, b in pairs) <= _CACHED_CHARS
                blocks += _fields_cached(pairs) if small else _fields(pairs)
            case Button():
                row.append(element)
            case Form():
                blocks.append(_form_note(element))
            case Divider():
                blocks.append({"type": "divider"})
            case _:
                assert_never(element)
    if row:
        blocks += _rows(row, feedback)
    return blocks


FEEDBACK = "ask.feedback"


def _rows(row: list[Button], feedback: bool) -> list[Block]:
    """Return a row of buttons as actions blocks, its vote pairs as native feedback."""
    if not feedback:
        return _actions(row)
    blocks: list[Block] = []
    plain: list[Button] = []
    i = 0
    while i < len(row):
        pair = row[i : i + 2]
        if _is_vote(pair):
            if plain:
                blocks += _actions(plain)
                plain = []
            blocks.append(_feedback(pair[0], pair[1]))
            i += 2
        else:
            plain.append(row[i])
            i += 1
    if plain:
        blocks += _actions(plain)
    return blocks


def _is_vote(pair: list[Button]) -> bool:
    return (
        len(pair) == 2
        and pair[0].action == AskAction.HELPFUL
        and pair[1].action == AskAction.NOT_HELPFUL
        and pair[0].value == pair[1].value
        and not pair[0].url
        and not pair[1].url
    )


def _feedback(up: Button, down: Button) -> Block:
    def side(button: Button) -> Block:
        value = f"{button.action}#{button.value}"
        if _size(value) > MAX_VALUE:
            raise ValueError(f"the value of {button.action!r} is over {MAX_VALUE} characters")
        return {
            "text": _plain(button.label, MAX_LABEL),
            "accessibility_label": _flat(button.label, MAX_LABEL) or "…",
            "value": value,
        }

    element = {
        "type": "feedback_buttons",
        "action_id": FEEDBACK,
        "positive_button": side(up),
        "negative_button": side(down),
    }
    return {"type": "context_actions", "elements": [element]}


def _numbered(
    blocks: list[Block], *, limit: int, taken: frozenset[str] = frozenset()
) -> list[Block]:
    """Return the blocks cut to limit (the last one saying how many more) with unique ids."""
    if len(blocks) > limit:
        kept = max(limit - 1, 0)
        more = [_context(f"…and {len(blocks) - kept} more")] if limit > 0 else []
        blocks = blocks[:kept] + more
    ids = (f"b{n}" for n in count() if f"b{n}" not in taken)
    return [{**block, "block_id": next(ids)} for block in blocks]


def _sections(source: str) -> list[Block]:
    pieces = (piece.strip("\n") for piece in _chunks(mrkdwn(source), MAX_TEXT))
    return [{"type": "section", "text": _text(piece)} for piece in pieces if piece.strip()]


# Answer cards repeat (the same lesson, the same labels): their sections are rendered once. The
# cached blocks are shared, so nothing may change them after rendering (`_numbered` copies the
# outer dict to add its id).
@lru_cache(maxsize=4_096)
def _sections_cached(source: str) -> tuple[Block, ...]:
    return tuple(_sections(source))


@lru_cache(maxsize=4_096)
def _fields_cached(pairs: tuple[tuple[str, str], ...]) -> tuple[Block, ...]:
    return tuple(_fields(pairs))


def _fields(pairs: tuple[tuple[str, str], ...]) -> list[Block]:
    texts = [_text(_field(label, value)) for label, value in pairs]
    return [
        {"type": "section", "fields": texts[start : start + MAX_FIELDS]}
        for start in range(0, len(texts), MAX_FIELDS)
    ]


def _folded(pairs: tuple[tuple[str, str], ...]) -> Block:
    line = " · ".join(
        f"{escape(_flat(label, _MAX_FIELD_LABEL))}: {mrkdwn(value).strip()}"
        for label, value in pairs
    )
    return _context(_clip_mrkdwn(line or "—", MAX_FIELD))


def _field(label: str, value: str) -> str:
    name = escape(_flat(label, _MAX_FIELD_LABEL)).replace("*", _BOLD_STAR)
    body = mrkdwn(value).strip("\n")
    parts = ([f"*{name}*"] if name else []) + ([body] if body.strip() else [])
    return _clip_mrkdwn("\n".join(parts) or "—", MAX_FIELD)


def _actions(row: list[Button]) -> list[Block]:
    return [
        {"type": "actions", "elements": _buttons(row[start : start + MAX_BUTTONS])}
        for start in range(0, len(row), MAX_BUTTONS)
    ]


def _buttons(row: list[Button]) -> list[Block]:
    """Return one actions row's buttons, a repeated action id suffixed `#2`, `#3`, …."""
    seen: dict[str, int] = {}
    elements: list[Block] = []
    for button in row:
        if not button.action or "#" in button.action:
            raise ValueError(f"action id {button.action!r} is empty or holds '#'")
        if _size(button.value) > MAX_VALUE:
            raise ValueError(f"the value of {button.action!r} is over {MAX_VALUE} characters")
        n = seen[button.action] = seen.get(button.action, 0) + 1
        action_id = button.action if n == 1 else f"{button.action}#{n}"
        if _size(action_id) > MAX_ID:
            raise ValueError(f"action id {button.action!r} is over {MAX_ID} characters")
        elements.append(_button(button, action_id))
    return elements


def _button(button: Button, action_id: str) -> Block:
    element: Block = {
        "type": "button",
        "text": _plain(button.label, MAX_LABEL),
        "action_id": action_id,
    }
    if button.value:
        element["value"] = button.value
    url = _web_url(button.url)
    if url is not None:
        element["url"] = url
    return element


def _form_note(form: Form) -> Block:
    """Say what a form is for where it cannot be shown (forms open as modals)."""
    title = escape(_flat(form.title, _MAX_FIELD_LABEL)).replace("*", _BOLD_STAR) or "Form"
    labels = " · ".join(_flat(item.label, _MAX_FIELD_LABEL) for item in form.inputs)
    text = f"📝 *{title}*" + (f" (a form: {escape(labels)})" if labels else " (a form)")
    return {"type": "section", "text": _text(_clip_mrkdwn(text, MAX_TEXT))}


def _the_form(reply: Reply) -> Form:
    forms = [element for element in reply.elements if isinstance(element, Form)]
    if len(forms) != 1:
        raise ValueError(f"a modal needs exactly one form, not {len(forms)}")
    form = forms[0]
    if not 0 < _size(form.form) <= MAX_ID:
        raise ValueError(f"form id {form.form[:40]!r} is empty or over {MAX_ID} characters")
    names = [item.name for item in form.inputs]
    if len(set(names)) != len(names) or not all(0 < _size(name) <= MAX_ID for name in names):
        raise ValueError(f"input names must be unique and 1 to {MAX_ID} characters: {names}")
    if len(names) > MAX_VIEW_BLOCKS:
        raise ValueError(f"a modal holds at most {MAX_VIEW_BLOCKS} inputs")
    return form


def _input(item: Input) -> Block:
    element: Block = {
        "type": "plain_text_input",
        "action_id": item.name,
        "multiline": item.multiline,
    }
    initial = _clip(_clean(item.initial), MAX_TEXT)
    if initial:
        element["initial_value"] = initial
    return {
        "type": "input",
        "block_id": item.name,
        "label": _plain(item.label, MAX_INPUT_LABEL, default=_flat(item.name, MAX_LABEL)),
        "element": element,
        "optional": item.optional,
    }


def _fallback(reply: Reply) -> str:
    # Line by line: the same as mrkdwn() of the whole, but each line comes from the cache.
    text = "\n".join(mrkdwn(line) for line in _clean(reply.fallback).split("\n")).strip()
    if not text:
        labels = (element.label for element in reply.elements if isinstance(element, Button))
        text = escape(" · ".join(_flat(label, MAX_LABEL) for label in labels))
    return _clip_mrkdwn(text or "…", MAX_TEXT)


# Text objects


def _text(mrkdwn_text: str) -> Block:
    return {"type": "mrkdwn", "text": mrkdwn_text}


def _plain(text: str, limit: int, *, default: str = "…") -> Block:
    return {"type": "plain_text", "text": _flat(text, limit) or default, "emoji": True}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [_text(text)]}


def _web_url(url: str | None) -> str | None:
    """Return an http(s) address a button may open, or None."""
    if url is None or _clean(url) != url or any(char.isspace() for char in url):
        return None
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in ("http", "https") or not rest or _size(url) > MAX_URL:
        return None
    return url


# mrkdwn


def _line(line: str) -> str:
    bullet = _BULLET.match(line)
    if bullet is None:
        return _inline(line)
    return f"{bullet.group(1)}• {_inline(line[bullet.end() :])}"


def _inline(line: str) -> str:
    """Return an escaped line with `**bold**` as `*bold*` and links as `<url|label>`."""
    out: list[str] = []
    start = 0
    for match in _INLINE.finditer(line):
        code, label, url = match.groups()
        out += [_bold(line[start : match.start()]), code or _link(label, url)]
        start = match.end()
    out.append(_bold(line[start:]))
    return "".join(out)


def _bold(text: str) -> str:
    return _DOUBLE_BOLD.sub(r"*\1*", text)


def _link(label: str, url: str) -> str:
    """Return a link for http(s) and mailto addresses; anything else stays plain text."""
    scheme, colon, rest = url.partition(":")
    web = scheme.lower() in ("http", "https") and rest.startswith("//") and len(rest) > 2
    mail = scheme.lower() == "mailto" and bool(rest)
    if not colon or not (web or mail) or _size(url) > _MAX_LINK:
        return f"{_bold(label)} ({url})"
    return f"<{url.replace('|', '%7C')}|{_bold(label)}>"


# Cleaning and cutting


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _UNCLEAN.search(text) is None:
        return text
    return _UNCLEAN.sub(_unclean, text)


def _unclean(match: re.Match[str]) -> str:
    return "\ufffd" if "\ud800" <= match.group() <= "\udfff" else ""


def _flat(text: str, limit: int) -> str:
    """Return text on one line, whitespace collapsed, cut to limit: for plain_text objects."""
    if len(text) <= _CACHED_CHARS:
        return _flat_cached(text, limit)
    return _clip(" ".join(_clean(text).split()), limit)


@lru_cache(maxsize=4_096)
def _flat_cached(text: str, limit: int) -> str:
    return _clip(" ".join(_clean(text).split()), limit)


def _size(text: str) -> int:
    """Return the length of text in UTF-16 code units (an emoji may count as two)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _prefix(text: str, units: int) -> str:
    """Return the longest start of text within units, never half a surrogate pair."""
    data = text.encode("utf-16-le", "surrogatepass")[: units * 2]
    return data.decode("utf-16-le", "ignore")


def _clip(text: str, limit: int) -> str:
    """Return plain text cut to limit with "…", at a word break when one is near."""
    if _size(text) <= limit:
        return text
    head = _prefix(text, limit - 1)
    space = max(head.rfind(" "), head.rfind("\n"))
    if space > limit // 2:
        head = head[:space]
    return head.rstrip(" \n,.;:-\u2013\u2014") + "…"


def _clip_mrkdwn(text: str, limit: int) -> str:
    """Return mrkdwn cut to limit with "…", never inside an entity or a link."""
    if _size(text) <= limit:
        return text
    head, _ = _split(text, limit - 1)
    return head.rstrip() + "…"


def _chunks(text: str, limit: int) -> Iterator[str]:
    """Yield mrkdwn in pieces of at most limit, split between lines where it can be."""
    piece: list[str] = []
    size = 0
    for line in _lines(text, limit):
        grown = size + _size(line) + (1 if piece else 0)
        if piece and grown > limit:
            yield "\n".join(piece)
            piece, grown = [], _size(line)
        piece.append(line)
        size = grown
    if piece:
        yield "\n".join(piece)


def _lines(text: str, limit: int) -> Iterator[str]:
    """Yield the lines of mrkdwn, a line longer than limit as several."""
    for line in text.split("\n"):
        rest = line
        while _size(rest) > limit:
            head, rest = _split(rest, limit)
            yield head
            rest = rest.lstrip(" ")
        yield rest


def _split(text: str, limit: int) -> tuple[str, str]:
    """Return a non-empty start of mrkdwn within limit, and the rest.

    The cut backs off to a space when one is in the second half, and then to before an entity
    (`&amp;`) or a link (`<url|label>`) it would break.
    """
    head = _prefix(text, limit)
    space = max(head.rfind(" "), head.rfind("\n"))
    if space > limit // 2:
        head = head[:space]
    head = _unbroken(head)
    if not head:  # a link longer than limit: cut it anyway rather than loop
        head = _prefix(text, limit) or text[:1]
    return head, text[len(head) :]


def _unbroken(head: str) -> str:
    """Return head without a trailing part-entity or part-link."""
    amp = head.rfind("&")
    if amp >= 0 and ";" not in head[amp:]:
        head = head[:amp]
    bracket = head.rfind("<")
    if bracket >= 0 and ">" not in head[bracket:]:
        head = head[:bracket]
    return head


def form_errors(reply: Reply, view: Mapping[str, Any]) -> dict[str, str] | None:
    """Return `response_action: errors` for a modal the reply refuses, else None.

    A refusal (one private "⚠️" text) goes beside the input it names (`Reply.field`), else the
    first input; a form sent back with errors beside its inputs keeps them there. Slack keeps
    the modal open with everything typed.
    """
    inputs = [
        str(block.get("block_id"))
        for block in view.get("blocks") or []
        if isinstance(block, dict) and block.get("type") == "input" and block.get("block_id")
    ]
    if not inputs:
        return None
    forms = [e for e in reply.elements if isinstance(e, Form)]
    if forms and forms[0].form == view.get("callback_id"):
        found = {i.name: _flat(i.error or "", MAX_ERROR) for i in forms[0].inputs if i.error}
        return {k: v for k, v in found.items() if k in inputs} or None
    texts = [e for e in reply.elements if isinstance(e, Text)]
    if not (reply.private and len(texts) == len(reply.elements) == 1):
        return None
    said = texts[0].markdown
    if not said.startswith("⚠️"):
        return None
    where = reply.field if reply.field in inputs else inputs[0]
    return {where: _flat(said.removeprefix("⚠️").strip().replace("*", ""), MAX_ERROR)}

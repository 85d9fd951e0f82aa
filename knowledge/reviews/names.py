"""Finding people in what was written: mentions, emails, @Names, and one action per sentence."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rapidfuzz import fuzz, process

from knowledge.reviews.views import Member, Owner
from knowledge.search.text import fold, words

_SLACK = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_TEAMS = re.compile(r"<at>([^<]{1,100})</at>", re.IGNORECASE)
_EMAIL = re.compile(r"@?([\w.+-]+@[\w-]+(?:\.[\w-]+)+)")
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)])\s*")
# A sentence ends before a capital, a digit or a mention: "… by 15 Jan. @Bob to buy batteries."
_ACTION_END = re.compile(r"(?<=[.!?;])\s+(?=[\"'“(A-Z0-9@<])")
_OWNER_NAMED = re.compile(
    r"\b(?:owner|owned by|assigned to|responsible|lead|led by)\s*:?\s+"
    r"([^\W\d_][\w'\u2019.-]*(?:\s+[^\W\d_][\w'\u2019.-]*){0,2})",
    re.IGNORECASE,
)
_AT_NAME = re.compile(r"@([^\W\d_][\w'\u2019.-]*(?:\s+[^\W\d_][\w'\u2019.-]*){0,2})")


def find_owner(text: str, members: Sequence[Member]) -> Owner:
    """Return the person a sentence names with a mention, email or @Name (the first one)."""
    found: list[tuple[int, Owner]] = []
    if m := _SLACK.search(text):
        member = next((p for p in members if p.slack_user_id == m.group(1)), None)
        found.append((m.start(), Owner(member, None if member else m.group(0))))
    if m := _TEAMS.search(text):
        found.append((m.start(), _by_name(m.group(1).split(), members)))
    emails = list(_EMAIL.finditer(text))
    if emails:
        m = emails[0]
        email = m.group(1).lower().rstrip(".")
        member = next((p for p in members if (p.email or "").lower() == email), None)
        found.append((m.start(), Owner(member, None if member else email)))
    for m in _AT_NAME.finditer(text):
        if any(e.start() <= m.start() < e.end() for e in emails):
            continue  # the "@un.example" of an email address
        found.append((m.start(), _by_name(m.group(1).split(), members)))
        break
    if not found and (m := _OWNER_NAMED.search(text)):
        # "…, owner Amina Diallo, by 15 January": a name after "owner", without an @.
        named = _by_name(m.group(1).split(), members)
        if named.member is not None:
            found.append((m.start(), named))
    if not found:
        return Owner(None, None)
    return min(found, key=lambda pair: pair[0])[1]


_GLUE = re.compile(r"(?:[\s,;:|\u2013\u2014-]+|\s+(?:with|and|for|cc|inviting))+$", re.IGNORECASE)


def find_mentions(text: str, members: Sequence[Member]) -> tuple[str, list[Owner]]:
    """Return the text before its first mention, and everyone it mentions (in order).

    "Election day with @Tomás Herrera, <@U0PRIYA>" → ("Election day", [Tomás, Priya]). A text
    that starts with a mention is returned whole.
    """
    spans: list[tuple[int, int, Owner]] = []
    for m in _SLACK.finditer(text):
        member = next((p for p in members if p.slack_user_id == m.group(1)), None)
        spans.append((m.start(), m.end(), Owner(member, None if member else m.group(0))))
    for m in _TEAMS.finditer(text):
        spans.append((m.start(), m.end(), _by_name(m.group(1).split(), members)))
    emails = list(_EMAIL.finditer(text))
    for m in emails:
        email = m.group(1).lower().rstrip(".")
        member = next((p for p in members if (p.email or "").lower() == email), None)
        spans.append((m.start(), m.end(), Owner(member, None if member else email)))
    for m in _AT_NAME.finditer(text):
        if not any(a <= m.start() < b for a, b, _ in spans):
            spans.append((m.start(), m.end(), _by_name(m.group(1).split(), members)))
    spans.sort(key=lambda span: span[0])
    if not spans:
        return text.strip(), []
    head = _GLUE.sub("", text[: spans[0][0]]).strip()
    return head or text.strip(), [owner for _, _, owner in spans]


def _by_name(said: list[str], members: Sequence[Member]) -> Owner:
    """Match the first one to three words after "@" to a member's name."""
    said = [w.rstrip(".,;:!?") for w in said if w.rstrip(".,;:!?")][:3]
    names = {p.id: fold(p.name) for p in members}
    for k in range(len(said), 0, -1):
        wanted = fold(" ".join(said[:k]))
        exact = [p for p in members if names[p.id] == wanted]
        if len(exact) == 1:
            return Owner(exact[0], None)
    if members:
        for k in range(min(len(said), 3), 1, -1):
            best = process.extractOne(
                fold(" ".join(said[:k])), names, scorer=fuzz.ratio, score_cutoff=90
            )
            if best is not None:
                return Owner(next(p for p in members if p.id == best[2]), None)
        if said:
            first = fold(said[0])
            parts = [p for p in members if first in names[p.id].split()]
            if len(parts) == 1:
                return Owner(parts[0], None)
    hint = "@" + " ".join(w for w in said[:2] if w[:1].isupper() or w == said[0])
    return Owner(None, hint)


def split_recommendations(text: str) -> list[str]:
    """Split a recommendations answer into one sentence per proposed action."""
    found = []
    for line in text.splitlines():
        line = _BULLET.sub("", line).strip()
        found += [" ".join(s.split()) for s in _ACTION_END.split(line) if len(words(s)) >= 2]
    return found

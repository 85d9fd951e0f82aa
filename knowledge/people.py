"""One people resolver for every form and command: @mentions, names and emails.

"@Tomás Herrera", "Tomas Herrera", "tomas", "<@U0TOMAS>", "<at>Tomás Herrera</at>" and
"tomas.herrera@un.example" all name the same person. A near miss ("Tomas Herera") finds nobody
but says whom it may have meant, so the person typing can correct it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from knowledge.reviews import Member, find_owner
from knowledge.search.text import fold

SUGGEST_SCORE = 70
_TAGS = re.compile(r"</?at>", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Found:
    """Whom a text names: a member, else the closest names (for "did you mean")."""

    member: Member | None
    said: str
    suggestions: tuple[Member, ...] = ()

    def problem(self) -> str:
        """Return what to tell the person who typed it, when nobody was found."""
        said = self.said or "(blank)"
        text = f"I could not find “{said}” in the staff directory."
        if self.suggestions:
            names = " or ".join(_label(m) for m in self.suggestions)
            text += f" Did you mean {names}?"
        return text + " Give a name, an @mention or an email address."


def resolve(text: str, members: Sequence[Member]) -> Found:
    """Return the person a text names (one name, mention or email), or suggestions."""
    said = " ".join(text.split())
    if not said:
        return Found(None, "")
    marked = "@" in said or "<" in said
    owner = find_owner(said if marked else f"@{said}", members)
    if owner.member is not None:
        return Found(owner.member, said)
    plain = fold(_TAGS.sub("", said).lstrip("@").split("@")[0].replace(".", " "))
    choices = {m.id: fold(m.name) for m in members}
    close = process.extract(plain, choices, scorer=fuzz.WRatio, limit=3, score_cutoff=SUGGEST_SCORE)
    by_id = {m.id: m for m in members}
    return Found(None, said, tuple(by_id[key] for _, _, key in close))


def _label(member: Member) -> str:
    return f"{member.name} ({member.email})" if member.email else member.name

"""Acronym and synonym expansion from the glossary (and a PBPO's own file, if set)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from knowledge.errors import DomainError
from knowledge.search.text import STOP_WORDS, fold, words

DEFAULT_GLOSSARY = Path(__file__).with_name("glossary.toml")
# Acronyms that are also everyday English words expand only when typed in capitals.
_EVERYDAY = frozenset({"can", "sea", "au", "car", "us", "it", "who", "aid", "act", "care"})


@dataclass(frozen=True, slots=True)
class Entry:
    """One glossary entry: a name, what it stands for, and other words for it."""

    name: str
    expansions: tuple[str, ...]
    synonyms: tuple[str, ...]


class Glossary:
    """Look up the words a question's terms stand for."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self._by_key: dict[str, list[Entry]] = {}
        for entry in entries:
            self._by_key.setdefault(" ".join(words(entry.name)), []).append(entry)

    @classmethod
    def load(cls, *paths: Path) -> Glossary:
        """Read the default glossary and any extra files (later files add to earlier ones)."""
        entries: list[Entry] = []
        for path in (DEFAULT_GLOSSARY, *paths):
            entries.extend(_read(path))
        return cls(entries)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_key.values())

    def expand(self, terms: Sequence[str], question: str) -> list[str]:
        """Return extra words for the terms' acronyms and synonyms, without the terms."""
        extra: dict[str, None] = {}
        for term in terms:
            for entry in self._by_key.get(term, ()):
                if term in _EVERYDAY and not re.search(rf"\b{re.escape(entry.name)}\b", question):
                    continue
                for phrase in (*entry.expansions, *entry.synonyms):
                    extra.update(dict.fromkeys(words(phrase)))
        return [w for w in extra if len(w) > 2 and w not in terms and w not in STOP_WORDS]


def _read(path: Path) -> list[Entry]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DomainError(f"The glossary {path} cannot be read: {exc}") from exc
    entries = []
    for i, item in enumerate(data.get("term", []), start=1):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise DomainError(f"The glossary {path}: entry {i} has no name.")
        entries.append(
            Entry(
                name=name.strip(),
                expansions=tuple(fold(str(x)) for x in item.get("expansions", [])),
                synonyms=tuple(fold(str(x)) for x in item.get("synonyms", [])),
            )
        )
    return entries

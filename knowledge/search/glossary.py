"""Acronym, synonym and concept expansion from the glossary (and a PBPO's own file, if set).

An entry's `name` (an acronym, or a word) expands to its `expansions` and `synonyms`, as it
always has. An entry may also name its concept in the six UN languages (`en`, `fr`, `es`, `ar`,
`ru`, `zh`: terms and acronyms, issue 22): any of those, found in a question, expands to the
whole concept in every language, so "protection des civils" finds lessons that say "protection
of civilians" or "PoC", and the reverse. Each word added carries the language it is in, so it
is analysed (stemmed) as a word of that language.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from knowledge.errors import DomainError
from knowledge.search.analysis import LANGUAGES, elide, normalise_arabic, stop_words
from knowledge.search.text import STOP_WORDS, fold, words

DEFAULT_GLOSSARY = Path(__file__).with_name("glossary.toml")
# Acronyms that are also everyday English words expand only when typed in capitals.
_EVERYDAY = frozenset({"can", "sea", "au", "car", "us", "it", "who", "aid", "act", "care"})
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True, slots=True)
class Entry:
    """One glossary entry: a name, what it stands for, other words for it, and its concept's
    terms by language ((language, (term, …)), …)."""

    name: str
    expansions: tuple[str, ...]
    synonyms: tuple[str, ...]
    terms: tuple[tuple[str, tuple[str, ...]], ...] = ()


class Glossary:
    """Look up the words a question's terms stand for."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self._by_key: dict[str, list[Entry]] = {}
        # A concept's terms as they are matched in a question: " word word " (spaces around),
        # or a Han string matched as it is; with the words of it a question's terms may be.
        self._phrases: list[tuple[str, str, frozenset[str], Entry]] = []
        for entry in entries:
            self._by_key.setdefault(" ".join(words(entry.name)), []).append(entry)
            for language, terms in entry.terms:
                for term in terms:
                    key = _phrase(term)
                    if key.strip():
                        self._phrases.append((language, key, frozenset(key.split()), entry))

    @classmethod
    def load(cls, *paths: Path) -> Glossary:
        """Read the default glossary and any extra files (later files add to earlier ones)."""
        entries: list[Entry] = []
        for path in (DEFAULT_GLOSSARY, *paths):
            entries.extend(_read(path))
        return cls(entries)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_key.values())

    def expand(self, terms: Sequence[str], question: str, language: str | None = None) -> list[str]:
        """Return extra words for the terms' acronyms, synonyms and concepts, without the terms."""
        return list(self.concepts(terms, question, language))

    def concepts(
        self, terms: Sequence[str], question: str, language: str | None = None
    ) -> dict[str, str]:
        """Return the extra words (word → its language) for the terms' entries: those named by
        a term, and those whose concept's terms the question holds, one of them among `terms`.

        A question in `language` is matched against the concept terms of that language and of
        English (None: of every language). An English question is matched against English
        terms only: "élection" (French) is "election" once folded, and must not expand it.
        """
        extra: dict[str, str] = {}
        for entry, named in self._matched(terms, question, language):
            # Synonyms and expansions come with a concept named by its name or acronym ("DDR",
            # "elections"); one found through its terms in the six languages ("élection" is the
            # French word, and folds to the English "election") brings those terms only, so an
            # English word does not pull in every synonym of a broad topic.
            for phrase in (*entry.expansions, *entry.synonyms) if named else ():
                for word in words(phrase):
                    extra.setdefault(word, "en")
            for form_language, found in entry.terms:
                for term in found:
                    for word in _words(term):
                        extra.setdefault(word, form_language)
            if entry.terms:  # a concept named in another language brings its acronym too
                for word in words(entry.name):
                    extra.setdefault(word, "en")
        return {
            w: language
            for w, language in extra.items()
            if (len(w) > 2 or _HAN.search(w))
            and w not in terms
            and w not in STOP_WORDS
            and w not in stop_words(language)
        }

    def _matched(
        self, terms: Sequence[str], question: str, language: str | None
    ) -> list[tuple[Entry, bool]]:
        """Return the entries the question names, each with whether by its name (else by one
        of its terms)."""
        found: dict[int, tuple[Entry, bool]] = {}
        for term in terms:
            for entry in self._by_key.get(term, ()):
                if term in _EVERYDAY and not re.search(rf"\b{re.escape(entry.name)}\b", question):
                    continue
                found[id(entry)] = (entry, True)
        if not self._phrases or not terms:
            return list(found.values())
        said = _said(question)
        typed = set(terms)
        for form_language, key, key_words, entry in self._phrases:
            if id(entry) in found or key not in said:
                continue
            if language is not None and form_language not in (language, "en"):
                continue
            # Only the question's terms that are words of the concept's term expand to it (so
            # the coverage of an answer credits the concept to those words, not to every word).
            if key_words & typed or (_HAN.search(key) and any(t in key for t in typed)):
                found[id(entry)] = (entry, False)
        return list(found.values())


def _phrase(text: str) -> str:
    """Return text as " word word " (folded, Arabic normalised), or for a Han term its Han
    characters alone (no spaces in Chinese: "保护平民" is found inside "在保护平民方面")."""
    folded = fold(elide(normalise_arabic(unicodedata.normalize("NFKC", text))))
    if _HAN.search(folded):
        return "".join(_HAN.findall(folded))
    return " " + " ".join(words(folded)) + " "


def _said(question: str) -> str:
    """Return a question as its phrases are matched: " word word " then its Han characters."""
    folded = fold(elide(normalise_arabic(unicodedata.normalize("NFKC", question))))
    return " " + " ".join(words(folded)) + " \n" + "".join(_HAN.findall(folded))


def _words(term: str) -> list[str]:
    """Return a concept term's words; a Han term stays whole (the analysis segments it)."""
    if _HAN.search(term):
        return ["".join(_HAN.findall(term))]
    return words(elide(normalise_arabic(unicodedata.normalize("NFKC", term))))


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
                terms=tuple(
                    (language, tuple(str(x) for x in item[language]))
                    for language in LANGUAGES
                    if isinstance(item.get(language), list)
                ),
            )
        )
    return entries

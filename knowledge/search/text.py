"""Text helpers of the search: normalising, words, stop words and sentences."""

from __future__ import annotations

import re
import unicodedata

# Words that carry no topic: English function words plus the framing of questions about lessons.
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    tell show find search give get anything something us lesson lessons learn learned learnt
    learning know knew known please ve re ll d s t let
    """.split()
)

_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'“(A-Z0-9])|\n+")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Invisible format characters (zero-width space and joiners, soft hyphen, bidi marks) are
# dropped, not spaced: "elec\u200btion" pasted from a web page is still "election".
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")

MAX_WORD_LENGTH = 40


def fold(text: str) -> str:
    """Return text in NFKC, case-folded, without diacritics or control characters."""
    if text.isascii():
        return _CONTROL.sub(" ", text).lower()
    text = _INVISIBLE.sub("", _CONTROL.sub(" ", text))
    text = unicodedata.normalize("NFKC", text).casefold()
    return _COMBINING.sub("", unicodedata.normalize("NFD", text))


def words(text: str) -> list[str]:
    """Return the folded words of text, apostrophes dropped, overlong tokens skipped."""
    found = (w.replace("'", "").replace("\u2019", "") for w in _WORD.findall(fold(text)))
    return [w for w in found if len(w) <= MAX_WORD_LENGTH]


def content_words(text: str) -> list[str]:
    """Return the words of text that are not stop words, in order, without repeats."""
    return list(dict.fromkeys(w for w in words(text) if w not in STOP_WORDS))


def sentences(text: str) -> list[str]:
    """Split text into sentences, trimmed, skipping empty ones."""
    parts = _SENTENCE_END.split(text.strip())
    return [" ".join(p.split()) for p in parts if p and p.strip()]


def clip(text: str, limit: int) -> str:
    """Return text cut at a word boundary to at most limit characters, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip(",;:") + "…"

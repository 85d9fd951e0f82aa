"""Text helpers of the search: normalising, words, stop words and sentences."""

from __future__ import annotations

import re
import unicodedata

# Words that carry no topic: Lucene's English stop words, the glue of questions, and words every
# lesson shares. A short list ranks better than a long one (measured on SciFact train); the
# framing of questions ("what did we learn about") is removed as phrases by the query parser.
STOP_WORDS = frozenset(
    """
    a an and are as at be but by for if in into is it no not of on or such that the their then
    there these they this to was will with
    what which who whom how why when where did do does we our us i me my you your any about
    have has had can could would should from
    lesson lessons learned learnt
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

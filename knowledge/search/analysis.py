"""Per-language text analysis: which language a text is in, and the terms to index it by.

One analysis step for both backends (issue 22): a text becomes a list of terms, the same way
for a lesson being indexed and for a question being asked, in the language of each.

- **Language**: py3langid's model (it ships inside the package; nothing is downloaded),
  limited to the six UN languages. A text too short to tell is English unless its script
  says otherwise (Arabic, Cyrillic or Han characters decide alone).
- **Normalising**: NFKC and case folding (`text.fold`, which also drops Latin diacritics);
  for Arabic, diacritics (harakat), tatweel, and the alef, yaa and taa marbuta variants.
- **Words**: Chinese has no spaces: a run of Han characters is segmented into words by rjieba
  (jieba's dictionary, compiled in; offline). Other scripts split on `text.words`.
- **Stems**: Snowball (PyStemmer) for English, French, Spanish, Russian and Arabic; an
  acronym (2-10 letters, all capitals in the source, such as DDR or MINUSCA) is kept unstemmed.

The terms are plain strings separated by spaces when stored, so an FTS5 `unicode61` index
and PostgreSQL's postings take them as they are.
"""

from __future__ import annotations

import re
import threading
import tomllib
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Final

from knowledge.search.text import MAX_WORD_LENGTH, STOP_WORDS, fold, words

LANGUAGES: Final = ("en", "fr", "es", "ru", "ar", "zh")
# What cards and filters call them (the bot's own text is in English).
LANGUAGE_NAMES: Final = {
    "en": "English",
    "fr": "French",
    "es": "Spanish",
    "ru": "Russian",
    "ar": "Arabic",
    "zh": "Chinese",
}
_SNOWBALL: Final = {
    "en": "english",
    "fr": "french",
    "es": "spanish",
    "ru": "russian",
    "ar": "arabic",
}

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_ARABIC = re.compile(r"[\u0600-\u06ff]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_ACRONYM = re.compile(r"\b[A-Z][A-Z0-9]{1,9}\b")
# Arabic: harakat, superscript alef, Quranic marks and tatweel go; alef variants become
# bare alef, alef maqsura becomes yaa, taa marbuta becomes haa (the usual light normaliser).
_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_ARABIC_LETTERS = str.maketrans(
    {
        "\u0623": "\u0627",  # alef with hamza above → alef
        "\u0625": "\u0627",  # alef with hamza below → alef
        "\u0622": "\u0627",  # alef with madda → alef
        "\u0671": "\u0627",  # alef wasla → alef
        "\u0649": "\u064a",  # alef maqsura → yaa
        "\u0629": "\u0647",  # taa marbuta → haa
        # Hamza on waw and yaa: folding (NFD) would split the word at the detached hamza.
        "\u0624": "\u0648",  # waw with hamza above → waw
        "\u0626": "\u064a",  # yaa with hamza above → yaa
    }
)
_STOP_FILE = Path(__file__).with_name("stopwords.toml")
_ELISION = re.compile(
    r"\b(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu|quoiqu)['\u2019](?=\w)", re.IGNORECASE
)
# py3langid's time grows with the text: 400 characters tell the six languages apart, in half
# the 1.6 ms a 2,000-character LLIS lesson took (most of an import's analysis).
_DETECT_CHARS = 400
_MIN_LETTERS = 12  # below this many letters langid is guessing: the script decides, or English

_lock = threading.Lock()


def detect(text: str) -> str:
    """Return the ISO 639-1 code of the UN language a text is most likely in."""
    text = text[:_DETECT_CHARS]
    letters = sum(ch.isalpha() for ch in text)
    if _HAN.search(text) and len(_HAN.findall(text)) * 3 >= letters:
        return "zh"
    if letters < _MIN_LETTERS:
        if _ARABIC.search(text):
            return "ar"
        if _CYRILLIC.search(text):
            return "ru"
        return "en"
    found, _ = _identifier().classify(text)
    return str(found)


def terms(text: str, language: str) -> list[str]:
    """Return the index terms of a text in a language, in order (repeats kept for counting)."""
    return [term for _word, term in pairs(text, language)]


def pairs(text: str, language: str) -> Iterator[tuple[str, str]]:
    """Yield (word, term) for each word of a text in a language: the folded word, and its
    index term (its stem; the word itself for acronyms, numbers and unstemmed languages)."""
    acronyms = {a.lower() for a in _ACRONYM.findall(text)}
    stem = _stemmer(language)
    for word in _words(text, language):
        if stem is None or word in acronyms or word.isdigit():
            yield word, word
        else:
            yield word, stem(word)


def index_text(text: str, language: str) -> str:
    """Return a text's index terms joined by spaces, as the SQLite index stores them."""
    return " ".join(terms(text, language))


def question_words(text: str, language: str) -> list[str]:
    """Return the words of a (folded) question that carry its topic, in order, without repeats.

    Han runs are segmented into words (jieba's precise mode); the stop words of the question's
    language go, and always the English ones (`text.STOP_WORDS`), so an English question keeps
    exactly the words it always had.
    """
    stop = stop_words(language)
    return list(dict.fromkeys(w for w in _words(text, language, search=False) if w not in stop))


def forms(word: str, languages: Sequence[str]) -> list[str]:
    """Return the index terms a question's word may be indexed as: its stem in each language,
    then the word itself unstemmed (acronyms are indexed as they are written: `unstemmed`)."""
    found: dict[str, None] = {}
    for language in languages:
        found.update(dict.fromkeys(terms(word, language)))
    found.update(dict.fromkeys(unstemmed(word)))
    return [t for t in found if t]


def unstemmed(word: str) -> list[str]:
    """Return a word's terms as an acronym is indexed: normalised, not stemmed."""
    return terms(word, "")


def acronyms(text: str) -> frozenset[str]:
    """Return the acronyms of a text as it was typed (DDR, MINUSCA), lower-cased."""
    return frozenset(a.lower() for a in _ACRONYM.findall(text))


def stop_words(language: str) -> frozenset[str]:
    """Return the words a question in this language is searched without."""
    if language == "en":
        return STOP_WORDS
    lists = _stop_lists()
    return (
        STOP_WORDS
        | lists["index"].get(language, frozenset())
        | lists["question"].get(language, frozenset())
    )


def index_stop_words(language: str) -> frozenset[str]:
    """Return the words PostgreSQL's postings leave out of a text in this language."""
    return _stop_lists()["index"].get(language, frozenset())


@cache
def _stop_lists() -> dict[str, dict[str, frozenset[str]]]:
    data = tomllib.loads(_STOP_FILE.read_text(encoding="utf-8"))
    return {
        part: {
            language: frozenset(w for raw in text.split() for w in _words(raw, language))
            for language, text in lists.items()
        }
        for part, lists in data.items()
    }


def normalise_arabic(text: str) -> str:
    """Return Arabic text without diacritics or tatweel, its letter variants folded."""
    return _ARABIC_MARKS.sub("", text).translate(_ARABIC_LETTERS)


def elide(text: str) -> str:
    """Return French text without its elided articles and pronouns: "l'alerte" → "alerte",
    "qu'avons" → "avons" (else the apostrophe goes and "lalerte" is a word of its own)."""
    return _ELISION.sub("", text)


def _words(text: str, language: str, *, search: bool = True) -> Iterable[str]:
    if language == "fr":
        text = elide(text)
    if language == "ar" or _ARABIC.search(text):
        text = normalise_arabic(unicodedata.normalize("NFKC", text))
    if _HAN.search(text):
        yield from _han_words(text, search=search)
        return
    yield from words(text)


def _han_words(text: str, *, search: bool = True) -> Iterable[str]:
    """Yield the words of text with runs of Han characters segmented by jieba's dictionary."""
    position = 0
    for run in _HAN_RUN.finditer(text):
        yield from words(text[position : run.start()])
        for word in _segment(run.group(), search=search):
            if word.strip() and len(word) <= MAX_WORD_LENGTH:
                yield fold(word)
        position = run.end()
    yield from words(text[position:])


def _segment(run: str, *, search: bool = True) -> list[str]:
    segmenter = _jieba()
    # Search mode also yields the shorter words inside a long one (中华人民共和国 → 中华, 华人,
    # 人民, 共和, 共和国, …), so a question's shorter word still meets the indexed long one.
    # A question's words are cut in precise mode: each is then looked up in search mode.
    found: list[str] = segmenter.cut_for_search(run) if search else segmenter.cut(run)
    return found


@cache
def _stemmer(language: str) -> Any:
    name = _SNOWBALL.get(language)
    if name is None:
        return None
    import Stemmer  # PyStemmer: Snowball in C

    stemmer = Stemmer.Stemmer(name)
    cache: dict[str, str] = {}

    def stem(word: str) -> str:
        found = cache.get(word)
        if found is None:
            with _lock:  # a PyStemmer object is not thread-safe
                found = str(stemmer.stemWord(word))
            if len(cache) < 200_000:
                cache[word] = found
        return found

    return stem


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=False)
    identifier.set_languages(list(LANGUAGES))
    return identifier


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import rjieba

    return rjieba

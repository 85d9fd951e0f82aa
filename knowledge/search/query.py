"""Parse a natural question ("what did we learn about X in MINUSCA since 2022?") into a Query.

Parsing is pure: it knows the calendar only through `today` and the missions only through the
`missions` it is given, so it can be tested without a database.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from knowledge.models import LessonStatus, ProductType
from knowledge.search.analysis import LANGUAGES, detect, question_words
from knowledge.search.text import fold

MAX_QUESTION_CHARS = 2000
MAX_TERMS = 24
_MIN_YEAR, _MAX_YEAR = 1900, 2100


@dataclass(frozen=True, slots=True)
class Query:
    """What a question asks for: free-text terms and filters."""

    text: str
    terms: tuple[str, ...] = ()
    types: frozenset[ProductType] = frozenset()
    missions: frozenset[str] = frozenset()
    themes: frozenset[str] = frozenset()
    statuses: frozenset[LessonStatus] = frozenset()
    since: date | None = None
    until: date | None = None
    notes: tuple[str, ...] = field(default=())
    relaxed: bool = False
    languages: frozenset[str] = frozenset()  # only lessons in these languages (`lang:fr`)
    language: str = "en"  # the language the question is written in (detected)

    @property
    def has_filters(self) -> bool:
        """Return True when any filter narrows the answer."""
        return bool(
            self.types
            or self.missions
            or self.themes
            or self.statuses
            or self.since
            or self.until
            or self.languages
        )

    def refine(self, other: Query) -> Query:
        """Return this query narrowed by the filters (and any new terms) of a follow-up."""
        return replace(
            self,
            terms=other.terms or self.terms,
            types=other.types or self.types,
            missions=other.missions or self.missions,
            themes=other.themes or self.themes,
            statuses=other.statuses or self.statuses,
            since=other.since or self.since,
            until=other.until or self.until,
            languages=other.languages or self.languages,
        )


_TYPE_PATTERNS: tuple[tuple[ProductType, str], ...] = (
    (ProductType.AAR, r"after[\s-]+action[\s-]+reviews?|aars?"),
    (ProductType.EOAR, r"end[\s-]+of[\s-]+assignment[\s-]+reports?|eoars?"),
    (ProductType.PRACTICE_NOTE, r"practice[\s-]+notes?"),
    (ProductType.SURVEY_OF_PRACTICE, r"surveys?[\s-]+of[\s-]+practices?"),
    (
        ProductType.LESSONS_LEARNED_STUDY,
        r"lessons?[\s-]+learn(?:ed|t)[\s-]+stud(?:y|ies)|ll\s+stud(?:y|ies)",
    ),
)
_TYPE_KEYS = {t.value: t for t in ProductType} | {
    "aar": ProductType.AAR,
    "eoar": ProductType.EOAR,
    "note": ProductType.PRACTICE_NOTE,
    "survey": ProductType.SURVEY_OF_PRACTICE,
    "study": ProductType.LESSONS_LEARNED_STUDY,
    "lls": ProductType.LESSONS_LEARNED_STUDY,
}
_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        (
            "jan january",
            "feb february",
            "mar march",
            "apr april",
            "may",
            "jun june",
            "jul july",
            "aug august",
            "sep sept september",
            "oct october",
            "nov november",
            "dec december",
        )
    )
    for m in names.split()
}
_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "ten": 10}
_THEME_ALIASES = {
    "women": "gender",
    "poc": "protection",
    "protection-of-civilians": "protection",
    "women-peace-and-security": "wps",
    "humanrights": "human-rights",
    "hr": "human-rights",
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
# Language names as a question says them (folded: no accents), in English, French and Spanish,
# and each language's own name for itself.
_LANGUAGE_NAMES = {
    "en": "english anglais ingles",
    "fr": "french francais frances",
    "es": "spanish espagnol espanol castellano",
    "ru": "russian russe ruso",
    "ar": "arabic arabe",
    "zh": "chinese chinois chino mandarin",
}
_NAMED = {name: code for code, names in _LANGUAGE_NAMES.items() for name in names.split()}
_LANGUAGE_OF = _NAMED | {code: code for code in LANGUAGES}  # `lang:` takes codes too
_LANGUAGE_RE = "|".join(sorted(_NAMED, key=len, reverse=True))
# A language's own name for itself, unfolded scripts: "на русском", "بالعربية", "中文".
_NATIVE_FILTERS = (
    ("ru", r"на\s+русском(?:\s+языке)?"),
    ("ar", r"باللغة\s+العربية|بالعربية"),
    ("zh", r"用?中文的?|以中文"),
)


def parse(
    question: str,
    *,
    today: date,
    missions: Iterable[str] = (),
    themes: Iterable[str] = (),
    phrases: bool = True,
) -> Query:
    """Split a question into terms and filters; never raises, whatever the input.

    With phrases=False only explicit filters (`theme:x`, `#x`, `type:x`, …) are taken, and
    phrases such as "in 2010" or "only AARs" stay part of the question's words. Known themes
    let `theme: human rights` take both words; a quoted value (`theme:"human rights"`) always does.
    """
    text = fold(question[:MAX_QUESTION_CHARS])
    state = _State(
        text=text,
        today=today,
        known_missions={fold(m): m for m in missions},
        known_themes=tuple(fold(t) for t in themes),
    )
    steps = (
        (_framing, _keyed, _hashtags, _types, _statuses, _languages, _dates, _missions)
        if phrases
        else (_framing, _keyed, _hashtags)
    )
    for step in steps:
        step(state)
    language = detect(question[:MAX_QUESTION_CHARS])
    terms = tuple(question_words(state.text, language)[:MAX_TERMS])
    return Query(
        text=" ".join(question[:MAX_QUESTION_CHARS].split()),
        terms=terms,
        types=frozenset(state.types),
        missions=frozenset(state.missions),
        themes=frozenset(state.themes),
        statuses=frozenset(state.statuses),
        since=state.since,
        until=state.until,
        notes=tuple(state.notes),
        relaxed=not phrases,
        languages=frozenset(state.languages),
        language=language,
    )


@dataclass(slots=True)
class _State:
    text: str
    today: date
    known_missions: dict[str, str]
    known_themes: tuple[str, ...] = ()
    types: set[ProductType] = field(default_factory=set)
    missions: set[str] = field(default_factory=set)
    themes: set[str] = field(default_factory=set)
    statuses: set[LessonStatus] = field(default_factory=set)
    since: date | None = None
    until: date | None = None
    notes: list[str] = field(default_factory=list)
    languages: set[str] = field(default_factory=set)

    def take(self, pattern: str, use: Callable[[re.Match[str]], bool | None]) -> None:
        """Apply use to every match of pattern and cut the matches it accepts out of the text."""

        def _cut(match: re.Match[str]) -> str:
            return " " if use(match) is not False else match.group(0)

        self.text = re.sub(pattern, _cut, self.text)


_FRAMING = re.compile(
    r"^\W*(?:(?:so|ok|okay|hey|hi|hello|please)\b[\s,]*)*(?:"
    r"what\s+(?:did|have|do|does|can|could)\s+(?:we|you|i|people|others|colleagues)\s+"
    r"(?:learn(?:ed|t)?|know|find|found|say|said|write|wrote)(?:\s+(?:about|on|from|regarding|"
    r"for|in|when|with))?"
    r"|(?:are\s+there\s+|do\s+we\s+have\s+|is\s+there\s+)?(?:any|some)\s+(?:lessons?|good\s+"
    r"practices?|best\s+practices?|experiences?|insights?)(?:\s+learn(?:ed|t))?\s+(?:on|about|"
    r"from|for|regarding|with|in)"
    r"|(?:what\s+are\s+(?:the\s+)?)?lessons?\s+learn(?:ed|t)\s+(?:on|about|from|for|regarding|in)"
    r"|(?:please\s+)?(?:tell|show|give)\s+me(?:\s+(?:about|(?:the\s+|some\s+)?lessons?\s+"
    r"(?:on|about|from)))?"
    r"|(?:find|search(?:\s+for)?|look\s+up)\b"
    r"|how\s+(?:did|do|have|can)\s+we\s+(?:handle[sd]?|deal\s+with|manage[sd]?|approach(?:ed)?)"
    r"|what\s+went\s+(?:well|wrong)\s+(?:with|in|during)"
    r")\b"
)


# A preposition that ends the framing stays when a filter follows it: "what did we learn in
# MINUSCA" names a mission, "lessons learned in 2022" a year.
_KEPT_PREPOSITION = re.compile(r"\b(in|at|from|for|within|during|on)\s*$")


def _framing(s: _State) -> None:
    match = _FRAMING.match(s.text)
    if match is None:
        return
    end = match.end()
    kept = _KEPT_PREPOSITION.search(match.group(0))
    if kept is not None and _filter_follows(s, s.text[end:]):
        end = match.start() + kept.start()
    s.text = " " + s.text[end:]


def _filter_follows(s: _State, rest: str) -> bool:
    """Return True when rest starts with a year, a month and year, or a known mission."""
    rest = rest.lstrip()
    if re.match(rf"(?:(?:{_MONTH_RE})\s+)?\d{{4}}\b", rest):
        return True
    rest = re.sub(r"^the\s+", "", rest)
    return any(
        rest.startswith(m) and not rest[len(m) : len(m) + 1].isalnum() for m in s.known_missions
    )


def framed(question: str) -> bool:
    """Return True when a question opens with framing ("what did we learn about", "any lessons
    on"): it is a question of its own, never a follow-up."""
    return _FRAMING.match(fold(question[:MAX_QUESTION_CHARS])) is not None


def _keyed(s: _State) -> None:
    def use(m: re.Match[str]) -> bool:
        key, value = m.group(1), " ".join(m.group(2).strip("\"'").split())
        if not value:
            return False
        if key in ("theme", "tag", "topic"):
            s.themes.add(_theme(value))
        elif key == "type":
            value = value.replace(" ", "_")
            product_type = _TYPE_KEYS.get(value) or _TYPE_KEYS.get(value.removesuffix("s"))
            if product_type is None:
                s.notes.append(f"unknown type '{value}'")
            else:
                s.types.add(product_type)
        elif key == "status":
            try:
                s.statuses.add(LessonStatus(value))
            except ValueError:
                s.notes.append(f"unknown status '{value}'")
        elif key == "mission":
            s.missions.add(s.known_missions.get(value, value.upper()))
        elif key in ("lang", "language"):
            code = _LANGUAGE_OF.get(value.split("-")[0])
            if code is None:
                s.notes.append(f"unknown language '{value}'")
            else:
                s.languages.add(code)
        else:
            _year_filter(s, key, value)
        return True

    quoted = r"\"[^\"]{0,100}\"|'[^']{0,100}'"
    s.take(rf"\b(theme|tag|topic)\s*:\s*({quoted}|{_theme_phrases(s.known_themes)}[\w-]+)", use)
    keys = "type|status|mission|since|before|after|year|lang|language"
    s.take(rf"\b({keys})\s*:\s*({quoted}|[\w-]+)", use)


def _theme_phrases(themes: Iterable[str]) -> str:
    """Return regex alternatives, each ending in "|", for the known themes of several words."""
    several = (re.findall(r"[^\W_]+", t) for t in themes)
    longest_first = sorted((w for w in several if len(w) > 1), key=len, reverse=True)
    return "".join(r"[\s_-]+".join(map(re.escape, w)) + r"\b|" for w in longest_first)


def _hashtags(s: _State) -> None:
    s.take(r"(?<![\w#])#([^\W_][\w-]*)", lambda m: s.themes.add(_theme(m.group(1))))


def _theme(value: str) -> str:
    slug = re.sub(r"[\s_-]+", "-", value.strip().strip("-"))
    return _THEME_ALIASES.get(slug, slug)


def _types(s: _State) -> None:
    for product_type, pattern in _TYPE_PATTERNS:
        s.take(rf"\b(?:only\s+|just\s+)?(?:{pattern})\b", _adder(s.types, product_type))


def _languages(s: _State) -> None:
    """Take "in French", "en français", "(only) in Arabic", "на русском", "中文" as a filter."""

    def use(m: re.Match[str]) -> None:
        s.languages.add(_LANGUAGE_OF[m.group(1)])

    s.take(rf"\b(?:only\s+|just\s+|written\s+)?(?:in|en)\s+({_LANGUAGE_RE})\b", use)
    for code, pattern in _NATIVE_FILTERS:
        s.take(pattern, _language_adder(s.languages, code))


def _language_adder(found: set[str], code: str) -> Callable[[re.Match[str]], None]:
    def add(_match: re.Match[str]) -> None:
        found.add(code)

    return add


def _adder(found: set[ProductType], product_type: ProductType) -> Callable[[re.Match[str]], None]:
    def add(_match: re.Match[str]) -> None:
        found.add(product_type)

    return add


def _statuses(s: _State) -> None:
    # Withdrawn lessons are in no answer: "troops withdrawn from Kidal" is a question.
    names = "|".join(s.value for s in LessonStatus if s != LessonStatus.WITHDRAWN)

    def use(m: re.Match[str]) -> None:
        s.statuses.add(LessonStatus(m.group(1) or m.group(2)))

    # "applied ones" means "applied lessons": "ones" is not a topic, so it goes too.
    s.take(rf"\b(?:only|just)\s+({names})\b|\b({names})\s+(?:ones\b|(?=lessons?\b))", use)


def _dates(s: _State) -> None:
    year = r"(\d{4})"
    s.take(rf"\bbetween\s+{year}\s+and\s+{year}\b", lambda m: _between(s, m.group(1), m.group(2)))
    s.take(
        rf"\b(since|after|before|from|until|in|during)\s+(?:({_MONTH_RE})\s+)?{year}\b",
        lambda m: _year_filter(s, m.group(1), m.group(3), m.group(2)),
    )
    s.take(
        r"\b(last|past|previous)\s+(\d{1,2}|one|two|three|four|five|six|ten)\s+(years?|months?)\b",
        lambda m: _recent(s, m.group(2), m.group(3)),
    )
    s.take(
        r"\b(last|past|previous|this)\s+(year|month)\b",
        lambda m: _relative(s, m.group(1), m.group(2)),
    )


def _between(s: _State, first: str, second: str) -> bool:
    a, b = sorted((int(first), int(second)))
    if not (a >= _MIN_YEAR and b <= _MAX_YEAR):
        return False
    s.since, s.until = date(a, 1, 1), date(b, 12, 31)
    return True


def _year_filter(s: _State, word: str, value: str, month_name: str | None = None) -> bool:
    # isdecimal, not isdigit: "፩፪" is digits to isdigit() but int() cannot read it.
    if not value.isdecimal() or not _MIN_YEAR <= int(value) <= _MAX_YEAR:
        s.notes.append(f"ignored the date '{word} {value}'")
        return False
    y, month = int(value), _MONTHS.get(month_name or "", 0)
    if word in ("since", "from"):
        s.since = date(y, month or 1, 1)
    elif word == "after":
        s.since = date(y + 1, 1, 1) if not month else _month_after(y, month)
    elif word in ("before", "until"):
        s.until = date(y - 1, 12, 31) if not month else _month_end(y, month - 1)
    else:  # "in 2022", "during 2022", "year:2022"
        s.since = date(y, month or 1, 1)
        s.until = _month_end(y, month) if month else date(y, 12, 31)
    return True


def _recent(s: _State, amount: str, unit: str) -> None:
    n = _NUMBERS.get(amount) or int(amount)
    months = n * 12 if unit.startswith("year") else n
    total = s.today.year * 12 + s.today.month - 1 - months
    s.since = date(total // 12, total % 12 + 1, 1)


def _relative(s: _State, which: str, unit: str) -> None:
    t = s.today
    if unit == "year":
        y = t.year if which == "this" else t.year - 1
        s.since, s.until = date(y, 1, 1), (t if which == "this" else date(y, 12, 31))
        return
    if which == "this":
        s.since, s.until = date(t.year, t.month, 1), t
        return
    y, m = (t.year, t.month - 1) if t.month > 1 else (t.year - 1, 12)
    s.since, s.until = date(y, m, 1), _month_end(y, m)


def _month_end(year: int, month: int) -> date:
    if month <= 0:
        return date(year - 1, 12, 31)
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return following - timedelta(days=1)


def _month_after(year: int, month: int) -> date:
    return date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)


def _missions(s: _State) -> None:
    if not s.known_missions:
        return
    names = "|".join(re.escape(m) for m in sorted(s.known_missions, key=len, reverse=True))

    def use(m: re.Match[str]) -> None:
        s.missions.add(s.known_missions[m.group(1)])

    s.take(rf"\b(?:in|at|from|for|within)\s+(?:the\s+)?({names})\b", use)
    if not s.missions:
        # A mission named alone ("what did we learn about MINUSCA?", "MINUSCA lessons") is the
        # question's filter, not a word to search for.
        s.take(rf"^\W*(?:the\s+)?({names})(?=(?:\W+(?:lessons?|learn(?:ed|t)))*\W*$)", use)

"""Query parsing: framing, filters and terms, and questions that try to break it."""

from __future__ import annotations

import random
from datetime import date

import pytest

from knowledge.models import LessonStatus, ProductType
from knowledge.search.query import MAX_QUESTION_CHARS, MAX_TERMS, Query, parse
from knowledge.search.text import MAX_WORD_LENGTH

TODAY = date(2026, 11, 25)
MISSIONS = ("MINUSCA", "MONUSCO", "UNMISS", "DPO HQ New York")
THEMES = ("gender", "wps", "human-rights", "rule-of-law", "early-warning", "protection")


def ask(question: str, **kwargs: object) -> Query:
    """Parse a question on the fixed day, knowing the test missions and themes."""
    options: dict[str, object] = {"missions": MISSIONS, "themes": THEMES} | kwargs
    return parse(question, today=TODAY, **options)  # type: ignore[arg-type]


# --- framing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        ("what did we learn about elections?", ("elections",)),
        ("What did we learn about voter registration?", ("voter", "registration")),
        ("any lessons on convoy security", ("convoy", "security")),
        ("tell me about quick impact projects", ("quick", "impact", "projects")),
        ("Tell me about   rumours!!!", ("rumours",)),
    ],
)
def test_framing_is_stripped(question: str, terms: tuple[str, ...]) -> None:
    query = ask(question)
    assert query.terms == terms
    assert not query.has_filters


def test_terms_are_folded_and_not_repeated() -> None:
    query = ask("Élections ELECTIONS élections sécurité")
    assert query.terms == ("elections", "securite")


def test_text_keeps_the_question_with_its_spacing_collapsed() -> None:
    assert ask("  what   about\nelections? ").text == "what about elections?"


# --- product types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "product_type", "terms"),
    [
        ("AARs on elections", ProductType.AAR, ("elections",)),
        ("after-action reviews about convoys", ProductType.AAR, ("convoys",)),
        ("only EoARs about handover", ProductType.EOAR, ("handover",)),
        ("end of assignment reports on budget", ProductType.EOAR, ("budget",)),
        ("practice notes on QIPs", ProductType.PRACTICE_NOTE, ("qips",)),
        (
            "surveys of practice on early warning",
            ProductType.SURVEY_OF_PRACTICE,
            ("early", "warning"),
        ),
        ("lessons learned studies on DDR", ProductType.LESSONS_LEARNED_STUDY, ("ddr",)),
        (
            "lessons-learnt study of transhumance",
            ProductType.LESSONS_LEARNED_STUDY,
            ("transhumance",),
        ),
        ("type:eoar handover", ProductType.EOAR, ("handover",)),
        ("type:aars convoys", ProductType.AAR, ("convoys",)),
        ("type: practice_note rumours", ProductType.PRACTICE_NOTE, ("rumours",)),
        ('type:"practice note" rumours', ProductType.PRACTICE_NOTE, ("rumours",)),
        ("type:study casevac", ProductType.LESSONS_LEARNED_STUDY, ("casevac",)),
    ],
)
def test_product_types(question: str, product_type: ProductType, terms: tuple[str, ...]) -> None:
    query = ask(question)
    assert query.types == frozenset({product_type})
    assert query.terms == terms


def test_two_product_types() -> None:
    assert ask("AARs and practice notes on floods").types == {
        ProductType.AAR,
        ProductType.PRACTICE_NOTE,
    }


def test_unknown_type_is_noted_and_not_a_filter() -> None:
    query = ask("type:bogus convoys")
    assert query.types == frozenset()
    assert query.notes == ("unknown type 'bogus'",)
    assert query.terms == ("convoys",)


# --- missions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "missions", "terms"),
    [
        ("elections in MINUSCA", {"MINUSCA"}, ("elections",)),
        ("elections in minusca", {"MINUSCA"}, ("elections",)),
        ("MONUSCO rumours at MONUSCO", {"MONUSCO"}, ("monusco", "rumours")),
        ("budget cuts at the DPO HQ New York", {"DPO HQ New York"}, ("budget", "cuts")),
        ("mission:unmiss floods", {"UNMISS"}, ("floods",)),
        ('mission:"DPO HQ New York" budget', {"DPO HQ New York"}, ("budget",)),
    ],
)
def test_known_missions(question: str, missions: set[str], terms: tuple[str, ...]) -> None:
    query = ask(question)
    assert query.missions == missions
    assert query.terms == terms


@pytest.mark.parametrize(
    ("question", "missions", "terms", "since"),
    [
        ("what did we learn in MINUSCA", {"MINUSCA"}, (), None),
        ("what did we learn in MINUSCA about elections?", {"MINUSCA"}, ("elections",), None),
        ("any lessons from UNMISS", {"UNMISS"}, (), None),
        ("lessons learned in the DPO HQ New York", {"DPO HQ New York"}, (), None),
        ("what did we learn about MINUSCA?", {"MINUSCA"}, (), None),
        ("MONUSCO lessons", {"MONUSCO"}, (), None),
        ("what did we learn in 2022", set(), (), date(2022, 1, 1)),
        ("what did we learn in elections", set(), ("elections",), None),
        ("what did we learn about MINUSCA elections", set(), ("minusca", "elections"), None),
    ],
)
def test_a_filter_right_after_the_framing_is_a_filter(
    question: str, missions: set[str], terms: tuple[str, ...], since: date | None
) -> None:
    """The framing's last preposition ("what did we learn in") stays when a filter follows it,
    and a mission named alone is the question's filter (issue 20)."""
    query = ask(question)
    assert (query.missions, query.terms, query.since) == (missions, terms, since)


def test_unknown_mission_stays_a_word() -> None:
    query = ask("elections in MINUSMA")
    assert query.missions == frozenset()
    assert query.terms == ("elections", "minusma")


def test_mission_phrase_needs_missions_to_be_given() -> None:
    query = parse("elections in MINUSCA", today=TODAY)
    assert query.missions == frozenset()
    assert query.terms == ("elections", "minusca")


# --- themes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "themes", "terms"),
    [
        ("#gender", {"gender"}, ()),
        ("#Gender elections", {"gender"}, ("elections",)),
        ("theme:wps mediation", {"wps"}, ("mediation",)),
        ("theme:WPS", {"wps"}, ()),
        ("tag:human_rights", {"human-rights"}, ()),
        ("topic:PoC", {"protection"}, ()),
        ("#women", {"gender"}, ()),
        ("#human-rights #gender", {"human-rights", "gender"}, ()),
        ("theme: human rights in elections", {"human-rights"}, ("elections",)),
        ("theme:Rule of Law vetting", {"rule-of-law"}, ("vetting",)),
        ('theme:"human rights" vetting', {"human-rights"}, ("vetting",)),
        ("theme:'early warning' floods", {"early-warning"}, ("floods",)),
    ],
)
def test_themes(question: str, themes: set[str], terms: tuple[str, ...]) -> None:
    query = ask(question)
    assert query.themes == themes
    assert query.terms == terms


def test_several_word_theme_without_known_themes_takes_one_word_unless_quoted() -> None:
    # Without the index's themes parse cannot know where "human rights" ends; quotes say so.
    assert parse("theme: human rights", today=TODAY).themes == {"human"}
    quoted = parse('theme:"human rights"', today=TODAY)
    assert quoted.themes == {"human-rights"}
    assert quoted.terms == ()


def test_hashtag_inside_a_word_is_not_a_theme() -> None:
    query = ask("c#gender and issue##5")
    assert query.themes == frozenset()


def test_empty_quoted_theme_is_not_a_filter() -> None:
    query = ask('theme:"" floods')
    assert query.themes == frozenset()
    assert "floods" in query.terms


# --- dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "since", "until"),
    [
        ("elections since 2023", date(2023, 1, 1), None),
        ("elections after 2021", date(2022, 1, 1), None),
        ("elections before 2020", None, date(2019, 12, 31)),
        ("elections in 2022", date(2022, 1, 1), date(2022, 12, 31)),
        ("elections during 2022", date(2022, 1, 1), date(2022, 12, 31)),
        ("elections between 2018 and 2020", date(2018, 1, 1), date(2020, 12, 31)),
        ("elections between 2020 and 2018", date(2018, 1, 1), date(2020, 12, 31)),
        ("elections last year", date(2025, 1, 1), date(2025, 12, 31)),
        ("elections this year", date(2026, 1, 1), TODAY),
        ("elections in the last 2 years", date(2024, 11, 1), None),
        ("elections in the past two years", date(2024, 11, 1), None),
        ("elections in the past 6 months", date(2026, 5, 1), None),
        ("elections last month", date(2026, 10, 1), date(2026, 10, 31)),
        ("elections this month", date(2026, 11, 1), TODAY),
        ("elections since March 2023", date(2023, 3, 1), None),
        ("elections after March 2023", date(2023, 4, 1), None),
        ("elections before March 2023", None, date(2023, 2, 28)),
        ("elections in February 2024", date(2024, 2, 1), date(2024, 2, 29)),
        ("elections after December 2023", date(2024, 1, 1), None),
        ("elections before January 2023", None, date(2022, 12, 31)),
        ("elections year:2022", date(2022, 1, 1), date(2022, 12, 31)),
        ("elections since:2021", date(2021, 1, 1), None),
        ("elections before:2020", None, date(2019, 12, 31)),
    ],
)
def test_dates(question: str, since: date | None, until: date | None) -> None:
    query = ask(question)
    assert (query.since, query.until) == (since, until)
    assert query.terms == ("elections",)


def test_last_year_in_january_is_the_previous_calendar_year() -> None:
    query = parse("last month", today=date(2026, 1, 15))
    assert (query.since, query.until) == (date(2025, 12, 1), date(2025, 12, 31))


@pytest.mark.parametrize(
    ("question", "note"),
    [
        ("year:0", "ignored the date 'year 0'"),
        ("elections in 1850", "ignored the date 'in 1850'"),
        ("elections since 2999", "ignored the date 'since 2999'"),
        ("year:፩፪", "ignored the date 'year ፩፪'"),
    ],
)
def test_impossible_years_are_noted_not_filtered(question: str, note: str) -> None:
    query = ask(question)
    assert query.since is None and query.until is None
    assert query.notes == (note,)


def test_five_digit_year_is_not_a_date() -> None:
    query = ask("since 99999")
    assert (query.since, query.until) == (None, None)
    assert "99999" in query.terms


def test_between_impossible_years_is_not_a_date() -> None:
    query = ask("elections between 1000 and 3000")
    assert (query.since, query.until) == (None, None)
    assert {"elections", "1000", "3000"} <= set(query.terms)


def test_arabic_indic_digits_are_a_year() -> None:
    query = ask("elections in ٢٠٢٢")
    assert (query.since, query.until) == (date(2022, 1, 1), date(2022, 12, 31))


# --- statuses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "status", "terms"),
    [
        ("applied lessons on convoys", LessonStatus.APPLIED, ("convoys",)),
        ("only validated", LessonStatus.VALIDATED, ()),
        ("just identified lessons about floods", LessonStatus.IDENTIFIED, ("floods",)),
        ("status:applied", LessonStatus.APPLIED, ()),
        ("status: rejected elections", LessonStatus.REJECTED, ("elections",)),
        ("the rejected ones about rumours", LessonStatus.REJECTED, ("rumours",)),
    ],
)
def test_statuses(question: str, status: LessonStatus, terms: tuple[str, ...]) -> None:
    query = ask(question)
    assert query.statuses == {status}
    assert query.terms == terms


def test_status_word_in_prose_is_not_a_filter() -> None:
    query = ask("how the plan was applied in the field")
    assert query.statuses == frozenset()
    assert query.terms == ("plan", "applied", "field")


def test_unknown_status_is_noted() -> None:
    query = ask("status:bogus floods")
    assert query.statuses == frozenset()
    assert query.notes == ("unknown status 'bogus'",)
    assert query.terms == ("floods",)


# --- phrases=False and refine --------------------------------------------------------------------


def test_without_phrases_in_2010_stays_words() -> None:
    query = ask("elections in 2010 in MINUSCA, AARs", phrases=False)
    assert query.terms == ("elections", "2010", "minusca", "aars")
    assert not query.has_filters
    assert query.relaxed is True


def test_without_phrases_explicit_filters_still_apply() -> None:
    query = ask("elections #gender type:aar since:2020 in 2010", phrases=False)
    assert query.themes == {"gender"}
    assert query.types == {ProductType.AAR}
    assert query.since == date(2020, 1, 1)
    assert query.terms == ("elections", "2010")


def test_refine_narrows_with_the_follow_up_filters() -> None:
    first = ask("elections in MINUSCA")
    refined = first.refine(ask("only AARs since 2024"))
    assert refined.terms == ("elections",)
    assert refined.missions == {"MINUSCA"}
    assert refined.types == {ProductType.AAR}
    assert refined.since == date(2024, 1, 1)
    assert refined.text == first.text


def test_refine_takes_new_terms_and_replaces_a_filter_of_the_same_kind() -> None:
    first = ask("elections in MINUSCA since 2020")
    refined = first.refine(ask("rumours in MONUSCO"))
    assert refined.terms == ("rumours",)
    assert refined.missions == {"MONUSCO"}
    assert refined.since == date(2020, 1, 1)


def test_refine_with_an_empty_follow_up_changes_nothing() -> None:
    first = ask("#gender elections since 2020")
    assert first.refine(ask("")) == first


# --- bad input -----------------------------------------------------------------------------------

LONG = "election " * 1250  # 10,000 characters


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        ('AND OR NOT NEAR( * ^ " :', ("near",)),
        ('"elections', ("elections",)),
        ("'elections'", ("elections",)),
        ("((elections", ("elections",)),
        ("elections))", ("elections",)),
        ("NEAR(", ("near",)),
        ("NEAR(elections convoys, 5)", ("near", "elections", "convoys", "5")),
        ("*", ()),
        ("elect*", ("elect",)),
        ("", ()),
        ("   \t\n  ", ()),
        ("😀🔥🗳️", ()),
        ("الانتخابات في بانغي", ("الانتخابات", "بانغي")),  # "في" (in) is a stop word
        ("בחירות ביטחון", ("בחירות", "ביטחון")),
        ("elections выборы 选举 الانتخابات", ("elections", "выборы", "选举", "الانتخابات")),
        ("elec\x00tions\x01\x7f convoys", ("elec", "tions", "convoys")),
        ("elec\u200dtions con\u200bvoys\ufeff", ("elections", "convoys")),
        ("\u202eelections\u202c", ("elections",)),
        ("{title}: elections", ("title", "elections")),
        ("title:elections", ("title", "elections")),
        ("-elections ^convoys", ("elections", "convoys")),
        ("'; DROP TABLE lessons; --", ("drop", "table")),
    ],
)
def test_bad_input_gives_a_sensible_query(question: str, terms: tuple[str, ...]) -> None:
    query = ask(question)
    assert query.terms == terms
    assert not query.has_filters
    assert query.notes == ()


def test_ten_thousand_characters_are_cut() -> None:
    query = ask(LONG)
    # The cut at MAX_QUESTION_CHARS may split the last word ("el"); nothing else comes through.
    assert query.terms[0] == "election"
    assert set(query.terms) <= {"election", "el"}
    assert len(query.text) <= MAX_QUESTION_CHARS


def test_many_distinct_words_are_capped() -> None:
    query = ask(" ".join(f"word{i}" for i in range(500)))
    assert len(query.terms) == MAX_TERMS
    assert query.terms[:2] == ("word0", "word1")


def test_overlong_words_are_dropped() -> None:
    query = ask("a" * 41 + " elections " + "b" * 40)
    assert query.terms == ("elections", "b" * 40)


@pytest.mark.parametrize(
    "question",
    ["since 99999", "year:0", "type:bogus", "status:bogus", "theme:", "#", "mission:", "in"],
)
def test_bad_filters_give_no_filter(question: str) -> None:
    query = ask(question)
    assert not query.has_filters


POOL = [
    *"AND OR NOT NEAR ( ) * ^ \" ' : { } [ ] - + # @ ; , . ? ! \\ / | ~ ` $ % &".split(),
    "\x00", "\x01", "\x1b", "\x7f", "\t", "\n", "\r",
    "\u200b", "\u200c", "\u200d", "\u202e", "\u2066", "\ufeff", "\u00ad", "\u0301", "\ufffd",
    "😀", "🗳️", "👩\u200d⚕️", "🇨🇫",
    "الانتخابات", "בחירות", "выборы", "选举", "ηλεκτρικό", "ﬁ", "Ǆ", "İ", "ß",
    "፩", "٢٠٢٢", "²", "2023", "1899", "99999", "0",
    "theme:", "type:", "status:", "mission:", "year:", "since:", "#", "tag:",
    "in ", "since ", "after ", "before ", "between ", " and ", "last ", "this ", "past ",
    "year", "years", "month", "March ", "only ", "applied ", "ones", "lessons",
    "MINUSCA", "minusca", "AARs", "EoAR", "practice notes", "human rights", "elections",
    "x" * 45, "'; DROP TABLE lessons; --", " ", " ", " ",
]  # fmt: skip


def test_parse_never_raises_on_random_nasty_strings() -> None:
    rng = random.Random(1234)
    for _ in range(400):
        question = "".join(rng.choice(POOL) for _ in range(rng.randint(0, 80)))
        query = ask(question)
        assert len(query.terms) <= MAX_TERMS, question
        assert all(0 < len(term) <= MAX_WORD_LENGTH for term in query.terms), question
        assert len(set(query.terms)) == len(query.terms), question
        for day in (query.since, query.until):
            assert day is None or date(1899, 12, 31) <= day <= date(2101, 1, 1), question
        assert len(query.text) <= MAX_QUESTION_CHARS, question


# --- languages (issue 22) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "languages", "terms"),
    [
        ("elections lang:fr", {"fr"}, ("elections",)),
        ("elections language:Spanish", {"es"}, ("elections",)),
        ("convoy security in French", {"fr"}, ("convoy", "security")),
        ("convoy security, only in Arabic", {"ar"}, ("convoy", "security")),
        ("sécurité des convois en français", {"fr"}, ("securite", "convois")),
        ("elecciones en español", {"es"}, ("elecciones",)),
        ("elections", set(), ("elections",)),
        ("lessons on language training", set(), ("language", "training")),
    ],
)
def test_a_language_is_a_filter(question: str, languages: set[str], terms: tuple[str, ...]) -> None:
    query = ask(question)
    assert query.languages == languages
    assert query.has_filters is bool(languages)
    assert query.terms[: len(terms)] == terms


def test_an_unknown_language_is_noted_not_searched() -> None:
    query = ask("elections lang:klingon")
    assert query.languages == frozenset()
    assert query.notes == ("unknown language 'klingon'",)
    assert query.terms == ("elections",)


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("what did we learn about elections?", "en"),
        ("Quelles leçons avons-nous tirées sur la protection des civils ?", "fr"),
        ("¿Qué lecciones aprendimos sobre la protección de civiles?", "es"),
        ("Какие уроки мы извлекли о защите гражданского населения?", "ru"),  # noqa: RUF001
        ("ما الدروس المستفادة بشأن حماية المدنيين؟", "ar"),
        ("我们在保护平民方面吸取了哪些教训？", "zh"),  # noqa: RUF001
        ("DDR", "en"),
    ],
)
def test_the_question_language_is_detected(question: str, language: str) -> None:
    assert ask(question).language == language


def test_a_follow_up_keeps_the_language_filter() -> None:
    first = ask("elections in French")
    assert first.refine(ask("since 2024")).languages == {"fr"}


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        (
            "Quelles leçons avons-nous tirées sur la protection des civils ?",
            ("protection", "civils"),
        ),
        ("¿Qué lecciones aprendimos sobre la protección de civiles?", ("proteccion", "civiles")),
        ("ما الدروس المستفادة بشأن حماية المدنيين؟", ("حمايه", "المدنيين")),
        ("我们在保护平民方面吸取了哪些教训？", ("保护", "平民")),  # noqa: RUF001
    ],
)
def test_a_question_loses_the_stop_words_of_its_language(
    question: str, terms: tuple[str, ...]
) -> None:
    assert ask(question).terms == terms

# ruff: noqa: RUF001  (text in six languages: letters that look Latin are meant)
"""Languages (issue 22): a language per lesson, given or detected, shown and filtered on."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, text

from knowledge.capture import Notes
from knowledge.errors import ImportFailed
from knowledge.models import Lesson, Product, ProductType
from knowledge.records import PersonRecord, ProductRecord
from knowledge.search.answer import Viewer
from knowledge.storage import Store

TODAY = date(2026, 11, 25)
ANYONE = Viewer(None)
FRENCH = (
    "Les patrouilles de nuit de la MINUSCA autour des sites de déplacés ont réduit les attaques "
    "contre les civils lorsque les comités locaux donnaient l'alerte par radio."
)
SPANISH = (
    "Las patrullas nocturnas de la MINUSCA alrededor de los sitios de desplazados redujeron los "
    "ataques contra civiles cuando los comités locales daban la alerta por radio."
)
ENGLISH = (
    "MINUSCA night patrols around displacement sites reduced attacks on civilians when local "
    "committees raised the alert by radio."
)


def product(key: str, text: str, **fields: object) -> ProductRecord:
    values: dict[str, object] = {"type": "practice_note", "title": f"Patrols {key}"} | fields
    lesson = {"lesson": text} | (
        {"language": fields["lesson_language"]} if "lesson_language" in fields else {}
    )
    data = {k: v for k, v in values.items() if k != "lesson_language"}
    return ProductRecord.from_mapping(
        {"external_id": f"t:{key}", "date": "2025-05-05", **data, "lessons": [lesson]},
        today=TODAY,
    )


def languages(store: Store) -> dict[str, str]:
    with store.session() as s:
        rows = s.execute(
            select(Product.external_id, Lesson.language).join(
                Lesson, Lesson.product_id == Product.id
            )
        ).all()
    return {str(ext): lang for ext, lang in rows}


@pytest.mark.parametrize(
    ("said", "code"), [("fr", "fr"), ("FR", "fr"), ("fr-FR", "fr"), ("zh_CN", "zh")]
)
def test_import_takes_a_language_code(said: str, code: str) -> None:
    record = product("x", FRENCH, language=said)
    assert record.language == code


def test_import_refuses_a_language_it_does_not_know() -> None:
    with pytest.raises(ImportFailed) as failed:
        product("x", FRENCH, language="de")
    assert failed.value.field == "language"
    assert "en, fr, es, ru, ar, zh" in str(failed.value)


async def test_a_lesson_language_is_given_or_detected(store: Store) -> None:
    records: list[tuple[int, PersonRecord | ProductRecord]] = [
        (1, product("fr", FRENCH)),
        (2, product("es", SPANISH)),
        (3, product("en", ENGLISH)),
        # Given wins over detected: the product's for its lessons, a lesson's own above it.
        (4, product("given", ENGLISH, language="fr")),
        (5, product("own", ENGLISH, language="fr", lesson_language="es")),
    ]
    await store.import_records(records, source="t")
    assert languages(store) == {
        "t:fr": "fr",
        "t:es": "es",
        "t:en": "en",
        "t:given": "fr",
        "t:own": "es",
    }


async def test_a_chat_note_gets_its_language_detected(store: Store) -> None:
    await store.import_records(
        [(1, PersonRecord(name="Awa", email="awa@x.org", mission="ALPHA"))], source="t"
    )
    author = await store.person_for("local", "awa@x.org")
    assert author is not None
    note = await Notes(store).capture(
        author_id=author,
        title="Patrouilles de nuit",
        lesson=FRENCH,
        platform="local",
    )
    with store.session() as s:
        lesson = s.get(Lesson, note.lesson_id)
        assert lesson is not None and lesson.language == "fr"


async def test_hits_carry_their_language_and_the_filter_keeps_one(store: Store) -> None:
    await store.import_records(
        [(1, product("fr", FRENCH)), (2, product("es", SPANISH)), (3, product("en", ENGLISH))],
        source="t",
    )
    # The acronym is indexed as written in every language: it finds all three.
    everything = await store.ask("MINUSCA", viewer=ANYONE, limit=10)
    assert len(everything.hits) == 3
    assert {h.external_id: h.language for h in everything.hits}["t:en"] == "en"
    assert all(h.as_json()["language"] == h.language for h in everything.hits)
    for question, wanted in (("MINUSCA lang:fr", "fr"), ("MINUSCA in Spanish", "es")):
        answer = await store.ask(question, viewer=ANYONE, limit=10)
        assert answer.hits, question
        assert {h.language for h in answer.hits} == {wanted}, question
        assert all(h.product_type == ProductType.PRACTICE_NOTE for h in answer.hits)


# --- across languages: the multilingual glossary (demo corpus) ---------------------------------

POC_LESSONS = {
    "demo:unmiss-poc-training-2016",
    "demo:minusca-bangassou-poc-2024",
    "demo:monusco-djugu-2025",
    "demo:hq-early-warning-survey-2023",
}


@pytest.mark.parametrize(
    "question",
    [
        "Quelles leçons avons-nous tirées sur la protection des civils ?",
        "¿Qué lecciones aprendimos sobre la protección de civiles?",
        "ما الدروس المستفادة بشأن حماية المدنيين؟",
        "Какие уроки мы извлекли о защите гражданского населения?",
        "我们在保护平民方面吸取了哪些教训？",
    ],
)
async def test_a_question_in_another_language_finds_the_english_poc_lessons(
    demo_store: Store, question: str
) -> None:
    answer = await demo_store.ask(question, viewer=ANYONE, limit=5)
    assert answer.answered
    found = {h.external_id for h in answer.hits}
    assert "demo:unmiss-poc-training-2016" in found
    assert len(found & POC_LESSONS) >= 3, found
    # A lesson in the question's own language comes first when there is one (the Arabic note
    # on demining says "يحمي المدنيين", protects civilians); else the English ones lead.
    first = answer.hits[0]
    assert first.language == answer.query.language or first.external_id in POC_LESSONS
    if answer.query.language != "fr":  # the glossary brings English words in: "civilians"
        assert "civilians" in answer.expansions


async def test_an_english_question_finds_the_french_poc_lesson(demo_store: Store) -> None:
    answer = await demo_store.ask("protection of civilians early warning", viewer=ANYONE, limit=10)
    assert "demo:minusca-comites-protection-2023" in {h.external_id for h in answer.hits}
    assert {"civils", "alerte"} <= set(answer.expansions)


async def test_ddr_asked_in_french_finds_french_and_english_ddr_lessons(demo_store: Store) -> None:
    answer = await demo_store.ask("Qu'avons-nous appris sur le DDR ?", viewer=ANYONE, limit=5)
    assert answer.query.terms == ("ddr",)  # "qu'avons-nous appris sur le": French glue
    found = [h.external_id for h in answer.hits]
    assert {"demo:monusco-ddr-communautaire-2021", "demo:monusco-pddrcs-2022"} <= set(found)


# --- the same language: the demo's French, Spanish and Arabic lessons --------------------------


@pytest.mark.parametrize(
    ("question", "first", "language"),
    [
        (
            "Comment répondre aux alertes des comités locaux ?",
            "demo:minusca-comites-protection-2023",
            "fr",
        ),
        ("réintégration des ex-combattants", "demo:monusco-ddr-communautaire-2021", "fr"),
        (
            "proyectos de efecto rápido con los municipios",
            "demo:unifil-cimic-municipios-2021",
            "es",
        ),
        ("إزالة الألغام قرب الخط الأزرق", "demo:unifil-ittisal-baladiyat-2022", "ar"),
    ],
)
async def test_a_question_finds_the_lesson_in_its_own_language(
    demo_store: Store, question: str, first: str, language: str
) -> None:
    answer = await demo_store.ask(question, viewer=ANYONE, limit=5)
    assert answer.query.language == language
    assert answer.hits[0].external_id == first
    assert answer.hits[0].language == language


async def test_the_language_filter_keeps_the_demo_lessons_of_one_language(
    demo_store: Store,
) -> None:
    answer = await demo_store.ask("CIMIC lang:es", viewer=ANYONE, limit=5)
    assert [h.external_id for h in answer.hits] == ["demo:unifil-cimic-municipios-2021"]
    french = await demo_store.ask("lessons in French", viewer=ANYONE, limit=5)  # filter only
    assert {h.external_id for h in french.hits} == {
        "demo:minusca-comites-protection-2023",
        "demo:monusco-ddr-communautaire-2021",
    }


async def test_an_imported_lesson_is_indexed_in_its_language(store: Store) -> None:
    await store.import_records(
        [(1, product("fr", FRENCH + " Les convois de carburant aussi."))], source="t"
    )
    with store.engine.connect() as conn:
        terms = set(conn.execute(text("SELECT term FROM search_terms")).scalars())
    # French Snowball stems ("convois" stays, "patrouilles" → "patrouill"), not English ones.
    assert {"convois", "patrouill", "attaqu", "comit"} <= terms
    assert "convoi" not in terms

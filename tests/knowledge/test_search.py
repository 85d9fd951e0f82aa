"""Search end to end on the demo corpus, on SQLite and PostgreSQL: hits, filters, audience."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from knowledge.models import LessonStatus, ProductType, Role
from knowledge.records import LessonRecord, PersonRecord, ProductRecord
from knowledge.search import analysis
from knowledge.search import answer as search_answer
from knowledge.search import index as search_index
from knowledge.search.answer import Answer, Hit, Viewer
from knowledge.storage import Counts, Store

DEMO = Path(__file__).resolve().parents[2] / "knowledge" / "demo" / "corpus.json"
CORPUS = json.loads(DEMO.read_text(encoding="utf-8"))
PRODUCTS = {p["external_id"]: p for p in CORPUS["products"]}
RESTRICTED = {ext: p for ext, p in PRODUCTS.items() if p.get("audience")}
PEOPLE = {p["email"]: p for p in CORPUS["people"]}
ANYONE = Viewer(None)
ELECTION_WORDS = re.compile(r"elect|poll|ballot|vot|registration|referend", re.IGNORECASE)


async def ask(store: Store, question: str, viewer: Viewer = ANYONE, limit: int = 5) -> Answer:
    return await store.ask(question, viewer=viewer, limit=limit)


def ids(answer: Answer) -> list[str | None]:
    return [h.external_id for h in answer.hits]


async def person_id(store: Store, email: str) -> int:
    found = await store.person_for("local", email)
    assert found is not None, email
    return found


def extra_product(external_id: str, title: str, text_: str, **fields: object) -> ProductRecord:
    """Return a published practice note with one lesson of this text."""
    values: dict[str, object] = {
        "type": ProductType.PRACTICE_NOTE,
        "date": date(2025, 5, 5),
        "mission": "UNFICYP",
    } | fields
    return ProductRecord(
        external_id=external_id,
        title=title,
        lessons=(LessonRecord(lesson=text_),),
        **values,  # type: ignore[arg-type]
    )


def test_the_demo_corpus_has_restricted_products() -> None:
    assert set(RESTRICTED) == {
        "demo:minusca-sea-case-review-2024",
        "demo:minusca-mediation-backchannel-2024",
        "demo:minusca-convoy-ied-nearmiss-2025",
        "demo:eoar-petrova-untmis-2025",
        "demo:minusca-polling-security-2025",
    }


# --- the README question -------------------------------------------------------------------------


async def test_elections_question(demo_store: Store) -> None:
    answer = await ask(demo_store, "what did we learn about elections?")
    assert answer.query.terms == ("elections",)
    assert len(answer.hits) == 5
    for hit in answer.hits:
        assert hit.takeaway.strip(), hit
        assert ELECTION_WORDS.search(hit.takeaway), hit.takeaway
        assert hit.product_type in set(ProductType)
        assert hit.mission and hit.mission == PRODUCTS[hit.external_id or ""]["mission"]
        assert hit.status in set(LessonStatus)
        assert hit.date == date.fromisoformat(PRODUCTS[hit.external_id or ""]["date"])
        assert "elections" in hit.themes
        assert hit.external_id not in RESTRICTED
    scores = [h.score for h in answer.hits]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0


async def test_hit_as_json_round_trips_its_fields(demo_store: Store) -> None:
    hit: Hit = (await ask(demo_store, "rainy season voter registration")).hits[0]
    data = hit.as_json()
    assert data["external_id"] == "demo:minusca-voter-registration-rainy-2025"
    assert data["type"] == "lessons_learned_study"
    assert data["date"] == "2025-11-14"
    assert data["authors"] == ["Farida Rahimi", "Amina Diallo"]
    assert data["themes"] == ["climate-security", "elections", "gender", "logistics"]


# --- spelling and glossary -----------------------------------------------------------------------


async def test_typos_are_corrected(demo_store: Store) -> None:
    answer = await ask(demo_store, "electoin secruity")
    assert answer.corrections == {"electoin": "election", "secruity": "security"}
    assert answer.did_you_mean == "election security"
    assert len(answer.hits) == 5
    assert all(ELECTION_WORDS.search(h.title + " " + h.takeaway) for h in answer.hits)


async def test_known_words_are_not_corrected(demo_store: Store) -> None:
    answer = await ask(demo_store, "election security")
    assert answer.corrections == {}
    assert answer.did_you_mean is None


async def test_ddr_finds_lessons_that_only_say_disarmament(demo_store: Store) -> None:
    await demo_store.import_records(
        [
            (
                1,
                extra_product(
                    "t:cantonment",
                    "Cantonment sites for former fighters",
                    "Disarmament and demobilization of former fighters stalled without food.",
                ),
            )
        ],
        source="t",
    )
    answer = await ask(demo_store, "DDR", limit=10)
    assert {"disarmament", "demobilization", "reintegration"} <= set(answer.expansions)
    assert "t:cantonment" in ids(answer)
    assert {"demo:monusco-pddrcs-2022", "demo:minusca-cvr-2022"} <= set(ids(answer))


async def test_poc_finds_protection_of_civilians(demo_store: Store) -> None:
    await demo_store.import_records(
        [
            (
                1,
                extra_product(
                    "t:buffer-zone",
                    "Buffer zone patrols",
                    "The protection of civilians near the buffer zone relied on night patrols.",
                ),
            )
        ],
        source="t",
    )
    answer = await ask(demo_store, "PoC", limit=10)
    assert {"protection", "civilians"} <= set(answer.expansions)
    assert "t:buffer-zone" in ids(answer)
    assert "demo:unmiss-poc-training-2016" in ids(answer)


# --- filters -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "keep"),
    [
        ("elections, only AARs", lambda h: h.product_type == ProductType.AAR),
        ("elections in MINUSCA", lambda h: h.mission == "MINUSCA"),
        ("elections since 2024", lambda h: h.date is not None and h.date >= date(2024, 1, 1)),
        ("elections before 2021", lambda h: h.date is not None and h.date <= date(2020, 12, 31)),
        ("elections #gender", lambda h: "gender" in h.themes),
        ("theme: human rights elections", lambda h: "human-rights" in h.themes),
        ("elections status:applied", lambda h: h.status == LessonStatus.APPLIED),
        (
            "AARs on protection in MINUSCA since 2024",
            lambda h: (
                h.product_type == ProductType.AAR
                and h.mission == "MINUSCA"
                and h.date is not None
                and h.date >= date(2024, 1, 1)
            ),
        ),
    ],
)
async def test_filters(demo_store: Store, question: str, keep: Callable[[Hit], bool]) -> None:
    answer = await ask(demo_store, question)
    assert answer.hits, question
    assert answer.query.relaxed is False
    assert answer.query.has_filters
    assert all(keep(h) for h in answer.hits), [h.as_json() for h in answer.hits]


async def test_a_mission_alone_filters_by_mission(demo_store: Store) -> None:
    """ "what did we learn in MINUSCA" used to give lessons of UNSOM, DPPA HQ and UNTMIS."""
    for question in ("what did we learn in MINUSCA", "what did we learn about MINUSCA?"):
        answer = await ask(demo_store, question)
        assert answer.query.missions == {"MINUSCA"} and not answer.query.relaxed
        assert len(answer.hits) == 5
        assert {h.mission for h in answer.hits} == {"MINUSCA"}, question


async def test_rejected_and_withdrawn_lessons_only_when_asked_for(demo_store: Store) -> None:
    with demo_store.connection() as conn:
        withdrawn = conn.execute(
            text(
                "SELECT min(id) FROM lessons WHERE status = 'applied' AND product_id NOT IN "
                "(SELECT product_id FROM product_audience)"
            )
        ).scalar_one()
        conn.execute(
            text("UPDATE lessons SET status = 'withdrawn' WHERE id = :i"), {"i": withdrawn}
        )
    rejected = await ask(demo_store, "status:rejected QIPs")
    assert rejected.hits and {h.status for h in rejected.hits} == {LessonStatus.REJECTED}
    for question in ("QIPs", "quick impact projects", "elections", "what did we learn in MINUSCA"):
        answer = await ask(demo_store, question, limit=20)
        assert answer.hits
        statuses = {h.status for h in answer.hits}
        assert not statuses & {LessonStatus.REJECTED, LessonStatus.WITHDRAWN}, question
        assert withdrawn not in {h.lesson_id for h in answer.hits}
    asked = await ask(demo_store, "status:withdrawn", limit=20)
    assert [h.lesson_id for h in asked.hits] == [withdrawn]


@pytest.mark.parametrize(
    ("question", "answered"),
    [
        ("what did we learn about elections?", True),
        ("PoC early warning", True),
        ("electoin secruity", True),  # typos corrected: one slip of the keyboard each
        ("DDR", True),  # covered by its glossary expansions
        ("elections in 2010", True),  # relaxed: "2010" was a filter, not a topic
        ("AARs in UNMISS", True),  # filters only: whatever they keep
        ("lessons about cholera outbreaks in camps", False),
        ("rocket engine combustion instability", False),
        ("turbopump cavitation in liquid oxygen engines", False),
        ("zorblax quuxian", False),
    ],
)
async def test_an_answer_knows_whether_it_found_something_good(
    demo_store: Store, question: str, answered: bool
) -> None:
    answer = await ask(demo_store, question)
    assert answer.answered is answered, (question, answer.coverage)
    assert answer.coverage is not None and 0.0 <= answer.coverage <= 1.0


async def test_an_abstained_answer_keeps_the_nearest_lessons_ranked(demo_store: Store) -> None:
    answer = await ask(demo_store, "lessons about cholera outbreaks in camps")
    assert not answer.answered and len(answer.hits) == 5
    assert [h.score for h in answer.hits] == sorted((h.score for h in answer.hits), reverse=True)
    assert answer.coverage is not None and answer.coverage < search_answer.ANSWERED_COVERAGE


async def test_the_lessons_terms_are_read_back_the_same_on_both_backends(
    demo_store: Store,
) -> None:
    answer = await ask(demo_store, "quick impact projects")
    top = answer.hits[0].lesson_id
    with demo_store.engine.connect() as conn:
        words = ["quick", "impact", "projects", "zorblax"]
        found = demo_store.index.terms(conn, {w: analysis.forms(w, ("en",)) for w in words})
        terms = [t.term for w in found.values() for t in w]
        held = demo_store.index.matched(conn, [top], terms)
    # Each word's stem; its unstemmed form ("projects") only where a lesson wrote it so.
    assert held[top] == {"quick", "impact", "project"}
    assert {t.term for w in words for t in found[w] if t.df > 0} == {"quick", "impact", "project"}

    answer = await ask(demo_store, "AARs in UNMISS")
    assert answer.query.terms == ()
    assert ids(answer) == [
        "demo:unmiss-voter-education-2026",
        "demo:unmiss-engagement-patrols-2024",
        "demo:unmiss-bentiu-floods-2024",
        "demo:unmiss-pibor-2023",
    ]


async def test_one_hit_per_product(demo_store: Store) -> None:
    answer = await ask(demo_store, "voter registration", limit=5)
    assert len(answer.hits) == 5
    assert len({h.product_id for h in answer.hits}) == 5
    # The rainy-season study has three registration lessons; only its best one is shown.
    assert ids(answer).count("demo:minusca-voter-registration-rainy-2025") == 1


async def test_relaxed_fallback_drops_a_date_that_matches_nothing(demo_store: Store) -> None:
    answer = await ask(demo_store, "elections in 1990")
    assert answer.query.relaxed is True
    assert answer.query.since is None
    assert "1990" in answer.query.terms
    assert len(answer.hits) == 5
    assert all(ELECTION_WORDS.search(h.takeaway) for h in answer.hits)


async def test_relaxed_fallback_keeps_explicit_filters(demo_store: Store) -> None:
    answer = await ask(demo_store, "elections in 1990 type:eoar")
    assert answer.query.relaxed is True
    assert answer.hits
    assert {h.product_type for h in answer.hits} == {ProductType.EOAR}


async def test_no_results_offer_themes_and_contacts(demo_store: Store) -> None:
    answer = await ask(demo_store, "zorblax quuxian")
    assert answer.hits == ()
    assert answer.related_themes[:2] == ("protection", "gender")
    assert len(answer.related_themes) == 6
    pbpos = {
        f"{p['name']} <{p['email']}>" for p in CORPUS["people"] if Role.PBPO.value in p["roles"]
    }
    assert set(answer.contacts) == pbpos and len(pbpos) == 3


async def test_no_results_list_the_missions_pbpo_first(demo_store: Store) -> None:
    answer = await ask(demo_store, "mission:UNMISS zorblax")
    assert answer.hits == ()
    assert answer.contacts[0] == "Grace Achieng <grace.achieng@un.example>"


async def test_empty_store_answers_with_no_hits(store: Store) -> None:
    answer = await ask(store, "elections")
    assert (answer.hits, answer.related_themes, answer.contacts) == ((), (), ())


# --- audience ------------------------------------------------------------------------------------


def restricted_hits(answer: Answer) -> set[str]:
    return {h.external_id for h in answer.hits if h.external_id in RESTRICTED}


@pytest.mark.parametrize("external_id", sorted(RESTRICTED))
async def test_restricted_products_are_hidden_from_outsiders(
    demo_store: Store, external_id: str
) -> None:
    title = RESTRICTED[external_id]["title"]
    lesson = RESTRICTED[external_id]["lessons"][0]["lesson"]
    outsider = await demo_store.viewer_for(await person_id(demo_store, "amina.diallo@un.example"))
    assert outsider.principals == {"person:amina.diallo@un.example", "group:staff"}
    for viewer in (ANYONE, outsider, Viewer(None, frozenset({"channel:random"}))):
        for question in (title, lesson, f"{title} in 1990", title.split(":", 1)[1]):
            answer = await ask(demo_store, question, viewer, limit=20)
            assert restricted_hits(answer) == set(), (viewer, question)


@pytest.mark.parametrize("external_id", sorted(RESTRICTED))
async def test_restricted_products_are_shown_to_their_audience(
    demo_store: Store, external_id: str
) -> None:
    product = RESTRICTED[external_id]
    principal = product["audience"][0]
    answer = await ask(demo_store, product["title"], Viewer(None, frozenset({principal})))
    assert ids(answer)[0] == external_id
    assert restricted_hits(answer) == {external_id}


async def test_store_viewer_opens_by_group_role_authorship_and_channel(
    demo_store: Store,
) -> None:
    await demo_store.import_records(
        [(1, PersonRecord(name="Jo Mack", email="jo.mack@un.example", groups=("minusca-jmac",)))],
        source="t",
    )
    convoy = RESTRICTED["demo:minusca-convoy-ied-nearmiss-2025"]["title"]
    petrova = RESTRICTED["demo:eoar-petrova-untmis-2025"]["title"]
    polling = RESTRICTED["demo:minusca-polling-security-2025"]["title"]
    jo = await demo_store.viewer_for(await person_id(demo_store, "jo.mack@un.example"))
    assert "group:minusca-jmac" in jo.principals
    farida = await demo_store.viewer_for(await person_id(demo_store, "farida.rahimi@un.example"))
    assert "group:pbpo" in farida.principals
    tomas = await demo_store.viewer_for(await person_id(demo_store, "tomas.herrera@un.example"))
    # A conversation is known by its platform identity; the demo names the local chat's
    # #elections-team by id, and the name alone opens nothing.
    team = await demo_store.viewer_for(None, channel="local:elections-team")
    assert team == Viewer(None, frozenset({"channel:local:elections-team"}))
    by_name = Viewer(None, frozenset({"channel:random"}))

    assert "demo:minusca-convoy-ied-nearmiss-2025" in ids(await ask(demo_store, convoy, jo))
    assert "demo:eoar-petrova-untmis-2025" in ids(await ask(demo_store, petrova, farida))
    assert "demo:eoar-petrova-untmis-2025" not in ids(await ask(demo_store, petrova, jo))
    # Authors always see their own product.
    assert "demo:minusca-convoy-ied-nearmiss-2025" in ids(await ask(demo_store, convoy, tomas))
    assert "demo:minusca-polling-security-2025" in ids(await ask(demo_store, polling, tomas))
    assert "demo:minusca-polling-security-2025" in ids(await ask(demo_store, polling, team))
    assert "demo:minusca-polling-security-2025" not in ids(await ask(demo_store, polling, jo))
    assert "demo:minusca-polling-security-2025" not in ids(await ask(demo_store, polling, by_name))


async def test_restricted_lessons_do_not_take_a_slot(demo_store: Store) -> None:
    question = "Polling-day security coordination between FSI, UNPOL, FPUs and the Force"
    member = await ask(demo_store, question, Viewer(None, frozenset({"channel:elections-team"})))
    assert ids(member)[0] == "demo:minusca-polling-security-2025"
    outsider = await ask(demo_store, question)
    assert len(outsider.hits) == 5
    assert restricted_hits(outsider) == set()
    assert ids(outsider)[:4] == ids(member)[1:5]


@pytest.mark.parametrize("question", ["polling day security", "only AARs"])
async def test_many_hidden_lessons_are_filtered_inside_the_query(
    demo_store: Store, monkeypatch: pytest.MonkeyPatch, question: str
) -> None:
    """Past MAX_OVERFETCH hidden lessons the filter moves into SQL: same answers."""
    before = await ask(demo_store, question)
    monkeypatch.setattr(search_index, "MAX_OVERFETCH", 0)
    after = await ask(demo_store, question)
    assert restricted_hits(after) == set()
    assert ids(after) == ids(before)
    assert len(after.hits) == 5


async def test_browsing_by_filter_hides_restricted_products(demo_store: Store) -> None:
    only_restricted = "#conduct-and-discipline"
    assert (await ask(demo_store, only_restricted)).hits == ()
    member = Viewer(None, frozenset({"group:minusca-conduct-discipline"}))
    assert ids(await ask(demo_store, only_restricted, member)) == [
        "demo:minusca-sea-case-review-2024"
    ]


async def test_every_hit_for_everyone_is_unrestricted(demo_store: Store) -> None:
    for question in ("AARs in MINUSCA", "mediation", "convoy IED", "elections", "security"):
        answer = await ask(demo_store, question, limit=20)
        assert answer.hits, question
        assert restricted_hits(answer) == set(), question


# --- bad input, end to end -----------------------------------------------------------------------

BAD_INPUT = [
    'AND OR NOT NEAR( * ^ " :',
    "elections AND NOT security",
    '"elections',
    "'elections'",
    '"""',
    "((elections",
    "elections)",
    "NEAR(",
    "NEAR(elections security, 3)",
    "*",
    "elect*",
    "",
    "   ",
    "election " * 1250,
    " ".join(f"word{i}" for i in range(300)),
    "😀🔥🗳️",
    "الانتخابات في بانغي",
    "בחירות ביטחון",
    "elections выборы 选举",
    "elec\x00tions\x01",
    "elec\u200dtions",
    '"',
    "-",
    "-elections",
    "^",
    "^elections",
    "{title}:",
    "{title summary}: elections",
    "title:elections",
    "lesson_fts:elections",
    "'; DROP TABLE lessons; --",
    "x' OR '1'='1",
    "elections'); DELETE FROM products; --",
    'theme:"\'); DROP TABLE lessons; --"',
    "mission:x'--",
    "year:፩፪ elections",
    "since 99999",
    "type:bogus status:bogus elections",
    "%",
    "_",
    "\\",
    "elections\\",
]


async def test_bad_input_never_breaks_search(demo_store: Store) -> None:
    before = await demo_store.counts()
    reference = ids(await ask(demo_store, "elections"))
    for question in BAD_INPUT:
        answer = await ask(demo_store, question)
        assert isinstance(answer, Answer), question
        assert len(answer.hits) <= 5, question
        assert restricted_hits(answer) == set(), question
        if not answer.query.terms and not answer.query.has_filters:
            assert answer.hits == (), question
            assert answer.contacts, question
    assert await demo_store.counts() == before == Counts(55, 119, 96, 17)
    with demo_store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM lessons")).scalar_one() == 119
    assert ids(await ask(demo_store, "elections")) == reference


async def test_plain_words_inside_bad_input_still_find_lessons(demo_store: Store) -> None:
    for question in (
        '"elections',
        "((elections",
        "NEAR(elections",
        "elec\u200dtions",
        "^elections",
    ):
        answer = await ask(demo_store, question)
        assert len(answer.hits) == 5, question


# --- caches --------------------------------------------------------------------------------------

NEW = [
    (
        1,
        ProductRecord(
            external_id="t:unficyp-1",
            type=ProductType.AAR,
            title="Quokkaflux patrols in the buffer zone",
            date=date(2025, 2, 2),
            mission="UNFICYP",
            lessons=(
                LessonRecord(lesson="Quokkaflux sightings need a log."),
                LessonRecord(lesson="Share every quokkaflux report with the sector."),
            ),
        ),
    )
]


async def test_new_import_refreshes_vocabulary_and_missions(demo_store: Store) -> None:
    before = await ask(demo_store, "quokkaflux in UNFICYP")
    assert before.hits == ()
    assert before.query.missions == frozenset()
    assert (await ask(demo_store, "quokkaflax")).corrections == {}

    await demo_store.import_records(NEW, source="new")

    after = await ask(demo_store, "quokkaflux in UNFICYP")
    assert after.query.missions == {"UNFICYP"}
    assert ids(after) == ["t:unficyp-1"]
    assert (await ask(demo_store, "quokkaflax")).corrections == {"quokkaflax": "quokkaflux"}


async def test_another_store_sees_the_import_through_the_index_version(
    demo_store: Store,
) -> None:
    other = Store.open(
        demo_store.engine.url.render_as_string(hide_password=False), clock=demo_store.clock
    )
    try:
        assert (await ask(other, "quokkaflux in UNFICYP")).query.missions == frozenset()
        await demo_store.import_records(NEW, source="new")
        after = await ask(other, "quokkaflux in UNFICYP")
        assert after.query.missions == {"UNFICYP"}
        assert ids(after) == ["t:unficyp-1"]
        assert (await ask(other, "quokkaflax")).corrections == {"quokkaflax": "quokkaflux"}
    finally:
        other.close()

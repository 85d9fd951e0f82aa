"""Validation in the index: withdrawn lessons leave answers, validated ones rank higher, and a
report restricted until validation opens once its lessons are validated."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from knowledge.audit import Audit
from knowledge.errors import DomainError, LifecycleError, NotAllowed, NotFound
from knowledge.models import (
    ActionStatus,
    Lesson,
    LessonEvent,
    LessonStatus,
    PersonGroup,
    Product,
    ProductAudience,
    ProductType,
    Role,
)
from knowledge.records import LessonRecord, PersonRecord, ProductRecord
from knowledge.reports import Reports
from knowledge.search.answer import Viewer
from knowledge.storage import Store
from knowledge.validation import Validations, Verdict

ANYONE = Viewer(None)
PEOPLE = (
    PersonRecord(name="Awa Author", email="awa@un.example", mission="MINUSCA",
                 manager_email="mo@un.example"),
    PersonRecord(name="Mo Manager", email="mo@un.example", mission="MINUSCA",
                 roles=(Role.MANAGER,)),
    PersonRecord(name="Pia PBPO", email="pia@un.example", mission="MINUSCA", roles=(Role.PBPO,)),
    PersonRecord(name="Sam Staff", email="sam@un.example", mission="MINUSCA"),
)  # fmt: skip


def product(external_id: str, title: str, *texts: str, **fields: object) -> ProductRecord:
    values: dict[str, object] = {
        "type": ProductType.AAR,
        "mission": "MINUSCA",
        "date": date(2025, 1, 1),
        "authors": ("awa@un.example",),
    } | fields
    lessons = tuple(LessonRecord(lesson=t) for t in texts)
    return ProductRecord(external_id=external_id, title=title, lessons=lessons, **values)  # type: ignore[arg-type]


async def load(store: Store, *products: ProductRecord) -> dict[str, int]:
    await store.import_records(list(enumerate([*PEOPLE, *products], 1)), source="t")
    return {p.email: await store.person_for("local", p.email) or 0 for p in PEOPLE}


def lesson_ids(store: Store, external_id: str) -> list[int]:
    with store.session() as s:
        return list(
            s.scalars(
                select(Lesson.id)
                .join(Product, Product.id == Lesson.product_id)
                .where(Product.external_id == external_id)
                .order_by(Lesson.position)
            )
        )


async def found(store: Store, question: str, viewer: Viewer = ANYONE) -> list[str | None]:
    answer = await store.ask(question, viewer=viewer, limit=10)
    return [h.external_id for h in answer.hits]


async def test_a_withdrawn_lesson_leaves_answers_but_stays_on_record(store: Store) -> None:
    who = await load(store, product("t:fuel", "Fuel", "Night convoys need a fuel reserve."))
    [lesson_id] = lesson_ids(store, "t:fuel")
    await store.move_lesson(lesson_id, LessonStatus.VALIDATED, actor_id=who["pia@un.example"])
    action = await store.add_action(lesson_id, "Add a reserve line", owner_id=None, due_date=None)
    assert await found(store, "fuel reserve convoys") == ["t:fuel"]
    validations = Validations(store)

    with pytest.raises(NotAllowed, match=r"Only the author \(Awa Author\), the author's manager"):
        await validations.withdraw(
            lesson_id, actor_id=who["sam@un.example"], reason="x", surface="local"
        )
    with pytest.raises(DomainError, match="needs a reason"):
        await validations.withdraw(
            lesson_id, actor_id=who["awa@un.example"], reason=" ", surface="local"
        )
    outcome = await validations.withdraw(
        lesson_id, actor_id=who["awa@un.example"], reason="superseded by the SOP", surface="local"
    )

    assert (outcome.card.status, outcome.cancelled, outcome.authors) == (
        LessonStatus.WITHDRAWN,
        1,
        (),  # the author withdrew it: nobody else to tell
    )
    assert await found(store, "fuel reserve convoys") == []
    assert await found(store, "only withdrawn lessons about fuel") == []
    page = await Reports(store).lesson_page(ANYONE, lesson_id)  # the dashboard keeps it
    assert page.status == LessonStatus.WITHDRAWN
    assert page.events[-1].note == "superseded by the SOP"
    assert (await store.action(action.id)).status == ActionStatus.NOT_DOING
    operations = [(r.operation, r.subject) for r in await Audit(store).events()]
    assert operations[-2:] == [
        ("update_action", f"action:{action.id}"),
        ("withdraw_lesson", f"lesson:{lesson_id}"),
    ]
    with pytest.raises(LifecycleError, match="withdrawn"):
        await store.add_action(lesson_id, "Again", owner_id=None, due_date=None)


async def test_decisions_go_through_permissions_and_the_lifecycle(store: Store) -> None:
    who = await load(store, product("t:a", "Radios", "Carry spare radio batteries.", "Two."))
    first, second = lesson_ids(store, "t:a")
    validations = Validations(store)

    with pytest.raises(NotAllowed, match=r"Only the author's manager \(Mo Manager\), a PBPO of"):
        await validations.decide(
            first, Verdict.VALIDATE, actor_id=who["sam@un.example"], surface="local"
        )
    done = await validations.decide(
        first, Verdict.VALIDATE, actor_id=who["mo@un.example"], surface="slack"
    )
    assert (done.card.status, done.actor, [a.name for a in done.authors]) == (
        LessonStatus.VALIDATED,
        "Mo Manager",
        ["Awa Author"],
    )
    with pytest.raises(DomainError, match="This lesson is validated already"):
        await validations.decide(
            first, Verdict.REJECT, actor_id=who["pia@un.example"], note="no", surface="local"
        )
    with pytest.raises(DomainError, match="Say what should change"):
        await validations.decide(
            second, Verdict.CHANGES, actor_id=who["pia@un.example"], surface="local"
        )
    back = await validations.decide(
        second, Verdict.CHANGES, actor_id=who["pia@un.example"], note="Which radios?",
        surface="teams",
    )  # fmt: skip
    assert back.card.status == LessonStatus.IDENTIFIED
    with store.session() as s:
        notes = s.scalars(select(LessonEvent.note).where(LessonEvent.lesson_id == second)).all()
    assert notes == ["changes requested: Which radios?"]
    trail = await Audit(store).events(subject=("lesson", second))
    assert [(r.person, r.surface, r.operation, r.note) for r in trail] == [
        ("Pia PBPO", "teams", "request_changes", "Which radios?")
    ]


async def test_a_validated_lesson_ranks_above_an_identified_near_twin(store: Store) -> None:
    who = await load(
        store,
        product("t:one", "Generators", "Service the generators before the rainy season."),
        product("t:two", "Generators", "Service the generators before the rainy season."),
    )
    before = await found(store, "service generators rainy season")
    [later] = lesson_ids(store, before[1] or "")

    await Validations(store).decide(
        later, Verdict.VALIDATE, actor_id=who["pia@un.example"], surface="local"
    )

    answer = await store.ask("service generators rainy season", viewer=ANYONE)
    assert [h.external_id for h in answer.hits] == [before[1], before[0]]
    assert answer.hits[0].score == pytest.approx(answer.hits[1].score * 1.05)


async def test_a_report_restricted_until_validation_opens_when_its_lessons_are(
    store: Store,
) -> None:
    audience = ("person:awa@un.example", "person:mo@un.example", "person:pia@un.example")
    who = await load(
        store,
        product("eoar:7", "EoAR of Awa", "Hand over the ledger.", "Brief the successor.",
                type=ProductType.EOAR, audience=audience),
        product("eoar-imported", "Another EoAR", "Keep the ledger.",
                type=ProductType.EOAR, audience=("group:jmac",)),
    )  # fmt: skip
    first, second = lesson_ids(store, "eoar:7")
    [other] = lesson_ids(store, "eoar-imported")
    validations, pia = Validations(store), who["pia@un.example"]
    assert await found(store, "ledger") == []  # an outsider sees neither report

    with pytest.raises(NotFound):  # not even its card: it does not exist for them
        await validations.card(first, person_id=who["sam@un.example"])
    one = await validations.decide(first, Verdict.VALIDATE, actor_id=pia, surface="local")
    assert not one.released and await found(store, "ledger") == []  # a lesson still waits
    two = await validations.decide(
        second, Verdict.REJECT, actor_id=pia, note="personal", surface="local"
    )
    assert two.released
    assert await found(store, "ledger hand over") == ["eoar:7"]
    trail = await Audit(store).events(subject=("product", two.card.product_id))
    assert [(r.operation, r.before, r.after) for r in trail] == [
        ("release_audience", {"audience": sorted(audience)}, {"audience": []})
    ]

    with store.session() as s:  # the PBPO joins the group the imported report is for
        s.add(PersonGroup(person_id=pia, group="jmac"))
        before = sorted(s.scalars(select(ProductAudience.principal)))
    await validations.decide(other, Verdict.VALIDATE, actor_id=pia, surface="local")
    with store.session() as s:  # an imported report keeps its own audience
        assert sorted(s.scalars(select(ProductAudience.principal))) == before
    assert "group:jmac" in before

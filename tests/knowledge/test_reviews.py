"""Reviews in the database: questions, the state machine, mentions, closing and proposals."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from knowledge.errors import DomainError
from knowledge.models import (
    Lesson,
    Product,
    ProposalStatus,
    ProposedAction,
    ReviewContributor,
    ReviewStatus,
    Role,
)
from knowledge.records import PersonRecord
from knowledge.reviews import (
    DEFAULT_QUESTIONS,
    AnswerView,
    Control,
    Member,
    Question,
    QuestionKind,
    Reviews,
    ReviewView,
    draft_product,
    find_owner,
    load_questions,
    split_recommendations,
    steer,
)
from knowledge.search.answer import Viewer
from knowledge.storage import Store

RUNNING, PAUSED = ReviewStatus.RUNNING, ReviewStatus.PAUSED
PEOPLE = [
    Member(1, "Amina Diallo", "amina@un.example", "U0AMINA", None, "MINUSCA", "UTC", 2),
    Member(2, "Ngozi Okafor", "ngozi@un.example", None, "aad-ngozi", "MINUSCA", "UTC", None),
    Member(3, "Tomás Herrera", "tomas@un.example", None, None, "MINUSCA", "UTC", None),
    Member(4, "Tomas Berg", "berg@un.example", None, None, "UNMISS", "UTC", None),
]


# Questions --------------------------------------------------------------------------------


def test_questions_are_stored_with_their_kind() -> None:
    for question in DEFAULT_QUESTIONS:
        assert Question.parse(question.stored()) == question
    assert Question.parse("Anything else? | really") == Question(
        QuestionKind.OTHER, "Anything else? | really"
    )
    assert [q.kind for q in DEFAULT_QUESTIONS] == [
        QuestionKind.EXPECTED,
        QuestionKind.ACTUAL,
        QuestionKind.WENT_WELL,
        QuestionKind.IMPROVE,
        QuestionKind.RECOMMEND,
    ]


def test_a_question_file(tmp_path: Path) -> None:
    path = tmp_path / "q.toml"
    path.write_text(
        '[[question]]\nkind = "improve"\ntext = "What  would you change?"\n'
        '[[question]]\ntext = "Anything else?"\n',
        encoding="utf-8",
    )

    assert load_questions(path) == (
        Question(QuestionKind.IMPROVE, "What would you change?"),
        Question(QuestionKind.OTHER, "Anything else?"),
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "could not be read"),
        ("[[question", "could not be read"),
        ("", "no \\[\\[question\\]\\] entries"),
        ('[[question]]\nkind = "why"\ntext = "Why?"', "question 1 needs a text and a kind"),
        ('[[question]]\ntext = ""', "question 1 needs a text"),
    ],
)
def test_a_bad_question_file_says_what_is_wrong(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "q.toml"
    if content is not None:
        path.write_text(content, encoding="utf-8")

    with pytest.raises(DomainError, match=message):
        load_questions(path)


# The state machine ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "step", "control", "after"),
    [
        (RUNNING, 0, Control.NEXT, (RUNNING, 1)),
        (RUNNING, 2, Control.SKIP, (RUNNING, 3)),
        (RUNNING, 2, Control.BACK, (RUNNING, 1)),
        (RUNNING, 2, Control.PAUSE, (PAUSED, 2)),
        (PAUSED, 2, Control.RESUME, (RUNNING, 2)),
        (PAUSED, 2, Control.CANCEL, (ReviewStatus.CANCELLED, 2)),
        (PAUSED, 2, Control.CLOSE, (ReviewStatus.CLOSED, 2)),
        (RUNNING, 4, Control.CLOSE, (ReviewStatus.CLOSED, 4)),
    ],
)
def test_moves(
    status: ReviewStatus, step: int, control: Control, after: tuple[ReviewStatus, int]
) -> None:
    assert steer(status, step, 5, control) == after


@pytest.mark.parametrize(
    ("status", "step", "control", "message"),
    [
        (RUNNING, 0, Control.BACK, "first question already"),
        (RUNNING, 4, Control.NEXT, "last question"),
        (RUNNING, 4, Control.SKIP, "last question"),
        (PAUSED, 1, Control.NEXT, "paused"),
        (PAUSED, 1, Control.BACK, "paused"),
        (PAUSED, 1, Control.PAUSE, "paused already"),
        (RUNNING, 1, Control.RESUME, "not paused"),
        (ReviewStatus.CLOSED, 1, Control.NEXT, "closed already"),
        (ReviewStatus.CANCELLED, 1, Control.RESUME, "cancelled already"),
        (ReviewStatus.SCHEDULED, 0, Control.NEXT, "scheduled already"),
    ],
)
def test_moves_that_are_refused(
    status: ReviewStatus, step: int, control: Control, message: str
) -> None:
    with pytest.raises(DomainError, match=message):
        steer(status, step, 5, control)


# Mentions and recommendations -------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "owner", "hint"),
    [
        ("amina@un.example to brief the team", 1, None),
        ("Ask @Amina@UN.example to brief the team.", 1, None),
        ("<@U0AMINA> to brief the team", 1, None),
        ("<@U0AMINA|amina> to brief the team", 1, None),
        ("<at>Ngozi Okafor</at> to sign it off", 2, None),
        ("@Tomás Herrera to print the checklist", 3, None),
        ("@tomas herrera to print the checklist", 3, None),
        ("@Tomas Hererra to print it", 3, None),
        ("@Ngozi to sign it off", 2, None),
        ("@Okafor to sign it off", 2, None),
        ("@Tomas to print it", None, "@Tomas"),  # two people are called Tomas
        ("@Bob Marley to fix the generators", None, "@Bob Marley"),
        ("<@U0NOBODY> to fix it", None, "<@U0NOBODY>"),
        ("bob@example.org should fix it", None, "bob@example.org"),
        ("Someone should stock spare batteries", None, None),
        ("@Ngozi and @Amina Diallo together", 2, None),
        ("Brief the drivers, owner Amina Diallo, by 15 January.", 1, None),
        ("Sign the SOP off (owner: Ngozi Okafor) within 2 weeks", 2, None),
        ("Print the checklist, assigned to Tomás Herrera.", 3, None),
        ("Brief the owner of the depot by Friday", None, None),  # not a person's name
    ],
)
def test_owners_from_mentions(sentence: str, owner: int | None, hint: str | None) -> None:
    found = find_owner(sentence, PEOPLE)

    assert (found.member.id if found.member else None, found.hint) == (owner, hint)


def test_recommendations_split_into_one_action_each() -> None:
    text = (
        "- @Amina to brief the team by 15 Jan. Ngozi signs it off.\n"
        "2) Stock spare batteries in each sector\n"
        "• ok\n\n"
        "* Test the radios within 2 weeks!"
    )

    assert split_recommendations(text) == [
        "@Amina to brief the team by 15 Jan.",
        "Ngozi signs it off.",
        "Stock spare batteries in each sector",
        "Test the radios within 2 weeks!",
    ]


def _view(questions: tuple[Question, ...] = DEFAULT_QUESTIONS) -> ReviewView:
    return ReviewView(
        id=7,
        event="Election day",
        platform="local",
        channel_id="c",
        thread_id="t",
        channel_name=None,
        facilitator_id=1,
        facilitator_name="Amina Diallo",
        status=RUNNING,
        questions=questions,
        step=0,
        starts_at=None,
        closed_at=None,
        product_id=None,
    )


def _answer(step: int, text: str, author: str | None = "Tomás Herrera") -> AnswerView:
    return AnswerView(
        id=step, step=step, text=text, author=author, anonymous=False, message_id=None
    )


def test_a_review_becomes_an_aar_product() -> None:
    answers = [
        _answer(0, "Stations open at 7."),
        _answer(1, "Twelve opened late."),
        _answer(2, "Observers knew the routes because they were briefed."),
        _answer(3, "Radios were never tested with the polling staff."),
        _answer(4, "@Amina to test every radio with polling staff by 15 Jan.", author=None),
    ]

    draft = draft_product(_view(), answers, PEOPLE[0], today=date(2026, 11, 25))

    record = draft.record
    assert record is not None
    assert (record.external_id, record.type.value, record.title) == (
        "review:7",
        "aar",
        "AAR: Election day",
    )
    assert (record.date, record.mission, record.authors) == (
        date(2026, 11, 25),
        "MINUSCA",
        ("amina@un.example",),
    )
    assert "Planned: Stations open at 7." in record.summary
    assert "## What actually happened?\n- Twelve opened late." in record.body
    assert "Tomás" not in record.body
    assert [lesson.title for lesson in record.lessons] == [
        "Went well: Observers knew the routes because they were briefed.",
        "To improve: Radios were never tested with the polling staff.",
    ]
    assert {lesson.status.value for lesson in record.lessons} == {"identified"}
    assert record.lessons[1].recommendation.startswith("@Amina to test every radio")
    assert record.lessons[0].recommendation == ""
    assert draft.recommendations == (
        ("@Amina to test every radio with polling staff by 15 Jan.", 1),
    )


def test_a_review_without_lessons_keeps_its_answers_in_one() -> None:
    questions = (Question(QuestionKind.ACTUAL, "What happened?"), Question(QuestionKind.OTHER, "?"))

    draft = draft_product(
        _view(questions), [_answer(0, "Rain."), _answer(1, "Mud.")], None, today=date(2026, 1, 1)
    )
    empty = draft_product(_view(), [], None, today=date(2026, 1, 1))

    assert draft.record is not None and draft.record.authors == ()
    assert [(lesson.title, lesson.lesson) for lesson in draft.record.lessons] == [
        ("Observations: Rain. Mud.", "Rain.\nMud.")
    ]
    assert empty.record is None


# The database -----------------------------------------------------------------------------


async def _people(store: Store, today: date) -> dict[str, int]:
    people = [
        PersonRecord("Ngozi Okafor", "ngozi@un.example", (Role.MANAGER,), "MINUSCA"),
        PersonRecord("Farida Rahimi", "farida@un.example", (Role.PBPO,), "MINUSCA"),
        PersonRecord(
            "Amina Diallo", "amina@un.example", mission="MINUSCA", manager_email="ngozi@un.example"
        ),
        PersonRecord("Tomás Herrera", "tomas@un.example", mission="MINUSCA"),
        PersonRecord("Lone Worker", "lone@un.example", mission="UNFICYP"),
    ]
    await store.import_records(list(enumerate(people, 1)), source="people")
    ids = {}
    for p in people:
        person = await store.person_by_email(p.email)
        assert person is not None
        ids[p.email.split("@")[0]] = person.id
    return ids


async def _start(reviews: Reviews, facilitator: int, thread: str | None = "t1") -> ReviewView:
    return await reviews.start(
        event="Election day",
        platform="local",
        channel_id="elections",
        thread_id=thread,
        channel_name="elections",
        facilitator_id=facilitator,
        questions=DEFAULT_QUESTIONS,
    )


async def test_answers_are_stored_with_contributors(store: Store, today: date) -> None:
    ids = await _people(store, today)
    reviews = Reviews(store)
    review = await _start(reviews, ids["amina"])

    first = await reviews.add_answer(review, step=0, text=" Seven. ", person_id=ids["tomas"])
    secret = await reviews.add_answer(
        review, step=0, text="Late.", person_id=ids["tomas"], anonymous=True, message_id="m9"
    )
    guest = await reviews.add_answer(review, step=1, text="Long queues.", person_id=None)
    again = await reviews.add_answer(review, step=1, text="No water.", person_id=None)

    assert (first.answer.text, first.answer.author, first.first_guest) == (
        "Seven.",
        "Tomás Herrera",
        False,
    )
    assert (secret.answer.author, secret.answer.anonymous, secret.answer.message_id) == (
        None,
        True,
        None,
    )
    assert (guest.first_guest, again.first_guest) == (True, False)
    with store.session() as s:
        assert s.scalars(select(ReviewContributor.person_id)).all() == [ids["tomas"]]
    with pytest.raises(DomainError, match="empty"):
        await reviews.add_answer(review, step=0, text="  ", person_id=None)
    with pytest.raises(DomainError, match="not part of this review"):
        await reviews.add_answer(review, step=5, text="Late.", person_id=None)


async def test_threads_hold_one_active_review(store: Store, today: date, now: datetime) -> None:
    ids = await _people(store, today)
    reviews = Reviews(store)
    review = await _start(reviews, ids["amina"])

    with pytest.raises(DomainError, match="still running in this thread"):
        await _start(reviews, ids["tomas"])
    found = await reviews.in_thread("local", "elections", "t1", closed_since=now)
    assert found is not None and found.id == review.id
    assert await reviews.in_thread("local", "elections", "t2", closed_since=now) is None
    assert await reviews.in_thread("slack", "elections", "t1", closed_since=now) is None

    await reviews.control(review.id, Control.CANCEL, actor_id=ids["amina"])
    assert await reviews.in_thread("local", "elections", "t1", closed_since=now) is not None
    later = now + timedelta(seconds=1)
    assert await reviews.in_thread("local", "elections", "t1", closed_since=later) is None
    assert (await _start(reviews, ids["tomas"])).id != review.id


async def test_a_channel_review_learns_its_thread(store: Store, today: date, now: datetime) -> None:
    ids = await _people(store, today)
    reviews = Reviews(store)
    review = await _start(reviews, ids["amina"], thread=None)

    assert review.thread_id is None
    await reviews.posted(review.id, "p-1")

    found = await reviews.in_thread("local", "elections", "p-1", closed_since=now)
    assert found is not None and found.id == review.id


async def test_scheduled_reviews_start_when_due(store: Store, today: date, now: datetime) -> None:
    ids = await _people(store, today)
    reviews = Reviews(store)
    scheduled = await reviews.start(
        event="Convoy",
        platform="local",
        channel_id="logistics",
        thread_id=None,
        channel_name=None,
        facilitator_id=ids["tomas"],
        questions=DEFAULT_QUESTIONS,
        starts_at=now + timedelta(hours=2),
    )

    assert scheduled.status == ReviewStatus.SCHEDULED
    assert await reviews.due(now) == []
    assert [r.id for r in await reviews.due(now + timedelta(hours=2))] == [scheduled.id]
    begun = await reviews.begin(scheduled.id)
    assert (begun.status, begun.step) == (RUNNING, 0)
    with pytest.raises(DomainError, match="not scheduled"):
        await reviews.begin(scheduled.id)


async def test_edits_touch_only_active_reviews(store: Store, today: date) -> None:
    ids = await _people(store, today)
    reviews = Reviews(store)
    review = await _start(reviews, ids["amina"])
    await reviews.add_answer(review, step=0, text="Seven.", person_id=None, message_id="m1")

    assert await reviews.edit_answer("local", "elections", "nope", "x") is None
    assert await reviews.edit_answer("local", "other-channel", "m1", "x") is None
    changed = await reviews.edit_answer("local", "elections", "m1", "Eight.")
    assert changed is not None and changed.applied
    assert [a.text for a in await reviews.answers(review.id)] == ["Eight."]

    await reviews.close(review.id, actor_id=ids["amina"], viewer=Viewer(None))
    closed = await reviews.edit_answer("local", "elections", "m1", None)
    assert closed is not None and not closed.applied
    assert [a.text for a in await reviews.answers(review.id)] == ["Eight."]


async def _closing_review(store: Store, ids: dict[str, int]) -> tuple[Reviews, ReviewView]:
    reviews = Reviews(store)
    review = await _start(reviews, ids["amina"])
    await reviews.add_answer(review, step=3, text="Test radios earlier.", person_id=ids["tomas"])
    await reviews.add_answer(
        review,
        step=4,
        text="tomas@un.example to test the radios by 15 Jan. @Bob to buy batteries.",
        person_id=ids["amina"],
    )
    return reviews, review


async def test_closing_twice_at_once_proposes_once(store: Store, today: date) -> None:
    ids = await _people(store, today)
    reviews, review = await _closing_review(store, ids)

    first, second = await asyncio.gather(
        reviews.close(review.id, actor_id=ids["amina"], viewer=Viewer(None)),
        reviews.close(review.id, actor_id=ids["amina"], viewer=Viewer(None)),
        return_exceptions=True,
    )

    lost = [c for c in (first, second) if isinstance(c, BaseException)]
    # The second close finds the review closed, or being closed (when both checked at once).
    assert len(lost) == 1 and isinstance(lost[0], DomainError), lost
    assert "closed already" in str(lost[0])
    with store.session() as s:
        proposals = s.scalars(select(ProposedAction).order_by(ProposedAction.id)).all()
        assert [(p.status, p.owner_hint) for p in proposals] == [
            (ProposalStatus.PROPOSED, None),
            (ProposalStatus.DRAFT, "@Bob"),
        ]
        assert s.scalars(select(Product.external_id)).all() == [f"review:{review.id}"]
        [lesson] = s.scalars(select(Lesson)).all()
        assert {p.lesson_id for p in proposals} == {lesson.id}
    with pytest.raises(DomainError, match="closed already"):
        await reviews.close(review.id, actor_id=ids["amina"], viewer=Viewer(None))


async def test_who_validates(store: Store, today: date) -> None:
    ids = await _people(store, today)
    reviews, review = await _closing_review(store, ids)

    closing = await reviews.close(review.id, actor_id=ids["amina"], viewer=Viewer(None))
    assert closing.validator is not None and closing.validator.name == "Ngozi Okafor"

    for facilitator, validator in (("tomas", "Farida Rahimi"), ("lone", None)):
        other = await reviews.start(
            event="Other",
            platform="local",
            channel_id=facilitator,
            thread_id="t",
            channel_name=None,
            facilitator_id=ids[facilitator],
            questions=DEFAULT_QUESTIONS,
        )
        await reviews.add_answer(other, step=1, text="It rained.", person_id=None)
        done = await reviews.close(other.id, actor_id=ids[facilitator], viewer=Viewer(None))
        assert (done.validator.name if done.validator else None) == validator


async def test_proposals_belong_to_their_owner(store: Store, today: date) -> None:
    ids = await _people(store, today)
    reviews, review = await _closing_review(store, ids)
    closing = await reviews.close(review.id, actor_id=ids["amina"], viewer=Viewer(None))
    proposed, draft = closing.proposals

    with pytest.raises(DomainError, match="proposed to Tomás Herrera: only they can accept"):
        await reviews.accept(proposed.id, actor_id=ids["amina"])
    with pytest.raises(DomainError, match="still a draft"):
        await reviews.accept(draft.id, actor_id=ids["tomas"])
    with pytest.raises(DomainError, match="Only Amina Diallo or the proposed owner"):
        await reviews.assign(draft.id, actor_id=ids["tomas"], owner_id=ids["tomas"], due=today)
    with pytest.raises(DomainError, match="in the past"):
        await reviews.redate(proposed.id, actor_id=ids["tomas"], due=today - timedelta(days=1))
    with pytest.raises(DomainError, match="Say briefly why"):
        await reviews.decline(proposed.id, actor_id=ids["tomas"], reason=" ")

    assigned = await reviews.assign(
        draft.id, actor_id=ids["amina"], owner_id=ids["tomas"], due=today, description="Buy AA."
    )
    accepted = await reviews.accept(proposed.id, actor_id=ids["tomas"])

    assert (assigned.status, assigned.owner_name, assigned.description) == (
        ProposalStatus.PROPOSED,
        "Tomás Herrera",
        "Buy AA.",
    )
    assert accepted.status == ProposalStatus.ACCEPTED and accepted.action_id is not None
    assert accepted.due_date == date(2027, 1, 15)


def test_the_fixed_clock_is_what_these_tests_expect(now: datetime) -> None:
    assert now == datetime(2026, 11, 25, 12, tzinfo=UTC)


async def test_a_review_whose_record_fails_to_save_stays_open(
    store: Store, today: date, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await _people(store, today)
    reviews, review = await _closing_review(store, ids)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "import_records", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        await reviews.close(review.id, actor_id=ids["amina"], viewer=Viewer(None))

    after = await reviews.get(review.id)
    assert (after.status, after.closed_at) == (RUNNING, None)
    assert len(await reviews.answers(review.id)) == 2
    monkeypatch.undo()
    closing = await reviews.close(review.id, actor_id=ids["amina"], viewer=Viewer(None))
    assert closing.product_id is not None and len(closing.proposals) == 2

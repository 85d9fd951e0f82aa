"""SQLAlchemy 2.x models of the lessons index and their enums."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class ProductType(StrEnum):
    """The five knowledge products of the policy."""

    AAR = "aar"
    EOAR = "eoar"
    PRACTICE_NOTE = "practice_note"
    SURVEY_OF_PRACTICE = "survey_of_practice"
    LESSONS_LEARNED_STUDY = "lessons_learned_study"
    NOTE = "note"  # a lesson captured in chat ("Save as lesson", /lessons new)

    @property
    def label(self) -> str:
        """Return the name people use for this product type."""
        return _PRODUCT_LABELS[self]


_PRODUCT_LABELS = {
    ProductType.AAR: "After-Action Review",
    ProductType.EOAR: "End of Assignment Report",
    ProductType.PRACTICE_NOTE: "Practice Note",
    ProductType.SURVEY_OF_PRACTICE: "Survey of Practice",
    ProductType.LESSONS_LEARNED_STUDY: "Lessons Learned Study",
    ProductType.NOTE: "Lesson note",
}


class ProductStatus(StrEnum):
    """Publication state of a knowledge product."""

    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class LessonStatus(StrEnum):
    """Where a lesson stands: a lesson is only learned once it is applied."""

    IDENTIFIED = "identified"
    VALIDATED = "validated"
    APPLIED = "applied"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"  # taken back, with a reason: kept, but no longer in answers


class ActionStatus(StrEnum):
    """State of a follow-up action."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    DONE = "done"
    NOT_DOING = "not_doing"

    @property
    def is_closed(self) -> bool:
        """Return True when nothing more is expected of the owner."""
        return self in (ActionStatus.DONE, ActionStatus.NOT_DOING)


class ReviewStatus(StrEnum):
    """State of an After-Action Review (or an EoAR interview) conversation."""

    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    CLOSED = "closed"
    CANCELLED = "cancelled"

    @property
    def is_active(self) -> bool:
        """Return True while the review still takes answers or can be resumed."""
        return self in (ReviewStatus.RUNNING, ReviewStatus.PAUSED)


class ProposalStatus(StrEnum):
    """State of an action proposed by a review, until its owner accepts it."""

    DRAFT = "draft"  # owner or date unclear: the facilitator completes it
    PROPOSED = "proposed"  # sent to its owner
    ACCEPTED = "accepted"  # became an open action
    DECLINED = "declined"


class Role(StrEnum):
    """What a person may do; some roles are scoped to a mission."""

    STAFF = "staff"
    MANAGER = "manager"
    PBPO = "pbpo"
    MISSION_LEADER = "mission_leader"
    ADMIN = "admin"


def _enum(cls: type[StrEnum], name: str) -> Enum:
    """Store an enum by its value, as a portable VARCHAR with a CHECK constraint."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime on every backend, stored in UTC.

    SQLite keeps no offset: without this, values written aware come back naive there (and an
    aware value in another zone would lose its offset), while PostgreSQL returns them aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store datetimes in UTC (a naive one is taken to be UTC already)."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return stored values as aware UTC datetimes."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table of the lessons index."""


class Person(Base):
    """A member of staff, with their platform identities and place in the organisation."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    slack_user_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    teams_aad_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    mission: Mapped[str | None] = mapped_column(String(100))
    assignment_end: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    roles: Mapped[list[PersonRole]] = relationship(
        back_populates="person", cascade="all, delete-orphan", lazy="selectin"
    )
    groups: Mapped[list[PersonGroup]] = relationship(
        back_populates="person", cascade="all, delete-orphan", lazy="selectin"
    )
    manager: Mapped[Person | None] = relationship(remote_side=[id])


class PersonRole(Base):
    """A role held by a person, optionally scoped to one mission or office."""

    __tablename__ = "person_roles"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(100), primary_key=True, default="")

    person: Mapped[Person] = relationship(back_populates="roles")


class PersonGroup(Base):
    """Membership of a named group, used by restricted audiences ("group:<name>")."""

    __tablename__ = "person_groups"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    group: Mapped[str] = mapped_column(String(100), primary_key=True)

    person: Mapped[Person] = relationship(back_populates="groups")


class Product(Base):
    """A knowledge product: AAR, EoAR, Practice Note, Survey of Practice or study."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    type: Mapped[ProductType] = mapped_column(_enum(ProductType, "product_type"))
    title: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    date: Mapped[date | None] = mapped_column(Date)
    mission: Mapped[str | None] = mapped_column(String(100))
    source_url: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[ProductStatus] = mapped_column(
        _enum(ProductStatus, "product_status"), default=ProductStatus.PUBLISHED
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    lessons: Mapped[list[Lesson]] = relationship(
        back_populates="product",
        cascade="all, delete-orphan",
        order_by="Lesson.position",
    )
    themes: Mapped[list[ProductTheme]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    authors: Mapped[list[ProductAuthor]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ProductAuthor.position"
    )
    audience: Mapped[list[ProductAudience]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (
        Index("ix_products_mission", "mission"),
        Index("ix_products_date", "date"),
    )


class ProductTheme(Base):
    """A cross-cutting theme of a product (gender, WPS, human rights, protection, youth, …)."""

    __tablename__ = "product_themes"

    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    theme: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_product_themes_theme", "theme", "product_id"),)


class ProductAuthor(Base):
    """An author of a product, in the order given."""

    __tablename__ = "product_authors"

    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)

    person: Mapped[Person] = relationship(lazy="joined")


class ProductAudience(Base):
    """One principal allowed to see a restricted product ("group:x", "channel:y", "person:e")."""

    __tablename__ = "product_audience"

    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    principal: Mapped[str] = mapped_column(String(200), primary_key=True)


class AudienceLink(Base):
    """A conversation, by its platform identity, that opens an audience named by name.

    A restricted audience may name a channel ("channel:elections-team"): the name alone opens
    nothing. A PBPO links it, from inside the channel, to that channel's platform identity (its
    `space`: "slack:<team or enterprise id>:<channel id>", "teams:<tenant>:<team>:<channel>",
    "teams:<tenant>:chat:<conversation id>", "local:<channel id>"); only a conversation with a
    linked identity then holds the audience's principal.
    """

    __tablename__ = "audience_links"

    audience: Mapped[str] = mapped_column(String(200), primary_key=True)
    space: Mapped[str] = mapped_column(String(300), primary_key=True)
    channel_name: Mapped[str | None] = mapped_column(String(100))
    linked_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_audience_links_space", "space"),)


class Lesson(Base):
    """One lesson inside a product: observation → lesson → recommendation."""

    __tablename__ = "lessons"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str | None] = mapped_column(String(500))
    observation: Mapped[str] = mapped_column(Text, default="")
    lesson: Mapped[str] = mapped_column(Text, default="")
    recommendation: Mapped[str] = mapped_column(Text, default="")
    # ISO 639-1 code of one of the six UN languages: given at import, else detected.
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    status: Mapped[LessonStatus] = mapped_column(
        _enum(LessonStatus, "lesson_status"), default=LessonStatus.IDENTIFIED
    )
    identified_at: Mapped[datetime] = mapped_column(UtcDateTime())
    validated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    rejected_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    validated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    product: Mapped[Product] = relationship(back_populates="lessons")
    actions: Mapped[list[Action]] = relationship(
        back_populates="lesson", cascade="all, delete-orphan", order_by="Action.id"
    )

    __table_args__ = (
        UniqueConstraint("product_id", "position", name="uq_lessons_product_position"),
        Index("ix_lessons_status", "status"),
    )


class Action(Base):
    """A follow-up action on a lesson's recommendation, with an owner and a due date."""

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    description: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    due_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[ActionStatus] = mapped_column(
        _enum(ActionStatus, "action_status"), default=ActionStatus.OPEN
    )
    notes: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    lesson: Mapped[Lesson] = relationship(back_populates="actions")
    owner: Mapped[Person | None] = relationship(lazy="joined")

    __table_args__ = (
        Index("ix_actions_owner_status", "owner_id", "status"),
        Index("ix_actions_due", "status", "due_date"),
    )


class LessonEvent(Base):
    """An audit record of one lifecycle transition of a lesson."""

    __tablename__ = "lesson_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_lesson_events_lesson", "lesson_id"),)


class SearchWord(Base):
    """A surface word of the index with its document frequency, for typo correction."""

    __tablename__ = "search_words"

    word: Mapped[str] = mapped_column(String(64), primary_key=True)
    df: Mapped[int] = mapped_column(Integer, default=0)


class SearchTerm(Base):
    """A stemmed index term with its document frequency, for query planning and BM25."""

    __tablename__ = "search_terms"

    term: Mapped[str] = mapped_column(Text, primary_key=True)
    df: Mapped[int] = mapped_column(Integer, default=0)


class Meta(Base):
    """Small key/value facts about the index (document count, average length, version)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ImportRun(Base):
    """A record of one import: which file, how many products, when."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(1000))
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class Question(Base):
    """A question someone asked, with how many lessons answered it (for "no good answer")."""

    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    platform: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    normalized: Mapped[str] = mapped_column(String(300))
    hits: Mapped[int] = mapped_column(Integer, default=0)
    asked_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Where it was answered (a follow-up in the same thread refines it); None in older rows.
    channel_id: Mapped[str | None] = mapped_column(String(100))
    thread_id: Mapped[str | None] = mapped_column(String(100))
    # Whether its answer found something good (the search's judge); None in older rows.
    answered: Mapped[bool | None] = mapped_column(Boolean)

    __table_args__ = (
        Index("ix_questions_normalized", "normalized"),
        Index("ix_questions_asked_at", "asked_at"),
        Index("ix_questions_thread", "platform", "channel_id", "thread_id"),
    )


class QuestionLesson(Base):
    """A lesson given in the answer to a logged question: how often lessons are reused."""

    __tablename__ = "question_lessons"

    question_id: Mapped[int] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True
    )
    lesson_id: Mapped[int] = mapped_column(
        ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True
    )
    rank: Mapped[int] = mapped_column(Integer)  # 1: the first lesson of the answer

    __table_args__ = (Index("ix_question_lessons_lesson", "lesson_id"),)


def _anonymous_voter() -> str:
    """Return a voter of its own for a vote written without one (imports, fixtures)."""
    return f"anonymous:{uuid.uuid4().hex}"


class Referral(Base):
    """A question handed to a colleague (*Ask a colleague*), and their answer when it came."""

    __tablename__ = "question_referrals"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    asked_at: Mapped[datetime] = mapped_column(UtcDateTime())
    answer: Mapped[str | None] = mapped_column(Text)
    # A lesson the colleague pointed to instead of (or with) a line of their own.
    lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lessons.id", ondelete="SET NULL"))
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The lesson note the asker saved the answer as (identified), once.
    note_id: Mapped[int | None] = mapped_column(ForeignKey("lessons.id", ondelete="SET NULL"))

    __table_args__ = (
        UniqueConstraint("question_id", "person_id", name="uq_question_referrals_person"),
        Index("ix_question_referrals_person", "person_id"),
    )


class Feedback(Base):
    """A helpful / not helpful vote on a lesson given as an answer; one per person and lesson."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id", ondelete="SET NULL"))
    helpful: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Who voted: "person:<id>", or the platform's id of someone outside the directory (a local
    # chat guest's session): one vote per voter and lesson, whatever the replicas (0014).
    voter: Mapped[str] = mapped_column(String(200), default=_anonymous_voter, server_default="")
    # The kind of question it was cast on: the question's analysed terms (`knowledge.votes`);
    # None until analysed (votes cast before migration 0080).
    kind: Mapped[str | None] = mapped_column(String(300))

    __table_args__ = (
        Index("ix_feedback_lesson", "lesson_id"),
        Index("ix_feedback_person_lesson", "person_id", "lesson_id"),
        Index("uq_feedback_voter_lesson", "voter", "lesson_id", unique=True),
    )


class Review(Base):
    """An After-Action Review (or EoAR interview) run as a conversation in a thread."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="aar")
    event: Mapped[str] = mapped_column(String(300))
    platform: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str] = mapped_column(String(100))
    thread_id: Mapped[str | None] = mapped_column(String(100))
    channel_name: Mapped[str | None] = mapped_column(String(100))
    space: Mapped[str | None] = mapped_column(String(300))  # the channel's platform identity
    facilitator_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    status: Mapped[ReviewStatus] = mapped_column(
        _enum(ReviewStatus, "review_status"), default=ReviewStatus.RUNNING
    )
    questions: Mapped[list[str]] = mapped_column(JSON, default=list)
    step: Mapped[int] = mapped_column(Integer, default=0)
    step_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))

    answers: Mapped[list[ReviewAnswer]] = relationship(
        back_populates="review", cascade="all, delete-orphan", order_by="ReviewAnswer.id"
    )
    proposals: Mapped[list[ProposedAction]] = relationship(
        back_populates="review", cascade="all, delete-orphan", order_by="ProposedAction.id"
    )

    __table_args__ = (
        Index("ix_reviews_thread", "platform", "channel_id", "thread_id"),
        Index("ix_reviews_status", "status"),
    )


class ReviewAnswer(Base):
    """One answer to one question of a review; anonymous answers keep no author."""

    __tablename__ = "review_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    text: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    review: Mapped[Review] = relationship(back_populates="answers")

    __table_args__ = (
        Index("ix_review_answers_review", "review_id", "step"),
        Index("ix_review_answers_message", "message_id"),
    )


class ReviewContributor(Base):
    """Who took part in a review (also for anonymous answers), without linking them to answers."""

    __tablename__ = "review_contributors"

    review_id: Mapped[int] = mapped_column(
        ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )


class ReviewParticipant(Base):
    """Someone a review expects to hear from (mentioned, invited, or who spoke in its thread).

    Whether they answered is `review_contributors`; `nudged_at` records the one private reminder
    a review may send them, so a restart or a second replica never sends it twice.
    """

    __tablename__ = "review_participants"

    review_id: Mapped[int] = mapped_column(
        ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    nudged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ProposedAction(Base):
    """A recommendation of a review turned into a draft action, until its owner accepts it."""

    __tablename__ = "proposed_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None: proposed on a lesson directly ("Add actions"), by `proposed_by_id`.
    review_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"))
    lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    description: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    owner_hint: Mapped[str | None] = mapped_column(String(200))
    due_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[ProposalStatus] = mapped_column(
        _enum(ProposalStatus, "proposal_status"), default=ProposalStatus.DRAFT
    )
    note: Mapped[str | None] = mapped_column(Text)
    action_id: Mapped[int | None] = mapped_column(ForeignKey("actions.id", ondelete="SET NULL"))
    proposed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL", name="fk_proposed_actions_proposed_by")
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    review: Mapped[Review | None] = relationship(back_populates="proposals")
    owner: Mapped[Person | None] = relationship(lazy="joined", foreign_keys=[owner_id])

    __table_args__ = (
        Index("ix_proposed_actions_owner", "owner_id", "status"),
        Index("ix_proposed_actions_lesson", "lesson_id", "status"),
    )


class ProcessedEvent(Base):
    """A platform event already handled: redeliveries (Slack retries) are recognised by id."""

    __tablename__ = "processed_events"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_processed_events_received", "received_at"),)


class InboxItem(Base):
    """A platform event, interaction or activity, kept from before its ack until it is handled.

    The transactional inbox (issue 21): written before Slack or Teams hears "got it", unique by
    the platform's id for it; `done_at` is set once its effect is made. Rows not done are
    handled again after a crash (`lease_until` says until when a process is on it).
    """

    __tablename__ = "inbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    meta: Mapped[str] = mapped_column(Text, default="")  # JSON: content type, claims…
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("platform", "key", name="uq_inbox_platform_key"),
        Index("ix_inbox_pending", "done_at", "lease_until"),
        Index("ix_inbox_received", "received_at"),
    )


class PendingNotice(Base):
    """A message the bot owed someone and could not post: their platform was not answering.

    Written when an answer and the apology for it both failed (issue 21, finding 5); the
    scheduler posts it once the platform answers again (`scheduler.notices`), and the PBPO
    digest lists those still undelivered. `lease_until` says until when a replica is on it.
    """

    __tablename__ = "pending_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(16))
    user_key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_pending_notices_due", "delivered_at", "next_attempt_at"),)


class ChatMessage(Base):
    """A message of the local web chat: kept so a reload or restart shows the conversation."""

    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(100))
    thread_id: Mapped[int | None] = mapped_column(Integer)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    visible_to: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_chat_messages_channel", "channel", "thread_id", "id"),)


# --- Scheduler (issue 7): timers, the notification ledger, reminder preferences ---------------
# Durable state of reminders and digests; APScheduler only ticks. See scheduler/ and 0006.


class NotificationStatus(StrEnum):
    """Where one planned notification stands in the ledger."""

    PLANNED = "planned"  # waiting for its time (next_attempt_at)
    CLAIMED = "claimed"  # a replica is delivering it until lease_until
    SENT = "sent"  # the platform confirmed delivery
    FAILED = "failed"  # the last attempt failed; retried at next_attempt_at
    SKIPPED = "skipped"  # no longer due, stale, or nobody to send it to (last_error says)

    @property
    def is_pending(self) -> bool:
        """Return True while the notification may still be delivered."""
        return self in PENDING_NOTIFICATIONS


PENDING_NOTIFICATIONS = (
    NotificationStatus.PLANNED,
    NotificationStatus.CLAIMED,
    NotificationStatus.FAILED,
)


class DeliveryMode(StrEnum):
    """How a person likes their reminders."""

    INSTANT = "instant"  # as soon as due, within working hours
    DAILY = "daily"  # gathered into one message a day, at their digest time


class SchedulerTimer(Base):
    """A person's next moment of work for the scheduler, in UTC: a tick reads only due ones.

    `daily`: their next working-hours slot, when their reminders are planned; `planned_on` is
    the local day last planned, so a plan looks only at what became due since. `deliver`: when
    something planned for them is due; claimed with a lease, so one replica sends one message.
    """

    __tablename__ = "scheduler_timers"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_at: Mapped[datetime] = mapped_column(UtcDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    planned_on: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (Index("ix_scheduler_timers_due", "kind", "next_at"),)


class Notification(Base):
    """The ledger: one row per (kind, subject, recipient, period), planned once, sent once.

    Its key, "<kind>:<subject>:<recipient>:<period>" (e.g. "nudge:12:7:2026-11-20+3"), is the
    unique constraint `uq_scheduler_notifications_key`, ordered kind and period first: a day's
    plan writes into a few places of the index, not one per person. A row is marked sent only
    after the platform confirmed; `delivery` is the key the message carried, so a retry after
    an unknown outcome looks for it first.
    """

    __tablename__ = "scheduler_notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(Integer)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(40))
    status: Mapped[NotificationStatus] = mapped_column(
        _enum(NotificationStatus, "notification_status"), default=NotificationStatus.PLANNED
    )
    slot_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    delivery: Mapped[str | None] = mapped_column(String(80))
    last_error: Mapped[str | None] = mapped_column(Text)
    platform: Mapped[str | None] = mapped_column(String(16))
    message_ref: Mapped[str | None] = mapped_column(String(100))
    planned_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint(
            "kind", "period", "subject_id", "recipient_id", name="uq_scheduler_notifications_key"
        ),
    )

    @property
    def key(self) -> str:
        """Return the notification's key: "<kind>:<subject>:<recipient>:<period>"."""
        return f"{self.kind}:{self.subject_id}:{self.recipient_id}:{self.period}"


# Only pending rows are indexed for delivery: sent ones pile up and are never looked up by time.
Index(
    "ix_scheduler_notifications_pending",
    Notification.recipient_id,
    Notification.next_attempt_at,
    postgresql_where=Notification.status.in_(PENDING_NOTIFICATIONS),
    sqlite_where=Notification.status.in_(PENDING_NOTIFICATIONS),
)


class ReminderPreference(Base):
    """How and when one person wants reminders; no row means the organisation's defaults."""

    __tablename__ = "reminder_preferences"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    delivery: Mapped[DeliveryMode] = mapped_column(
        _enum(DeliveryMode, "delivery_mode"), default=DeliveryMode.INSTANT
    )
    digest_at: Mapped[str | None] = mapped_column(String(5))  # "16:00", daily digests
    muted: Mapped[bool] = mapped_column(Boolean, default=False)  # non-essential reminders
    snoozed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    away_from: Mapped[date | None] = mapped_column(Date)  # leave, inclusive, local dates
    away_until: Mapped[date | None] = mapped_column(Date)
    work_hours: Mapped[str | None] = mapped_column(String(11))  # "08:00-16:00"
    work_days: Mapped[str | None] = mapped_column(String(40))  # "sun-thu"
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ActionNudge(Base):
    """Nudges about an action its owner has not answered yet (the manager hears after K)."""

    __tablename__ = "scheduler_action_nudges"

    action_id: Mapped[int] = mapped_column(
        ForeignKey("actions.id", ondelete="CASCADE"), primary_key=True
    )
    owner_id: Mapped[int] = mapped_column(Integer)
    unanswered: Mapped[int] = mapped_column(Integer, default=0)
    since: Mapped[datetime] = mapped_column(UtcDateTime())  # the action's updated_at then
    last_at: Mapped[datetime] = mapped_column(UtcDateTime())

    # The planner reads only the actions an owner left unanswered K times (escalations).
    __table_args__ = (Index("ix_scheduler_action_nudges_owner", "owner_id", "unanswered"),)


class UnreachablePerson(Base):
    """Someone no chat platform could reach: listed in the PBPO digest, looked up again daily."""

    __tablename__ = "scheduler_unreachable"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    since: Mapped[datetime] = mapped_column(UtcDateTime())
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime())
    platforms: Mapped[str] = mapped_column(String(100), default="")


class SchedulerJob(Base):
    """A periodic job of the whole organisation (timer sync, follow-ups, clean-up): when next."""

    __tablename__ = "scheduler_jobs"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_at: Mapped[datetime] = mapped_column(UtcDateTime())


# A digest finds a manager's people, and the planner asks who manages anyone, by this index.
Index("ix_people_manager", Person.manager_id)
# The planner reads each owner's open actions by due date; this index answers it alone, without
# visiting the actions table (one owner's actions are scattered across it).
Index(
    "ix_actions_owner_due",
    Action.owner_id,
    Action.status,
    Action.due_date,
    Action.updated_at,
    postgresql_include=["id"],
)
# After a first plan the planner reads only the due dates that reached a new nudge point, and
# the actions changed since (migration 0012).
OPEN_ACTIONS = (ActionStatus.OPEN, ActionStatus.IN_PROGRESS)
Index(
    "ix_actions_open_due",
    Action.due_date,
    Action.owner_id,
    postgresql_where=Action.status.in_(OPEN_ACTIONS),
    sqlite_where=Action.status.in_(OPEN_ACTIONS),
    postgresql_include=["id"],
)
Index("ix_actions_updated", Action.updated_at)
# End-of-assignment reminders and departures look only at the few people whose assignment ends;
# the PBPO digests at the few PBPOs (migration 0012).
Index(
    "ix_people_assignment_end",
    Person.assignment_end,
    postgresql_where=Person.assignment_end.is_not(None),
    sqlite_where=Person.assignment_end.is_not(None),
)
Index("ix_person_roles_role", PersonRole.role, PersonRole.person_id)


class TeamsReference(Base):
    """A Teams conversation the bot may post to later: the SDK's conversation reference.

    Saved on install (`conversationUpdate`) and on every interaction; a channel is kept under
    its own id (without `;messageid=`), so that any thread of it can be posted to.
    """

    __tablename__ = "teams_references"

    conversation_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # personal, groupChat or channel
    user_aad_id: Mapped[str | None] = mapped_column(String(64), index=True)  # personal chats
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    team_id: Mapped[str | None] = mapped_column(String(256))
    service_url: Mapped[str] = mapped_column(String(512))
    reference: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)  # SDK item
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TeamsUser(Base):
    """A Teams user the bot has seen, by Entra object id: how to open a personal chat."""

    __tablename__ = "teams_users"

    aad_object_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(256))  # the Teams id, "29:…"
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    service_url: Mapped[str] = mapped_column(String(512))
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TeamsSent(Base):
    """A reminder Teams confirmed, by delivery key (`Notifier.find`: Teams keeps no history)."""

    __tablename__ = "teams_sent"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    user_aad_id: Mapped[str] = mapped_column(String(64))
    activity_id: Mapped[str] = mapped_column(String(256))
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


# --- Roles and audit (issue 9): who changed what, when, from which surface --------------------


class AuditEvent(Base):
    """One change to a lesson, action, role or product: who, when, what, from which surface.

    `before` and `after` summarise the fields that changed (JSON); rows are only ever added.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    surface: Mapped[str] = mapped_column(String(16))  # slack, teams, local, cli, system
    operation: Mapped[str] = mapped_column(String(40))
    subject_kind: Mapped[str] = mapped_column(String(16))  # lesson, action, person, product
    subject_id: Mapped[int] = mapped_column(Integer)
    before: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_subject", "subject_kind", "subject_id", "at"),
    )


# --- Good practices (issue 9): promotions, search curation, priority, practice of the week ----


class EvidenceLevel(StrEnum):
    """How far a lesson's evidence goes, from one source to guidance."""

    OBSERVATION = "observation"  # one source, not validated yet
    LESSON = "lesson"  # validated (or applied) by a manager or PBPO
    GOOD_PRACTICE = "good_practice"  # promoted by a PBPO, with a scope and a review date
    GUIDANCE = "guidance"  # promoted as guidance

    @property
    def label(self) -> str:
        """Return the level as people say it."""
        return self.value.replace("_", " ")


class SearchRanking(StrEnum):
    """What a PBPO decided about a lesson's place in search."""

    NORMAL = "normal"
    BOOST = "boost"
    DOWN = "down"  # down-ranked
    HIDDEN = "hidden"  # out of answers (kept on record, still reachable by its number)


class Promotion(Base):
    """A lesson promoted to a good practice (or guidance): why, for whom, where, until when.

    An unpromotion keeps the row and fills `ended_*`; nothing is deleted.
    """

    __tablename__ = "promotions"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    level: Mapped[EvidenceLevel] = mapped_column(_enum(EvidenceLevel, "evidence_level"))
    why: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(200), default="")
    audience: Mapped[str] = mapped_column(String(200), default="")  # "" everyone, or a principal
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)  # "platform:channel id"
    review_on: Mapped[date] = mapped_column(Date)
    promoted_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    promoted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_why: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_promotions_lesson", "lesson_id", "ended_at"),)


class LessonCuration(Base):
    """A PBPO's decisions about one lesson: its place in search and whether it is a priority."""

    __tablename__ = "lesson_curation"

    lesson_id: Mapped[int] = mapped_column(
        ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True
    )
    ranking: Mapped[SearchRanking] = mapped_column(
        _enum(SearchRanking, "search_ranking"), default=SearchRanking.NORMAL
    )
    ranking_why: Mapped[str | None] = mapped_column(Text)
    ranked_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    ranked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    priority: Mapped[bool] = mapped_column(Boolean, default=False)
    priority_why: Mapped[str | None] = mapped_column(Text)
    prioritised_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL")
    )
    prioritised_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_lesson_curation_ranking", "ranking"),
        Index("ix_lesson_curation_priority", "priority"),
    )


class VoteUndo(Base):
    """A PBPO's undo of what votes do to a lesson in search, for one kind of question ('' for
    every kind); `restored_at` set: the undo was itself undone (`knowledge.votes`)."""

    __tablename__ = "vote_undos"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(300))
    why: Mapped[str | None] = mapped_column(Text)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    undone_at: Mapped[datetime] = mapped_column(UtcDateTime())
    restored_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    restored_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_vote_undos_lesson", "lesson_id", "restored_at"),)


class PracticeChannel(Base):
    """A channel that gets a practice of the week (`active` False: stopped, kept on record)."""

    __tablename__ = "practice_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str] = mapped_column(String(256))
    channel_name: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("platform", "channel_id", name="uq_practice_channels_channel"),
    )


class PracticePost(Base):
    """The ledger of the practice of the week: one row per channel and week, claimed once."""

    __tablename__ = "practice_posts"

    channel_ref: Mapped[int] = mapped_column(
        ForeignKey("practice_channels.id", ondelete="CASCADE"), primary_key=True
    )
    period: Mapped[str] = mapped_column(String(16), primary_key=True)  # "2026-W49"
    lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))  # claimed, sent, failed, empty
    at: Mapped[datetime] = mapped_column(UtcDateTime())

"""A small world for scheduler tests: people, lessons and actions, and a recording notifier."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, insert, select

from handlers.chat import ConversationRef, Reply, UserRef
from knowledge.models import (
    Action,
    ActionStatus,
    Lesson,
    LessonStatus,
    Notification,
    NotificationStatus,
    Person,
    PersonRole,
    Product,
    ProductAuthor,
    ProductType,
    ReminderPreference,
    Role,
)
from knowledge.storage import Store
from scheduler.clock import ManualClock
from scheduler.config import SchedulerSettings
from scheduler.jobs import Scheduler

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Sent:
    """One message a notifier delivered."""

    to: UserRef
    reply: Reply
    ref: str

    @property
    def text(self) -> str:
        return self.reply.fallback


@dataclass
class Recorder:
    """A Notifier that keeps what it sends; it can be told to fail, before or after sending."""

    platform: str = "local"
    sent: list[Sent] = field(default_factory=list)
    fail_before: int = 0  # the next N sends raise without delivering
    fail_after: int = 0  # the next N sends deliver, then raise (the outcome looks unknown)
    known: dict[str, str] = field(default_factory=dict)  # email → platform id for lookup
    finds: list[str] = field(default_factory=list)
    posts: list[tuple[ConversationRef, Reply]] = field(default_factory=list)

    async def send(self, to: UserRef, reply: Reply) -> str | None:
        if self.fail_before:
            self.fail_before -= 1
            raise TimeoutError("the platform did not answer")
        ref = f"m{len(self.sent) + 1}"
        self.sent.append(Sent(to, reply, ref))
        if self.fail_after:
            self.fail_after -= 1
            raise ConnectionResetError("connection reset after the post arrived")
        return ref

    async def find(self, to: UserRef, key: str) -> str | None:
        self.finds.append(key)
        for s in reversed(self.sent):
            if s.to.user_id == to.user_id and s.reply.key == key:
                return s.ref
        return None

    async def post(self, where: ConversationRef, reply: Reply) -> ConversationRef | None:
        self.posts.append((where, reply))
        return ConversationRef(where.platform, where.channel_id, f"t{len(self.posts)}")

    async def lookup(self, email: str) -> str | None:
        return self.known.get(email)

    def to(self, user_id: str) -> list[Sent]:
        return [s for s in self.sent if s.to.user_id == user_id]


def add_person(
    store: Store,
    name: str,
    *,
    tz: str = "Africa/Nairobi",
    manager: int | None = None,
    roles: tuple[tuple[Role, str], ...] = (),
    email: str | None = "",
    slack: str | None = None,
    assignment_end: date | None = None,
    mission: str | None = "MINUSCA",
) -> int:
    """Add a person; their email is <first name>@example.org unless given."""
    if email == "":
        email = f"{name.split()[0].lower()}@example.org"
    with store.session() as s:
        person = Person(
            name=name,
            email=email,
            slack_user_id=slack,
            timezone=tz,
            manager_id=manager,
            mission=mission,
            assignment_end=assignment_end,
            created_at=EPOCH,
        )
        person.roles = [PersonRole(role=r, scope=scope) for r, scope in roles] or [
            PersonRole(role=Role.STAFF, scope="")
        ]
        s.add(person)
        s.flush()
        return person.id


def add_lesson(
    store: Store,
    *,
    title: str = "Fuel convoys need escorts",
    status: LessonStatus = LessonStatus.VALIDATED,
    validated_by: int | None = None,
    applied_at: datetime | None = None,
    product_type: ProductType = ProductType.AAR,
    author: int | None = None,
    product_date: date | None = None,
) -> int:
    """Add a product with one lesson; return the lesson id."""
    with store.session() as s:
        product = Product(
            type=product_type,
            title=title,
            summary="",
            body="",
            mission="MINUSCA",
            date=product_date,
            created_at=EPOCH,
            updated_at=EPOCH,
        )
        s.add(product)
        s.flush()
        if author is not None:
            s.add(ProductAuthor(product_id=product.id, person_id=author, position=0))
        lesson = Lesson(
            product_id=product.id,
            position=0,
            title=None,
            observation="",
            lesson=title,
            recommendation="",
            status=status,
            identified_at=EPOCH,
            validated_by_id=validated_by,
            applied_at=applied_at,
            updated_at=EPOCH,
        )
        s.add(lesson)
        s.flush()
        return lesson.id


def add_action(
    store: Store,
    lesson: int,
    owner: int | None,
    due: date | None,
    *,
    description: str = "Brief the convoy commanders",
    status: ActionStatus = ActionStatus.OPEN,
    updated_at: datetime = EPOCH,
) -> int:
    """Add a follow-up action; return its id."""
    with store.session() as s:
        action = Action(
            lesson_id=lesson,
            description=description,
            owner_id=owner,
            due_date=due,
            status=status,
            notes="",
            created_at=EPOCH,
            updated_at=updated_at,
        )
        s.add(action)
        s.flush()
        return action.id


def set_prefs(store: Store, person: int, **values: object) -> None:
    """Store reminder preferences for a person."""
    with store.session() as s:
        row = s.get(ReminderPreference, person) or ReminderPreference(
            person_id=person, delivery="instant", muted=False, updated_at=EPOCH
        )
        for name, value in values.items():
            setattr(row, name, value)
        s.add(row)


def ledger(store: Store, kind: str | None = None) -> list[Notification]:
    """Return the notification ledger (of one kind)."""
    with store.session() as s:
        query = select(Notification).order_by(Notification.id)
        if kind:
            query = query.where(Notification.kind == kind)
        return list(s.scalars(query))


def sent_count(store: Store) -> int:
    """Return how many ledger rows are marked sent."""
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(Notification.status == NotificationStatus.SENT)
            ).scalar_one()
        )


def scheduler(
    store: Store,
    notifier: Recorder,
    clock: ManualClock,
    settings: SchedulerSettings | None = None,
) -> Scheduler:
    """Return a scheduler on the recording notifier, without the AAR clock."""
    return Scheduler(
        store=store,
        notifiers=[notifier],
        settings=settings or SchedulerSettings(),
        clock=clock,
        reviews=False,
    )


def at_local(day: date, hour: int, minute: int = 0, tz: str = "Africa/Nairobi") -> datetime:
    """Return a local wall-clock time as an aware UTC datetime."""
    from zoneinfo import ZoneInfo

    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def days(n: int) -> timedelta:
    return timedelta(days=n)


def bulk_overdue(store: Store, *, owners: int, per_owner: int, due: date, slack: bool) -> None:
    """Insert many owners with overdue actions fast (Core bulk inserts)."""
    with store.connection() as conn:
        first = conn.execute(select(func.coalesce(func.max(Person.id), 0))).scalar_one() + 1
        conn.execute(
            insert(Person),
            [
                {
                    "id": first + i,
                    "name": f"Owner {i}",
                    "email": f"owner{i}@example.org",
                    "slack_user_id": f"U{first + i:08d}" if slack else None,
                    "timezone": "Africa/Nairobi",
                    "created_at": EPOCH,
                }
                for i in range(owners)
            ],
        )
        product = conn.execute(
            insert(Product).returning(Product.id),
            [
                {
                    "type": ProductType.AAR,
                    "title": "Bulk",
                    "summary": "",
                    "body": "",
                    "created_at": EPOCH,
                    "updated_at": EPOCH,
                }
            ],
        ).scalar_one()
        lesson = conn.execute(
            insert(Lesson).returning(Lesson.id),
            [
                {
                    "product_id": product,
                    "position": 0,
                    "observation": "",
                    "lesson": "Bulk lesson",
                    "recommendation": "",
                    "status": LessonStatus.VALIDATED,
                    "identified_at": EPOCH,
                    "updated_at": EPOCH,
                }
            ],
        ).scalar_one()
        conn.execute(
            insert(Action),
            [
                {
                    "lesson_id": lesson,
                    "description": f"Action {k} of owner {i}",
                    "owner_id": first + i,
                    "due_date": due,
                    "status": ActionStatus.OPEN,
                    "notes": "",
                    "created_at": EPOCH,
                    "updated_at": EPOCH,
                }
                for i in range(owners)
                for k in range(per_owner)
            ],
        )

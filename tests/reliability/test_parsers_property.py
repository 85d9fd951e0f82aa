"""Property-based tests of every parser that reads what people type or send.

Each parser must, for any input (control characters, lone surrogates, RTL marks, emoji, huge
strings, odd JSON shapes), return a value or raise the one error its callers turn into a
friendly message: never anything else. The profile (tests/reliability/conftest.py) is fast and
derandomized in CI; `LESSONS_SOAK=1` runs many more examples.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import hostile  # noqa: F401  (the hypothesis profile)
from hypothesis import example, given
from hypothesis import strategies as st

from bot.slack import incoming as slack_incoming
from bot.teams import incoming as teams_incoming
from handlers.chat import Command, Message
from handlers.errors import UserError
from handlers.reviews.aar_start import split_schedule
from handlers.reviews.conversation import control_word
from knowledge.dates import DateError, find_day, parse_day, parse_moment
from knowledge.reviews import Member, find_mentions
from knowledge.search.query import MAX_TERMS, parse

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TODAY = NOW.date()

# Any code point, lone surrogates included (they arrive from bad UTF-16 in Teams and JSON).
ANY_CHAR = st.characters(codec=None, categories=None)
HOSTILE_WORDS = st.sampled_from(
    [
        '"',
        "*",
        "NEAR(",
        "AND",
        "OR",
        "NOT",
        "^",
        "-",
        ":",
        "'; DROP TABLE lessons;--",
        "\x00",
        "\ud800",
        "\u202e",
        "🇺🇳",
        "<!channel>",
        "<@U123>",
        "type:",
        "since",
        "2026",
        "next",
        "friday",
        "in 3 days",
        "31 Feb",
        "9999-99-99",
        "#",
        "@",
        "mission:",
        'theme:"',
    ]
)
TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=300),
    st.lists(HOSTILE_WORDS, max_size=40).map(" ".join),
    st.lists(st.one_of(HOSTILE_WORDS, st.text(ANY_CHAR, max_size=8)), max_size=30).map("".join),
)
LONG = st.builds(
    lambda s, n: s * n, st.text(ANY_CHAR, min_size=1, max_size=4), st.integers(1, 12000)
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(ANY_CHAR, max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
MEMBERS = [
    Member(
        1, "Amina Diallo", "amina.diallo@un.example", "UAMINA01", "aad-amina", "MINUSCA", None, None
    ),
    Member(2, "Tomás Herrera", "tomas.herrera@un.example", None, None, None, "UTC", 1),
]


@given(st.one_of(TEXT, LONG))
@example('theme:"human rights type:aar since 2099 until 1900 ^NEAR(a b) *')
@example("between 2020 and 2010 in 0 days last 99999999999 years")
def test_question_parsing_never_raises_and_stays_bounded(question: str) -> None:
    query = parse(question, today=TODAY, missions=["MINUSCA", "UNMISS"], themes=["human rights"])

    assert len(query.terms) <= MAX_TERMS
    assert all(term and term.strip() == term for term in query.terms)
    assert len(query.text) <= len(question)


@given(st.one_of(TEXT, LONG))
@example("31 February")
@example("in 99999999999999999999 days")
@example("next 0th of never")
def test_day_parsing_returns_a_day_or_nothing(text: str) -> None:
    day = parse_day(text, today=TODAY)
    found = find_day(text, today=TODAY)

    assert day is None or isinstance(day, date)
    assert found is None or (isinstance(found.day, date) and found.phrase in text)


@given(st.one_of(TEXT, LONG), st.sampled_from(["UTC", "Africa/Bangui", "Nowhere/Else", "", "../x"]))
@example("in 99999999999 hours", "UTC")
@example("25:61", "UTC")
@example("tomorrow 17:00", "Pacific/Kiritimati")
def test_moments_are_in_the_future_or_a_date_error(text: str, tz: str) -> None:
    try:
        moment = parse_moment(text, now=NOW, tz=tz)
    except DateError as exc:
        assert exc.message and "Traceback" not in exc.message
        return
    assert moment > NOW


@given(st.one_of(TEXT, LONG))
@example("<@U123|name> <@UAMINA01> @amina diallo amina.diallo@un.example <at>x</at>")
@example("@" * 5000)
def test_mentions_are_found_without_raising(text: str) -> None:
    head, owners = find_mentions(text, MEMBERS)

    assert isinstance(head, str)
    assert all(o.member is None or o.member in MEMBERS for o in owners)


@given(st.one_of(TEXT, LONG))
@example("pause")
@example("/Next…!!")
def test_aar_answers_are_either_a_control_or_an_answer(text: str) -> None:
    word = control_word(text)

    assert word is None or word.value == text.strip().lower().rstrip(".!?… ").lstrip("/")


@given(st.one_of(TEXT, LONG))
@example("Election day tomorrow 17:00")
@example("Town hall yesterday")
@example("word " * 4000 + "tomorrow 17:00")  # quadratic (seconds) before the ending was bounded
def test_scheduling_text_splits_or_says_how_to_write_it(text: str) -> None:
    try:
        event, ends = split_schedule(text, now=NOW, tz="UTC")
    except UserError as exc:
        assert "/aar" in exc.message
        return
    assert event and ends > NOW and ends - NOW < timedelta(days=366 * 200)


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "text": JSON,
            "user": JSON,
            "channel": JSON,
            "ts": JSON,
            "thread_ts": JSON,
            "subtype": st.sampled_from(["message_changed", "message_deleted", "file_share"]),
            "channel_type": st.sampled_from(["im", "channel"]),
            "message": JSON,
            "previous_message": JSON,
            "bot_id": JSON,
        },
    )
)
def test_slack_events_become_neutral_messages_or_nothing(event: dict[str, Any]) -> None:
    mention = slack_incoming.mention(event)
    found = slack_incoming.message(event, bot_user_id="U0BOT")
    command = slack_incoming.command(
        {k: v for k, v in event.items() if k in ("text", "user", "channel")}
    )

    assert isinstance(mention, Message) and len(mention.text) <= slack_incoming.MAX_TEXT
    assert found is None or found.who.platform == "slack"
    assert isinstance(command, Command) and command.name in ("lessons", "aar")


@given(
    st.fixed_dictionaries(
        {"type": st.just("message"), "conversation": st.just({"id": "a:1"})},
        optional={
            "text": st.one_of(TEXT, LONG, JSON),
            "value": JSON,
            "entities": JSON,
            "recipient": JSON,
            "from": JSON,
            "id": JSON,
            "channelData": JSON,
        },
    )
)
def test_teams_activities_become_neutral_messages_or_nothing(activity: dict[str, Any]) -> None:
    found = teams_incoming.message(activity)
    query = teams_incoming.query({**activity, "value": {"parameters": [activity.get("value")]}})

    assert found is None or found.who.platform == "teams"
    if isinstance(found, Message):
        assert len(found.text) <= teams_incoming.MAX_TEXT
        assert not any("\ud800" <= c <= "\udfff" for c in found.text)  # no lone surrogates
    assert len(query.text) <= 2000

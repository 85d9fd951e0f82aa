"""What an admin may set for reviews: the question file, the start delay, the time box.

`LESSONS_AAR_QUESTIONS`, `LESSONS_AAR_DELAY_HOURS` and `LESSONS_AAR_QUESTION_MINUTES`, read
once at start-up by `bot/settings.py` into `HandlerSettings` (on `Deps`) and checked here; the
interview's questions come from the same file.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from handlers.deps import HandlerSettings
from knowledge.reviews import DEFAULT_EOAR_QUESTIONS, DEFAULT_QUESTIONS, Question, load_questions

log = logging.getLogger(__name__)

QUESTIONS_ENV = "LESSONS_AAR_QUESTIONS"
DELAY_ENV = "LESSONS_AAR_DELAY_HOURS"
DEFAULT_DELAY = timedelta(hours=2)
MINUTES_ENV = "LESSONS_AAR_QUESTION_MINUTES"
DEFAULT_QUESTION_TIME = timedelta(minutes=30)
MAX_QUESTION_MINUTES = 24 * 60


def question_set(settings: HandlerSettings) -> tuple[Question, ...]:
    """Return the questions new reviews ask: the file in LESSONS_AAR_QUESTIONS, or the policy's."""
    path = settings.aar_questions
    return load_questions(path, fallback=DEFAULT_QUESTIONS) if path else DEFAULT_QUESTIONS


def eoar_question_set(settings: HandlerSettings) -> tuple[Question, ...]:
    """Return the interview's questions: `[[eoar_question]]` in LESSONS_AAR_QUESTIONS, or ours."""
    path = settings.aar_questions
    if not path:
        return DEFAULT_EOAR_QUESTIONS
    return load_questions(path, table="eoar_question", fallback=DEFAULT_EOAR_QUESTIONS)


def start_delay(settings: HandlerSettings) -> timedelta:
    """Return how long after a scheduled event ends its review starts (LESSONS_AAR_DELAY_HOURS)."""
    raw = settings.aar_delay_hours.strip()
    if not raw:
        return DEFAULT_DELAY
    try:
        hours = float(raw)
    except ValueError:
        hours = -1.0
    if not 0 <= hours <= 24 * 14:  # also refuses nan and inf
        log.warning("%s=%r is not 0 to 336 hours; using %s", DELAY_ENV, raw, DEFAULT_DELAY)
        return DEFAULT_DELAY
    return timedelta(hours=hours)


def question_time(settings: HandlerSettings) -> timedelta:
    """Return each question's time box (LESSONS_AAR_QUESTION_MINUTES; 0 turns it off)."""
    raw = settings.aar_question_minutes.strip()
    if not raw:
        return DEFAULT_QUESTION_TIME
    try:
        minutes = float(raw)
    except ValueError:
        minutes = -1.0
    if not 0 <= minutes <= MAX_QUESTION_MINUTES:  # also refuses nan and inf
        log.warning(
            "%s=%r is not a number of minutes from 0 (no time box) to %s; using %s",
            MINUTES_ENV,
            raw,
            MAX_QUESTION_MINUTES,
            DEFAULT_QUESTION_TIME,
        )
        return DEFAULT_QUESTION_TIME
    return timedelta(minutes=minutes)

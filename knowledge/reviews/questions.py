"""The questions a review asks: their kinds, the default sets, and question files in TOML."""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from knowledge.errors import DomainError

log = logging.getLogger(__name__)


class QuestionKind(StrEnum):
    """What a question of a review asks; closing uses it to build lessons and actions."""

    EXPECTED = "expected"  # what was supposed to happen?
    ACTUAL = "actual"  # what actually happened?
    WENT_WELL = "went_well"  # what went well, and why?
    IMPROVE = "improve"  # what can be improved, and how?
    RECOMMEND = "recommend"  # who should do what, by when?
    ACHIEVEMENT = "achievement"  # EoAR: what did you achieve?
    LESSON = "lesson"  # EoAR: what did you learn?
    PRACTICE = "practice"  # EoAR: which good practices should be kept?
    GAP = "gap"  # EoAR: what gaps remain?
    OTHER = "other"  # an organisation's own question: kept in the record only


@dataclass(frozen=True, slots=True)
class Question:
    """One question of a review, stored in `Review.questions` as "<kind>|<text>"."""

    kind: QuestionKind
    text: str

    def stored(self) -> str:
        """Return the question as stored in a review."""
        return f"{self.kind.value}|{self.text}"

    @classmethod
    def parse(cls, stored: str) -> Question:
        """Read a stored question (a plain string is a question of kind "other")."""
        kind, sep, text = stored.partition("|")
        if sep and kind in QuestionKind.__members__.values():
            return cls(QuestionKind(kind), text)
        return cls(QuestionKind.OTHER, stored)


DEFAULT_QUESTIONS = (
    Question(QuestionKind.EXPECTED, "What was supposed to happen?"),
    Question(QuestionKind.ACTUAL, "What actually happened?"),
    Question(QuestionKind.WENT_WELL, "What went well, and why?"),
    Question(QuestionKind.IMPROVE, "What can be improved, and how?"),
    Question(
        QuestionKind.RECOMMEND,
        "What do you recommend: who should do what, by when?",
    ),
)


DEFAULT_EOAR_QUESTIONS = (
    Question(QuestionKind.ACHIEVEMENT, "What were your key achievements in this assignment?"),
    Question(QuestionKind.LESSON, "What are the most important lessons you learned?"),
    Question(QuestionKind.PRACTICE, "Which good practices should be kept, and why?"),
    Question(QuestionKind.GAP, "What gaps or unfinished business do you leave behind?"),
    Question(
        QuestionKind.RECOMMEND,
        "What do you recommend to your successor: who should do what, by when?",
    ),
)


QUESTION_TABLES = ("question", "eoar_question")  # AAR questions, EoAR interview questions


def load_questions(
    path: Path, *, table: str = "question", fallback: tuple[Question, ...] | None = None
) -> tuple[Question, ...]:
    """Read a question set from TOML: `[[question]]` tables with `text` and optional `kind`.

    The same file may hold the End of Assignment interview's questions as `[[eoar_question]]`
    (`table`). `fallback` is used when the file has questions for the other set only.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DomainError(f"The AAR question file {path} could not be read: {exc}") from None
    found = []
    for i, item in enumerate(data.get(table, []), 1):
        text = str(item.get("text", "")).strip() if isinstance(item, dict) else ""
        kind = str(item.get("kind", "other")).strip().lower() if isinstance(item, dict) else ""
        if not text or kind not in QuestionKind.__members__.values():
            kinds = ", ".join(k.value for k in QuestionKind)
            raise DomainError(f"{path}: {table} {i} needs a text and a kind among: {kinds}.")
        found.append(Question(QuestionKind(kind), " ".join(text.split())))
    if not found:
        if fallback is not None and any(t in data for t in QUESTION_TABLES):
            return fallback
        raise DomainError(f"{path} has no [[{table}]] entries.")
    return tuple(found)

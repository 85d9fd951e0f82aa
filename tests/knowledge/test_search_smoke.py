"""Smoke test: the demo corpus answers the README's question on both backends."""

import re

from knowledge.search.answer import Viewer
from knowledge.storage import Store

ELECTORAL = re.compile(r"elect|poll|ballot|vot|referend", re.IGNORECASE)


async def test_elections_question_is_answered(demo_store: Store) -> None:
    answer = await demo_store.ask("what did we learn about elections?", viewer=Viewer(None))
    assert len(answer.hits) == 5
    assert all(ELECTORAL.search(h.title + " " + h.takeaway) for h in answer.hits)
    assert "elect" in (answer.hits[0].title + answer.hits[0].takeaway).lower()

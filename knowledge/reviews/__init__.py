"""Reviews in the database: After-Action Reviews and End of Assignment interviews.

A review runs in one conversation: an AAR in a channel thread, an interview (kind "eoar") in a
person's direct messages. Its questions are snapshotted when it starts (editing the question
set never breaks a running review), answers are stored the moment they arrive (anonymous ones
with no author: who took part is kept apart, in `review_contributors`), and closing saves a
product in the lessons index (an AAR, or an EoAR restricted to its audience) and turns its
recommendations into proposed actions. Everything lives in the database, so a restart loses
nothing.

The package, by concern:

- `questions`: question kinds, the default sets, question files in TOML
- `steps`: the state machine (`steer`): control words and where each leads
- `views`: the plain values handed back (ReviewView, Closing, ProposalView, …)
- `names`: mentions, emails and @Names found in text; one action per recommendation
- `drafts`: the product a closed review saves, and who validates it
- `rows`, `running`, `closing`, `proposals`, `store`: the `Reviews` store, by concern
- `interviews`: what only interviews do (open one for a person, bind it to their DM)
- `participants`: who a review expects to hear from, and their one reminder
- `clock`: the time box of AAR questions
"""

from __future__ import annotations

from knowledge.reviews.drafts import (
    Draft,
    ProductSpec,
    aar_spec,
    audience_of,
    draft_product,
    eoar_spec,
    validator_for,
)
from knowledge.reviews.names import find_mentions, find_owner, split_recommendations
from knowledge.reviews.questions import (
    DEFAULT_EOAR_QUESTIONS,
    DEFAULT_QUESTIONS,
    QUESTION_TABLES,
    Question,
    QuestionKind,
    load_questions,
)
from knowledge.reviews.rows import MAX_ANSWER, MAX_EVENT, MAX_PROPOSALS
from knowledge.reviews.steps import Control, steer
from knowledge.reviews.store import Reviews
from knowledge.reviews.views import (
    AAR_KIND,
    EOAR_KIND,
    AnswerView,
    Change,
    Closing,
    Member,
    Owner,
    ProposalView,
    Repeat,
    ReviewView,
    Saved,
    member_of,
    proposal_view,
    source_name,
    view_of,
)

__all__ = [
    "AAR_KIND",
    "DEFAULT_EOAR_QUESTIONS",
    "DEFAULT_QUESTIONS",
    "EOAR_KIND",
    "MAX_ANSWER",
    "MAX_EVENT",
    "MAX_PROPOSALS",
    "QUESTION_TABLES",
    "AnswerView",
    "Change",
    "Closing",
    "Control",
    "Draft",
    "Member",
    "Owner",
    "ProductSpec",
    "ProposalView",
    "Question",
    "QuestionKind",
    "Repeat",
    "ReviewView",
    "Reviews",
    "Saved",
    "aar_spec",
    "audience_of",
    "draft_product",
    "eoar_spec",
    "find_mentions",
    "find_owner",
    "load_questions",
    "member_of",
    "proposal_view",
    "source_name",
    "split_recommendations",
    "steer",
    "validator_for",
    "view_of",
]

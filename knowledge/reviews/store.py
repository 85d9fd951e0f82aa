"""The review store: every read and write of reviews, their answers and proposed actions."""

from __future__ import annotations

from knowledge.reviews.closing import Closer
from knowledge.reviews.proposals import ProposalDesk
from knowledge.reviews.running import Running


class Reviews(Running, Closer, ProposalDesk):
    """Every read and write of After-Action Reviews and interviews, over a Store's sessions.

    Its parts live by concern: running (start, answers, moves), closing (the record, proposed
    actions, repeats) and proposals (what owners do with them); `ReviewRows` holds the reads
    they share.
    """

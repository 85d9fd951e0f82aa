"""feedback.voter: one vote per person (or guest session) and lesson, by a unique index

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

A vote was deduplicated in code for known people only: a guest of the local chat (no person)
could vote twenty times for one lesson. Each vote now names its voter ("person:<id>", or the
platform's own id of someone not in the directory: "local:guest:<session>") and the pair
(voter, lesson) is unique. Existing duplicates of a person keep their newest vote; earlier
anonymous votes each keep a voter of their own ("legacy:<id>"), as they were counted.
"""

import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        'feedback', sa.Column('voter', sa.String(length=200), nullable=False, server_default='')
    )
    op.execute(
        "UPDATE feedback SET voter = CASE WHEN person_id IS NOT NULL "
        "THEN 'person:' || CAST(person_id AS VARCHAR(20)) "
        "ELSE 'legacy:' || CAST(id AS VARCHAR(20)) END"
    )
    op.execute(
        "DELETE FROM feedback WHERE EXISTS (SELECT 1 FROM feedback newer "
        "WHERE newer.voter = feedback.voter AND newer.lesson_id = feedback.lesson_id "
        "AND (newer.at > feedback.at OR (newer.at = feedback.at AND newer.id > feedback.id)))"
    )
    op.create_index('uq_feedback_voter_lesson', 'feedback', ['voter', 'lesson_id'], unique=True)


def downgrade() -> None:
    op.drop_index('uq_feedback_voter_lesson', table_name='feedback')
    with op.batch_alter_table('feedback') as batch:
        batch.drop_column('voter')

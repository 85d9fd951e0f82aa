"""review participants and their one reminder

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25

A time-boxed After-Action Review reminds the people it expects to hear from (mentioned when it
started, invited, or who spoke in its thread without answering) once, privately, halfway through
a question. `review_participants` keeps who they are and when the reminder went, so a restart or
a second replica never sends it twice. Whether someone answered stays in `review_contributors`.
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('review_participants',
    sa.Column('review_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('nudged_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['review_id'], ['reviews.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('review_id', 'person_id')
    )


def downgrade() -> None:
    op.drop_table('review_participants')

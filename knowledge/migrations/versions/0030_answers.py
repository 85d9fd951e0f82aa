"""answers that know what they know: questions.answered, question_referrals

Revision ID: 0030
Revises: 0013
Create Date: 2026-12-07

Each logged question records whether its answer found something good (the search's judge), so
questions nobody voted on still reach "questions without a good answer". *Ask a colleague*
hands a question to people who may know: one row per (question, colleague), with their answer
(a line, a lesson, or both) and the lesson note the asker saved it as.
"""

import sqlalchemy as sa
from alembic import op


revision = '0030'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('questions') as batch:
        batch.add_column(sa.Column('answered', sa.Boolean(), nullable=True))
    op.create_table(
        'question_referrals',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('question_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('asked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('answer', sa.Text(), nullable=True),
        sa.Column('lesson_id', sa.Integer(), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('note_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['question_id'], ['questions.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['lesson_id'], ['lessons.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['note_id'], ['lessons.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('question_id', 'person_id', name='uq_question_referrals_person'),
    )
    op.create_index(
        'ix_question_referrals_person', 'question_referrals', ['person_id'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_question_referrals_person', table_name='question_referrals')
    op.drop_table('question_referrals')
    with op.batch_alter_table('questions') as batch:
        batch.drop_column('answered')

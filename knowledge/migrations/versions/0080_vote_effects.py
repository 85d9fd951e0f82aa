"""vote effects: the kind of question a vote was cast on, and PBPOs' undos of votes' effect

Revision ID: 0080
Revises: 0090
Create Date: 2026-12-08

Helpful / not helpful votes move a lesson in search for the kind of question they were cast
on (`knowledge.votes`): `feedback.kind` keeps that kind (the question's analysed terms, set
when the vote is recorded; votes cast before this migration get theirs the first time a PBPO
reads the votes report). `vote_undos` keeps each PBPO's undo of the votes' effect on a lesson
(for one kind of question, or '' for every kind), and its restoration (the undo undone).
"""

import sqlalchemy as sa
from alembic import op


revision = '0080'
down_revision = '0090'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('feedback') as batch:
        batch.add_column(sa.Column('kind', sa.String(length=300), nullable=True))
    op.create_table(
        'vote_undos',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('lesson_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=300), nullable=False),
        sa.Column('why', sa.Text(), nullable=True),
        sa.Column('undone_by_id', sa.Integer(), nullable=True),
        sa.Column('undone_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('restored_by_id', sa.Integer(), nullable=True),
        sa.Column('restored_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['lesson_id'], ['lessons.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['undone_by_id'], ['people.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['restored_by_id'], ['people.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_vote_undos_lesson', 'vote_undos', ['lesson_id', 'restored_at'])


def downgrade() -> None:
    op.drop_index('ix_vote_undos_lesson', table_name='vote_undos')
    op.drop_table('vote_undos')
    with op.batch_alter_table('feedback') as batch:
        batch.drop_column('kind')

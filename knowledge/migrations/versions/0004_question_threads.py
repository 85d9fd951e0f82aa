"""where each question was answered: its channel and thread

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

The question log records the channel and thread each answer went to, so a follow-up in the same
thread ("only AARs", "since 2022") refines the last question asked there. Older questions keep
NULL in both columns.
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel_id', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('thread_id', sa.String(length=100), nullable=True))
        batch_op.create_index('ix_questions_thread', ['platform', 'channel_id', 'thread_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.drop_index('ix_questions_thread')
        batch_op.drop_column('thread_id')
        batch_op.drop_column('channel_id')

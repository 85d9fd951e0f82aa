"""inbox: platform events kept from before their ack until handled (issue 21)

Revision ID: 0020
Revises: 0013
Create Date: 2026-12-07

The transactional inbox: each Slack event, interaction or slash command and each Teams
activity is written here (unique by its platform id) before it is acknowledged, and marked
done once handled; rows not done are handled again after a crash.
"""

import sqlalchemy as sa
from alembic import op


revision = '0020'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'inbox',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('meta', sa.Text(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('claimed_by', sa.String(length=100), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('platform', 'key', name='uq_inbox_platform_key'),
    )
    op.create_index('ix_inbox_pending', 'inbox', ['done_at', 'lease_until'], unique=False)
    op.create_index('ix_inbox_received', 'inbox', ['received_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_inbox_received', table_name='inbox')
    op.drop_index('ix_inbox_pending', table_name='inbox')
    op.drop_table('inbox')

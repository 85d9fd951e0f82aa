"""pending notices: what the bot could not tell someone while their platform was down

Revision ID: 0090
Revises: 0040
Create Date: 2026-12-08

When an answer and the apology for it both fail (Slack or Teams not answering), the apology is
kept here; the scheduler posts it once the platform answers again, and the PBPO digest lists
those still undelivered.
"""

import sqlalchemy as sa
from alembic import op


revision = '0090'
down_revision = '0040'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'pending_notices',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('user_key', sa.String(length=100), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('claimed_by', sa.String(length=100), nullable=True),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(
        'ix_pending_notices_due', 'pending_notices', ['delivered_at', 'next_attempt_at'],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index('ix_pending_notices_due', table_name='pending_notices')
    op.drop_table('pending_notices')

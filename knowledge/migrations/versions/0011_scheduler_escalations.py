"""scheduler: unanswered nudges indexed by owner and count

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

The planner looks for a person's actions whose nudges went unanswered K times; with
`ix_scheduler_action_nudges_owner (owner_id, unanswered)` it reads only those, instead of
looking up every open action of every person planned.
"""

from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        'ix_scheduler_action_nudges_owner', 'scheduler_action_nudges',
        ['owner_id', 'unanswered'], unique=False,
    )


def downgrade() -> None:
    op.drop_index('ix_scheduler_action_nudges_owner', table_name='scheduler_action_nudges')

"""lesson proposals: actions proposed on any validated lesson, not only by a review

Revision ID: 0040
Revises: 0030
Create Date: 2026-12-07

A validated lesson of any kind (a note logged in chat, an EoAR, an imported product) gets
actions through the same proposal an After-Action Review makes: `review_id` may be empty, and
`proposed_by_id` names who proposed it (the facilitator of a review, else the validator,
author or PBPO who added it).
"""

import sqlalchemy as sa
from alembic import op


revision = '0040'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('proposed_actions', schema=None) as batch_op:
        batch_op.alter_column('review_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('proposed_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            'fk_proposed_actions_proposed_by', 'people', ['proposed_by_id'], ['id'],
            ondelete='SET NULL',
        )
        batch_op.create_index('ix_proposed_actions_lesson', ['lesson_id', 'status'], unique=False)


def downgrade() -> None:
    op.execute('DELETE FROM proposed_actions WHERE review_id IS NULL')
    with op.batch_alter_table('proposed_actions', schema=None) as batch_op:
        batch_op.drop_index('ix_proposed_actions_lesson')
        batch_op.drop_constraint('fk_proposed_actions_proposed_by', type_='foreignkey')
        batch_op.drop_column('proposed_by_id')
        batch_op.alter_column('review_id', existing_type=sa.Integer(), nullable=False)

"""audience_links: channel audiences bound to platform identities, not names

Revision ID: 0015
Revises: 0030
Create Date: 2026-12-07

A restricted audience such as "channel:elections-team" was opened by any conversation called
elections-team: a Teams group chat, a channel of another team, another Slack workspace. Now a
conversation holds "channel:<its platform identity>" (a product may name that directly, by id)
and the audiences a PBPO linked to that identity from inside it; a name alone opens nothing.
Existing name-based audiences stay as they are, unlinked: `lessons audience report` lists them
for a PBPO to link. Reviews keep their channel's identity, for what their summary may show.
"""

import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0030'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audience_links',
        sa.Column('audience', sa.String(length=200), nullable=False),
        sa.Column('space', sa.String(length=300), nullable=False),
        sa.Column('channel_name', sa.String(length=100), nullable=True),
        sa.Column('linked_by', sa.Integer(), nullable=True),
        sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['linked_by'], ['people.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('audience', 'space'),
    )
    op.create_index('ix_audience_links_space', 'audience_links', ['space'], unique=False)
    op.add_column('reviews', sa.Column('space', sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('reviews') as batch:
        batch.drop_column('space')
    op.drop_index('ix_audience_links_space', table_name='audience_links')
    op.drop_table('audience_links')

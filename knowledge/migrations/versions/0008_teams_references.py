"""Teams conversation references, users and confirmed reminders

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27

Microsoft Teams (the Microsoft 365 Agents SDK) lets a bot post proactively only into a
conversation it has a reference for. `teams_references` keeps the SDK's conversation reference
(service URL, tenant, bot, conversation and the claims it came with) for every personal chat,
group chat and channel the bot was installed in or used from; a channel is kept under its own
id, without `;messageid=`. `teams_users` remembers each Teams user by Entra object id with
their Teams id, to open a personal chat with someone seen only in a channel. `teams_sent`
records the reminders Teams confirmed, by delivery key: Teams gives a bot no message history
to look a reminder up in.
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('teams_references',
    sa.Column('conversation_id', sa.String(length=256), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('user_aad_id', sa.String(length=64), nullable=True),
    sa.Column('tenant_id', sa.String(length=64), nullable=True),
    sa.Column('team_id', sa.String(length=256), nullable=True),
    sa.Column('service_url', sa.String(length=512), nullable=False),
    sa.Column('reference', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('conversation_id')
    )
    op.create_index('ix_teams_references_user_aad_id', 'teams_references', ['user_aad_id'],
                    unique=False)
    op.create_table('teams_users',
    sa.Column('aad_object_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=256), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=True),
    sa.Column('service_url', sa.String(length=512), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('aad_object_id')
    )
    op.create_table('teams_sent',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('user_aad_id', sa.String(length=64), nullable=False),
    sa.Column('activity_id', sa.String(length=256), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_index('ix_teams_sent_sent_at', 'teams_sent', ['sent_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_teams_sent_sent_at', table_name='teams_sent')
    op.drop_table('teams_sent')
    op.drop_table('teams_users')
    op.drop_index('ix_teams_references_user_aad_id', table_name='teams_references')
    op.drop_table('teams_references')

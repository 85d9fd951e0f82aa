"""scheduler: per-person timers, the notification ledger and reminder preferences

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

Reminders and digests keep their durable state here; APScheduler only ticks.

- `scheduler_timers`: each person's next working-hours slot (`daily`) and when something
  planned for them is due (`deliver`, claimed with a lease), in UTC, indexed by time.
- `scheduler_notifications`: the ledger, one row per (kind, subject, recipient, period) under a
  unique constraint; planned, claimed with a lease, sent only once the platform confirmed.
- `reminder_preferences`: instant or daily delivery, muted non-essential reminders, snooze,
  leave, and working hours of one's own.
- `scheduler_action_nudges`, `scheduler_unreachable`, `scheduler_jobs`: unanswered nudges per
  action, people no platform reaches, and the organisation-wide periodic jobs.
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

PENDING = "status IN ('planned', 'claimed', 'failed')"


def upgrade() -> None:
    op.create_table('scheduler_timers',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('next_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('planned_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('person_id', 'kind')
    )
    op.create_index('ix_scheduler_timers_due', 'scheduler_timers', ['kind', 'next_at'], unique=False)

    op.create_table('scheduler_notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('recipient_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=40), nullable=False),
    sa.Column('status', sa.Enum('planned', 'claimed', 'sent', 'failed', 'skipped', name='notification_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('slot_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('delivery', sa.String(length=80), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('platform', sa.String(length=16), nullable=True),
    sa.Column('message_ref', sa.String(length=100), nullable=True),
    sa.Column('planned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['recipient_id'], ['people.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'period', 'subject_id', 'recipient_id', name='uq_scheduler_notifications_key')
    )
    op.create_index(
        'ix_scheduler_notifications_pending', 'scheduler_notifications',
        ['recipient_id', 'next_attempt_at'], unique=False,
        postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING),
    )

    op.create_table('reminder_preferences',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('delivery', sa.Enum('instant', 'daily', name='delivery_mode', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('digest_at', sa.String(length=5), nullable=True),
    sa.Column('muted', sa.Boolean(), nullable=False),
    sa.Column('snoozed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('away_from', sa.Date(), nullable=True),
    sa.Column('away_until', sa.Date(), nullable=True),
    sa.Column('work_hours', sa.String(length=11), nullable=True),
    sa.Column('work_days', sa.String(length=40), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('person_id')
    )

    op.create_table('scheduler_action_nudges',
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('unanswered', sa.Integer(), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['action_id'], ['actions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('action_id')
    )

    op.create_table('scheduler_unreachable',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('platforms', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('person_id')
    )

    op.create_index('ix_people_manager', 'people', ['manager_id'], unique=False)
    op.create_index(
        'ix_actions_owner_due', 'actions', ['owner_id', 'status', 'due_date', 'updated_at'],
        unique=False, postgresql_include=['id'],
    )

    op.create_table('scheduler_jobs',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('next_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('scheduler_jobs')
    op.drop_index('ix_actions_owner_due', table_name='actions')
    op.drop_index('ix_people_manager', table_name='people')
    op.drop_table('scheduler_unreachable')
    op.drop_table('scheduler_action_nudges')
    op.drop_table('reminder_preferences')
    op.drop_index('ix_scheduler_notifications_pending', table_name='scheduler_notifications')
    op.drop_table('scheduler_notifications')
    op.drop_index('ix_scheduler_timers_due', table_name='scheduler_timers')
    op.drop_table('scheduler_timers')

"""the audit trail, and withdrawn lessons

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28

`audit_events` records every change to a lesson, action, role or product: who (a person, or
none for the command line), when (UTC), from which surface, the operation, the subject and a
summary of the fields before and after. Rows are only ever added.

Lessons may now be `withdrawn` (with a reason, kept in their lesson events): nothing is deleted
from chat. Downgrading turns withdrawn lessons into rejected ones, keeping the reason.
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

OLD = ('identified', 'validated', 'applied', 'rejected')
NEW = (*OLD, 'withdrawn')


def _status(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name='lesson_status', native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('surface', sa.String(length=16), nullable=False),
    sa.Column('operation', sa.String(length=40), nullable=False),
    sa.Column('subject_kind', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('before', sa.JSON(), nullable=False),
    sa.Column('after', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_at', ['at'], unique=False)
        batch_op.create_index('ix_audit_events_subject', ['subject_kind', 'subject_id', 'at'], unique=False)
    with op.batch_alter_table('lessons', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=_status(OLD), type_=_status(NEW), existing_nullable=False)


def downgrade() -> None:
    op.execute(
        "UPDATE lessons SET status = 'rejected', rejected_at = coalesce(rejected_at, updated_at), "
        "rejection_reason = coalesce(rejection_reason, 'withdrawn') WHERE status = 'withdrawn'"
    )
    with op.batch_alter_table('lessons', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=_status(NEW), type_=_status(OLD), existing_nullable=False)
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_subject')
        batch_op.drop_index('ix_audit_events_at')
    op.drop_table('audit_events')

"""lesson notes captured in chat, and processed platform events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

Adds the product type `note` (a lesson captured in chat with "Save as lesson" or
`/lessons new`) and the table that recognises redelivered platform events (Slack retries).
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

OLD = ('aar', 'eoar', 'practice_note', 'survey_of_practice', 'lessons_learned_study')
NEW = (*OLD, 'note')


def _type(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name='product_type', native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table('processed_events',
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('platform', 'event_id')
    )
    with op.batch_alter_table('processed_events', schema=None) as batch_op:
        batch_op.create_index('ix_processed_events_received', ['received_at'], unique=False)
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.alter_column('type', existing_type=_type(OLD), type_=_type(NEW), existing_nullable=False)


def downgrade() -> None:
    op.execute("DELETE FROM products WHERE type = 'note'")
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.alter_column('type', existing_type=_type(NEW), type_=_type(OLD), existing_nullable=False)
    with op.batch_alter_table('processed_events', schema=None) as batch_op:
        batch_op.drop_index('ix_processed_events_received')
    op.drop_table('processed_events')

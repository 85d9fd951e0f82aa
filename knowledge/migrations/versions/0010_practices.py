"""good practices: promotions, search curation, priority lessons, practice of the week

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

`promotions` records each lesson a PBPO promoted to a good practice (or to guidance): why it
matters, its scope, the audience it is for, the channels it was posted to, when to review it,
who promoted it and when; an unpromotion keeps the row, with who, when and why.
`lesson_curation` holds what PBPOs decided about a lesson in search (boosted, down-ranked or
hidden, with who and why) and whether it is a priority lesson. `practice_channels` are the
channels that get a practice of the week, and `practice_posts` is their ledger: one post per
channel and week.
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _person(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), sa.ForeignKey('people.id', ondelete='SET NULL'), nullable=True)


def upgrade() -> None:
    op.create_table('promotions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sa.Integer(), sa.ForeignKey('lessons.id', ondelete='CASCADE'), nullable=False),
    sa.Column('level', _enum('evidence_level', 'observation', 'lesson', 'good_practice', 'guidance'), nullable=False),
    sa.Column('why', sa.Text(), nullable=False),
    sa.Column('scope', sa.String(length=200), nullable=False),
    sa.Column('audience', sa.String(length=200), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('review_on', sa.Date(), nullable=False),
    _person('promoted_by_id'),
    sa.Column('promoted_at', sa.DateTime(timezone=True), nullable=False),
    _person('ended_by_id'),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_why', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('promotions', schema=None) as batch_op:
        batch_op.create_index('ix_promotions_lesson', ['lesson_id', 'ended_at'], unique=False)
    op.create_table('lesson_curation',
    sa.Column('lesson_id', sa.Integer(), sa.ForeignKey('lessons.id', ondelete='CASCADE'), nullable=False),
    sa.Column('ranking', _enum('search_ranking', 'normal', 'boost', 'down', 'hidden'), nullable=False),
    sa.Column('ranking_why', sa.Text(), nullable=True),
    _person('ranked_by_id'),
    sa.Column('ranked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('priority', sa.Boolean(), nullable=False),
    sa.Column('priority_why', sa.Text(), nullable=True),
    _person('prioritised_by_id'),
    sa.Column('prioritised_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('lesson_id')
    )
    with op.batch_alter_table('lesson_curation', schema=None) as batch_op:
        batch_op.create_index('ix_lesson_curation_ranking', ['ranking'], unique=False)
        batch_op.create_index('ix_lesson_curation_priority', ['priority'], unique=False)
    op.create_table('practice_channels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('channel_id', sa.String(length=256), nullable=False),
    sa.Column('channel_name', sa.String(length=100), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    _person('added_by_id'),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('platform', 'channel_id', name='uq_practice_channels_channel')
    )
    op.create_table('practice_posts',
    sa.Column('channel_ref', sa.Integer(), sa.ForeignKey('practice_channels.id', ondelete='CASCADE'), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('lesson_id', sa.Integer(), sa.ForeignKey('lessons.id', ondelete='CASCADE'), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('channel_ref', 'period')
    )


def downgrade() -> None:
    op.drop_table('practice_posts')
    op.drop_table('practice_channels')
    with op.batch_alter_table('lesson_curation', schema=None) as batch_op:
        batch_op.drop_index('ix_lesson_curation_priority')
        batch_op.drop_index('ix_lesson_curation_ranking')
    op.drop_table('lesson_curation')
    with op.batch_alter_table('promotions', schema=None) as batch_op:
        batch_op.drop_index('ix_promotions_lesson')
    op.drop_table('promotions')

"""question_lessons: the lessons each logged question was answered with

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

A lesson's reuse counts the answers that gave it, not only the votes on them: each logged
question keeps the lessons of its answer (with their rank), indexed by lesson for the report.
"""

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'question_lessons',
        sa.Column('question_id', sa.Integer(), nullable=False),
        sa.Column('lesson_id', sa.Integer(), nullable=False),
        sa.Column('rank', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['question_id'], ['questions.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['lesson_id'], ['lessons.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('question_id', 'lesson_id'),
    )
    op.create_index('ix_question_lessons_lesson', 'question_lessons', ['lesson_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_question_lessons_lesson', table_name='question_lessons')
    op.drop_table('question_lessons')

"""lesson language: the ISO 639-1 code of each lesson's language (issue 22)

Revision ID: 0070
Revises: 0080
Create Date: 2026-12-08

Lessons already in the index get the language detected from their text (py3langid, limited
to the six UN languages: `knowledge.search.analysis.detect`), as an import now does.
"""

import sqlalchemy as sa
from alembic import op


revision = '0070'
down_revision = '0080'
branch_labels = None
depends_on = None

_BATCH = 2000


def upgrade() -> None:
    with op.batch_alter_table('lessons', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('language', sa.String(length=8), server_default='en', nullable=False)
        )
    detect_languages(op.get_bind())


def detect_languages(conn: sa.Connection) -> None:
    """Set each lesson's language from its text (English is the column's default)."""
    from knowledge.search.analysis import detect

    last = 0
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT l.id, coalesce(l.title, ''), l.observation, l.lesson, l.recommendation, "
                "p.title, p.summary FROM lessons l JOIN products p ON p.id = l.product_id "
                "WHERE l.id > :last ORDER BY l.id LIMIT :n"
            ),
            {"last": last, "n": _BATCH},
        ).all()
        if not rows:
            return
        changed = []
        for lesson_id, *fields, title, summary in rows:
            text = "\n".join(f or "" for f in fields)
            if len(text) < 80:
                text += f"\n{title}\n{summary or ''}"
            language = detect(text)
            if language != 'en':
                changed.append({"id": lesson_id, "language": language})
        if changed:
            conn.execute(
                sa.text("UPDATE lessons SET language = :language WHERE id = :id"), changed
            )
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table('lessons', schema=None) as batch_op:
        batch_op.drop_column('language')

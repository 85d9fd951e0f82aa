"""analysed index: both backends index the terms of knowledge.search.analysis (issue 22)

Revision ID: 0071
Revises: 0070
Create Date: 2026-12-08

Every lesson is indexed again, analysed in its language (Snowball stems, Arabic normalisation,
Chinese segmented, acronyms unstemmed): SQLite's FTS5 table stores the terms (tokenizer
`unicode61 remove_diacritics 0`, no porter stemming of its own); PostgreSQL's postings are
counted from them instead of its english parser. Downgrading indexes the raw text again, the
old way (FTS5 porter; PostgreSQL's `to_tsvector('english', …)`).
"""

import sqlalchemy as sa
from alembic import op


revision = '0071'
down_revision = '0070'
branch_labels = None
depends_on = None

_OLD_TOKENIZER = 'porter unicode61 remove_diacritics 2'
# BM25 of the old PostgreSQL postings: title and tags weigh 2, the other fields 1.
_K1, _B = 1.2, 0.75


def upgrade() -> None:
    from knowledge.search.rebuild import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    from knowledge.search.rebuild import docs, fts5_table

    conn = op.get_bind()
    if conn.dialect.name == 'sqlite':
        conn.execute(sa.text('DROP TABLE IF EXISTS lesson_fts'))
        conn.execute(sa.text(fts5_table(_OLD_TOKENIZER)))
        for batch in docs(conn):
            conn.execute(
                sa.text(
                    'INSERT INTO lesson_fts(rowid, title, summary, lesson, recommendation, tags) '
                    'VALUES (:lesson_id, :title, :summary, :lesson, :recommendation, :tags)'
                ),
                [_raw(d) for d in batch],
            )
        conn.execute(sa.text('DELETE FROM search_terms'))
        conn.execute(
            sa.text(
                'CREATE VIRTUAL TABLE IF NOT EXISTS temp.lesson_fts_rows '
                'USING fts5vocab(main, lesson_fts, row)'
            )
        )
        conn.execute(
            sa.text('INSERT INTO search_terms(term, df) SELECT term, doc FROM temp.lesson_fts_rows')
        )
        conn.execute(sa.text('DROP TABLE temp.lesson_fts_rows'))
        return
    for table in ('search_postings', 'search_docs', 'search_terms'):
        conn.execute(sa.text(f'DELETE FROM {table}'))
    conn.execute(
        sa.text(
            'CREATE TEMP TABLE old_search_text (lesson_id integer, heavy text, light text) '
            'ON COMMIT DROP'
        )
    )
    for batch in docs(conn):
        conn.execute(
            sa.text('INSERT INTO old_search_text VALUES (:lesson_id, :heavy, :light)'),
            [
                {
                    'lesson_id': d.lesson_id,
                    'heavy': f'{d.title}\n{d.tags}',
                    'light': f'{d.summary}\n{d.lesson}\n{d.recommendation}',
                }
                for d in batch
            ],
        )
    conn.execute(
        sa.text(
            "CREATE TEMP TABLE old_search_tf ON COMMIT DROP AS SELECT v.lesson_id, "
            "u.lexeme AS term, x.tf, coalesce(array_length(u.positions, 1), 1) AS n FROM "
            "(SELECT lesson_id, setweight(to_tsvector('english', heavy), 'A') || "
            "setweight(to_tsvector('english', light), 'B') AS tsv FROM old_search_text) v, "
            "unnest(v.tsv) u, LATERAL (SELECT sum(CASE w WHEN 'A' THEN 2.0 ELSE 1.0 END) AS tf "
            "FROM unnest(u.weights) w) x"
        )
    )
    conn.execute(
        sa.text(
            'INSERT INTO search_docs(lesson_id, length) SELECT lesson_id, sum(n) '
            'FROM old_search_tf GROUP BY lesson_id'
        )
    )
    conn.execute(
        sa.text(
            "UPDATE meta SET value = CAST((SELECT count(*) FROM old_search_text) AS text) "
            "WHERE key = 'search_docs'"
        )
    )
    conn.execute(
        sa.text(
            'INSERT INTO search_postings(term, lesson_id, impact) SELECT t.term, t.lesson_id, '
            't.tf * (:k1 + 1) / (t.tf + :k1 * (1 - :b + :b * d.length / '
            '(SELECT greatest(avg(length), 1) FROM search_docs))) '
            'FROM old_search_tf t JOIN search_docs d USING (lesson_id)'
        ),
        {'k1': _K1, 'b': _B},
    )
    conn.execute(
        sa.text(
            'INSERT INTO search_terms(term, df) SELECT term, count(*) FROM old_search_tf '
            'GROUP BY term'
        )
    )
    conn.execute(sa.text('DROP TABLE old_search_tf'))
    conn.execute(sa.text('DROP TABLE old_search_text'))


def _raw(doc):  # type: ignore[no-untyped-def]
    return {
        'lesson_id': doc.lesson_id,
        'title': doc.title,
        'summary': doc.summary,
        'lesson': doc.lesson,
        'recommendation': doc.recommendation,
        'tags': doc.tags,
    }

"""Alembic environment: migrations run through the engine the caller hands in."""

from typing import Any

from alembic import context
from sqlalchemy import Engine

from knowledge.models import Base


def _modelled(name: str | None, type_: str, _parents: Any) -> bool:
    """Keep slack_sdk's tables (migration 0005, not in the models) out of autogenerate."""
    return not (type_ == "table" and (name or "").startswith("slack_"))


engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):  # pragma: no cover - alembic CLI use without our wrapper
    from knowledge.database import DEFAULT_URL, make_engine

    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or DEFAULT_URL)

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch migrations recreate tables on SQLite; with foreign keys on, dropping the old
        # table would cascade-delete every row that refers to it. SQLite's own procedure for
        # changing a table: keys off (outside any transaction), change, check, keys back on.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=sqlite,
        include_name=_modelled,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
    if sqlite:
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()
        if broken:
            raise RuntimeError(f"the migration left broken foreign keys: {broken[:5]}")

"""Alembic environment: migrations run through the engine the caller hands in."""

from alembic import context
from sqlalchemy import Engine

from knowledge.models import Base

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):  # pragma: no cover - alembic CLI use without our wrapper
    from knowledge.database import DEFAULT_URL, make_engine

    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or DEFAULT_URL)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()

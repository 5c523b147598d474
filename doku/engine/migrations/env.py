"""Alembic's environment for doku's store: migrations run on the connection (and in the
transaction) that `doku.engine.upgrade` opened and locked; there is no alembic.ini."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "doku's migrations run through `doku db upgrade` (or by opening the store), "
        "not through the alembic command"
    )
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():  # the caller's transaction: a no-op here
    context.run_migrations()

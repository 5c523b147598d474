"""The store's Alembic migrations (run by `doku.engine.upgrade`, never by `alembic`'s CLI).

`versions/` holds one module per schema revision; `doku.engine.versioning.REVISIONS`
lists them. A migration never imports the current tables: it creates what its
revision had, so an old store always upgrades the same way.
"""

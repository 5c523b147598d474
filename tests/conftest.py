"""Shared pytest configuration. Fixtures for the simulator live in simulator_fixtures,
those for PostgreSQL (pg_server, pg_url, store_url) in pg_cluster, and the ``backend``
fixture that runs a test on SQLite and on PostgreSQL in backend_support."""

pytest_plugins = [
    "tests.simulator_fixtures",
    "tests.hostile_support",
    "tests.pg_cluster",
    "tests.backend_support",
]

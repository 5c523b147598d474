"""Shared pytest configuration. Fixtures for the simulator live in simulator_fixtures,
those for PostgreSQL (pg_server, pg_url, store_url) in pg_cluster, and the ``backend``
fixture that runs a test on SQLite and on PostgreSQL in backend_support."""

import sys
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.simulator_fixtures",
    "tests.hostile_support",
    "tests.pg_cluster",
    "tests.backend_support",
]


@pytest.fixture(autouse=True)
def no_schedule_clock_outlives_its_test() -> Iterator[None]:
    """A page test whose store has a schedule starts the dashboard's schedule clock
    (ui.state); stop it with the test, or it ticks on against a deleted store."""
    yield
    state = sys.modules.get("ui.state")
    if state is not None:
        with state._clock_lock:
            clocks = list(state._clocks.values())
            state._clocks.clear()
            state._clock_checked.clear()
        for clock in clocks:
            clock.stop()

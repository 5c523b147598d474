"""Shared pytest configuration. Fixtures for the simulator live in simulator_fixtures."""

pytest_plugins = ["tests.simulator_fixtures", "tests.hostile_support"]

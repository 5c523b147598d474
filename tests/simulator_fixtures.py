"""Pytest fixtures that start the project's own DOKU simulator on a free loopback port.

- ``simulator``: a default simulator (demo credentials, seed 0, no faults) for one test.
- ``make_simulator(**config_kwargs)``: start as many configured simulators as a test
  needs (``make_simulator(fail_rate=0.2, seed=3)``); all are stopped at teardown.
- ``simulator_front``: the front end both start ("loop", the default). A simulator test
  module runs every test on each front end with ``simulator_front = each_front_end()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from doku.simulator import RunningSimulator, SimulatorConfig, start_simulator
from doku.simulator.process import FRONT_ENDS

MakeSimulator = Callable[..., RunningSimulator]


@pytest.fixture
def simulator_front() -> str:
    return "loop"


def each_front_end() -> Callable[..., str]:
    """A `simulator_front` fixture running each test of a module on every front end."""

    @pytest.fixture(params=FRONT_ENDS)
    def simulator_front(request: pytest.FixtureRequest) -> str:
        return str(request.param)

    return simulator_front


@pytest.fixture
def simulator(simulator_front: str) -> Iterator[RunningSimulator]:
    sim = start_simulator(SimulatorConfig(), front=simulator_front)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def make_simulator(simulator_front: str) -> Iterator[MakeSimulator]:
    started: list[RunningSimulator] = []

    def make(**config: Any) -> RunningSimulator:
        sim = start_simulator(SimulatorConfig(**config), front=simulator_front)
        started.append(sim)
        return sim

    try:
        yield make
    finally:
        for sim in started:
            sim.stop()

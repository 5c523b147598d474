"""Pytest fixtures that start the project's own DOKU simulator on a free loopback port.

- ``simulator``: a default simulator (demo credentials, seed 0, no faults) for one test.
- ``make_simulator(**config_kwargs)``: start as many configured simulators as a test
  needs (``make_simulator(fail_rate=0.2, seed=3)``); all are stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from doku.simulator import RunningSimulator, SimulatorConfig, start_simulator

MakeSimulator = Callable[..., RunningSimulator]


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    sim = start_simulator(SimulatorConfig())
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def make_simulator() -> Iterator[MakeSimulator]:
    started: list[RunningSimulator] = []

    def make(**config: Any) -> RunningSimulator:
        sim = start_simulator(SimulatorConfig(**config))
        started.append(sim)
        return sim

    try:
        yield make
    finally:
        for sim in started:
            sim.stop()

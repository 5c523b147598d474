"""The simulator's world can move on while it serves (the demo's "a month later")."""

from __future__ import annotations

import pytest

from doku.engine import connection
from doku.engine.connection import embedded_world_epoch, move_embedded_world_on
from doku.errors import ConfigurationError
from doku.settings import load_settings
from doku.simulator.world import tokens_for
from tests.simulator_fixtures import MakeSimulator


def test_a_running_simulator_moves_its_world_on(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(epoch=2)
    assert sim.move_world_on() == 3
    assert sim.config.epoch == 3
    assert sim.move_world_on(-10) == 0


def test_the_embedded_simulator_moves_on_and_lookups_see_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connection, "_embedded", None)
    assert embedded_world_epoch() is None
    with pytest.raises(ConfigurationError, match="no embedded simulator runs"):
        move_embedded_world_on()
    settings = connection.resolve(load_settings({}, {}))
    try:
        assert embedded_world_epoch() == 0
        changed = next(f"P{i:06}" for i in range(1000)
                       if tokens_for(f"P{i:06}", 0, 0) != tokens_for(f"P{i:06}", 0, 1))
        with connection.connect(settings) as client:
            before = client.get_tokens(changed).tokens
            assert move_embedded_world_on() == 1
            after = client.get_tokens(changed).tokens
        assert [t.token_id for t in before] == [
            t[k]["token_id"] for t in tokens_for(changed, 0, 0) for k in t if k.endswith("_card")]
        assert [t.token_id for t in after] == [
            t[k]["token_id"] for t in tokens_for(changed, 0, 1) for k in t if k.endswith("_card")]
    finally:
        connection._embedded.stop()

"""doku.client.loops: which event loops there are, and making one by name."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from doku.client.loops import event_loops, new_event_loop


def test_uvloop_comes_first_when_installed_and_asyncio_is_always_there() -> None:
    names = list(event_loops())
    expected = ["uvloop", "asyncio"] if importlib.util.find_spec("uvloop") else ["asyncio"]
    assert names == expected


def test_the_loop_asked_for_is_made() -> None:
    name, loop = new_event_loop("asyncio")
    try:
        assert name == "asyncio"
        assert type(loop).__module__.startswith("asyncio.")
        assert loop.run_until_complete(asyncio.sleep(0, "done")) == "done"
    finally:
        loop.close()
    best, loop = new_event_loop()
    loop.close()
    assert best == next(iter(event_loops()))


def test_without_uvloop_asyncio_is_the_best(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins
    real_import = builtins.__import__

    def no_uvloop(name: str, *args: object, **kwargs: object) -> object:
        if name == "uvloop":
            raise ImportError("no uvloop here")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_uvloop)
    assert list(event_loops()) == ["asyncio"]
    name, loop = new_event_loop()
    loop.close()
    assert name == "asyncio"


def test_an_unknown_loop_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match=r"no event loop 'tokio' here; one of .*asyncio"):
        new_event_loop("tokio")

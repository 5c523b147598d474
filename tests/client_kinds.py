"""Run a client test module against every transport: `TokenClient` (requests),
`LeanTokenClient` and `AsyncTokenClient` (the bulk engine's, on an event loop: the
fastest there is, uvloop when installed, and asyncio's own). All must give the same
results and errors.

In a test module:  `each_client = run_with_each_client("tests.hostile_support")`
makes every test of that module run twice, with the module(s) named seeing
`TokenClient` bound to one class and then the other.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from typing import Any

import pytest

from doku.client.aio import AsyncTokenClient
from doku.client.lean import LeanTokenClient
from doku.client.loops import event_loops
from doku.client.tokens import TokenClient


class AsyncioTokenClient(AsyncTokenClient):
    """`AsyncTokenClient` on asyncio's own event loop, whatever else is installed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("event_loop", "asyncio")
        super().__init__(*args, **kwargs)


CLIENT_CLASSES: dict[str, type[TokenClient]] = {
    "requests": TokenClient,
    "lean": LeanTokenClient,
    "aio": AsyncTokenClient,
    "aio-asyncio": AsyncioTokenClient,
}


def run_with_each_client(*module_names: str) -> Callable[..., type[TokenClient]]:
    @pytest.fixture(autouse=True, params=list(CLIENT_CLASSES))
    def each_client(
        request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
    ) -> type[TokenClient]:
        cls = CLIENT_CLASSES[request.param]
        for name in module_names:
            module: Any = sys.modules[name]
            monkeypatch.setattr(module, "TokenClient", cls)
        return cls

    return each_client


def count_connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every connection this process opens from now on, by (host, port): socket
    connect() calls, and the connections uvloop opens (libuv connects without
    socket.socket)."""
    seen: list[tuple[str, int]] = []
    real = socket.socket.connect

    def counting(sock: socket.socket, address: tuple[str, int]) -> None:
        seen.append(address)
        real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", counting)
    if "uvloop" in event_loops():
        import uvloop
        real_open = uvloop.Loop.create_connection

        async def opening(loop: Any, factory: Any, host: str, port: int,
                          **kwargs: Any) -> Any:
            seen.append((host, port))
            return await real_open(loop, factory, host, port, **kwargs)

        monkeypatch.setattr(uvloop.Loop, "create_connection", opening)
    return seen

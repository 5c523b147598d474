"""Run a client test module against every transport: `TokenClient` (requests),
`LeanTokenClient` and `AsyncTokenClient` (the bulk engine's, on an event loop). All
must give the same results and errors.

In a test module:  `each_client = run_with_each_client("tests.hostile_support")`
makes every test of that module run twice, with the module(s) named seeing
`TokenClient` bound to one class and then the other.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from doku.client.aio import AsyncTokenClient
from doku.client.lean import LeanTokenClient
from doku.client.tokens import TokenClient

CLIENT_CLASSES: dict[str, type[TokenClient]] = {
    "requests": TokenClient,
    "lean": LeanTokenClient,
    "aio": AsyncTokenClient,
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

"""The asyncio event loops this machine can run, fastest first.

uvloop (libuv, written in C) when it is installed: its transports read, write and
schedule without Python frames, which took about 10% off the bulk client's CPU per
customer and added about 10% to the simulator's ceiling (bench/bench_bulk.py,
bench/bench_simulator.py). asyncio's own loop otherwise, and always on request. The
bulk client (`doku.client.aio`) and the simulator's event-loop front end both choose
their loop here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def event_loops() -> dict[str, LoopFactory]:
    """Name -> factory of every event loop there is, best first."""
    loops: dict[str, LoopFactory] = {}
    try:
        import uvloop
    except ImportError:
        pass
    else:
        loops["uvloop"] = uvloop.new_event_loop
    loops["asyncio"] = asyncio.new_event_loop
    return loops


def new_event_loop(name: str | None = None) -> tuple[str, asyncio.AbstractEventLoop]:
    """A new loop of the kind named (None: the best there is) and its name; ValueError
    naming the choices when there is no such loop here."""
    loops = event_loops()
    chosen = name or next(iter(loops))
    if chosen not in loops:
        raise ValueError(f"no event loop {chosen!r} here; one of {', '.join(loops)}")
    return chosen, loops[chosen]()

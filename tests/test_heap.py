"""`doku.engine.heap.frozen_heap`: the objects a bulk job finds are kept out of the
collector while it fetches, and handed back when the last job ends (not when the
host had frozen its heap itself)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import ClassVar

import pytest

from doku.client.aio import AsyncTokenClient
from doku.client.tokens import TokenResult
from doku.engine.bulk import AuditOptions
from doku.engine.heap import frozen_heap
from doku.engine.inputs import parse_text
from doku.engine.service import start_audit
from doku.engine.store import Store
from doku.simulator import RunningSimulator
from tests.test_bulk import ids, settings_for


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_what_exists_is_frozen_until_the_last_holder_leaves() -> None:
    before = [[n] for n in range(1000)]  # 1,001 containers the collector tracks
    with frozen_heap():
        frozen = gc.get_freeze_count()
        assert frozen >= len(before) + 1
        later = [[n] for n in range(500)]
        with frozen_heap():  # a second job shares the first one's freeze
            assert gc.get_freeze_count() == frozen
        assert gc.get_freeze_count() == frozen  # the first job still runs
    assert gc.get_freeze_count() == 0
    assert len(later) == 500


def test_a_host_that_froze_its_heap_keeps_the_freeze() -> None:
    gc.freeze()
    theirs = gc.get_freeze_count()
    with frozen_heap():
        pass
    assert gc.get_freeze_count() == theirs


def test_an_error_in_the_job_still_thaws() -> None:
    with pytest.raises(RuntimeError), frozen_heap():
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0


class Watching(AsyncTokenClient):
    """Notes whether the heap was frozen when each customer was fetched."""

    frozen: ClassVar[list[bool]] = []

    async def fetch(self, customer_id: str, token_type: str | None = None) -> TokenResult:
        Watching.frozen.append(gc.get_freeze_count() > 0)
        return await super().fetch(customer_id, token_type)


def test_a_bulk_job_fetches_with_the_heap_frozen_and_thaws_after(
    backend_store: Store, simulator: RunningSimulator
) -> None:
    Watching.frozen = []
    job = start_audit(backend_store, parse_text("\n".join(ids(20))),
                      settings_for(simulator.url), AuditOptions(concurrency=4),
                      client_factory=Watching)
    assert job.wait(30).state == "done"
    assert Watching.frozen == [True] * 20
    assert gc.get_freeze_count() == 0

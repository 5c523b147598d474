"""The bulk engine's two ways of running its workers store the same results: coroutines
on AsyncTokenClient's loop (the default) and threads over a blocking client given as
`client_factory`; and a worker that meets an unexpected error stops the run there."""

from __future__ import annotations

from typing import Any

import pytest

from doku.client.aio import AsyncTokenClient
from doku.client.lean import LeanTokenClient
from doku.client.tokens import TokenClient, TokenResult
from doku.engine.bulk import AuditOptions, BulkJob
from doku.engine.inputs import parse_text
from doku.engine.service import create_run, start_audit
from doku.engine.store import Store
from doku.simulator import RunningSimulator
from tests.test_bulk import assert_matches_truth, ids, settings_for, stored, truth


@pytest.fixture
def store(backend_store: Store) -> Store:
    return backend_store


@pytest.mark.parametrize("factory", [None, LeanTokenClient], ids=["coroutines", "threads"])
def test_both_worker_kinds_store_the_truth(
    store: Store, simulator: RunningSimulator, factory: type[TokenClient] | None
) -> None:
    made: list[TokenClient] = []

    def make(*args: Any, **kwargs: Any) -> TokenClient:
        client = (factory or AsyncTokenClient)(*args, **kwargs)
        made.append(client)
        return client

    parsed = parse_text("\n".join(ids(120)))
    job = start_audit(store, parsed, settings_for(simulator.url), AuditOptions(concurrency=8),
                      client_factory=make)
    p = job.wait(60)
    assert (p.state, p.done, p.fetched, p.failed) == ("done", 120, 120, 0)
    assert [type(c) for c in made] == [factory or AsyncTokenClient]
    assert p.tokens == sum(len(truth(c)) for c in parsed.ids)
    assert sorted(stored(store, job.run_id)) == sorted(c for c in parsed.ids if truth(c))
    assert_matches_truth(store, job.run_id)


class Exploding(AsyncTokenClient):
    """Answers until customer C-000005, then fails in a way no DokuError describes."""

    async def fetch(self, customer_id: str, token_type: str | None = None) -> TokenResult:
        if customer_id == "C-000005":
            raise ZeroDivisionError("a bug")
        return await super().fetch(customer_id, token_type)


def test_an_unexpected_error_in_a_coroutine_aborts_the_run_and_keeps_the_rest(
    store: Store, simulator: RunningSimulator
) -> None:
    settings, options = settings_for(simulator.url), AuditOptions(concurrency=1)
    run_id = create_run(store, parse_text("\n".join(ids(10))), settings, options)
    job = BulkJob(store, run_id, ids(10), settings, options, client_factory=Exploding).start()
    p = job.wait(30)
    assert p.state == "aborted"
    assert p.error == "unexpected ZeroDivisionError: a bug"
    assert p.fetched == 5  # C-000000 .. C-000004, in order with one worker
    assert store.pending_ids(run_id) == ids(10)[5:]

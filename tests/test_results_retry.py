"""A batch of results the database gave up (a deadlock with a claim renewal) is
written again; any other store failure is not."""

from __future__ import annotations

import pytest

from doku.engine.database import store_error
from doku.engine.results import TRANSIENT_ATTEMPTS, Fetched
from doku.engine.store import Store
from doku.errors import StoreError
from doku.models import DIRECT_DEBIT, Token


class DriverError(Exception):
    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(("sqlstate", "transient"), [
    ("40P01", True), ("40001", True), ("23505", False), (None, False),
])
def test_store_errors_say_whether_running_again_helps(sqlstate: str | None,
                                                      transient: bool) -> None:
    store = Store(":memory:")
    error = store_error(DriverError("deadlock detected", sqlstate), store.location)
    assert (error.transient, str(error).endswith("deadlock detected")) == (transient, True)


def _store_with_run() -> tuple[Store, int]:
    store = Store(":memory:")
    run = store.create_run(ids=["C1"], env="simulator", base_url=None, client_id="M",
                           input_name="r.csv")
    return store, run


def test_a_deadlocked_batch_is_written_again(monkeypatch: pytest.MonkeyPatch) -> None:
    store, run = _store_with_run()
    write, failures = store._record_results, [True] * (TRANSIENT_ATTEMPTS - 1)

    def deadlock_first(*args: object) -> None:
        if failures:
            failures.pop()
            error = StoreError("cannot use the store: deadlock detected")
            error.transient = True
            raise error
        write(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_record_results", deadlock_first)
    token = Token("C1", "Ani", DIRECT_DEBIT, "BRI", None, "****0001", "t-1")
    store.record_results(run, [Fetched("C1", [token], 1)])
    info = store.get_run(run)
    assert info is not None
    assert (failures, info.fetched, info.tokens) == ([], 1, 1)


def test_other_failures_and_the_last_attempt_are_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    store, run = _store_with_run()
    calls: list[bool] = []

    def failing(transient: bool) -> object:
        def fail(*_args: object) -> None:
            calls.append(transient)
            error = StoreError("cannot use the store: boom")
            error.transient = transient
            raise error
        return fail

    monkeypatch.setattr(store, "_record_results", failing(False))
    with pytest.raises(StoreError):
        store.record_results(run, [Fetched("C1", [], 1)])
    assert calls == [False]
    monkeypatch.setattr(store, "_record_results", failing(True))
    with pytest.raises(StoreError):
        store.record_results(run, [Fetched("C1", [], 1)])
    assert calls == [False] + [True] * TRANSIENT_ATTEMPTS


def test_a_deadlocked_heartbeat_is_run_again(monkeypatch: pytest.MonkeyPatch) -> None:
    store, run = _store_with_run()
    worker = store.register_worker("worker", 8)
    write, failures = store._write, [True, True]

    def deadlock_first() -> object:
        if failures:
            failures.pop()
            error = StoreError("cannot use the store: deadlock detected")
            error.transient = True
            raise error
        return write()

    monkeypatch.setattr(store, "_write", deadlock_first)
    assert store.worker_heartbeat(worker, run) == 0
    assert failures == []

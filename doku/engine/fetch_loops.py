"""How a bulk job's workers fetch: coroutines on an `AsyncTokenClient`'s loop (the
default transport) or threads over any blocking `TokenClient` (a `client_factory`
given by a caller or a test); one rule for what each outcome means (`_settle`).

Measured side by side on bench/bench_bulk.py's CPU point (simulator at 0 ms, C = 16):
the coroutines spend about a third of the threads' CPU per customer, because answers
no longer wake threads that fight over the GIL.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from doku.client.aio import AsyncTokenClient
from doku.client.tokens import TokenClient, TokenResult
from doku.engine.audit_model import AUTH_FAILURES_TO_ABORT
from doku.engine.results import Failed, Fetched
from doku.errors import AuthenticationError, CancelledError, DokuError

if TYPE_CHECKING:
    from doku.engine.audit_model import AuditOptions, _Counters
    from doku.engine.result_writer import ResultWriter
    from doku.engine.sources import CustomerSource

class FetchLoops:
    """`BulkJob`'s workers (a mixin: it uses the job's source, writer and counters)."""

    run_id: int
    source: CustomerSource
    options: AuditOptions
    _writer: ResultWriter | None
    _lock: threading.Lock
    _c: _Counters
    _succeeded: bool
    cancel_event: threading.Event

    def _take(self) -> str | None:  # BulkJob's
        raise NotImplementedError

    def _abort(self, message: str) -> None:  # BulkJob's
        raise NotImplementedError

    def _fetch_all(self, client: TokenClient, workers: int) -> None:
        """Fetch until the source is exhausted or the job stops, `workers` at a time."""
        if isinstance(client, AsyncTokenClient):
            client.run(self._coroutines(client, workers))
            return
        threads = [
            threading.Thread(target=self._worker, args=(client,), daemon=True,
                             name=f"audit-{self.run_id}-w{i}")
            for i in range(workers)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    async def _coroutines(self, client: AsyncTokenClient, workers: int) -> None:
        await asyncio.gather(*(self._coroutine(client) for _ in range(workers)))

    async def _coroutine(self, client: AsyncTokenClient) -> None:
        loop = asyncio.get_running_loop()
        # A shared run's take may claim a batch in the store: that goes off the loop.
        shared = self.source.shared
        claimed = getattr(self.source, "take_claimed", None) if shared else None
        token_type = self.options.token_type
        try:
            while True:
                if not shared:
                    cid = self._take()
                else:
                    cid = claimed(self.cancel_event) if claimed is not None else None
                    if cid is None:
                        cid = await loop.run_in_executor(None, self._take)
                if cid is None:
                    return
                try:
                    result = await client.fetch(cid, token_type)
                except Exception as exc:
                    if not self._settle(cid, None, exc):
                        return
                else:
                    self._settle(cid, result, None)
        except Exception as exc:
            # The customer in hand stays pending; everything written so far is kept.
            self._abort(f"{type(exc).__name__}: {exc}")

    def _worker(self, client: TokenClient) -> None:
        token_type = self.options.token_type
        try:
            while (cid := self._take()) is not None:
                try:
                    result = client.get_tokens(cid, token_type)
                except Exception as exc:
                    if not self._settle(cid, None, exc):
                        return
                else:
                    self._settle(cid, result, None)
        except Exception as exc:
            self._abort(f"{type(exc).__name__}: {exc}")

    def _settle(self, cid: str, result: TokenResult | None,
                exc: BaseException | None) -> bool:
        """Hand the outcome for `cid` to the writer; False: this worker stops."""
        writer = self._writer
        assert writer is not None, "_run makes the writer before the workers"
        if result is not None:
            self._succeeded = True
            self._c.auth_streak = 0  # a plain store: a race only delays an abort
            writer.put(Fetched(cid, result.tokens, result.attempts, result.request_id,
                               result.latency_ms, result.duplicates))
            return True
        if isinstance(exc, CancelledError):
            return False  # stays pending: a resume fetches it
        if isinstance(exc, AuthenticationError):
            with self._lock:
                self._c.auth_streak += 1
                first = not self._succeeded
                streak = self._c.auth_streak
            if first or streak >= AUTH_FAILURES_TO_ABORT:
                self._abort(f"{exc} - check DOKU_CLIENT_ID / DOKU_SECRET_KEY; "
                            "the run stopped and can be resumed")
                return False  # this customer stays pending
            writer.put(_failure(cid, exc))
            return True
        if isinstance(exc, DokuError):
            writer.put(_failure(cid, exc))
            return True
        self._abort(f"unexpected {type(exc).__name__}: {exc}")
        return False


def _failure(cid: str, exc: DokuError) -> Failed:
    return Failed(cid, exc.code, exc.message, exc.attempts, exc.status, exc.request_id)

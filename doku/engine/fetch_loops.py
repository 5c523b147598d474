"""How a bulk job's workers fetch: coroutines on an `AsyncTokenClient`'s loop (the
default transport) or threads over any blocking `TokenClient` (a `client_factory`
given by a caller or a test); one rule for what each outcome means (`_settle`). `BulkJob._run` calls
`fetch_all`; these functions use the job's source, writer and counters.

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
    from doku.engine.bulk import BulkJob


def fetch_all(job: BulkJob, client: TokenClient, workers: int) -> None:
    """Fetch until the source is exhausted or the job stops, `workers` at a time."""
    if isinstance(client, AsyncTokenClient):
        client.run(_coroutines(job, client, workers))
        return
    threads = [
        threading.Thread(target=_worker, args=(job, client), daemon=True,
                         name=f"audit-{job.run_id}-w{i}")
        for i in range(workers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


async def _coroutines(job: BulkJob, client: AsyncTokenClient, workers: int) -> None:
    await asyncio.gather(*(_coroutine(job, client) for _ in range(workers)))


async def _coroutine(job: BulkJob, client: AsyncTokenClient) -> None:
    loop = asyncio.get_running_loop()
    # A shared run's take may claim a batch in the store: that goes off the loop.
    shared = job.source.shared
    claimed = getattr(job.source, "take_claimed", None) if shared else None
    token_type = job.options.token_type
    try:
        while True:
            if not shared:
                cid = job._take()
            else:
                cid = claimed(job.cancel_event) if claimed is not None else None
                if cid is None:
                    cid = await loop.run_in_executor(None, job._take)
            if cid is None:
                return
            try:
                result = await client.fetch(cid, token_type)
            except Exception as exc:
                if not _settle(job, cid, None, exc):
                    return
            else:
                _settle(job, cid, result, None)
    except Exception as exc:
        # The customer in hand stays pending; everything written so far is kept.
        job._abort(f"{type(exc).__name__}: {exc}")


def _worker(job: BulkJob, client: TokenClient) -> None:
    token_type = job.options.token_type
    try:
        while (cid := job._take()) is not None:
            try:
                result = client.get_tokens(cid, token_type)
            except Exception as exc:
                if not _settle(job, cid, None, exc):
                    return
            else:
                _settle(job, cid, result, None)
    except Exception as exc:
        job._abort(f"{type(exc).__name__}: {exc}")


def _settle(job: BulkJob, cid: str, result: TokenResult | None,
            exc: BaseException | None) -> bool:
    """Hand the outcome for `cid` to the writer; False: this worker stops."""
    writer = job._writer
    assert writer is not None, "_run makes the writer before the workers"
    if result is not None:
        job._succeeded = True
        job._c.auth_streak = 0  # a plain store: a race only delays an abort
        writer.put(Fetched(cid, result.tokens, result.attempts, result.request_id,
                           result.latency_ms, result.duplicates))
        return True
    if isinstance(exc, CancelledError):
        return False  # stays pending: a resume fetches it
    if isinstance(exc, AuthenticationError):
        with job._lock:
            job._c.auth_streak += 1
            first = not job._succeeded
            streak = job._c.auth_streak
        if first or streak >= AUTH_FAILURES_TO_ABORT:
            job._abort(f"{exc} - check DOKU_CLIENT_ID / DOKU_SECRET_KEY; "
                        "the run stopped and can be resumed")
            return False  # this customer stays pending
        writer.put(_failure(cid, exc))
        return True
    if isinstance(exc, DokuError):
        writer.put(_failure(cid, exc))
        return True
    job._abort(f"unexpected {type(exc).__name__}: {exc}")
    return False


def _failure(cid: str, exc: DokuError) -> Failed:
    return Failed(cid, exc.code, exc.message, exc.attempts, exc.status, exc.request_id)

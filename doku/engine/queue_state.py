"""What the queue is doing: runs waiting, runs being fetched and by whom, the live
fetchers, the last runs finished. Read from the store alone (both backends), so a
page or `doku queue` shows it without talking to any worker."""

from __future__ import annotations

from dataclasses import dataclass, field

from doku.engine.claims import WorkerInfo
from doku.engine.schema import RunInfo
from doku.engine.store import Store

RECENT_RUNS = 100  # how far back in the run list the queue looks
FINISHED_SHOWN = 5


@dataclass(frozen=True)
class RunningRun:
    run: RunInfo
    holders: dict[str, int] = field(default_factory=dict)  # fetcher -> customers held


@dataclass(frozen=True)
class QueueState:
    queued: list[RunInfo]
    running: list[RunningRun]
    workers: list[WorkerInfo]  # alive now (any kind), oldest first
    finished: list[RunInfo]  # the last runs that ended, newest first

    @property
    def idle_workers(self) -> list[WorkerInfo]:
        return [w for w in self.workers if w.kind == "worker" and w.run_id is None]


def queue_state(store: Store) -> QueueState:
    """The queue now. `running` lists every running run (a queued one with the
    fetchers holding its customers; one fetched by a single process with none)."""
    runs = store.list_runs(limit=RECENT_RUNS)
    holders = store.claim_holders()
    alive = [w for w in store.workers() if w.alive()]
    return QueueState(
        queued=sorted((r for r in runs if r.status == "queued"), key=lambda r: r.id),
        running=[RunningRun(r, holders.get(r.id, {}))
                 for r in sorted(runs, key=lambda r: r.id) if r.status == "running"],
        workers=alive,
        finished=[r for r in runs if r.status not in ("queued", "running")][:FINISHED_SHOWN],
    )


def to_dict(state: QueueState) -> dict[str, object]:
    """What `doku queue --json` prints (keys are a contract: add, never rename)."""
    def run_entry(r: RunInfo) -> dict[str, object]:
        return {"run_id": r.id, "name": r.name, "status": r.status, "customers": r.customers,
                "fetched": r.fetched, "failed": r.failed, "pending": r.pending,
                "queued": r.queued_at is not None, "created_at": r.created_at,
                "finished_at": r.finished_at}

    return {
        "queued": [run_entry(r) for r in state.queued],
        "running": [{**run_entry(x.run), "fetchers": x.holders} for x in state.running],
        "workers": [{"id": w.id, "host": w.host, "pid": w.pid, "kind": w.kind,
                     "run_id": w.run_id, "concurrency": w.concurrency,
                     "started_at": w.started_at,
                     "heartbeat_age_s": round(w.heartbeat_age_s, 1)} for w in state.workers],
        "finished": [run_entry(r) for r in state.finished],
    }

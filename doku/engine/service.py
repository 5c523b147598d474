"""Start, resume or retry an audit run: record the run, then fetch in the background.

Shared by `doku audit`, the dashboard's Bulk audit page and `doku.audit`.
Every function here takes settings as loaded (`doku.settings.load_settings`) or
already resolved: a simulator without a base URL gets the embedded simulator
(`doku.engine.connection.resolve`), any other environment without one is refused
with a ConfigurationError before a run is recorded - never a run that aborts
silently because its client had nowhere to connect.
"""

from __future__ import annotations

from typing import Any

from doku.engine import bulk
from doku.engine.bulk import AuditOptions, BulkJob
from doku.engine.connection import resolve
from doku.engine.inputs import ParsedInput
from doku.engine.schema import Reject
from doku.engine.store import Store
from doku.errors import InvalidInputError
from doku.settings import Settings


def create_run(
    store: Store,
    parsed: ParsedInput,
    settings: Settings,
    options: AuditOptions,
    *,
    name: str | None = None,
    note: str | None = None,
) -> int:
    """Record the run with every valid customer pending and every rejected row kept.

    `settings` should be resolved (`doku.engine.connection.resolve`): the run
    records its base URL.
    """
    if not parsed.ids:
        raise InvalidInputError(
            f"{parsed.source}: no valid customer IDs to audit "
            f"({len(parsed.rejected)} rejected, {parsed.blank_rows} blank rows)"
        )
    return store.create_run(
        ids=parsed.ids,
        attribute_values=parsed.attributes,
        attribute_columns=parsed.attribute_columns,
        rejects=[Reject(r.row, r.value, r.reason) for r in parsed.rejected],
        duplicates=parsed.duplicates,
        blank_rows=parsed.blank_rows,
        env=settings.env,
        base_url=settings.base_url,
        client_id=settings.client_id,
        input_name=parsed.source,
        token_type=options.token_type,
        options=options.to_dict(),
        name=name,
        note=note,
        store_token_ids=options.store_token_ids,
    )


def start_audit(
    store: Store,
    parsed: ParsedInput,
    settings: Settings,
    options: AuditOptions,
    *,
    name: str | None = None,
    note: str | None = None,
) -> BulkJob:
    """Create the run and start fetching all its customers; returns the running job.

    Unresolved settings are resolved first (`doku.engine.connection.resolve`), so a
    configuration problem raises here and records no run.
    """
    settings = resolve(settings)
    run_id = create_run(store, parsed, settings, options, name=name, note=note)
    return BulkJob(store, run_id, parsed.ids, settings, options).start()


def start_resume(store: Store, run_id: int, settings: Settings, **overrides: Any) -> BulkJob:
    """Fetch only the customers of `run_id` without a terminal state (settings resolved
    first; `overrides`: concurrency, rps, ... as in `doku.engine.bulk.options_for`)."""
    return bulk.start_resume(store, run_id, resolve(settings), **overrides)


def start_retry_failed(
    store: Store, run_id: int, settings: Settings, **overrides: Any
) -> BulkJob:
    """Refetch only the failed customers of `run_id` (settings resolved first)."""
    return bulk.start_retry_failed(store, run_id, resolve(settings), **overrides)

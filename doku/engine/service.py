"""Start an audit run from parsed input: record the run, then fetch in the background.

Shared by `python -m doku audit` and the dashboard's Bulk audit page.
"""

from __future__ import annotations

from doku.engine.bulk import AuditOptions, BulkJob
from doku.engine.inputs import ParsedInput
from doku.engine.schema import Reject
from doku.engine.store import Store
from doku.errors import InvalidInputError
from doku.settings import Settings


def create_run(
    store: Store, parsed: ParsedInput, settings: Settings, options: AuditOptions
) -> int:
    """Record the run with every valid customer pending and every rejected row kept."""
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
        store_token_ids=options.store_token_ids,
    )


def start_audit(
    store: Store, parsed: ParsedInput, settings: Settings, options: AuditOptions
) -> BulkJob:
    """Create the run and start fetching all its customers; returns the running job."""
    run_id = create_run(store, parsed, settings, options)
    return BulkJob(store, run_id, parsed.ids, settings, options).start()

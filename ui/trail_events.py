"""The audit trail entries the dashboard records itself: downloads. (Sign-ins are
recorded by `ui.auth`, a lookup's reveal by `ui.lookup_view`; audits, cancels,
deletions, saved audits and schedules by the engine functions the pages call with
their actor.)

Every `st.download_button` passes `on_click=record_download` with what it holds: one
DOWNLOAD entry per click - the table or chart, its format, the run and the filters.
Token IDs in the dashboard's downloads are always masked. The bytes themselves are made
by a deferred callable on a server thread, without the session: a click whose entry
cannot be written still downloads, and the page then says the trail failed."""

from __future__ import annotations

from collections.abc import Mapping

from doku.access import DOWNLOAD
from doku.analysis.filters import Filters
from doku.engine.trail import DOWNLOAD as DOWNLOADED
from doku.errors import DokuError
from ui import auth, state

Detail = Mapping[str, str | int | float | bool | None]


def filters_text(filters: Filters | None) -> str:
    """The filters as the trail keeps them: their description, or "none"."""
    described = filters.describe() if filters is not None and filters.active else ""
    return described or "none"


def download_detail(what: str, fmt: str, *, rows: int | None = None,
                    filters: Filters | None = None, **more: str | int | None) -> Detail:
    """What a download holds, for its entry (short scalars only; `more` without its
    None values)."""
    return {"what": what, "format": fmt, "rows": rows, "filters": filters_text(filters),
            **{k: v for k, v in more.items() if v is not None}}


def record_download(object: str, detail: Detail) -> None:
    """A download button's on_click: one DOWNLOAD entry by this session's actor (a
    refusal, or a trail that cannot be written, is shown on the page)."""
    actor = auth.callback_actor(DOWNLOAD)
    if actor is None:
        return
    try:
        state.get_store().record_event(actor, DOWNLOADED, object, detail)
    except DokuError as exc:
        auth.keep_problem(exc)

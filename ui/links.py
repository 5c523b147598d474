"""Insights in the URL: its widgets are bound to query parameters (`bind=
"query-params"`, the widget key is the parameter name), so a link reopens the same
run, filters and "uptake by", and back/forward work. Streamlit drops a URL value a
widget does not offer without a word: `note_unknown` reads it first and keeps a note
(Markdown, values `escape_md`'d) shown until another run is picked. `share_link` is the
link to this view with the run always in it (the latest run is otherwise left out of
the URL, so a bare link would follow newer runs)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal
from urllib.parse import urlencode

import streamlit as st

from ui.present import escape_md, md_list

BIND: Literal["query-params"] = "query-params"
NOTES = "insights_url_notes"
LEGACY_RUN = "run"  # ?run=12, as older links and the run panel's link say
PAGE = "Insights"


def unknown_in_url(key: str, valid: Iterable[str]) -> list[str]:
    """Values the URL gives widget `key` that it does not offer (as shown)."""
    if key not in st.query_params:
        return []
    allowed = set(valid)
    return [v for v in st.query_params.get_all(key) if v and v not in allowed]


def note(key: str, what: str, values: list[str]) -> None:
    """Keep: the link asked `key` for `values` (plain text) it cannot show."""
    st.session_state.setdefault(NOTES, {})[key] = (what, values)


def note_unknown(key: str, valid: Iterable[str], what: str) -> None:
    """Before widget `key` renders: note URL values it will drop (`what`: plain)."""
    unknown = unknown_in_url(key, valid)
    if unknown:
        note(key, what, unknown)


def note_text(what: str, values: list[str]) -> str:
    """A note as Markdown: every value from the link `escape_md`'d."""
    if what == "run":
        return (f"The link asked for run {md_list(values)}, which is not in this data "
                "folder (deleted, archived or renamed?): showing the latest run instead.")
    return (f"The link asked for {escape_md(what)} {md_list(values)}, which this run "
            "does not have: not applied.")


def show_notes() -> None:
    for what, values in st.session_state.get(NOTES, {}).values():
        st.warning(note_text(what, values), icon=":material/link_off:")


def forget_notes() -> None:
    st.session_state.pop(NOTES, None)


def legacy_run(run_ids: list[int], key: str) -> None:
    """A `?run=12` link (the run panel's, older links; when the URL has no `key`):
    open that run, or say it is not here. The parameter is then dropped from the URL."""
    wanted = st.query_params.get(LEGACY_RUN)
    if wanted is None or key in st.query_params:
        return
    if wanted.isdigit() and int(wanted) in run_ids:
        st.session_state[key] = int(wanted)
    else:
        note(key, "run", [wanted])
    del st.query_params[LEGACY_RUN]


def share_link(params: Mapping[str, str | list[str]]) -> str:
    """This view as a link (absolute when the browser told us the app's URL)."""
    base = st.context.url
    path = f"{base.rstrip('/')}/{PAGE}" if base else PAGE
    return f"{path}?{urlencode(dict(params), doseq=True)}"

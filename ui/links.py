"""Insights in the URL and in the browser's history.

The view (run, filters, "uptake by") is kept in query parameters named after its
widget keys, so a link reopens it, and each change of view is one history entry, so
Back and Forward step through views.

Not `bind="query-params"`: Streamlit 1.67's frontend writes a bound widget's change
with history.replaceState, which overwrites the previous view's entry (Back leaves the
page). Instead, per script run of the page:
- `begin` decides where the view comes from. The widgets, when one of them (or a
  callback, e.g. a chart drill-down writing `st.session_state[key]`) changed it. The
  URL, when it is not the one this session last saw and nothing changed: a first load
  (a shared link), a return from another page, or Back/Forward (the browser reruns the
  page with that entry's query string; the widgets keep their values).
- `from_url`, just before each widget, gives it the URL's values (its default when the
  URL has none) and keeps a note of the values it does not offer (shown Markdown-safe
  until another run is picked, or the next URL is read). A widget last drawn for
  another run (`scope`) gets its default: that run's issuers and segments differ.
- `drawn`, just after each widget, records its value as the URL spells it.
- `finish`, at the end, writes the view with `st.query_params.from_dict` when it
  differs from the last run's and from the URL. The frontend then calls
  history.pushState (a new entry; replaceState while it replays Back/Forward): an
  internal behaviour of its `handlePageInfoChanged`, checked in
  tests/e2e/test_links_browser.py. A view read from the URL is not written back, so
  opening a link or going Back adds no entry (and a link keeps its spelling until the
  view changes).

Defaults stay out of the URL: no filter, the first "uptake by", and the latest run (a
bare link follows newer runs). `share_link` always names the run."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode

import streamlit as st
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from ui.present import escape_md, md_list

PREFIX = "insights_"  # every parameter of the view starts so (and its widget key)
LEGACY_RUN = "run"  # ?run=12, as older links and the run panel's link say
PAGE = "Insights"
NOTES = "insights_url_notes"  # {key: (what, values)}: what the URL asked for in vain
SEEDING = "insights_url_seeding"  # this script run takes its view from the URL
DRAWN = "insights_url_drawn"  # {key: (values as the URL spells them, is the default)}
SEEN = "insights_url_seen"  # the view part of the URL when the last run ended
VIEW = "insights_url_view"  # the view (as `url_params`) when the last run ended
HELD = "insights_url_held"  # {key: widget value} as last drawn
SCOPE = "insights_url_scope"  # what the widgets drawn from now on belong to (the run)
SCOPE_OF = "insights_url_scope_of"  # {key: the scope its value was last drawn in}
# The URL the last write replaced. A rerun carrying it that is not Back/Forward comes
# from a click sent before the browser applied the write: stale, not a view to read.
REPLACED = "insights_url_replaced"
V = TypeVar("V")


def history_navigation() -> bool:
    """Is this run the browser's Back/Forward? Streamlit's run context carries the flag
    its frontend sends with a popstate rerun (internal: no public API says so)."""
    return bool(getattr(get_script_run_ctx(), "is_history_navigation", False))


def url_view() -> dict[str, list[str]]:
    """The view's part of the current URL (its own parameters, and a legacy `run`)."""
    return {k: st.query_params.get_all(k) for k in st.query_params
            if k.startswith(PREFIX) or k == LEGACY_RUN}


def begin() -> None:
    """Top of the page: does this run take its view from the URL?"""
    held: dict[str, Any] = st.session_state.setdefault(HELD, {})
    mounted = any(k in st.session_state for k in held)  # not after another page
    changed = any(k in st.session_state and st.session_state[k] != v for k, v in held.items())
    url = url_view()
    stale = url == st.session_state.get(REPLACED) and not history_navigation()
    seeding = not mounted or (not changed and url != st.session_state.get(SEEN) and not stale)
    if seeding:
        forget_notes()
        st.session_state[SEEN] = url  # now, in case this run is cut short by the next
    st.session_state[SEEDING] = seeding
    st.session_state[SCOPE] = None
    st.session_state[DRAWN] = {}


def seeding() -> bool:
    return bool(st.session_state.get(SEEDING))


def scope(value: object) -> None:
    """The widgets drawn from now on in this run belong to `value` (the run picked)."""
    st.session_state[SCOPE] = value


def from_url(key: str, choices: Mapping[str, V], what: str, *, many: bool = False) -> None:
    """Before widget `key` (options: `choices`, URL spelling -> value) is drawn. In a
    run seeded from the URL: set it to the URL's values it offers (a selectbox: the
    last) and note the others (`what`: plain text naming the widget). Else, when it
    was last drawn in another `scope` (another run was picked): set its default.
    Defaults: nothing chosen, or the first choice. Set, never deleted: a keyed widget
    whose key is deleted goes on showing its old value in the browser."""
    drawn_in: dict[str, object] = st.session_state.setdefault(SCOPE_OF, {})
    if seeding():
        asked = [v for v in st.query_params.get_all(key) if v]
        unknown = [v for v in asked if v not in choices]
        if unknown:
            note(key, what, unknown)
    elif key in drawn_in and drawn_in[key] != st.session_state[SCOPE]:
        asked = []
    else:
        return
    known: list[V] = []
    for spelled in asked:
        if spelled in choices and choices[spelled] not in known:
            known.append(choices[spelled])
    if many:
        st.session_state[key] = known
    elif known or choices:
        st.session_state[key] = known[-1] if known else next(iter(choices.values()))


def drawn(key: str, values: Iterable[str], *, default: bool) -> None:
    """Widget `key` was drawn showing `values` (as the URL spells them); `default`: it
    shows its default, left out of the URL. Its value is held at once: the browser has
    it even if this run is cut short (a click or Back reruns the page at once)."""
    st.session_state[DRAWN][key] = ([str(v) for v in values], default)
    st.session_state[HELD][key] = copy.deepcopy(st.session_state[key])
    st.session_state.setdefault(SCOPE_OF, {})[key] = st.session_state[SCOPE]


def url_params(always: Iterable[str] = ()) -> dict[str, list[str]]:
    """The drawn view as query parameters, in drawing order: defaults left out, except
    for the keys in `always`."""
    keep = set(always)
    drawn_now: dict[str, tuple[list[str], bool]] = st.session_state.get(DRAWN, {})
    return {k: values for k, (values, default) in drawn_now.items()
            if values and (not default or k in keep)}


def finish() -> None:
    """End of the page: a view the widgets changed goes to the URL (one history entry,
    other parameters kept). A link's own spelling stays until the view changes."""
    url = url_view()
    view = url_params()
    if not seeding() and view != st.session_state.get(VIEW) and view != url:
        others = {k: st.query_params.get_all(k) for k in st.query_params if k not in url}
        st.query_params.from_dict({**others, **view})
        st.session_state[REPLACED] = url
        url = view
    st.session_state[SEEN] = url
    st.session_state[VIEW] = view
    st.session_state[HELD] = {k: v for k, v in st.session_state[HELD].items()
                              if k in st.session_state[DRAWN]}  # this run's widgets only


def legacy_run(run_ids: list[int], key: str) -> None:
    """In a run seeded from the URL, a `?run=12` link (the run panel's, older links)
    whose URL has no `key`: open that run, or say it is not here. The parameter leaves
    the URL at the next change of view."""
    wanted = st.query_params.get(LEGACY_RUN)
    if not seeding() or wanted is None or key in st.query_params:
        return
    if wanted.isdigit() and int(wanted) in run_ids:
        st.session_state[key] = int(wanted)
    else:
        note(key, "run", [wanted])


def note(key: str, what: str, values: list[str]) -> None:
    """Keep: the link asked `key` for `values` (plain text) it cannot show."""
    st.session_state.setdefault(NOTES, {})[key] = (what, values)


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


def share_link(params: Mapping[str, str | list[str]]) -> str:
    """This view as a link: absolute when the browser told us the page's URL (which
    ends with the page, after any base path), else relative."""
    here = (st.context.url or "").rstrip("/")
    path = here if here.endswith(f"/{PAGE}") else f"{here}/{PAGE}" if here else PAGE
    return f"{path}?{urlencode(dict(params), doseq=True)}"

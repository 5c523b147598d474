"""Page chrome: every page starts with `settings = chrome.page_setup("Title", icon=...,
needs=...)` (page config, the sign-in gate, the sidebar - who is signed in, the pages
their role includes, the connection summary -, the page's own refusal when the role
does not include it, title, and the banner saying the built-in simulator is in use)
and runs its body inside `with chrome.guard():`, so a `DokuError`
becomes an `st.error` in plain words with what to do (`ui.advice`), and anything
unexpected a short `st.error` (details in the server log), never a traceback.

Every value shown in Markdown here (connection details, error texts) goes through
`ui.present.escape_md`: see the rule in `ui/__init__.py`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import streamlit as st

from doku import access
from doku.access import Actor
from doku.engine import database
from doku.engine.connection import describe, resolve
from doku.engine.schema import RunInfo
from doku.engine.store import Store
from doku.errors import ConfigurationError, DokuError, NotAllowedError
from doku.settings import Settings, load_settings, normalize_secrets
from ui import auth, state
from ui.advice import error_text, error_title
from ui.data import list_runs
from ui.present import (
    APP_TITLE,
    BULK,
    HOME,
    PAGE_NEEDS,
    badge,
    badge_label,
    escape_md,
    pages_for,
    run_badge,
)

log = logging.getLogger("doku.ui")
ACTOR = "auth_actor"  # session_state: this page run's actor (`current_actor`)


# -- settings ------------------------------------------------------------------------------
def secrets_table() -> dict[str, str]:
    """The [doku] table of st.secrets as DOKU_* keys ({} without secrets or table)."""
    try:
        table = st.secrets.get("doku", {})
    except FileNotFoundError:  # StreamlitSecretNotFoundError: no secrets.toml at all
        return {}
    except Exception as exc:
        raise ConfigurationError(f"cannot read .streamlit/secrets.toml: {exc}") from None
    if not hasattr(table, "items"):
        raise ConfigurationError("[doku] in .streamlit/secrets.toml is not a table")
    # [doku.access] is the sign-in's (ui.auth), not a DOKU setting.
    return normalize_secrets({k: v for k, v in table.items() if not hasattr(v, "items")})


def current_settings() -> tuple[Settings | None, DokuError | None]:
    """Settings (environment first, then secrets) resolved to a usable base URL, or
    the problem that stopped them."""
    try:
        return resolve(load_settings(secrets=secrets_table())), None
    except DokuError as exc:
        return None, exc
    except Exception as exc:
        log.error("cannot prepare the DOKU connection", exc_info=exc)
        problem = f"cannot prepare the connection ({type(exc).__name__}: {exc})"
        return None, ConfigurationError(problem)


# -- page chrome -----------------------------------------------------------------------------
def page_setup(title: str, *, icon: str, intro: str | None = None,
               needs: str = access.VIEW) -> Settings | None:
    """Page config, the sign-in gate (`ui.auth.gate`: a sign-in screen or a refusal
    stops the page), the sidebar, the page's refusal unless the role includes `needs`
    (a doku.access action), title and the simulator banner.

    Returns the resolved settings, or None after showing a configuration error (pages
    that need DOKU then stop; the others keep working on stored runs). The actor is
    `current_actor()` from here on.
    """
    home = title == APP_TITLE
    st.set_page_config(
        page_title=APP_TITLE if home else f"{title} · {APP_TITLE}",
        page_icon=icon,
        layout="wide",
    )
    actor = auth.gate()
    st.session_state[ACTOR] = actor
    settings, problem = current_settings()
    _sidebar(settings, actor)
    auth.refuse_page(actor, needs, title)
    st.title(escape_md(title))
    if intro:
        st.caption(escape_md(intro, 1000))
    auth.show_problem()
    if settings is not None:
        with guard("The schedule clock"):
            state.ensure_schedule_clock(settings)
    if problem is not None:
        show_error(problem)
    elif settings is not None and settings.uses_simulator:
        st.info(
            "Running on the built-in simulator: no DOKU credentials are configured, so "
            "requests go to a local stand-in with demo data. See README, *Configuration*.",
            icon=":material/science:",
        )
    return settings


def current_actor() -> Actor:
    """Who this page run is for (set by `page_setup`'s gate): what to offer. Handlers of
    sensitive actions ask `ui.auth.acting` instead, which checks again."""
    actor = st.session_state.get(ACTOR)
    if not isinstance(actor, Actor):
        raise RuntimeError("current_actor() before page_setup()")
    return actor


def _sidebar(settings: Settings | None, actor: Actor) -> None:
    with st.sidebar:
        auth.identity_box(actor)
        _navigation(actor)
        _connection(settings)


def _navigation(actor: Actor) -> None:
    """The pages the actor's role includes (Streamlit's own page list is off in
    .streamlit/config.toml: it would offer every page)."""
    with st.container(border=True):
        if actor.allowed(PAGE_NEEDS[HOME]):
            st.page_link(HOME, label="Home", icon=":material/home:")
        for path, label, icon, _ in pages_for(actor):
            st.page_link(path, label=escape_md(label), icon=icon)


def _connection(settings: Settings | None) -> None:
    with st.container(border=True):
        st.markdown("**:material/lan: Connection**")
        if settings is None:
            st.caption(":red[Not configured]: see the message on the page.")
            return
        info = describe(settings)
        st.caption(
            f"Environment: **{escape_md(info['environment'])}**  \n"
            f"Base URL: {escape_md(info['base_url'])}  \n"
            f"Client ID: {escape_md(info['client_id'])}  \n"
            f"Secret key: {escape_md(info['secret_key'])} (from {escape_md(info['source'])})"
        )
        st.caption(store_line())


def store_line() -> str:
    """Where runs are kept (Markdown): the SQLite file, or the PostgreSQL URL with its
    password as *** (`Location.where`); a store that cannot be resolved says so."""
    try:
        location = database.resolve()
    except DokuError as exc:
        return f"Store: :red[{escape_md(str(exc), 200)}]"
    kind = "PostgreSQL" if location.backend == database.POSTGRESQL else "SQLite"
    return f"Store: **{kind}** {escape_md(location.where, 200)}"


def require_settings(settings: Settings | None) -> Settings:
    """Stop the page (the error is already shown) when there are no usable settings."""
    if settings is None:
        st.stop()
    assert settings is not None
    return settings


def require_runs(store: Store) -> list[RunInfo]:
    """Every run, newest first; or a pointer to Bulk audit (and stop) when there is none."""
    runs = list_runs(store)
    if not runs:
        st.markdown("No runs yet: start an audit first.")
        if current_actor().allowed(access.AUDIT):
            st.page_link(BULK, label="Start a bulk audit", icon=":material/play_arrow:")
        st.stop()
    return runs


def status_badge(status: str) -> None:
    _, color, icon = badge(status)
    st.badge(badge_label(status), color=color, icon=icon)  # type: ignore[arg-type]


def run_status_badge(run: RunInfo) -> None:
    """A run's badge: "Done, N failed" (orange) when a finished run has failures."""
    if run.status == "done" and run.failed > 0:
        _, color, icon = run_badge(run)
        st.badge(f"Done, {run.failed:,} failed", color=color, icon=icon)  # type: ignore[arg-type]
    else:
        status_badge(run.status)


# -- errors ------------------------------------------------------------------------------------
def show_error(exc: DokuError) -> None:
    if isinstance(exc, NotAllowedError):
        auth.show_refusal(exc)
        return
    st.error(error_text(exc), title=error_title(exc), icon=":material/error:")


def show_unexpected(exc: BaseException, what: str = "This page") -> None:
    log.error("unexpected error on a dashboard page", exc_info=exc)
    st.error(
        f"{escape_md(what)} hit an unexpected problem ({escape_md(type(exc).__name__)}). "
        "The details are in the server log; reload the page to try again.",
        title="Something went wrong",
        icon=":material/error:",
    )


@contextlib.contextmanager
def guard(what: str = "This page") -> Iterator[None]:
    """Wrap a page body: errors become st.error messages, never a traceback.

    st.stop / st.rerun are BaseExceptions and pass through untouched.
    """
    try:
        yield
    except DokuError as exc:
        show_error(exc)
    except Exception as exc:
        show_unexpected(exc, what)

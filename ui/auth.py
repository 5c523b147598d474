"""Who is using the dashboard and what their role lets them do: the gate every page
passes through (`chrome.page_setup` calls `gate`), and `acting` for every sensitive
action's handler.

Two modes:

- Single-user (no `[auth]` in `.streamlit/secrets.toml`, the default): whoever can
  reach the page is this computer's user (`DOKU_ACTOR`, else the OS user, via
  "local", no role limits). Served on a loopback address only: bound anywhere else
  the pages refuse, unless `DOKU_ALLOW_OPEN=1` says that is meant.
- Signed in (`[auth]`): Streamlit's OIDC sign-in on every page; the role comes from
  `[doku.access]` (`doku.access.AccessPolicy`). Not signed in: a sign-in screen only.
  Signed in without a role (or with an unverified e-mail): a refusal only.

Pages and buttons ask `Actor.allowed` to decide what to offer; handlers ask `acting`
again (server-side), so a forged widget value or query parameter meets a
NotAllowedError, never the action. Sign-ins are recorded in the audit trail here, once
per sign-in (an identity cookie's `iat`), not once per page load.
"""

from __future__ import annotations

import ipaddress
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NoReturn

import streamlit as st

from doku.access import NEEDS, AccessPolicy, Actor, process_actor
from doku.engine.trail import SIGN_IN
from doku.errors import ConfigurationError, DokuError, NotAllowedError
from ui import state
from ui.advice import error_text, error_title
from ui.present import escape_md

ALLOW_OPEN_ENV = "DOKU_ALLOW_OPEN"
LOCAL, OIDC = "local", "oidc"
SINGLE_USER_LABEL = "Single-user mode (this computer only)"
OPEN_LABEL = f"No sign-in: open to anyone who can reach it ({ALLOW_OPEN_ENV}=1)"
PROBLEM = "auth_callback_problem"  # session_state: what a callback was refused or met
RECORDED = "auth_sign_in_recorded"  # session_state: the sign-in already in the trail
SIGN_INS_CHECKED = 50  # recent sign-ins of a user searched for this one (a reload)

# Streamlit's sign-in imports Authlib modules that Authlib 1.9 itself deprecates
# (authlib.jose, its httpx client) and Authlib forces those warnings on ("always"):
# every sign-in would log one. Nothing here can change them; other warnings stay.
try:
    from authlib.deprecate import AuthlibDeprecationWarning  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - Authlib is in requirements.txt
    pass
else:
    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)


@dataclass(frozen=True)
class AuthSetup:
    """What `.streamlit/secrets.toml` says about sign-in: whether `[auth]` is there,
    its named providers (`[auth.NAME]`; none: the default one) and `[doku.access]`."""

    signs_in: bool
    providers: tuple[str, ...]
    policy: AccessPolicy


def _secret(name: str) -> Any:
    try:
        return st.secrets.get(name)
    except FileNotFoundError:  # no secrets.toml at all: single-user mode
        return None
    except Exception as exc:
        raise ConfigurationError(f"cannot read .streamlit/secrets.toml: {exc}") from None


def auth_setup() -> AuthSetup:
    """`[auth]` and `[doku.access]`; ConfigurationError when either is malformed."""
    auth = _secret("auth")
    if auth is not None and not isinstance(auth, Mapping):
        raise ConfigurationError("[auth] in .streamlit/secrets.toml is not a table")
    doku = _secret("doku")
    access = doku.get("access") if isinstance(doku, Mapping) else None
    if access is not None and not isinstance(access, Mapping):
        raise ConfigurationError("[doku.access] in .streamlit/secrets.toml is not a table")
    providers = tuple(sorted(k for k, v in (auth or {}).items() if isinstance(v, Mapping)))
    named_only = bool(providers) and "client_id" not in (auth or {})
    if auth:
        _check_auth(auth, providers if named_only else ())
    return AuthSetup(signs_in=bool(auth), providers=providers if named_only else (),
                     policy=AccessPolicy.from_table(access))


SITE_KEYS = ("redirect_uri", "cookie_secret")
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")


def _check_auth(auth: Mapping[str, Any], providers: tuple[str, ...]) -> None:
    """ConfigurationError naming the `[auth]` keys that are missing (never a value):
    Streamlit would only find out when someone presses Sign in."""
    missing = [f"[auth] {k}" for k in SITE_KEYS if not auth.get(k)]
    for table, name in ([(auth, "[auth]")] if not providers else
                        [(auth[p], f"[auth.{p}]") for p in providers]):
        missing += [f"{name} {k}" for k in PROVIDER_KEYS if not table.get(k)]
    if missing:
        raise ConfigurationError("sign-in is configured but .streamlit/secrets.toml lacks "
                                 + ", ".join(missing) + " (see README, Deploying for a team)")


def is_loopback(address: str | None) -> bool:
    """Whether the server address only this computer can reach (127.0.0.0/8, ::1,
    localhost). Unset or empty means every interface; a host name may resolve
    anywhere: neither is loopback."""
    host = (address or "").strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bound_address() -> str | None:
    address = st.get_option("server.address")
    return None if address is None else str(address)


def open_allowed() -> bool:
    return os.environ.get(ALLOW_OPEN_ENV, "").strip() == "1"


def local_actor() -> Actor:
    return Actor(process_actor(LOCAL).name, LOCAL)


def _email(user: Mapping[str, Any]) -> str | None:
    email = user.get("email")
    if not isinstance(email, str) or user.get("email_verified") is False:
        return None  # an address the provider has not verified names no one
    return email.strip().lower() or None


def _user() -> Mapping[str, Any]:
    return st.user.to_dict() if hasattr(st.user, "to_dict") else dict(st.user)


def session_actor() -> Actor | None:
    """This session's actor, or None when no one may act here (not signed in, no role,
    or single-user mode served where it must not be)."""
    setup = auth_setup()
    if not setup.signs_in:
        if is_loopback(bound_address()) or open_allowed():
            return local_actor()
        return None
    user = _user()
    if not user.get("is_logged_in"):
        return None
    email = _email(user)
    role = setup.policy.role_for(email)
    return None if email is None or role is None else Actor(email, OIDC, role)


def acting(action: str) -> Actor:
    """This session's actor, if its role includes `action` (doku.access action names);
    NotAllowedError otherwise. Every handler of a sensitive action asks this, whatever
    the page offered."""
    actor = session_actor()
    if actor is None:
        raise NotAllowedError("sign in with an account that has a role here first")
    actor.require(action)
    return actor


def callback_actor(action: str) -> Actor | None:
    """`acting(action)` for a widget callback: a refusal is kept for the page to show
    (`show_problem`; a callback's exception would reach the page as a traceback) and
    None returned, so the callback does nothing."""
    try:
        return acting(action)
    except DokuError as exc:
        keep_problem(exc)
        return None


def keep_problem(exc: DokuError) -> None:
    """Keep an error a callback met (a refusal, a trail that could not be written)."""
    st.session_state[PROBLEM] = exc


def show_problem() -> None:
    """Show (once) what the last callback was refused or failed at."""
    exc = st.session_state.pop(PROBLEM, None)
    if isinstance(exc, NotAllowedError):
        show_refusal(exc)
    elif isinstance(exc, DokuError):
        st.error(error_text(exc), title=error_title(exc), icon=":material/error:")


def show_refusal(exc: NotAllowedError) -> None:
    """A refused action, in plain words (not a stored error code: no `ui.advice`)."""
    st.error(f"{escape_md(exc.message, 400)}. Ask an administrator to change your role "
             "in `[doku.access]` if you need it.", title="Not allowed",
             icon=":material/block:")


def policy() -> AccessPolicy:
    return auth_setup().policy


# -- the gate ---------------------------------------------------------------------------------
def gate() -> Actor:
    """The page's actor; or the sign-in screen, a refusal or a configuration error
    drawn alone and the page stopped."""
    try:
        setup = auth_setup()
    except DokuError as exc:
        _stop_with(exc)
    if not setup.signs_in:
        if not is_loopback(bound_address()) and not open_allowed():
            _refuse_open()
        return local_actor()
    user = _user()
    if not user.get("is_logged_in"):
        _sign_in_screen(setup)
    email = _email(user)
    role = setup.policy.role_for(email)
    if email is None or role is None:
        _no_role(user, setup)
    actor = Actor(email, OIDC, role)
    try:
        _record_sign_in(actor, user)
    except DokuError as exc:
        _stop_with(exc)  # no session without its sign-in on record
    return actor


def _stop_with(exc: DokuError) -> NoReturn:
    st.error(error_text(exc), title=error_title(exc), icon=":material/error:")
    st.stop()


def _refuse_open() -> NoReturn:
    st.error(
        f"This dashboard is bound to {escape_md(bound_address() or 'every interface')}, "
        "which other computers can reach, and has no sign-in: token IDs are payment "
        "credentials. Configure sign-in (`[auth]` and `[doku.access]` in "
        ".streamlit/secrets.toml, see README, *Deploying for a team*), bind it to "
        "127.0.0.1, or set `DOKU_ALLOW_OPEN=1` to serve it without sign-in anyway.",
        title="Not served without sign-in", icon=":material/lock:")
    st.stop()


def _sign_in_screen(setup: AuthSetup) -> NoReturn:
    st.title(":material/lock: DOKU token audit")
    st.markdown("Sign in to continue. The data here describes real customers and their "
                "payment tokens: every page needs an account with a role.")
    if not setup.providers:
        st.button("Sign in", key="auth_sign_in", type="primary", icon=":material/login:",
                  on_click=st.login)
    for name in setup.providers:
        st.button(f"Sign in with {escape_md(name)}", key=f"auth_sign_in_{name}",
                  type="primary", icon=":material/login:", on_click=st.login, args=(name,))
    st.stop()


def _no_role(user: Mapping[str, Any], setup: AuthSetup) -> NoReturn:
    email = user.get("email")
    who = escape_md(email) if isinstance(email, str) and email else "This account"
    if isinstance(email, str) and user.get("email_verified") is False:
        why = "is signed in, but the sign-in provider has not verified its e-mail address"
    elif setup.policy.empty:
        why = "is signed in, but `[doku.access]` gives no one a role yet"
    else:
        why = "is signed in but has no role in this dashboard"
    st.error(f"{who} {why}. Ask an administrator to add it to `[doku.access]` in "
             ".streamlit/secrets.toml, or sign out and use another account.",
             title="No access", icon=":material/block:")
    st.button("Sign out", key="auth_sign_out_refused", icon=":material/logout:",
              on_click=st.logout)
    st.stop()


def _issued_at(user: Mapping[str, Any]) -> str | None:
    """When the identity behind the session's cookie was issued (ISO-8601 UTC): one
    sign-in, however many page loads and sessions it serves."""
    issued = user.get("iat")
    if isinstance(issued, bool) or not isinstance(issued, (int, float)):
        return None
    stamp = datetime.fromtimestamp(issued, timezone.utc).isoformat(timespec="seconds")
    return stamp.replace("+00:00", "Z")  # as the trail's own times


def _record_sign_in(actor: Actor, user: Mapping[str, Any]) -> None:
    """One SIGN_IN entry per sign-in: the session remembers it, and a reload or another
    tab (a new session, same cookie) finds it in the trail."""
    issued = _issued_at(user)
    key = f"{actor.name} {issued}"
    if st.session_state.get(RECORDED) == key:
        return
    store = state.get_store()
    recent = store.trail(action=SIGN_IN, actor=actor.name, limit=SIGN_INS_CHECKED)
    if issued is None or not any(e.detail.get("issued_at") == issued for e in recent):
        provider = user.get("provider")
        store.record_event(actor, SIGN_IN, "dashboard", {
            "provider": provider if isinstance(provider, str) else None,
            "issued_at": issued})
    st.session_state[RECORDED] = key


# -- the sidebar's identity box -------------------------------------------------------------
def identity_box(actor: Actor) -> None:
    """Who is signed in, with which role, and Sign out; or the single-user label."""
    with st.container(border=True):
        if actor.via != OIDC:
            label = SINGLE_USER_LABEL if is_loopback(bound_address()) else OPEN_LABEL
            st.markdown(f"**:material/person: {label}**")
            st.caption(f"Acting as {escape_md(actor.name)}; anyone at this computer "
                       "can do everything.")
            return
        role = actor.role.label if actor.role is not None else "none"
        st.markdown(f"**:material/account_circle: {escape_md(actor.name)}**")
        st.caption(f"Role: **{escape_md(role)}**")
        st.button("Sign out", key="auth_sign_out", icon=":material/logout:",
                  on_click=st.logout)


def refuse_page(actor: Actor, action: str, page: str) -> None:
    """Stop a page the actor's role does not include, saying so (server-side: the
    page is not offered, but a URL reaches it all the same)."""
    if actor.allowed(action):
        return
    role = actor.role.label if actor.role is not None else "no role"
    st.error(f"{escape_md(page)} needs the {escape_md(NEEDS[action].label)} role; "
             f"{escape_md(actor.name)} is signed in as {escape_md(role)}. Ask an "
             "administrator if you need it.", title="Not allowed", icon=":material/block:")
    st.stop()

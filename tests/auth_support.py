"""What the sign-in AppTests share: `[auth]` and `[doku.access]` secrets with
recognisable fake values, the four kinds of user, a page opened as one of them, and
the audit trail read back from the test's store."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from streamlit import config
from streamlit.testing.v1 import AppTest

from doku.engine.trail import TrailEntry
from tests.apptest_support import DASHBOARD, ok
from tests.backend_support import open_store
from ui.present import BULK, INSIGHTS, LOOKUP, RUNS, SAVED, TRAIL  # noqa: F401 (re-exported for the auth tests)

CLIENT_SECRET = "FAKE-CLIENT-SECRET-7f3a9c"
COOKIE_SECRET = "FAKE-COOKIE-SECRET-b81e42d0c6"
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": COOKIE_SECRET,
    "client_id": "doku-dashboard",
    "client_secret": CLIENT_SECRET,
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
VIEWER = "vera@example.co.id"  # by the @example.co.id domain entry
ANALYST = "ana@example.co.id"
ADMIN = "root@example.co.id"
NOBODY = "eve@elsewhere.test"
ACCESS = {"viewers": ["@example.co.id"], "analysts": [ANALYST], "admins": [ADMIN]}
ISSUED_AT = 1_795_667_455  # the identity cookie's `iat`: one sign-in
ISSUED_ISO = "2026-11-26T04:30:55Z"

HOME = "dashboard.py"


def signed_in(email: str | None, *, iat: int = ISSUED_AT, **claims: Any) -> dict[str, Any]:
    """`st.user` of a session: signed in as `email` (None: not signed in)."""
    if email is None:
        return {"is_logged_in": False}
    return {"is_logged_in": True, "email": email, "sub": email, "iat": iat,
            "provider": "default", **claims}


def app_as(email: str | None, *, access: Mapping[str, Any] | None = None,
           timeout: float = 60, **claims: Any) -> AppTest:
    """The dashboard's AppTest with `[auth]`, `[doku.access]` (ACCESS unless given) and
    the user, not yet run."""
    at = AppTest.from_file(DASHBOARD, default_timeout=timeout)
    at.secrets["auth"] = dict(AUTH)
    at.secrets["doku"] = {"access": dict(ACCESS if access is None else access)}
    at.user = signed_in(email, **claims)
    return at


def open_as(email: str | None, page: str | None = None, *,
            access: Mapping[str, Any] | None = None, **query: str) -> AppTest:
    """Home as `email`, then `page` (with query parameters); no exception either way."""
    at = ok(app_as(email, access=access).run())
    if page is None:
        return at
    for key, value in query.items():
        at.query_params[key] = value
    return ok(at.switch_page(page).run())


def trail(folder: Path, action: str | None = None, actor: str | None = None) -> list[TrailEntry]:
    """The test store's trail (of one action / actor), oldest first."""
    with open_store(folder) as store:
        return store.trail(action=action, actor=actor)


def actions(folder: Path, actor: str | None = None) -> list[str]:
    """The actions in the trail (of one actor), oldest first."""
    return [e.action for e in trail(folder, actor=actor)]


def sidebar_links(at: AppTest) -> list[str]:
    return [link.proto.label for link in at.sidebar.get("page_link")]


def main_links(at: AppTest) -> list[str]:
    return [link.proto.label for link in at.main.get("page_link")]


def main_kinds(at: AppTest) -> list[str]:
    """What the main area holds, leaf elements only (containers left out)."""
    kinds: list[str] = []

    def walk(node: Any) -> None:
        children = getattr(node, "children", None)
        if children:
            for child in children.values():
                walk(child)
        elif getattr(node, "type", None) not in (None, "block"):
            kinds.append(str(node.type))

    walk(at.main)
    return kinds


@contextmanager
def server_address(address: str | None) -> Iterator[None]:
    """Streamlit's `server.address` as a command line would set it, restored after."""
    before = config.get_option("server.address")
    config.set_option("server.address", address)
    try:
        yield
    finally:
        config.set_option("server.address", before)

"""AppTest of sign-in and roles: single-user mode on loopback (unchanged, labelled), the
refusal to serve elsewhere without sign-in, the sign-in screen, the no-role refusal,
and for a viewer, an analyst and an admin the pages and actions offered - and refused
server-side when forced anyway (forged widget state, a page URL, a callback called)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from doku.engine.schema import Reject
from doku.engine.trail import REVEAL
from doku.simulator.world import GUIDE_CUSTOMER_ID
from tests.apptest_support import (
    DASHBOARD,
    isolate,
    markdown_sources,
    ok,
    open_page,
    seed_run,
    shown,
    world_tokens,
)
from tests.auth_support import (
    ADMIN,
    ANALYST,
    AUTH,
    BULK,
    CLIENT_SECRET,
    COOKIE_SECRET,
    INSIGHTS,
    LOOKUP,
    NOBODY,
    RUNS,
    SAVED,
    TRAIL,
    VIEWER,
    app_as,
    main_kinds,
    main_links,
    open_as,
    server_address,
    sidebar_links,
    trail,
)
from tests.backend_support import both_backends, open_store
from ui.auth import ALLOW_OPEN_ENV, OPEN_LABEL, SINGLE_USER_LABEL, is_loopback

ALL_PAGES = ["Customer lookup", "Bulk audit", "Insights", "Runs", "Saved audits",
             "Audit trail"]
OFFERED = {
    VIEWER: ["Insights", "Runs"],
    ANALYST: ["Customer lookup", "Bulk audit", "Insights", "Runs", "Saved audits"],
    ADMIN: ALL_PAGES,
}


@pytest.fixture(autouse=True)
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv(ALLOW_OPEN_ENV, raising=False)
    return isolate(monkeypatch, tmp_path / "data")


def texts(at: AppTest) -> str:
    return shown("\n".join(e.value for e in (*at.error, *at.markdown, *at.caption)))


# -- single-user mode ---------------------------------------------------------------------
def test_single_user_mode_is_labelled_and_offers_every_page(data_dir: Path) -> None:
    at = open_page(no_errors=True)
    assert shown(at.sidebar.markdown[0].value) == f"**:material/person: {SINGLE_USER_LABEL}**"
    assert sidebar_links(at) == ["Home", *ALL_PAGES]
    assert [label.strip("*") for label in main_links(at)[1:]] == ALL_PAGES
    assert "auth_sign_out" not in {b.key for b in at.button}
    assert trail(data_dir) == []  # nobody signs in


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1", True), ("127.8.0.1", True), ("localhost", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", False), ("::", False), ("", False), (None, False),
    ("10.0.0.5", False), ("dashboard.example.co.id", False),
])
def test_which_addresses_are_loopback(address: str | None, loopback: bool) -> None:
    assert is_loopback(address) is loopback


@pytest.mark.parametrize("address", ["0.0.0.0", "10.0.0.5"])
def test_without_sign_in_a_reachable_address_is_refused(address: str) -> None:
    with server_address(address):
        at = ok(AppTest.from_file(DASHBOARD, default_timeout=30).run())
    assert main_kinds(at) == ["error"]
    assert not at.sidebar.children or not [*at.sidebar.get("markdown"),
                                             *at.sidebar.get("page_link")]
    text = shown(at.error[0].value)
    assert f"bound to {address}" in text
    assert "set `DOKU_ALLOW_OPEN=1` to serve it without sign-in anyway" in text


def test_allow_open_serves_without_sign_in_and_says_so(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_OPEN_ENV, "1")
    with server_address("0.0.0.0"):
        at = ok(AppTest.from_file(DASHBOARD, default_timeout=30).run(), no_errors=True)
    assert shown(at.sidebar.markdown[0].value) == f"**:material/person: {OPEN_LABEL}**"
    assert sidebar_links(at) == ["Home", *ALL_PAGES]


def test_with_sign_in_a_reachable_address_asks_to_sign_in() -> None:
    with server_address("0.0.0.0"):
        at = ok(app_as(None).run())
    assert [b.label for b in at.button] == ["Sign in"]


# -- signed out, or signed in without a role --------------------------------------------
@pytest.mark.parametrize("page", [None, LOOKUP, INSIGHTS, TRAIL])
def test_signed_out_sees_the_sign_in_screen_only(page: str | None, data_dir: Path) -> None:
    at = open_as(None, page)
    assert main_kinds(at) == ["title", "markdown", "button"]
    assert [b.label for b in at.button] == ["Sign in"]
    assert sidebar_links(at) == []
    assert not at.sidebar.get("markdown")
    assert trail(data_dir) == []


def test_named_providers_get_a_button_each() -> None:
    auth = {"redirect_uri": AUTH["redirect_uri"], "cookie_secret": AUTH["cookie_secret"],
            "google": {"client_id": "a", "client_secret": "b", "server_metadata_url": "x"},
            "okta": {"client_id": "c", "client_secret": "d", "server_metadata_url": "y"}}
    at = app_as(None)
    at.secrets["auth"] = auth
    ok(at.run())
    assert [b.label for b in at.button] == ["Sign in with google", "Sign in with okta"]


@pytest.mark.parametrize(("auth", "missing"), [
    ({k: v for k, v in AUTH.items() if k != "client_secret"}, "[auth] client_secret"),
    ({"redirect_uri": "x", "google": {"client_id": "a"}},
     "[auth] cookie_secret, [auth.google] client_secret, [auth.google] server_metadata_url"),
])
def test_incomplete_sign_in_settings_are_named_not_shown(auth: dict[str, object],
                                                         missing: str) -> None:
    at = app_as(ANALYST)
    at.secrets["auth"] = auth
    ok(at.run())
    assert main_kinds(at) == ["error"]
    assert shown(at.error[0].value).startswith(
        f"sign-in is configured but .streamlit/secrets.toml lacks {missing} (see README")


@pytest.mark.parametrize(("email", "claims", "access", "why"), [
    (NOBODY, {}, None, "is signed in but has no role in this dashboard"),
    (ADMIN, {"email_verified": False}, None,
     "the sign-in provider has not verified its e-mail address"),
    (ANALYST, {}, {}, "`[doku.access]` gives no one a role yet"),
])
def test_signed_in_without_a_role_sees_a_refusal_only(
        email: str, claims: dict[str, bool], access: dict[str, list[str]] | None, why: str,
        data_dir: Path) -> None:
    for page in (None, INSIGHTS):
        at = ok(app_as(email, access=access, **claims).run())
        if page is not None:
            ok(at.switch_page(page).run())
        assert main_kinds(at) == ["error", "button"]
        assert why in shown(at.error[0].value)
        assert f"{email} " in shown(at.error[0].value)
        assert [b.label for b in at.button] == ["Sign out"]
        assert sidebar_links(at) == []
    assert trail(data_dir) == []


# -- what each role is offered -----------------------------------------------------------
@both_backends
@pytest.mark.parametrize("email", [VIEWER, ANALYST, ADMIN])
def test_each_role_is_offered_its_pages_and_named_in_the_sidebar(email: str) -> None:
    at = open_as(email)
    assert sidebar_links(at) == ["Home", *OFFERED[email]]
    assert [label.strip("*") for label in main_links(at) if label.startswith("**")] == \
        OFFERED[email]
    role = {VIEWER: "viewer", ANALYST: "analyst", ADMIN: "admin"}[email]
    assert shown(at.sidebar.caption[0].value) == f"Role: **{role}**"
    assert shown(at.sidebar.markdown[0].value) == f"**:material/account_circle: {email}**"
    assert "auth_sign_out" in {b.key for b in at.button}
    assert not [s for s in (CLIENT_SECRET, COOKIE_SECRET) if s in str(markdown_sources(at))]
    # Starting an audit is offered only to a role that may (the store is empty here).
    assert ("Start a bulk audit" in main_links(at)) is (email != VIEWER)


@pytest.mark.parametrize(("email", "page", "title", "needs"), [
    (VIEWER, LOOKUP, "Customer lookup", "analyst"),
    (VIEWER, BULK, "Bulk audit", "analyst"),
    (VIEWER, SAVED, "Saved audits", "analyst"),
    (VIEWER, TRAIL, "Audit trail", "admin"),
    (ANALYST, TRAIL, "Audit trail", "admin"),
])
def test_a_page_outside_the_role_refuses_and_shows_nothing_else(
        email: str, page: str, title: str, needs: str) -> None:
    at = open_as(email, page, customer=GUIDE_CUSTOMER_ID)
    assert main_kinds(at) == ["error"]
    role = "viewer" if email == VIEWER else "analyst"
    assert shown(at.error[0].value) == (
        f"{title} needs the {needs} role; {email} is signed in as {role}. Ask an "
        "administrator if you need it.")
    assert sidebar_links(at) == ["Home", *OFFERED[email]]


@both_backends
def test_runs_offers_each_role_its_actions(data_dir: Path) -> None:
    ids = [f"RR-{i}" for i in range(6)]
    seed_run(data_dir, ids, world_tokens(), failed={"RR-0": "server_error"},
             pending=["RR-1"], status="interrupted", rejects=[Reject(3, "x y", "space")])
    keys = {}
    for email in (VIEWER, ANALYST, ADMIN):
        at = open_as(email, RUNS)
        assert not at.error, [e.value for e in at.error]
        keys[email] = {b.key for b in at.button} | {d.key for d in at.download_button}
        expander = at.expander[0].label
        assert expander == ("Options · rejected rows" if email == VIEWER else
                            "Name, note, archive, delete · options · rejected rows")
    actions = {"runs_resume", "runs_retry", "runs_archive", "runs_save", "runs_delete"}
    assert keys[VIEWER] & actions == set()
    assert keys[ANALYST] & actions == actions - {"runs_delete"}
    assert keys[ADMIN] & actions == actions
    assert all("runs_rejects" in k for k in keys.values())  # downloads: every role


def test_keep_raw_token_ids_is_offered_to_admins_only_and_refused_forged(
        data_dir: Path) -> None:
    admin = open_as(ADMIN, BULK)
    assert "bulk_store_ids" in {c.key for c in admin.checkbox}
    at = open_as(ANALYST, BULK)
    assert "bulk_store_ids" not in {c.key for c in at.checkbox}
    at.session_state["bulk_store_ids"] = True  # forged: the analyst has no such box
    ok(at.text_area(key="bulk_paste").input("K-1\nK-2").run())
    ok(at.button(key="bulk_start").click().run(), no_errors=True)
    with open_store(data_dir) as store:
        run = store.get_run(at.session_state["bulk_run_id"])
    assert run is not None
    assert run.store_token_ids is False


@both_backends
def test_reveal_is_an_admins_and_a_forged_one_is_refused(data_dir: Path) -> None:
    at = open_as(ANALYST, LOOKUP)
    assert "lookup_reveal" not in {t.key for t in at.toggle}
    at.session_state["lookup_reveal"] = True  # forged: the analyst has no toggle
    at.text_input(key="lookup_customer_id").set_value(GUIDE_CUSTOMER_ID)
    ok(at.button(key="lookup_go").click().run())
    assert all("*" in t for t in at.dataframe[0].value["token_id"])
    assert [e.proto.title for e in at.error] == ["Not allowed"]
    assert trail(data_dir, REVEAL) == []

    at = open_as(ADMIN, LOOKUP)
    at.text_input(key="lookup_customer_id").set_value(GUIDE_CUSTOMER_ID)
    ok(at.button(key="lookup_go").click().run(), no_errors=True)
    assert all("*" in t for t in at.dataframe[0].value["token_id"])
    ok(at.toggle(key="lookup_reveal").set_value(True).run(), no_errors=True)
    assert not any("*" in t for t in at.dataframe[0].value["token_id"])
    assert [e.actor for e in trail(data_dir, REVEAL)] == [ADMIN]


# -- callbacks called anyway (as a forged request would reach them) -----------------------
def forged_delete(run_id: int) -> None:
    from ui import auth, manage_view, state
    manage_view._delete(state.get_store(), run_id)
    auth.show_problem()


def forged_reveal() -> None:
    import streamlit as st

    from doku.client.tokens import TokenResult
    from ui import auth, lookup_view
    st.session_state[lookup_view.OUTCOME] = TokenResult("CUST-0001", None, [], "req-1", 1, 5.0, False, 200)
    st.session_state[lookup_view.TOGGLE] = True
    lookup_view._on_reveal()
    auth.show_problem()
    st.write(f"toggle {st.session_state[lookup_view.TOGGLE]}")


def forged_move_on() -> None:
    from ui import auth, home_view
    home_view._move_on()
    auth.show_problem()


def as_function(script: object, email: str, *args: object) -> AppTest:
    at = app_as(email)
    forged = AppTest.from_function(script, args=args, default_timeout=30)  # type: ignore[arg-type]
    forged.secrets, forged.user = at.secrets, at.user
    return ok(forged.run())


@both_backends
def test_forged_actions_are_refused_server_side(data_dir: Path) -> None:
    run_id = seed_run(data_dir, ["F-1"], world_tokens())
    for email in (VIEWER, ANALYST):
        at = as_function(forged_delete, email, run_id)
        assert [e.proto.title for e in at.error] == ["Not allowed"]
        assert "may not delete run; that needs the admin role" in shown(at.error[0].value)
    with open_store(data_dir) as store:
        assert store.get_run(run_id) is not None
    for email in (VIEWER, ANALYST):
        at = as_function(forged_reveal, email)
        assert [e.proto.title for e in at.error] == ["Not allowed"]
        assert "may not reveal; that needs the admin role" in shown(at.error[0].value)
        assert shown(at.markdown[0].value) == "toggle False"
    at = as_function(forged_move_on, VIEWER)
    assert "may not audit; that needs the analyst role" in shown(at.error[0].value)
    assert [e.action for e in trail(data_dir)] == []
    at = as_function(forged_delete, ADMIN, run_id)  # the same call, allowed
    assert not at.error
    with open_store(data_dir) as store:
        assert store.get_run(run_id) is None
    assert [(e.action, e.actor, e.object) for e in trail(data_dir)] == [
        ("run_delete", ADMIN, f"run {run_id}")]


def test_insights_offers_a_live_lookup_only_to_roles_that_may(data_dir: Path) -> None:
    seed_run(data_dir, ["I-1", "I-2"], world_tokens())
    for email, offered in ((VIEWER, False), (ANALYST, True)):
        at = open_as(email, INSIGHTS)
        assert not at.error, [e.value for e in at.error]
        picks = [c for c in at.caption if "Pick a row to look that customer up live." in shown(c.value)]
        assert len(picks) == (1 if offered else 0)

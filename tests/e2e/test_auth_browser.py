"""Sign-in and roles in a real browser, against a real OIDC provider on loopback
(`oidc-provider-mock`), a DOKU simulator with its own key and a PostgreSQL store with a
password: a viewer, an analyst and an admin (each in a browser context of their own)
sign in and see exactly what their role allows; a viewer's forged URLs are refused;
each action leaves exactly one trail entry; and no secret - client secret, cookie
secret, DOKU key, database password - appears in a page, the server log or the trail.

Nothing may reach a non-loopback address: the provider's page asks a CDN for a
stylesheet and Streamlit's frontend may call home; every such request is aborted."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import oidc_provider_mock
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from doku.engine.schema import Reject
from doku.engine.store import Store
from doku.engine.trail import TrailEntry
from doku.simulator.faults import SimulatorConfig
from doku.simulator.process import start_simulator
from doku.simulator.world import GUIDE_CUSTOMER_ID
from tests.e2e.conftest import StreamlitServer, free_port, start_streamlit
from tests.pg_cluster import PgServer, fresh_database

pytestmark = pytest.mark.e2e

CLIENT_SECRET = "FAKE-CLIENT-SECRET-e2e-5c1f"
COOKIE_SECRET = "FAKE-COOKIE-SECRET-e2e-9a7b3d"
DOKU_KEY = "SK-FAKE-DOKU-KEY-e2e-4410"
DOKU_CLIENT = "BRN-E2E-0001"
VIEWER, ANALYST, ADMIN = "vera@example.co.id", "ana@example.co.id", "root@example.co.id"
LOOPBACK = re.compile(r"^(https?|wss?)://(127\.0\.0\.1|localhost)(:\d+)?/")


@dataclass
class Deployment:
    server: StreamlitServer
    url: str  # the store's, with its password
    secrets: tuple[str, ...]
    seeded: int  # the run seeded before the server started

    def trail(self, actor: str) -> list[TrailEntry]:
        with Store(url=self.url) as store:
            return store.trail(actor=actor)

    def pages_are_clean(self, page: Page) -> None:
        html = page.content()
        assert not [s for s in self.secrets if s in html]


def secrets_file(folder: Path, app_port: int, provider_port: int) -> Path:
    path = folder / "secrets.toml"
    path.write_text(f'''
[auth]
redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"
cookie_secret = "{COOKIE_SECRET}"
client_id = "doku-dashboard"
client_secret = "{CLIENT_SECRET}"
server_metadata_url = "http://127.0.0.1:{provider_port}/.well-known/openid-configuration"

[doku.access]
viewers = ["@example.co.id"]
analysts = ["{ANALYST}"]
admins = ["{ADMIN}"]
''', encoding="utf-8")
    path.chmod(0o600)
    return path


def seed(url: str) -> int:
    """A finished run with a failed customer and a rejected row (Runs offers Retry)."""
    with Store(url=url) as store:
        run_id = store.create_run(ids=["S-1", "S-2"], env="simulator", base_url=None,
                                  client_id=DOKU_CLIENT, input_name="seeded.csv",
                                  rejects=[Reject(3, "a b", "space")])
        store.record_fetched(run_id, "S-1", [], attempts=1)
        store.record_failed(run_id, "S-2", error_code="server_error",
                            error_message="seeded", attempts=1, request_id="req-S-2")
        store.set_status(run_id, "done")
    return run_id


@pytest.fixture(scope="module")
def deployment(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("auth_e2e")
    simulator = start_simulator(SimulatorConfig(client_id=DOKU_CLIENT, secret_key=DOKU_KEY))
    try:
        with fresh_database(pg_server) as url, \
                oidc_provider_mock.run_server_in_thread(port=0) as provider:
            seeded = seed(url)
            port = free_port()
            path = secrets_file(folder, port, provider.server_port)
            env = {"DOKU_ENV": "simulator", "DOKU_BASE_URL": simulator.url,
                   "DOKU_CLIENT_ID": DOKU_CLIENT, "DOKU_SECRET_KEY": DOKU_KEY,
                   "DOKU_DATABASE_URL": url}
            password = unquote(urlsplit(url).password or "")
            assert len(password) >= 8
            with start_streamlit(folder, env, port=port,
                                 args=[f"--secrets.files={path}"]) as server:
                deployed = Deployment(server, url,
                                      (CLIENT_SECRET, COOKIE_SECRET, DOKU_KEY, password), seeded)
                yield deployed
                log = server.log_text()
            assert not [s for s in deployed.secrets if s in log]
    finally:
        simulator.stop()


def _guard(route: Route) -> None:
    if LOOPBACK.match(route.request.url):
        route.continue_()
    else:
        route.abort()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    context.route("**/*", _guard)
    yield context
    context.close()


def sign_in(context: BrowserContext, deployment: Deployment, email: str) -> Page:
    page = context.new_page()
    page.goto(deployment.server.url)
    expect(page.get_by_text("Sign in to continue")).to_be_visible()
    assert page.get_by_test_id("stSidebar").count() == 0
    page.get_by_role("button", name="Sign in").click()
    page.locator("input[name=sub]").fill(email)
    page.get_by_role("button", name="Authorize").click()
    # escape_md puts a word joiner after "@" (no autolink)
    name, domain = email.split("@")
    expect(page.get_by_test_id("stSidebar")).to_contain_text(
        re.compile(rf"{re.escape(name)}@\u2060?{re.escape(domain)}Role: "))
    return page


def expect_nav(page: Page, labels: list[str]) -> None:
    """The sidebar's page links are exactly `labels` (each link's text is its icon's
    name, then its label on a line of its own)."""
    links = page.get_by_test_id("stSidebar").get_by_role("link")
    expect(links).to_have_count(len(labels))
    assert [text.strip().splitlines()[-1] for text in links.all_inner_texts()] == labels


def open_run(page: Page, url: str, run_id: int) -> None:
    """Runs, with `run_id` picked as the one run (the newest is picked first)."""
    page.goto(f"{url}/Runs")
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    picker = page.get_by_test_id("stSelectbox").filter(
        has=page.get_by_test_id("stWidgetLabel").get_by_text("Run", exact=True))
    picker.click()
    page.get_by_role("option", name=re.compile(rf"^#{run_id:d} ")).click()
    expect(page.get_by_text("Failures: 1 customers")).to_be_visible()


def refused(page: Page, url: str, title: str, role: str) -> None:
    page.goto(url)
    expect(page.get_by_text(f"{title} needs the {role} role")).to_be_visible()
    expect(page.get_by_role("heading", name=title, exact=True)).to_have_count(0)


def test_a_viewer_sees_insights_and_runs_and_downloads_masked(
        context: BrowserContext, deployment: Deployment) -> None:
    page = sign_in(context, deployment, VIEWER)
    url = deployment.server.url
    expect(page.get_by_text("Role: viewer")).to_be_visible()
    expect_nav(page, ["Home", "Insights", "Runs"])
    refused(page, f"{url}/Customer_lookup?customer={GUIDE_CUSTOMER_ID}&reveal=1",
            "Customer lookup", "analyst")
    refused(page, f"{url}/Bulk_audit", "Bulk audit", "analyst")
    refused(page, f"{url}/Audit_trail", "Audit trail", "admin")
    open_run(page, url, deployment.seeded)
    for name in ("Retry failed", "Delete…", "Archive"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    page.get_by_text("Options · rejected rows").click()
    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile(r"Rejected input rows \(1\)")).click()
    assert Path(download.value.path()).read_text(encoding="utf-8").splitlines()[1] == \
        "3,a b,space"
    expect(page.get_by_role("button", name=re.compile("Rejected input rows"))).to_be_enabled()
    deployment.pages_are_clean(page)
    assert [(e.action, e.role, e.object) for e in deployment.trail(VIEWER)] == [
        ("sign_in", "viewer", "dashboard"), ("download", "viewer", f"run {deployment.seeded}")]


def test_an_analyst_looks_up_and_audits_but_cannot_reveal(
        context: BrowserContext, deployment: Deployment) -> None:
    page = sign_in(context, deployment, ANALYST)
    url = deployment.server.url
    expect_nav(page, ["Home", "Customer lookup", "Bulk audit", "Insights", "Runs",
                      "Saved audits"])
    refused(page, f"{url}/Audit_trail", "Audit trail", "admin")
    page.goto(f"{url}/Customer_lookup?customer={GUIDE_CUSTOMER_ID}")
    page.get_by_role("button", name="Look up").click()
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    expect(page.get_by_text("Token ID (masked)")).to_be_attached()
    expect(page.get_by_text("Reveal token IDs")).to_have_count(0)
    page.goto(f"{url}/Bulk_audit")
    expect(page.get_by_text("Keep raw token IDs")).to_have_count(0)
    paste = page.get_by_label("Paste customer IDs")
    paste.fill("A-1\nA-2\nA-3")
    paste.press("Control+Enter")
    page.get_by_role("button", name="Start audit").click()
    expect(page.get_by_role("link", name=f"Open insights for run #{deployment.seeded + 1}")
           ).to_be_visible(timeout=60_000)
    deployment.pages_are_clean(page)
    entries = deployment.trail(ANALYST)
    assert [(e.action, e.role) for e in entries] == [
        ("sign_in", "analyst"), ("lookup", "analyst"), ("audit_start", "analyst")]
    assert entries[1].object != f"customer {GUIDE_CUSTOMER_ID}"  # a fingerprint


def test_an_admin_reveals_reads_the_trail_and_signs_out(
        context: BrowserContext, deployment: Deployment) -> None:
    page = sign_in(context, deployment, ADMIN)
    url = deployment.server.url
    expect_nav(page, ["Home", "Customer lookup", "Bulk audit", "Insights", "Runs",
                      "Saved audits", "Audit trail"])
    page.goto(f"{url}/Customer_lookup?customer={GUIDE_CUSTOMER_ID}")
    page.get_by_role("button", name="Look up").click()
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    page.get_by_text("Reveal token IDs").click()
    # The grid's column headers live in its (hidden) accessibility table.
    expect(page.get_by_text("Token ID (revealed)")).to_be_attached()
    open_run(page, url, deployment.seeded)
    expect(page.get_by_role("button", name="Retry failed")).to_be_visible()
    page.get_by_text("Name, note, archive, delete").click()
    expect(page.get_by_role("button", name="Delete…")).to_be_visible()
    page.goto(f"{url}/Audit_trail")
    expect(page.get_by_role("heading", name="Audit trail", exact=True)).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    deployment.pages_are_clean(page)
    assert [(e.action, e.role) for e in deployment.trail(ADMIN)] == [
        ("sign_in", "admin"), ("lookup", "admin"), ("reveal", "admin")]
    with Store(url=deployment.url) as store:
        everything = str([e.to_dict() for e in store.trail()])
    assert not [s for s in deployment.secrets if s in everything]

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/oauth2/end_session"))
    page.goto(url)
    expect(page.get_by_text("Sign in to continue")).to_be_visible()

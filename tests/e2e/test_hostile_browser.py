"""Hostile text in a real browser: every page, fed Markdown an attacker controls, shows
it as text. The DOM must hold no link to the hostile hosts, no image from them, no
bold, coloured or heading text made from them, and the browser must request nothing
from the hostile image host (a loopback listener that counts hits: zero).

Where the text comes from: a stored run seeded before the server starts (input file
name, attribute column and values, customer IDs, names, issuers and brands, the run's
error), a file uploaded on Bulk audit (its name, columns, values, duplicates) and a
stand-in DOKU this module runs (customer names, issuers and brands in a lookup answer,
and an unsigned error message). Also: the server refuses an upload over the 50 MB cap
of .streamlit/config.toml, whatever the browser does.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

from doku.engine.inputs import MAX_BYTES, parse_file
from doku.models import CREDIT_CARD, Token
from tests.apptest_support import seed_run
from tests.e2e.conftest import StreamlitServer, start_streamlit

pytestmark = pytest.mark.e2e

SETTLE_MS = 30_000


class Listener:
    """A loopback HTTP server on a free port: `hits` counts every request it gets;
    `answer(method, path, body)` gives (status, JSON) for each."""

    def __init__(self, answer: Any = None) -> None:
        self.hits: list[str] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                listener.hits.append(f"{method} {self.path}")
                status, payload = (answer or (lambda *_: (404, {})))(method, self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._reply("GET")

            def do_POST(self) -> None:
                self._reply("POST")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def pixel_host() -> Iterator[Listener]:
    """The hostile image host: every hit is a browser fetching attacker content."""
    listener = Listener()
    yield listener
    listener.close()


class Hostile:
    """The attack strings, their images pointing at the pixel host."""

    def __init__(self, pixel: str) -> None:
        self.pixel = pixel
        self.text = (f"**bold** [link](http://x.test) ![img]({pixel}/pixel.png) :red[red] "
                     "<b>html</b> # heading")
        self.file_name = f"{self.text} file.csv"
        self.column = f"{self.text} col"
        self.value = f"{self.text} val"
        self.name = f"{self.text} name"
        self.run_error = f"{self.text} run error"
        self.doku_error = f"{self.text} from DOKU"
        self.issuer = f"[iss](http://x.test) ![i]({pixel}/iss.png)"
        self.brand = "**visa** <b>html</b>"
        self.ids = [f"**b{i}** ![i]({pixel}/{i}.png)" for i in range(3)]
        self.lookup_id = f"**b** ![i]({pixel}/l.png)"
        self.failing_id = f"ERR **b** ![i]({pixel}/e.png)"
        assert all(len(i) <= 50 for i in [*self.ids, self.lookup_id, self.failing_id])

    def csv(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["customer_id", self.column, "region"])
        for i, cid in enumerate([*self.ids, self.ids[0]]):  # and a duplicate
            writer.writerow([cid, self.value, "Jawa" if i % 2 else "Bali"])
        return out.getvalue().encode()

    def token(self, cid: str, n: int) -> dict[str, Any]:
        return {"token_data": {"type": CREDIT_CARD}, "customer": {"id": cid, "name": self.name},
                "credit_card": {"issuer": self.issuer, "token_id": f"{n:032x}",
                                "masked_card": f"4111****{n:04d}", "brand": self.brand}}


@pytest.fixture(scope="module")
def hostile(pixel_host: Listener) -> Hostile:
    return Hostile(pixel_host.url)


@pytest.fixture(scope="module")
def fake_doku(hostile: Hostile) -> Iterator[Listener]:
    """A DOKU (unsigned, as the simulator environment allows) that answers hostile
    names, issuers and brands, and a hostile error message for IDs starting "ERR"."""

    def answer(method: str, _path: str, body: bytes) -> tuple[int, Any]:
        if method != "POST":
            return 404, {}
        cid = json.loads(body)["customer"]["id"]
        if cid.startswith("ERR"):
            return 400, {"error": {"message": hostile.doku_error}}
        return 200, [hostile.token(cid, 1), hostile.token(cid, 2)]

    listener = Listener(answer)
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, hostile: Hostile, fake_doku: Listener
) -> Iterator[StreamlitServer]:
    """Its own dashboard: the stand-in DOKU, and a stored run of the hostile file."""
    workdir = tmp_path_factory.mktemp("hostile_server")
    parsed = parse_file(hostile.csv(), hostile.file_name)
    tokens = {cid: [Token(customer_id=cid, customer_name=hostile.name, type=CREDIT_CARD,
                          issuer=hostile.issuer, brand=hostile.brand,
                          masked_card="4111****0001", token_id=f"tok-{i}")]
              for i, cid in enumerate(hostile.ids)}
    seed_run(workdir / "data", parsed, tokens, status="aborted", error=hostile.run_error)
    with start_streamlit(workdir, {"DOKU_BASE_URL": fake_doku.url}) as running:
        yield running


@pytest.fixture
def requests_seen(browser_page: Page) -> list[str]:
    seen: list[str] = []
    browser_page.on("request", lambda request: seen.append(request.url))
    return seen


def settle(page: Page) -> None:
    """The script run is over (no 'Running...' status) and the page is drawn."""
    expect(page.locator('[data-testid="stApp"]')).to_be_visible()
    page.wait_for_load_state("networkidle")
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=SETTLE_MS)


def shown_text(page: Page) -> str:
    """The page's visible text, without the invisible word joiners escape_md adds."""
    return page.locator('[data-testid="stApp"]').inner_text().replace("\u2060", "")


def assert_inert(page: Page, hostile: Hostile, seen: list[str], pixel_host: Listener,
                 *shown: str) -> None:
    """Nothing hostile is live in the DOM, nothing was fetched from the hostile hosts,
    and each of `shown` is on the page as text."""
    wait_for_text(page, *shown)  # a loaded machine may draw the page after `settle`
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    # The app's own links (page links, heading anchors) carry the page's query string,
    # where Insights keeps its filters (shareable links): hostile text there is
    # URL-encoded data, not a link. Any other link must not reach the hostile hosts.
    app = urlsplit(page.url)
    foreign = [h for h in hrefs
               if urlsplit(h)[:2] != app[:2] or "x.test" in urlsplit(h).path]
    assert not [h for h in foreign if "x.test" in h or hostile.pixel in h
                or h.startswith("mailto:")], hrefs
    srcs = page.eval_on_selector_all("img[src], source[srcset]",
                                     "els => els.map(e => e.src || e.srcset)")
    assert not [s for s in srcs if hostile.pixel in s or "x.test" in s], srcs
    styled = page.eval_on_selector_all(
        "strong, b, em, del, code, h1, h2, h3, h4, h5, h6, .stMarkdownColoredText, "
        ".stMarkdownBadge, .katex",
        "els => els.map(e => e.innerText.trim())",
    )
    # Markdown made live would leave an element holding just a fragment: "bold", "red",
    # "html", a heading starting "heading ..." (the page's own elements that show hostile
    # text, like the lookup's subheader, hold it whole, starting "**bold**").
    assert not [t for t in styled if re.fullmatch(r"bold|b\d?|red|html|visa|iss|heading.*", t)
                ], styled
    assert not [u for u in seen if "x.test" in u or hostile.pixel in u], seen
    assert pixel_host.hits == [], pixel_host.hits
    text = shown_text(page)
    for value in shown:
        assert value in text, (value, text[:3000])


def wait_for_text(page: Page, *values: str, timeout_s: float = 30.0) -> None:
    """Until every value is on the page as text (or the deadline; the caller asserts)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = shown_text(page)
        if all(v in text for v in values):
            return
        page.wait_for_timeout(200)


def test_home_runs_and_insights_show_stored_hostile_text(
    server: StreamlitServer, browser_page: Page, requests_seen: list[str],
    hostile: Hostile, pixel_host: Listener, artifacts_dir: Path,
) -> None:
    page = browser_page
    page.goto(server.url)
    settle(page)
    assert_inert(page, hostile, requests_seen, pixel_host, hostile.file_name)

    page.goto(f"{server.url}/Runs")
    settle(page)
    assert_inert(page, hostile, requests_seen, pixel_host, hostile.file_name, hostile.run_error)

    page.goto(f"{server.url}/Insights")
    settle(page)
    assert_inert(page, hostile, requests_seen, pixel_host, hostile.column)
    filter_box = page.locator('[data-testid="stMultiSelect"]').filter(has_text="col").first
    filter_box.locator("input").click()
    page.get_by_role("option", name=hostile.value, exact=True).click()
    page.keyboard.press("Escape")
    settle(page)
    expect(page.get_by_text("Filtered:", exact=False)).to_be_visible(timeout=SETTLE_MS)
    assert_inert(page, hostile, requests_seen, pixel_host, hostile.column,
                 f"Filtered: {hostile.column}: {hostile.value}.")
    page.screenshot(path=artifacts_dir / "hostile_insights.png", full_page=True)


def test_bulk_audit_shows_a_hostile_upload_as_text(
    server: StreamlitServer, browser_page: Page, requests_seen: list[str],
    hostile: Hostile, pixel_host: Listener,
) -> None:
    page = browser_page
    page.goto(f"{server.url}/Bulk_audit")
    settle(page)
    assert_inert(page, hostile, requests_seen, pixel_host, hostile.run_error)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        {"name": hostile.file_name, "mimeType": "text/csv", "buffer": hostile.csv()}
    )
    expect(page.get_by_text("Duplicates, e.g.", exact=False)).to_be_visible(timeout=SETTLE_MS)
    settle(page)
    assert_inert(page, hostile, requests_seen, pixel_host,
                 f"{hostile.file_name} · 4 rows · ID column customer_id · attributes "
                 f"{hostile.column}, region", f"Duplicates, e.g. {hostile.ids[0]}")


def test_customer_lookup_shows_hostile_answers_and_errors_as_text(
    server: StreamlitServer, browser_page: Page, requests_seen: list[str],
    hostile: Hostile, pixel_host: Listener,
) -> None:
    page = browser_page
    page.goto(f"{server.url}/Customer_lookup")
    settle(page)
    page.get_by_label("Customer ID").fill(hostile.lookup_id)
    page.get_by_role("button", name=re.compile("Look up")).click()
    expect(page.get_by_text("Response not signed")).to_be_visible(timeout=SETTLE_MS)
    settle(page)
    assert_inert(page, hostile, requests_seen, pixel_host, hostile.name,
                 f"Customer ID {hostile.lookup_id}")
    heading = page.locator('[data-testid="stHeading"] h3').inner_text().replace("\u2060", "")
    assert heading == hostile.name

    page.get_by_label("Customer ID").fill(hostile.failing_id)
    page.get_by_role("button", name=re.compile("Look up")).click()
    expect(page.get_by_text("Bad request")).to_be_visible(timeout=SETTLE_MS)
    settle(page)
    assert_inert(page, hostile, requests_seen, pixel_host, hostile.doku_error)  # its message


# -- the upload cap ---------------------------------------------------------------------------
OVER_CAP = 60 * 1024 * 1024  # 60 MB, over the 50 MB of server.maxUploadSize


def multipart(size: int) -> tuple[str, Iterator[bytes], int]:
    """(content type, body chunks, length) of one file field of `size` bytes."""
    boundary = "hostileuploadboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.csv\"\r\nContent-Type: text/csv\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    chunk = b"C-0001\n" * (1024 * 1024 // 7)

    def chunks() -> Iterator[bytes]:
        yield head
        left = size
        while left > 0:
            yield chunk[:left]
            left -= len(chunk[:left])
        yield tail

    return f"multipart/form-data; boundary={boundary}", chunks(), len(head) + size + len(tail)


def put(url: str, headers: dict[str, str], size: int, *, chunked: bool) -> int:
    """HTTP status of a PUT of a `size`-byte file to `url`, sent with Content-Length
    or chunked; a server that answers early and drops the rest still answers."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    content_type, chunks, length = multipart(size)
    conn.putrequest("PUT", parts.path)
    for name, value in {**headers, "Content-Type": content_type}.items():
        conn.putheader(name, value)
    conn.putheader(*(("Transfer-Encoding", "chunked") if chunked
                     else ("Content-Length", str(length))))
    conn.endheaders()
    try:
        for chunk in chunks:
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
        if chunked:
            conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading: its answer is already on the way
    try:
        return conn.getresponse().status
    finally:
        conn.close()


def test_the_server_refuses_uploads_over_the_cap(
    server: StreamlitServer, browser_page: Page, tmp_path: Path
) -> None:
    page = browser_page
    page.goto(f"{server.url}/Bulk_audit")
    settle(page)
    uploads: list[Request] = []
    page.on("request", lambda r: uploads.append(r) if "/_stcore/upload_file/" in r.url else None)
    chooser = page.locator('[data-testid="stFileUploader"] input[type="file"]')
    chooser.set_input_files({"name": "small.csv", "mimeType": "text/csv",
                             "buffer": b"customer_id\nC-1\n"})
    expect(page.get_by_text("small.csv")).to_be_visible(timeout=SETTLE_MS)
    deadline = time.monotonic() + SETTLE_MS / 1000
    while not (put_requests := [r for r in uploads if r.method == "PUT"]):
        assert time.monotonic() < deadline, [r.url for r in uploads]
        page.wait_for_timeout(100)  # the browser's upload request is seen
    settle(page)
    # Replay the browser's own upload (its session, XSRF header and cookie) with more
    # bytes: the server itself must refuse, whatever a browser checks first.
    url = put_requests[0].url.rsplit("/", 1)[0] + "/replayed-file"
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    headers = {k: v for k, v in put_requests[0].headers.items()
               if k.lower() in ("x-xsrftoken", "origin", "referer")}
    headers["Cookie"] = cookies
    assert put(url, headers, 1024, chunked=False) == 204  # the replay itself is accepted
    assert put(url, headers, MAX_BYTES - 65_536, chunked=False) == 204  # just under 50 MB
    assert put(url, headers, MAX_BYTES + 1, chunked=False) == 413
    assert put(url, headers, OVER_CAP, chunked=False) == 413
    assert put(url, headers, OVER_CAP, chunked=True) == 413  # no length announced
    assert put(url, headers, MAX_BYTES + 1, chunked=True) == 413

    big = tmp_path / "big.csv"  # and in the browser: refused before any upload
    with big.open("wb") as fh:
        fh.truncate(OVER_CAP)
    sent = len(put_requests)
    chooser.set_input_files(big)
    expect(page.locator('[data-testid="stFileUploader"]')).to_contain_text(
        "File must be 50.0MB or smaller", timeout=SETTLE_MS)
    page.wait_for_timeout(500)  # a check that nothing happens needs a window to watch
    assert len([r for r in uploads if r.method == "PUT"]) == sent

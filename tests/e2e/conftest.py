"""Fixtures for real-browser tests.

`streamlit_server` starts `streamlit run dashboard.py` once per session on a free
loopback port (DOKU_* cleared, so it runs on the built-in simulator; DOKU_DATA_DIR in
a temporary directory) and fails the session at teardown when its log shows a
Traceback or a deprecation warning. `start_streamlit` does the same for a module that
needs its own server (its own data folder or DOKU_* settings). `browser_page` is a
fresh chromium page per test; a failing test leaves a screenshot in artifacts/.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STARTUP_TIMEOUT = 60.0
# `expect(...)` waits 5 s by default: a rerun on two loaded cores (CI runs four workers)
# can take longer. Assertions still pass the moment the condition holds.
expect.set_options(timeout=30_000)
# Lines in the server log that mean a bug, whatever the page showed.
BAD_LOG = re.compile(
    r"Traceback|deprecat|missing ScriptRunContext|Connection pool is full", re.IGNORECASE
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def assert_clean_log(text: str, what: str = "streamlit server log") -> None:
    """Fail when the log shows a Traceback, a deprecation warning or a known misuse."""
    bad = [line for line in text.splitlines() if BAD_LOG.search(line)]
    if bad:
        pytest.fail(f"{what} is not clean:\n" + "\n".join(bad) + "\n--- full log ---\n" + text)


@dataclass
class StreamlitServer:
    url: str
    port: int
    log_path: Path
    data_dir: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def assert_clean_log(self) -> None:
        assert_clean_log(self.log_text())


def _wait_healthy(server: StreamlitServer) -> None:
    health = server.url + "/_stcore/health"

    def healthy() -> bool:
        if server.process.poll() is not None:
            pytest.fail(
                f"streamlit exited with {server.process.returncode} before it was healthy:\n"
                + server.log_text()
            )
        try:
            with urllib.request.urlopen(health, timeout=2) as response:
                return bool(response.read().decode().strip() == "ok")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    try:
        wait_until(healthy, STARTUP_TIMEOUT, f"{health} to answer ok")
    except AssertionError as exc:
        pytest.fail(f"{exc}:\n" + server.log_text())


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def start_streamlit(
    workdir: Path, doku_env: Mapping[str, str] | None = None, *,
    port: int | None = None, args: Sequence[str] = (),
) -> Iterator[StreamlitServer]:
    """`streamlit run dashboard.py` on `port` (default: a free one) with its data in
    `workdir/data` (which may already hold runs), `doku_env` (DOKU_* variables, default:
    the simulator) and more command-line `args` (e.g. `--secrets.files=PATH`); stopped
    on exit, then its log must be clean."""
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOKU_")}
    env["DOKU_ENV"] = "simulator"  # never a developer's own secrets.toml
    env.update(doku_env or {})
    env["DOKU_DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    port = port or free_port()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "dashboard.py",
        "--server.headless=true",
        "--server.address=127.0.0.1",
        f"--server.port={port}",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
        # Logger names in the log, so streamlit.deprecation_util warnings are visible.
        "--logger.messageFormat=%(asctime)s %(levelname)s %(name)s: %(message)s",
        *args,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = StreamlitServer(f"http://127.0.0.1:{port}", port, log_path, data_dir, process)
    try:
        _wait_healthy(server)
        yield server
    finally:
        _stop(process)
    server.assert_clean_log()


@pytest.fixture(scope="session")
def streamlit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    with start_streamlit(tmp_path_factory.mktemp("streamlit_server")) as server:
        yield server


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: run `sudo apt-get install -y chromium` (or make test)")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def browser_page(
    browser: Browser, request: pytest.FixtureRequest, artifacts_dir: Path
) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        with contextlib.suppress(Exception):  # a failure screenshot is best effort
            page.screenshot(path=artifacts_dir / f"FAILED-{name}.png", full_page=True)
    context.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = ROOT / "artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item) -> Any:
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report

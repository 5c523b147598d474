"""`python -m doku sandbox` as a real child process: first line, serving, clean exit."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from doku.client.signing import sign_request, timestamp, verify_response
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY, TOKENS_PATH
from doku.simulator import SimulatorConfig, start_simulator_process, stop_simulator_process

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sandbox(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "doku", "sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=ROOT,
    )


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Wait for exit; the rest of stdout and stderr (communicate() would lose what
    readline() already buffered)."""
    proc.wait(timeout=10)
    assert proc.stdout is not None
    assert proc.stderr is not None
    return proc.stdout.read(), proc.stderr.read()


def signed_post(url: str, secret: str = SIMULATOR_SECRET_KEY) -> requests.Response:
    body = b'{"customer":{"id":"CUST-0001"}}'
    rid, stamp = str(uuid.uuid4()), timestamp()
    headers = {
        "Client-Id": SIMULATOR_CLIENT_ID,
        "Request-Id": rid,
        "Request-Timestamp": stamp,
        "Signature": sign_request(secret, SIMULATOR_CLIENT_ID, rid, stamp, TOKENS_PATH, body),
        "Content-Type": "application/json",
    }
    return requests.post(url + TOKENS_PATH, data=body, headers=headers, timeout=10)


def test_serves_then_exits_cleanly_on_sigterm(procs: list[subprocess.Popen[str]]) -> None:
    port = free_port()
    proc = sandbox("--port", str(port))
    procs.append(proc)
    assert proc.stdout is not None
    assert proc.stdout.readline() == f"listening on http://127.0.0.1:{port}\n"
    resp = signed_post(f"http://127.0.0.1:{port}")
    assert resp.status_code == 200
    assert len(resp.json()) == 3
    assert verify_response(
        SIMULATOR_SECRET_KEY,
        resp.headers["Client-Id"],
        resp.headers["Request-Id"],
        resp.headers["Response-Timestamp"],
        TOKENS_PATH,
        resp.content,
        resp.headers["Signature"],
    )
    proc.send_signal(signal.SIGTERM)
    out, err = finish(proc)
    assert proc.returncode == 0, err
    assert f"client id: {SIMULATOR_CLIENT_ID}" in out
    assert f"secret key: {SIMULATOR_SECRET_KEY}" in out  # the documented demo key
    assert err == ""


def test_sigint_also_exits_zero(procs: list[subprocess.Popen[str]]) -> None:
    proc = sandbox("--port", "0")
    procs.append(proc)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("listening on http://127.0.0.1:")
    proc.send_signal(signal.SIGINT)
    finish(proc)
    assert proc.returncode == 0


def test_a_given_secret_key_is_used_but_never_printed(procs: list[subprocess.Popen[str]]) -> None:
    proc = sandbox("--port", "0", "--secret-key", "SK-private-123")
    procs.append(proc)
    assert proc.stdout is not None
    url = proc.stdout.readline().split()[-1]
    assert signed_post(url, secret="SK-private-123").status_code == 200
    assert signed_post(url).status_code == 401
    proc.terminate()
    out, err = finish(proc)
    assert "SK-private-123" not in out + err
    assert "secret key: (as given)" in out


def test_port_in_use_is_one_error_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "doku", "sandbox", "--port", str(port)],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=30,
        )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "already in use" in lines[0], done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("flag", ["--fail-rate", "--drop-rate", "--rate-429"])
def test_rates_outside_zero_one_are_refused(flag: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "doku", "sandbox", "--port", "0", flag, "1.5"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=30,
    )
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1
    assert "[0, 1]" in done.stderr


def test_start_simulator_process_helper() -> None:
    url, proc = start_simulator_process(SimulatorConfig(latency_ms=1, seed=4))
    try:
        assert url.startswith("http://127.0.0.1:")
        assert signed_post(url).status_code == 200
    finally:
        assert stop_simulator_process(proc) == 0

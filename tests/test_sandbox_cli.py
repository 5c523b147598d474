"""`doku sandbox`: serving, signals, a chosen secret key, refused options.

One test runs it as a real child process (first line, SIGTERM, clean exit, nothing on
stderr) and one the `start_simulator_process` helper; the rest run the command in this
process, stopped by a SIGINT sent to ourselves once it serves.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from doku.cli.main import main
from doku.client.signing import sign_request, timestamp, verify_response
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY, TOKENS_PATH
from doku.simulator import (
    SimulatorConfig,
    config_to_argv,
    config_to_env,
    start_simulator_process,
    stop_simulator_process,
)

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


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


def serve_in_process(
    capsys: pytest.CaptureFixture[str], *args: str,
    while_serving: Callable[[str], None] | None = None,
) -> tuple[int, str, str]:
    """Run `doku sandbox --port P ARGS` here; once it has its signal handler and
    accepts connections, call `while_serving(url)` on a helper thread, then SIGINT.
    Returns the exit status, stdout and stderr (and re-raises what the helper raised)."""
    port = free_port()
    default = signal.getsignal(signal.SIGINT)
    returned = threading.Event()
    raised: list[BaseException] = []

    def drive() -> None:
        deadline = time.monotonic() + 15
        while signal.getsignal(signal.SIGINT) is default or not listening(port):
            if returned.is_set() or time.monotonic() > deadline:
                return  # never served: main returns (or the test fails) on its own
            time.sleep(0.02)
        try:
            if while_serving is not None:
                while_serving(f"http://127.0.0.1:{port}")
        except BaseException as exc:
            raised.append(exc)
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    capsys.readouterr()
    helper = threading.Thread(target=drive, daemon=True)
    helper.start()
    try:
        code = main(["sandbox", "--port", str(port), *args])
    finally:
        returned.set()
        helper.join(15)
    if raised:
        raise raised[0]
    assert signal.getsignal(signal.SIGINT) is default  # handlers restored
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


@pytest.mark.parametrize("front", [[], ["--front", "loop"], ["--front", "threads"]])
def test_child_process_serves_then_exits_cleanly_on_sigterm(
    procs: list[subprocess.Popen[str]], front: list[str],
) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "doku", "sandbox", "--port", str(port), *front],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT,
    )
    procs.append(proc)
    assert proc.stdout is not None
    assert proc.stderr is not None
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
    proc.wait(timeout=10)
    out, err = proc.stdout.read(), proc.stderr.read()  # the rest after readline()
    assert proc.returncode == 0, err
    assert out == (
        f"client id: {SIMULATOR_CLIENT_ID}\n"
        f"secret key: {SIMULATOR_SECRET_KEY}\n"  # the documented demo key
        "press Ctrl+C to stop\n"
    )
    assert err == ""


def test_sigint_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = serve_in_process(capsys, "--latency-ms", "5", "--fail-rate", "0.25")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("listening on http://127.0.0.1:")
    assert lines[1:] == [
        f"client id: {SIMULATOR_CLIENT_ID}",
        f"secret key: {SIMULATOR_SECRET_KEY}",
        "latency 5 ms (+-0), rate limit none, faults {'fail_rate': 0.25}",
        "press Ctrl+C to stop",
    ]


@pytest.mark.parametrize("how", ["env", "file"])
def test_a_given_secret_key_is_used_but_never_printed(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    statuses: list[int] = []

    def check(url: str) -> None:
        statuses.append(signed_post(url, secret="SK-private-123").status_code)
        statuses.append(signed_post(url).status_code)

    monkeypatch.delenv("DOKU_CLIENT_ID", raising=False)
    if how == "env":
        monkeypatch.setenv("DOKU_SECRET_KEY", "SK-private-123")
        args: tuple[str, ...] = ()
    else:
        monkeypatch.delenv("DOKU_SECRET_KEY", raising=False)
        key_file = tmp_path / "key.txt"
        key_file.write_text("SK-private-123\n")
        args = ("--secret-key-file", str(key_file))
    code, out, err = serve_in_process(capsys, *args, while_serving=check)
    assert code == 0
    assert statuses == [200, 401]
    assert "SK-private-123" not in out + err
    assert out.splitlines()[2] == "secret key: (as given)"


def test_a_secret_key_on_the_command_line_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sandbox", "--port", "0", "--secret-key", "SK-private-123"])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err == ("error: configuration error: sandbox: a secret key on the command line is "
                   "visible to every local user; set DOKU_SECRET_KEY or use --secret-key-file\n")


def test_the_child_process_helper_passes_credentials_in_its_environment() -> None:
    config = SimulatorConfig(client_id="MCH-CHILD-1", secret_key="SK-child-secret")
    assert "SK-child-secret" not in " ".join(config_to_argv(config))
    assert "MCH-CHILD-1" not in " ".join(config_to_argv(config))
    assert config_to_env(config) == {"DOKU_CLIENT_ID": "MCH-CHILD-1",
                                     "DOKU_SECRET_KEY": "SK-child-secret"}


def test_port_in_use_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    default = signal.getsignal(signal.SIGTERM)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["sandbox", "--port", str(port)])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err == (f"error: configuration error: cannot listen on 127.0.0.1:{port}: "
                   "address already in use\n")
    assert signal.getsignal(signal.SIGTERM) is default


@pytest.mark.parametrize(("args", "line"), [
    *[
        (["--port", "0", flag, "1.5"],
         f"error: configuration error: sandbox: {name} must be within [0, 1], not 1.5; "
         "the fault rates together must not exceed 1")
        for flag, name in (("--fail-rate", "fail_rate"), ("--drop-rate", "drop_rate"),
                           ("--rate-429", "rate_429"))
    ],
    (["--port", "70000"], "error: configuration error: --port must be within 0..65535, not 70000"),
])
def test_bad_options_are_refused_with_one_line(args: list[str], line: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sandbox", *args])
    assert (code, *capsys.readouterr()) == (1, "", line + "\n")


def test_start_simulator_process_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOKU_SECRET_KEY", "SK-inherited-must-not-win")
    config = SimulatorConfig(latency_ms=1, seed=4, secret_key="SK-child-only-9f3")
    url, proc = start_simulator_process(config)
    try:
        assert url.startswith("http://127.0.0.1:")
        assert signed_post(url, secret="SK-child-only-9f3").status_code == 200
        assert signed_post(url).status_code == 401
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert b"sandbox" in cmdline
        assert b"SK-child-only-9f3" not in cmdline  # what `ps` shows every local user
    finally:
        assert stop_simulator_process(proc) == 0

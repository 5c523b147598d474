"""`doku sandbox --processes N`: one port served by N simulator processes, each answer
signed and the world's, no process left behind, and the set-ups it refuses."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from doku.cli.main import main
from doku.client.lean import LeanTokenClient
from doku.models import parse_tokens
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY, SecretKey, Settings
from doku.simulator import (
    SimulatorConfig,
    group_problem,
    listening_sockets,
    start_simulator_process,
    stop_simulator_process,
)
from doku.simulator.world import tokens_for


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # ended meanwhile
                continue
            if fields[1] == str(pid):
                found.append(int(entry.name))
    return found


def sockets_held(pid: int) -> int:
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            held += os.readlink(fd).startswith("socket:")
        except OSError:
            continue
    return held


def listeners_held(pid: int, port: int) -> int:
    """Listening sockets on `port` among `pid`'s open files (/proc/net/tcp's LISTEN
    entries, state 0A, by inode)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            inodes.add(fields[9])
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            held += os.readlink(fd).removeprefix("socket:[").rstrip("]") in inodes
        except OSError:
            continue
    return held


def gone(pid: int, within_s: float) -> bool:
    """Whether `pid` has ended (or is a zombie) within `within_s` seconds."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_two_processes_share_the_port_and_answer_as_one_simulator() -> None:
    url, proc = start_simulator_process(SimulatorConfig(seed=3), processes=2)
    try:
        [child] = children_of(proc.pid)
        port = int(url.rsplit(":", 1)[1])
        # One listener each: a child holding the parent's too would keep connections
        # the kernel gives that one waiting once the parent has closed it.
        assert (listeners_held(proc.pid, port), listeners_held(child, port)) == (1, 1)
        settings = Settings("simulator", SIMULATOR_CLIENT_ID, SecretKey(SIMULATOR_SECRET_KEY),
                            url)
        ids = [f"CUST-{10001 + i}" for i in range(256)]
        with LeanTokenClient(settings, pool_size=64) as client, \
                concurrent.futures.ThreadPoolExecutor(64) as pool:
            results = list(pool.map(client.get_tokens, ids))
            # The client keeps its 64 connections open: the kernel gave each process
            # some (all 64 on one has odds of 2**-63), the listener besides.
            assert sockets_held(proc.pid) > 1
            assert sockets_held(child) > 1
        assert all(r.signature_verified for r in results)
        assert [r.tokens for r in results] == [
            parse_tokens(tokens_for(cid, seed=3), cid) for cid in ids]
    finally:
        assert stop_simulator_process(proc) == 0
    assert gone(child, 5.0)


def test_a_killed_parent_leaves_no_server_behind() -> None:
    url, proc = start_simulator_process(SimulatorConfig(), processes=3)
    children = children_of(proc.pid)
    assert len(children) == 2
    os.kill(proc.pid, signal.SIGKILL)  # no chance to stop them itself
    proc.wait(10)
    assert all(gone(pid, 5.0) for pid in children)  # each checks its parent twice a second
    stop_simulator_process(proc)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=2).close()


@pytest.mark.parametrize(("args", "problem"), [
    (["--processes", "0"], "--processes must be within 1..64, not 0"),
    (["--processes", "65"], "--processes must be within 1..64, not 65"),
    (["--processes", "2", "--front", "threads"],
     "--processes above 1 needs the loop front end"),
    (["--processes", "2", "--fail-rate", "0.1"],
     "--processes above 1 serves no faults, rate limit or request log "
     "(each process would keep its own)"),
    (["--processes", "2", "--rate-limit", "5"],
     "--processes above 1 serves no faults, rate limit or request log "
     "(each process would keep its own)"),
])
def test_set_ups_one_process_must_keep_are_refused(
        args: list[str], problem: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sandbox", "--port", "0", *args])
    assert (code, *capsys.readouterr()) == (
        1, "", f"error: configuration error: sandbox: {problem}\n")


def test_one_process_or_a_plain_loop_needs_nothing() -> None:
    assert group_problem(SimulatorConfig(), "threads", 1) is None
    assert group_problem(SimulatorConfig(latency_ms=50, jitter_ms=5), "loop", 2) is None


def test_the_sockets_share_one_port_and_a_taken_port_leaves_none_open() -> None:
    made = listening_sockets("127.0.0.1", 0, 3)
    try:
        assert len({s.getsockname() for s in made}) == 1
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for s in made)
        with socket.socket() as plain:  # without SO_REUSEPORT: nobody may join it
            plain.bind(("127.0.0.1", 0))
            plain.listen()
            before = len(os.listdir("/proc/self/fd"))
            with pytest.raises(OSError, match="Address already in use"):
                listening_sockets("127.0.0.1", plain.getsockname()[1], 2)
            assert len(os.listdir("/proc/self/fd")) == before
    finally:
        for s in made:
            s.close()

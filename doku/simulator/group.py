"""One port served by several simulator processes: a ceiling on more than one core.

One event loop answers about 14,000 requests a second on this machine, a quarter of
that in the kernel, and a Python thread cannot use a second core. The bulk engine
fetches about 9,000 a second (issue 16), so one simulator process is no longer twice
as fast as the client it measures. `doku sandbox --processes N` serves its port from N
processes: `listening_sockets` binds N listening sockets to one port with
SO_REUSEPORT (the kernel spreads new connections over them by their addresses),
`fork_servers` forks a child for each socket but the first, which the parent serves.

Each process keeps its own state: its Request-Id memory (a replay that reaches another
process is answered as a new request), its statistics and its latency jitter's draws.
Faults, a rate limit and a request log are refused with more than one process
(`group_problem`): their counts, draws and log lines must be one simulator's.

A child serves until SIGTERM (the parent sends it when it stops) or until its parent
is gone (checked twice a second), so a killed parent leaves no server behind. It
ignores SIGINT: Ctrl+C in a terminal reaches the whole group, and the parent stops
the children itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from types import FrameType

from doku.simulator.fast_lane import lane_open
from doku.simulator.faults import SimulatorConfig
from doku.simulator.process import start_simulator
from doku.simulator.server import LISTEN_BACKLOG

MAX_PROCESSES = 64
PARENT_CHECK_S = 0.5  # how often a child looks whether its parent is still there


def group_problem(config: SimulatorConfig, front: str, processes: int) -> str | None:
    """Why the simulator cannot be served by `processes` processes, or None."""
    if not 1 <= processes <= MAX_PROCESSES:
        return f"--processes must be within 1..{MAX_PROCESSES}, not {processes}"
    if processes == 1:
        return None
    if front != "loop":
        return "--processes above 1 needs the loop front end"
    if not lane_open(config):
        return ("--processes above 1 serves no faults, rate limit or request log "
                "(each process would keep its own)")
    return None


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` listening sockets on one port (port 0: a free one), SO_REUSEPORT.
    OSError (nothing left open) when the port cannot be had."""
    made: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            made.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(LISTEN_BACKLOG)
            port = sock.getsockname()[1]  # the others join the first one's port
    except OSError:
        for sock in made:
            sock.close()
        raise
    return made


def fork_servers(config: SimulatorConfig, sockets: Sequence[socket.socket],
                 event_loop: str | None = None) -> list[int]:
    """A child process serving each of `sockets` but the first, the caller's to serve;
    their process IDs. A child keeps only its own socket: one it held too would keep
    its share of new connections waiting after the caller closed it. Call this before
    the process starts any thread (a fork copies only the calling one)."""
    sys.stdout.flush()  # else a child would flush the parent's pending output again
    sys.stderr.flush()
    parent = os.getpid()
    children: list[int] = []
    try:
        for sock in sockets[1:]:
            pid = os.fork()
            if pid == 0:  # the child: serve, then leave without running the parent's code
                code = 1
                try:
                    for other in sockets:
                        if other is not sock:
                            other.close()
                    code = _serve_child(config, sock, parent, event_loop)
                except BaseException:
                    traceback.print_exc()
                finally:
                    sys.stderr.flush()
                    os._exit(code)
            children.append(pid)
    except OSError:
        stop_children(children)
        raise
    return children


def _serve_child(config: SimulatorConfig, sock: socket.socket, parent: int,
                 event_loop: str | None) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def on_term(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    sim = start_simulator(config, front="loop", event_loop=event_loop, sock=sock)
    try:
        while not stop.wait(PARENT_CHECK_S):
            if os.getppid() != parent:  # the parent died without stopping us
                break
    finally:
        sim.stop()
    return 0


def stop_children(children: Sequence[int], timeout: float = 5.0) -> None:
    """SIGTERM each child and reap it; SIGKILL what is still there after `timeout`."""
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    waiting = set(children)
    while waiting:
        for pid in list(waiting):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                waiting.discard(pid)
        if not waiting:
            break
        if time.monotonic() >= deadline:
            for pid in waiting:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
            break
        time.sleep(0.02)

"""Running the simulator: in a daemon thread of this process, or as a child process."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol, cast

from doku.simulator.faults import SimulatorConfig, config_to_argv, config_to_env
from doku.simulator.loop_server import LoopServer
from doku.simulator.server import ThreadedServer
from doku.simulator.state import SimulatorStats, _State

# The simulator's front ends (`start_simulator(front=...)`): one event loop for every
# connection (the default: the least CPU per request), or a thread per connection.
FRONT_ENDS = ("loop", "threads")


class FrontEnd(Protocol):
    """What RunningSimulator needs of a front end."""

    state: _State
    server_name: str
    server_port: int

    def serve_forever(self) -> None: ...

    def stop_serving(self) -> None: ...


class RunningSimulator:
    """A simulator serving in a daemon thread; stop() (or `with`) ends it."""

    def __init__(self, server: FrontEnd, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self._stopped = False
        self.port: int = server.server_port
        self.url = f"http://{server.server_name}:{self.port}"

    @property
    def config(self) -> SimulatorConfig:
        return self._server.state.config

    def move_world_on(self, steps: int = 1) -> int:
        """Advance the simulated world by `steps` epochs (a month each, say) while
        serving, so the next audit of the same customers finds some tokens added and
        some removed; returns the new epoch."""
        state = self._server.state
        state.config = replace(state.config, epoch=max(0, state.config.epoch + steps))
        return state.config.epoch

    @property
    def stats(self) -> SimulatorStats:
        return self._server.state.stats

    def stop(self) -> None:
        """Stop serving; returns promptly even with hung or idle keep-alive connections."""
        if self._stopped:
            return
        self._stopped = True
        self._server.state.stop_event.set()  # wakes hung and sleeping handlers
        self._server.stop_serving()
        self._thread.join(timeout=5)
        self._server.state.close()

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningSimulator({self.url!r})"


def start_simulator(
    config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0,
    *, front: str = "loop", event_loop: str | None = None,
    sock: socket.socket | None = None,
) -> RunningSimulator:
    """Bind (port 0: a free one) and serve in a daemon thread. Raises OSError if taken,
    ValueError for a front end not in FRONT_ENDS. `event_loop`: which of
    `doku.client.loops.event_loops()` the loop front end runs on (default: the fastest).
    `sock`: serve this listening socket instead of binding one (loop front end only)."""
    if front not in FRONT_ENDS:
        raise ValueError(f"no simulator front end {front!r}; one of {', '.join(FRONT_ENDS)}")
    if sock is not None and front != "loop":
        raise ValueError("only the loop front end serves a socket it is given")
    state = _State(config or SimulatorConfig())
    server: FrontEnd
    try:
        if front == "loop":
            server = LoopServer((host, port), state, event_loop, sock=sock)
            serve = server.serve_forever
        else:
            threaded = server = ThreadedServer((host, port), state)
            serve = functools.partial(threaded.serve_forever, poll_interval=0.05)  # stop()
    except (OSError, ValueError):  # a port taken, an event loop not here
        state.close()
        raise
    thread = threading.Thread(
        target=serve, name=f"doku-simulator-{server.server_port}", daemon=True)
    thread.start()
    return RunningSimulator(server, thread)


def start_simulator_process(
    config: SimulatorConfig | None = None, port: int = 0, *, timeout: float = 15.0,
    front: str = FRONT_ENDS[0], processes: int = 1,
) -> tuple[str, subprocess.Popen[str]]:
    """Run `python -m doku sandbox` in a child process (its own GIL, for benchmarks);
    `processes` > 1: that many serving the port (`doku.simulator.group`).

    Returns the URL from its first line and the Popen; end it with
    `stop_simulator_process`. The credentials travel in the child's environment, never
    on its command line (visible to every local user).
    """
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    argv = [sys.executable, "-m", "doku", "sandbox", "--port", str(port), "--front", front]
    config = config or SimulatorConfig()
    argv += config_to_argv(config)
    if processes != 1:
        argv += ["--processes", str(processes)]
    env.update(config_to_env(config))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    stdout = cast(IO[str], proc.stdout)
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    line = first[0].strip() if first else ""
    prefix = "listening on "
    if not line.startswith(prefix):
        stop_simulator_process(proc)
        raise RuntimeError(
            f"simulator process did not start (exit code {proc.returncode}, output {line!r})"
        )
    return line[len(prefix) :], proc


def stop_simulator_process(proc: subprocess.Popen[str], timeout: float = 10.0) -> int:
    """SIGTERM, wait, SIGKILL as a last resort; returns the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    if proc.stdout is not None:
        proc.stdout.close()
    return proc.returncode

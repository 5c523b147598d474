"""`doku sandbox`: run the local DOKU simulator until SIGINT/SIGTERM.

The first stdout line is always `listening on http://127.0.0.1:PORT` (flushed), so a
parent process (tests, benchmarks, `start_simulator_process`) can wait for it. Binds
127.0.0.1 only: the simulator accepts documented demo credentials.

A chosen secret key comes from `DOKU_SECRET_KEY` (the client's own variable, so both
agree) or `--secret-key-file`, never from the command line, where every local user
could read it in `ps`. The client ID: `--client-id`, else `DOKU_CLIENT_ID`, else the
demo one.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import threading
from types import FrameType

from doku.cli import render
from doku.errors import ConfigurationError
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY
from doku.simulator import (
    FRONT_ENDS,
    SimulatorConfig,
    fork_servers,
    group_problem,
    listening_sockets,
    start_simulator,
    stop_children,
)

DEFAULT_PORT = 8765
HOST = "127.0.0.1"
DESCRIPTION = "Serve POST /tokenization/v1/tokens on 127.0.0.1 with optional faults."


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = SimulatorConfig()
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    p.add_argument("--client-id", default=None,
                   help=f"default: $DOKU_CLIENT_ID, else the demo {d.client_id}")
    p.add_argument("--secret-key-file", default=None, metavar="PATH",
                   help="read the secret key from this file (first line); default: "
                   "$DOKU_SECRET_KEY, else the documented demo key")
    # Refused with advice: a key on the command line shows in `ps` to every local user.
    p.add_argument("--secret-key", default=None, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=d.seed, help="world and fault seed")
    p.add_argument("--epoch", type=int, default=d.epoch, help="how far the world has moved")
    p.add_argument("--latency-ms", type=float, default=d.latency_ms)
    p.add_argument("--jitter-ms", type=float, default=d.jitter_ms)
    p.add_argument("--fail-rate", type=float, default=d.fail_rate, help="share of 5xx")
    p.add_argument("--rate-429", type=float, default=d.rate_429, help="share of 429")
    p.add_argument("--retry-after", type=int, default=d.retry_after_s, help="seconds")
    p.add_argument("--rate-limit", type=float, default=None, help="requests per second")
    p.add_argument("--hang-rate", type=float, default=d.hang_rate)
    p.add_argument("--hang-s", type=float, default=d.hang_s, help="how long a hang lasts")
    p.add_argument("--malformed-rate", type=float, default=d.malformed_rate)
    p.add_argument("--bad-signature-rate", type=float, default=d.bad_signature_rate)
    p.add_argument("--drop-rate", type=float, default=d.drop_rate)
    p.add_argument("--max-clock-skew", type=float, default=d.max_clock_skew_s, help="seconds")
    p.add_argument("--replay-capacity", type=int, default=d.replay_capacity)
    p.add_argument("--front", choices=FRONT_ENDS, default=FRONT_ENDS[0],
                   help="serve every connection from one event loop (default), or with a "
                   "thread per connection")
    p.add_argument("--processes", type=int, default=1,
                   help="serve the port from this many processes (loop front end, no "
                   "faults, rate limit or request log): more than one core")
    p.add_argument("--request-log", metavar="PATH", default=None,
                   help="append one line per customer request (ID, received, answered, "
                   "status): who fetched what when")


def _secret_key(args: argparse.Namespace) -> tuple[str, bool]:
    """The key to accept and whether it was chosen (a chosen key is never printed)."""
    if args.secret_key is not None:
        raise ConfigurationError(
            "sandbox: a secret key on the command line is visible to every local user; "
            "set DOKU_SECRET_KEY or use --secret-key-file"
        )
    if args.secret_key_file:
        try:
            with open(args.secret_key_file, encoding="utf-8") as fh:
                key = fh.readline().strip()
        except OSError as exc:
            raise ConfigurationError(
                f"sandbox: cannot read {args.secret_key_file}: {exc.strerror or exc}"
            ) from None
        if not key:
            raise ConfigurationError(f"sandbox: {args.secret_key_file} holds no key")
        return key, True
    key = os.environ.get("DOKU_SECRET_KEY", "").strip()
    return (key, True) if key else (SIMULATOR_SECRET_KEY, False)


def build_config(args: argparse.Namespace) -> SimulatorConfig:
    key, _ = _secret_key(args)
    client_id = args.client_id or os.environ.get("DOKU_CLIENT_ID", "").strip()
    try:
        return SimulatorConfig(
            client_id=client_id or SIMULATOR_CLIENT_ID,
            secret_key=key,
            seed=args.seed,
            epoch=args.epoch,
            latency_ms=args.latency_ms,
            jitter_ms=args.jitter_ms,
            fail_rate=args.fail_rate,
            rate_429=args.rate_429,
            retry_after_s=args.retry_after,
            rate_limit_rps=args.rate_limit,
            hang_rate=args.hang_rate,
            hang_s=args.hang_s,
            malformed_rate=args.malformed_rate,
            bad_signature_rate=args.bad_signature_rate,
            drop_rate=args.drop_rate,
            max_clock_skew_s=args.max_clock_skew,
            replay_capacity=args.replay_capacity,
            request_log=args.request_log,
        )
    except ValueError as exc:
        raise ConfigurationError(f"sandbox: {exc}") from None


def _announce(url: str, config: SimulatorConfig, key_given: bool) -> None:
    render.emit(f"listening on {url}", flush=True)  # the line a parent process waits for
    render.emit(f"client id: {config.client_id}")
    # The demo key is documented; a key the user chose is never echoed.
    render.emit(f"secret key: {'(as given)' if key_given else config.secret_key}")
    faults = {k: v for k, v in config.fault_rates().items() if v}
    if faults or config.latency_ms or config.rate_limit_rps:
        render.emit(
            f"latency {config.latency_ms:g} ms (+-{config.jitter_ms:g}), "
            f"rate limit {config.rate_limit_rps or 'none'}, faults {faults or 'none'}"
        )
    render.emit("press Ctrl+C to stop", flush=True)


def run(args: argparse.Namespace) -> int:
    config = build_config(args)
    if not 0 <= args.port <= 65535:
        raise ConfigurationError(f"--port must be within 0..65535, not {args.port}")
    problem = group_problem(config, args.front, args.processes)
    if problem is not None:
        raise ConfigurationError(f"sandbox: {problem}")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
        stop.set()

    # Handlers go in before the port is bound: once it accepts connections, a SIGINT
    # or SIGTERM stops the simulator cleanly.
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        children: list[int] = []
        try:
            if args.processes == 1:
                sim = start_simulator(config, host=HOST, port=args.port, front=args.front)
            else:
                sockets = listening_sockets(HOST, args.port, args.processes)
                try:
                    children = fork_servers(config, sockets)
                    sim = start_simulator(config, front=args.front, sock=sockets[0])
                finally:
                    for sock in sockets[1:]:
                        sock.close()  # the children's now
        except OSError as exc:
            stop_children(children)
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise ConfigurationError(f"cannot listen on {HOST}:{args.port}: {reason}") from None
        try:
            _announce(sim.url, config, config.secret_key != SIMULATOR_SECRET_KEY)
            if children:
                render.emit(f"serving from {args.processes} processes", flush=True)
            while not stop.wait(0.5):  # a timed wait keeps the main thread responsive
                pass
        finally:
            sim.stop()
            stop_children(children)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0

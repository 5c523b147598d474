"""The simulator's shared state: counters, the rate limiter and the replay memory."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass

from doku.simulator.faults import SimulatorConfig


class SimulatorStats:
    """Thread-safe counters: requests, status_<code>, replay and one per fault kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def incr(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def __repr__(self) -> str:
        return f"SimulatorStats({self.snapshot()!r})"


class _TokenBucket:
    """Global rate limit: `rate` tokens per second, burst of one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float:
        """0.0 when a request may pass, else seconds until the next token."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return 0.0
            return (1.0 - self.tokens) / self.rate


@dataclass
class _Seen:
    body_digest: bytes
    status: int | None = None  # None while the first request is still in progress
    body: bytes = b""


class _State:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.stats = SimulatorStats()
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.seen: OrderedDict[str, _Seen] = OrderedDict()
        rps = config.rate_limit_rps
        self.bucket = _TokenBucket(rps) if rps is not None else None
        self._rng = random.Random(config.seed)
        self._rng_lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._log = (open(config.request_log, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
                     if config.request_log else None)

    def log_request(self, customer_id: str, received: float, answered: float,
                    status: int) -> None:
        """One line of the request log (`SimulatorConfig.request_log`), if kept:
        customer ID (JSON string), received, answered, status, tab-separated."""
        if self._log is None:
            return
        line = f"{json.dumps(customer_id)}\t{received:.6f}\t{answered:.6f}\t{status}\n"
        with self._log_lock:
            if self._log is not None:  # not closed meanwhile
                self._log.write(line)

    def close(self) -> None:
        """Close the request log (a later request is then not logged)."""
        with self._log_lock:
            log, self._log = self._log, None
        if log is not None:
            log.close()

    def delay_s(self) -> float:
        cfg = self.config
        if cfg.jitter_ms <= 0:
            return cfg.latency_ms / 1000.0
        with self._rng_lock:
            jitter = self._rng.uniform(-cfg.jitter_ms, cfg.jitter_ms)
        return max(0.0, cfg.latency_ms + jitter) / 1000.0

    def claim(self, request_id: str, body_digest: bytes) -> _Seen | None:
        """Earlier record of this Request-Id, or None after reserving it for this request."""
        with self.lock:
            earlier = self.seen.get(request_id)
            if earlier is not None:
                self.seen.move_to_end(request_id)
                return _Seen(earlier.body_digest, earlier.status, earlier.body)
            self.seen[request_id] = _Seen(body_digest)
            while len(self.seen) > self.config.replay_capacity:
                self.seen.popitem(last=False)
            return None

    def remember(self, request_id: str, status: int, body: bytes) -> None:
        with self.lock:
            record = self.seen.get(request_id)
            if record is not None:
                record.status, record.body = status, body

    def forget(self, request_id: str) -> None:
        with self.lock:
            self.seen.pop(request_id, None)

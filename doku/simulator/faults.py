"""What the simulator is told to do: its keys, latency, rate limit and seeded faults.

The fault of a request is a pure function of ``(seed, Request-Id)`` (``planned_fault``):
one sha256-derived draw ``u`` in [0, 1) is compared with consecutive bands drop, hang,
fail (5xx: 500/502/503 in equal shares), 429, malformed, bad signature, so each fault
occurs at exactly its rate and a run with the same Request-Ids is reproducible whatever
the thread timing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields

from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY

FAULTS = ("drop", "hang", "fail", "rate_429", "malformed", "bad_signature")
FAIL_STATUSES = (500, 502, 503)


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulator behaves. Rates are shares of valid, authenticated requests."""

    client_id: str = SIMULATOR_CLIENT_ID
    secret_key: str = field(default=SIMULATOR_SECRET_KEY, repr=False)
    seed: int = 0
    epoch: int = 0
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    fail_rate: float = 0.0
    rate_429: float = 0.0
    retry_after_s: int = 1
    rate_limit_rps: float | None = None
    hang_rate: float = 0.0
    hang_s: float = 30.0
    malformed_rate: float = 0.0
    bad_signature_rate: float = 0.0
    drop_rate: float = 0.0
    max_clock_skew_s: float = 300.0
    replay_capacity: int = 100_000
    # A file the simulator appends one line per customer request to: customer ID,
    # received and answered (epoch seconds), status - how tests see who fetched what
    # when (several workers, one rate limit). Loopback test data only.
    request_log: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if not self.client_id:
            problems.append("client_id must not be empty")
        if not self.secret_key:
            problems.append("secret_key must not be empty")
        for name in self.fault_rates():
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                problems.append(f"{name} must be within [0, 1], not {rate}")
        if sum(self.fault_rates().values()) > 1.0 + 1e-9:
            problems.append("the fault rates together must not exceed 1")
        for name in ("latency_ms", "jitter_ms", "hang_s", "retry_after_s", "max_clock_skew_s"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        if self.epoch < 0:
            problems.append("epoch must be >= 0")
        if self.rate_limit_rps is not None and not self.rate_limit_rps > 0:
            problems.append("rate_limit_rps must be > 0")
        if self.replay_capacity < 1:
            problems.append("replay_capacity must be >= 1")
        if problems:
            raise ValueError("; ".join(problems))

    def fault_rates(self) -> dict[str, float]:
        """Config field name -> rate, in the order the bands are laid out."""
        return {
            "drop_rate": self.drop_rate,
            "hang_rate": self.hang_rate,
            "fail_rate": self.fail_rate,
            "rate_429": self.rate_429,
            "malformed_rate": self.malformed_rate,
            "bad_signature_rate": self.bad_signature_rate,
        }


def _unit(seed: int, label: str, request_id: str) -> float:
    raw = f"{seed}:{label}:{request_id}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.sha256(raw).digest()[:8], "big") / 2.0**64


def planned_fault(config: SimulatorConfig, request_id: str) -> str | None:
    """The fault (one of FAULTS) a valid request with this Request-Id gets, or None."""
    rates = config.fault_rates().values()
    if not any(rates):  # no bands: skip the draw (a hash per request)
        return None
    u = _unit(config.seed, "fault", request_id)
    for name, rate in zip(FAULTS, rates, strict=True):
        if u < rate:
            return name
        u -= rate
    return None


def failure_status(config: SimulatorConfig, request_id: str) -> int:
    """Which 5xx an injected failure uses (equal shares of 500, 502, 503)."""
    u = _unit(config.seed, "fail-status", request_id)
    return FAIL_STATUSES[min(int(u * len(FAIL_STATUSES)), len(FAIL_STATUSES) - 1)]


# Flags of `doku sandbox`, per config field.
CLI_FLAGS = {
    "seed": "--seed",
    "epoch": "--epoch",
    "latency_ms": "--latency-ms",
    "jitter_ms": "--jitter-ms",
    "fail_rate": "--fail-rate",
    "rate_429": "--rate-429",
    "retry_after_s": "--retry-after",
    "rate_limit_rps": "--rate-limit",
    "hang_rate": "--hang-rate",
    "hang_s": "--hang-s",
    "malformed_rate": "--malformed-rate",
    "bad_signature_rate": "--bad-signature-rate",
    "drop_rate": "--drop-rate",
    "max_clock_skew_s": "--max-clock-skew",
    "replay_capacity": "--replay-capacity",
    "request_log": "--request-log",
}


def config_to_argv(config: SimulatorConfig) -> list[str]:
    """`sandbox` flags reproducing `config` (only fields that differ from the defaults).

    The credentials are not among them: they go in the environment (`config_to_env`),
    never on a command line."""
    default = SimulatorConfig()
    argv: list[str] = []
    for f in fields(SimulatorConfig):
        value = getattr(config, f.name)
        if f.name in CLI_FLAGS and value != getattr(default, f.name):
            argv += [CLI_FLAGS[f.name], str(value)]
    return argv


def config_to_env(config: SimulatorConfig) -> dict[str, str]:
    """The environment that gives a `sandbox` child the config's credentials (always
    set, so an inherited DOKU_SECRET_KEY cannot change the child's key)."""
    return {"DOKU_CLIENT_ID": config.client_id, "DOKU_SECRET_KEY": config.secret_key}

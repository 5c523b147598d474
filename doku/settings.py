"""Connection settings from the environment or `.streamlit/secrets.toml` ([doku] table).

Environment variables win over the secrets file. With no credentials at all the
app runs on the built-in simulator (and says so). `DOKU_RATE_LIMIT` (or `rate_limit`
in the [doku] table) is the team's shared requests/second for the client ID. The
secret key is held in `SecretKey`, whose repr/str never show it.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doku.errors import ConfigurationError
from doku.masking import mask_client_id

ENVIRONMENTS = ("simulator", "sandbox", "production")
BASE_URLS = {
    "sandbox": "https://api-sandbox.doku.com",
    "production": "https://api.doku.com",
}
TOKENS_PATH = "/tokenization/v1/tokens"
# Documented demo credentials of the built-in simulator (not secret, not DOKU's).
SIMULATOR_CLIENT_ID = "MCH-0001-10791114622547"
SIMULATOR_SECRET_KEY = "SK-simulator-demo-only"
KEYS = ("DOKU_CLIENT_ID", "DOKU_SECRET_KEY", "DOKU_ENV", "DOKU_BASE_URL")


class SecretKey:
    """A secret that never shows itself in repr, str, format or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "SecretKey('********')" if self._value else "SecretKey('')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("SecretKey", self._value))

    def __reduce__(self) -> Any:  # never pickle the value by accident
        raise TypeError("SecretKey cannot be pickled")


@dataclass(frozen=True)
class Settings:
    env: str
    client_id: str
    secret_key: SecretKey = field(repr=True)
    base_url: str | None  # None: start the embedded simulator
    source: str = "defaults"
    # DOKU_RATE_LIMIT: requests/second for this client ID across every process that
    # shares the store (doku.engine.ratelimit); None: each run paces itself alone.
    rate_limit: float | None = None

    @property
    def uses_simulator(self) -> bool:
        return self.env == "simulator"

    @property
    def require_response_signature(self) -> bool:
        return self.env != "simulator"

    @property
    def masked_client_id(self) -> str:
        # Short IDs are shown as they are: there is nothing meaningful to hide.
        cid = self.client_id
        return cid if len(cid) <= 8 else mask_client_id(cid)

    def with_base_url(self, base_url: str) -> Settings:
        return Settings(self.env, self.client_id, self.secret_key, base_url, self.source,
                        self.rate_limit)


def read_secrets_table(path: Path | None = None) -> dict[str, str]:
    """The [doku] table of a secrets.toml; {} when there is no file or table."""
    candidates = [path] if path else [Path.cwd() / ".streamlit" / "secrets.toml"]
    for candidate in candidates:
        if candidate is None or not candidate.is_file():
            continue
        try:
            data = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"cannot read {candidate}: {exc}") from None
        table = data.get("doku", {})
        if not isinstance(table, dict):
            raise ConfigurationError(f"[doku] in {candidate} is not a table")
        return normalize_secrets(table)
    return {}


def normalize_secrets(table: Mapping[str, object]) -> dict[str, str]:
    """[doku] keys as DOKU_* names: `client_id` and `DOKU_CLIENT_ID` both work."""
    out: dict[str, str] = {}
    for key, value in table.items():
        name = str(key).upper()
        out[name if name.startswith("DOKU_") else "DOKU_" + name] = str(value)
    return out


def load_settings(
    environ: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings; environment first, then the secrets table, then the simulator."""
    environ = os.environ if environ is None else environ
    secrets = read_secrets_table() if secrets is None else secrets

    def get(key: str) -> str:
        value = environ.get(key, "").strip()
        return value if value else str(secrets.get(key, "")).strip()

    client_id, secret, env, base_url = (get(k) for k in KEYS)
    rate_limit = parse_rate_limit(get(RATE_LIMIT_KEY))
    from_env = any(environ.get(k, "").strip() for k in KEYS)
    source = "environment" if from_env else ("secrets.toml" if secrets else "defaults")
    env = env.lower()
    if env and env not in ENVIRONMENTS:
        raise ConfigurationError(
            f"DOKU_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}"
        )
    if not env:
        env = "sandbox" if (client_id or secret) else "simulator"
    if base_url:
        base_url = base_url.rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError("DOKU_BASE_URL must start with http:// or https://")
    if env == "simulator":
        return Settings(
            env,
            client_id or SIMULATOR_CLIENT_ID,
            SecretKey(secret or SIMULATOR_SECRET_KEY),
            base_url or None,
            source,
            rate_limit,
        )
    missing = [k for k, v in (("DOKU_CLIENT_ID", client_id), ("DOKU_SECRET_KEY", secret)) if not v]
    if missing:
        raise ConfigurationError(
            f"DOKU_ENV={env} needs {' and '.join(missing)} "
            "(environment variable or [doku] table in .streamlit/secrets.toml)"
        )
    return Settings(env, client_id, SecretKey(secret), base_url or BASE_URLS[env], source,
                    rate_limit)


RATE_LIMIT_KEY = "DOKU_RATE_LIMIT"


def parse_rate_limit(text: str) -> float | None:
    """DOKU_RATE_LIMIT as requests/second: None when unset or blank, else a positive
    finite number (ConfigurationError, one line, otherwise)."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise ConfigurationError(
            f"{RATE_LIMIT_KEY} must be a positive number of requests per second "
            f"(for example 50), not {shown!r}"
        )
    return value


DATABASE_URL_KEY = "DOKU_DATABASE_URL"


def database_url(
    environ: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> str | None:
    """The configured store URL, if any: DOKU_DATABASE_URL from the environment, else
    `database_url` (or `DOKU_DATABASE_URL`) in the [doku] table of secrets.toml. It may
    hold a password: show it only through `doku.engine.database.redact`."""
    environ = os.environ if environ is None else environ
    value = environ.get(DATABASE_URL_KEY, "").strip()
    if value:
        return value
    secrets = read_secrets_table() if secrets is None else secrets
    return str(secrets.get(DATABASE_URL_KEY, "")).strip() or None

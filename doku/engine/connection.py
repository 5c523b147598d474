"""Turn settings into a working client: start the embedded simulator when needed.

With no credentials at all (DOKU_ENV=simulator and no DOKU_BASE_URL) one simulator
per process is started on a free loopback port and shared by every caller.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

from doku.client.tokens import TokenClient
from doku.errors import ConfigurationError
from doku.settings import Settings, load_settings

_lock = threading.Lock()
_embedded: Any = None  # doku.simulator.server.RunningSimulator, started lazily


def embedded_simulator_url(settings: Settings) -> str:
    """URL of this process's simulator, started on first use with the settings' keys."""
    global _embedded
    from doku.simulator import SimulatorConfig, start_simulator

    with _lock:
        if _embedded is None:
            config = SimulatorConfig(
                client_id=settings.client_id, secret_key=settings.secret_key.reveal()
            )
            _embedded = start_simulator(config)
            atexit.register(_embedded.stop)
        return str(_embedded.url)


def embedded_world_epoch() -> int | None:
    """The embedded simulator's world epoch, or None when none runs in this process."""
    with _lock:
        return None if _embedded is None else int(_embedded.config.epoch)


def move_embedded_world_on(steps: int = 1) -> int:
    """Move the embedded simulator's world on (demos: a second audit then differs and
    a comparison shows real change); ConfigurationError when none runs here."""
    with _lock:
        if _embedded is None:
            raise ConfigurationError("no embedded simulator runs in this process")
        return int(_embedded.move_world_on(steps))


def resolve(settings: Settings | None = None) -> Settings:
    """Settings with a usable base URL (the embedded simulator's when needed).

    None loads the settings (environment, then `.streamlit/secrets.toml`). Only the
    simulator environment may lack a base URL; any other environment without one is
    refused with a ConfigurationError rather than pointed at a local simulator.

    >>> from doku.settings import load_settings
    >>> resolve(load_settings({}, {})).base_url.startswith("http://127.0.0.1:")
    True
    """
    settings = settings or load_settings()
    if settings.base_url is not None:
        return settings
    if not settings.uses_simulator:
        raise ConfigurationError(
            f"DOKU_ENV={settings.env} has no base URL; set DOKU_BASE_URL "
            "(only the simulator environment starts one by itself)"
        )
    return settings.with_base_url(embedded_simulator_url(settings))


def connect(settings: Settings | None = None, **client_options: Any) -> TokenClient:
    """A TokenClient for the configured environment (see TokenClient for options).

    With DOKU_RATE_LIMIT set, its requests take the team's send slots in the configured
    store like every bulk run's (`doku.engine.ratelimit`): single lookups count
    against the same budget."""
    settings = resolve(settings)
    if settings.rate_limit is not None and "pacer" not in client_options:
        client_options["pacer"] = _team_pacer(settings)
    return TokenClient(settings, **client_options)


_team_stores: dict[str, Any] = {}  # store key -> Store, one per process, for lookups


def _team_pacer(settings: Settings) -> Any:
    """A pacer on the team's schedule in the configured store (opened once per
    process: lookups come one at a time, from a page or a command)."""
    from doku.client.pacing import SharedPacer
    from doku.engine.database import resolve as resolve_store
    from doku.engine.ratelimit import TeamPacer
    from doku.engine.store import Store

    location = resolve_store()
    with _lock:
        store = _team_stores.get(location.key)
        if store is None:
            store = _team_stores[location.key] = Store(url=location.url) \
                if location.path is None else Store(location.path)
            atexit.register(store.close)
    assert settings.rate_limit is not None
    return TeamPacer(store, settings.client_id, settings.rate_limit, SharedPacer())


def describe(settings: Settings) -> dict[str, str]:
    """What the UI and CLI show about the connection: never the secret itself."""
    return {
        "environment": settings.env,
        "base_url": settings.base_url or "(embedded simulator, starting on demand)",
        "client_id": settings.masked_client_id,
        "secret_key": "set" if settings.secret_key else "not set",
        "source": settings.source,
    }

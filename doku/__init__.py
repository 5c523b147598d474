"""DOKU tokenization audit library: signing, client, simulator, bulk audits, store, frames.

Importable and fully usable without Streamlit. The analyst's API is at the top level
and imported on first use, so `import doku` alone stays light (no pandas, no
requests):

>>> import doku
>>> {"fetch_tokens", "audit", "load_run", "compare"} <= set(dir(doku))
True

- `doku.fetch_tokens(customer_id)`: one customer's tokens as a DataFrame (masked IDs)
- `doku.audit(source)`: audit a file, a list of IDs or a DataFrame; returns the frames
- `doku.resume(run)`: finish a cancelled or interrupted run
- `doku.load_run("latest")`, `doku.compare(a, b)`: stored runs and what changed

See `doku.api` and README's "From Python".
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports
    from doku.analysis.comparison import Comparison
    from doku.analysis.frames import RunFrames
    from doku.api import audit, compare, fetch_tokens, load_run, resume
    from doku.engine.bulk import AuditOptions
    from doku.errors import DokuError

# Public name -> module that defines it (imported on first access).
_LAZY = {
    "fetch_tokens": "doku.api",
    "audit": "doku.api",
    "resume": "doku.api",
    "load_run": "doku.api",
    "compare": "doku.api",
    "RunFrames": "doku.analysis.frames",
    "Comparison": "doku.analysis.comparison",
    "AuditOptions": "doku.engine.bulk",
    "DokuError": "doku.errors",
}

__all__ = [
    "AuditOptions",
    "Comparison",
    "DokuError",
    "RunFrames",
    "__version__",
    "audit",
    "compare",
    "fetch_tokens",
    "load_run",
    "resume",
]


def __getattr__(name: str) -> Any:
    """Import the API lazily (PEP 562): `doku.audit` imports pandas only when used."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'doku' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # next access skips __getattr__
    return value


def __dir__() -> list[str]:
    """The public API and the module's dunders (not its helpers)."""
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})

"""How credentials are shown: token IDs and client IDs masked, secrets never.

Token IDs are payment credentials: stores keep a fingerprint unless a run opts in to
raw IDs, and screens and exports show the masked form unless a permitted user
reveals one. The secret key never appears at all (see `doku.settings.SecretKey`).
"""

from __future__ import annotations

import hashlib


def fingerprint(token_id: str) -> str:
    """Identifies a token across runs without storing the credential itself."""
    return hashlib.sha256(token_id.encode("utf-8")).hexdigest()


def mask_token_id(token_id: str) -> str:
    """Keep the first 4 and last 4 characters; short IDs are masked entirely."""
    return _mask(token_id)


def mask_client_id(client_id: str) -> str:
    """The same shape for a merchant's client ID (shown, but not in full)."""
    return _mask(client_id)


def _mask(value: str) -> str:
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]

"""Who is acting and what they may do: actors, roles and the `[doku.access]` table.

Sign-in (OIDC, in the dashboard) says who someone is; this module says what they may
do. Roles, each with everything of the ones before it:

- viewer: Home, Insights, Runs; downloads with token IDs masked.
- analyst: + Customer lookup, Bulk audit, Saved audits: start, cancel, resume and
  retry audits, saved audits and their schedules.
- admin: + reveal token IDs, runs that keep raw token IDs, delete runs, read the
  audit trail.

`[doku.access]` in `.streamlit/secrets.toml` lists who has which role, by e-mail
address or `@domain` (every address at exactly that domain):

    [doku.access]
    viewers = ["@example.co.id"]
    analysts = ["ana@example.co.id"]
    admins = ["root@example.co.id"]
    trail_customer_ids = "fingerprint"   # or "raw": lookups in the trail name the ID

A signed-in user on no list has no role and sees nothing but a refusal. Outside the
dashboard (the CLI, the Python API, a worker) the actor is the OS user or `DOKU_ACTOR`
and may do everything its credentials allow: the trail records who it was.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum

from doku.errors import ConfigurationError, NotAllowedError

ACTOR_ENV = "DOKU_ACTOR"
MAX_ACTOR = 200


class Role(IntEnum):
    VIEWER = 1
    ANALYST = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


# What each action needs (pages and buttons ask `allowed`; the server refuses too).
VIEW = "view"  # Home, Insights, Runs
DOWNLOAD = "download"  # masked exports
LOOKUP = "lookup"
AUDIT = "audit"  # start, cancel, resume, retry
SAVED = "saved"  # saved audits and schedules
REVEAL = "reveal"  # unmasked token IDs
KEEP_RAW_IDS = "keep_raw_ids"  # runs that store raw token IDs
DELETE_RUN = "delete_run"
READ_TRAIL = "read_trail"
NEEDS: dict[str, Role] = {
    VIEW: Role.VIEWER, DOWNLOAD: Role.VIEWER,
    LOOKUP: Role.ANALYST, AUDIT: Role.ANALYST, SAVED: Role.ANALYST,
    REVEAL: Role.ADMIN, KEEP_RAW_IDS: Role.ADMIN, DELETE_RUN: Role.ADMIN,
    READ_TRAIL: Role.ADMIN,
}


@dataclass(frozen=True)
class Actor:
    """Who did something: `name` (an e-mail address, an OS user or DOKU_ACTOR), `via`
    (oidc | local | cli | api | worker) and, in the dashboard, `role` (None: no
    limits beyond the credentials, outside the dashboard or in single-user mode)."""

    name: str
    via: str
    role: Role | None = None

    def allowed(self, action: str) -> bool:
        return self.role is None or self.role >= NEEDS[action]

    def require(self, action: str) -> None:
        """NotAllowedError (one clear line) unless the role includes `action`."""
        if not self.allowed(action):
            assert self.role is not None
            raise NotAllowedError(
                f"{self.name} ({self.role.label}) may not {action.replace('_', ' ')}; "
                f"that needs the {NEEDS[action].label} role")

    @property
    def label(self) -> str:
        return f"{self.name} ({self.via})"


def _clean_name(name: str) -> str:
    text = "".join(c for c in str(name) if c.isprintable()).strip()
    return text[:MAX_ACTOR] or "unknown"


def process_actor(via: str = "cli", environ: Mapping[str, str] | None = None) -> Actor:
    """The CLI's, API's or a worker's actor: DOKU_ACTOR, else the OS user."""
    env = os.environ if environ is None else environ
    named = env.get(ACTOR_ENV, "").strip()
    if named:
        return Actor(_clean_name(named), via)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = f"uid {os.getuid()}"
    return Actor(_clean_name(user), via)


@dataclass(frozen=True)
class AccessPolicy:
    """`[doku.access]`: e-mail addresses and @domains per role."""

    viewers: frozenset[str] = frozenset()
    analysts: frozenset[str] = frozenset()
    admins: frozenset[str] = frozenset()
    raw_customer_ids: bool = False  # the trail names looked-up customers as given

    @classmethod
    def from_table(cls, table: Mapping[str, object] | None) -> AccessPolicy:
        """Read `[doku.access]`; ConfigurationError naming the key that is wrong."""
        if not table:
            return cls()
        known = {"viewers", "analysts", "admins", "trail_customer_ids"}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigurationError(f"[doku.access] has unknown keys: {', '.join(unknown)}"
                                     f" (known: {', '.join(sorted(known))})")
        ids = table.get("trail_customer_ids", "fingerprint")
        if ids not in ("fingerprint", "raw"):
            raise ConfigurationError('[doku.access] trail_customer_ids must be "fingerprint"'
                                     f' or "raw", not {ids!r}')
        return cls(viewers=_entries(table.get("viewers"), "viewers"),
                   analysts=_entries(table.get("analysts"), "analysts"),
                   admins=_entries(table.get("admins"), "admins"),
                   raw_customer_ids=ids == "raw")

    @property
    def empty(self) -> bool:
        return not (self.viewers or self.analysts or self.admins)

    def role_for(self, email: str | None) -> Role | None:
        """The highest role whose list names `email` or its domain; None: no role."""
        if not email or "@" not in email:
            return None
        address = email.strip().lower()
        domain = "@" + address.rsplit("@", 1)[1]
        for role, names in ((Role.ADMIN, self.admins), (Role.ANALYST, self.analysts),
                            (Role.VIEWER, self.viewers)):
            if address in names or domain in names:
                return role
        return None


def _entries(value: object, key: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigurationError(f"[doku.access] {key} must be a list of e-mail addresses"
                                 ' or "@domain" entries')
    out = set()
    for item in value:
        text = str(item).strip().lower()
        if "@" not in text or " " in text or (text.count("@") != 1):
            raise ConfigurationError(f"[doku.access] {key}: {item!r} is neither an e-mail "
                                     'address nor an "@domain" entry')
        out.add(text)
    return frozenset(out)

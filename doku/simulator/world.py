"""The simulator's deterministic world: who has which tokens.

Everything about a customer is derived from ``sha256(f"{seed}:{customer_id}")`` (never
Python's ``hash()``, which is salted per process), so the same ID gives the same answer
in every process, on every machine and in every Python version: a "uniform draw" is the
first 8 bytes of ``sha256(root + label)`` read as a fraction.

``CUST-0001`` is the tokenization guide's example and always answers exactly the
guide's three tokens (whatever the seed or epoch).

Proportions of the base world (epoch 0), per customer unless stated:

=====================  ==========================================================
plan                   basic 55 %, plus 30 %, premium 15 %
region                 Jakarta 28, West Java 18, East Java 14, Central Java 10,
                       Banten 7, North Sumatra 7, Bali 5, South Sulawesi 5,
                       Yogyakarta 3, East Kalimantan 3 (%)
no token at all        basic 44 %, plus 32 %, premium 20 %; 5 points fewer in
                       Jakarta and Bali  ->  about 35 % overall
tokens (if any)        1: 52 %, 2: 30 %, 3: 12 %, 4: 4 %, 5: 2 %
credit card share      per token: basic 30 %, plus 42 %, premium 58 %
direct-debit issuer    BRI 24, Mandiri 22, BCA 18, BNI 14, BSI 8, CIMB Niaga 6,
                       Permata 4, Danamon 4 (%)
credit-card brand      visa 55 %, mastercard 35 %, jcb 7 %, amex 3 %
credit-card issuer     BCA 26, Mandiri 20, BNI 14, BRI 12, CIMB Niaga 12, Permata 5,
                       Danamon 4, OCBC NISP 4, Maybank 3 (%); amex cards are BNI's
                       (its only issuer in Indonesia)
masked card            debit ``*********1234``; credit ``BBBB****1234`` with a BIN
                       prefix matching the brand (visa 4, mastercard 51-55, jcb 35,
                       amex 37)
token_id               32 lowercase hex characters
signup_month           2022-12 .. 2024-11, mildly more recent signups
=====================  ==========================================================

Epochs: the world moves on. At each step ``e = 1..epoch`` about 5 % of customers see
one change: a customer with no token gains one, one with 5 or more loses one, anyone
else gains or loses with equal odds. A token that persists keeps its token_id, so
after N steps about ``1 - 0.95**N`` of customers differ from epoch 0.

The demo file ``samples/customers.csv`` is ``sample_customers()`` written by
``python -m doku.simulator.world samples/customers.csv``; its plan and region are the same
profile that drives token uptake, so uptake-by-segment charts show a real effect.
"""

from __future__ import annotations

import csv
import hashlib
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doku.models import CARD_FIELD, CREDIT_CARD, DIRECT_DEBIT

GUIDE_CUSTOMER_ID = "CUST-0001"
GUIDE_CUSTOMER_NAME = "Anton Budiman"
SAMPLE_COLUMNS = ("customer_id", "region", "plan", "signup_month")
EPOCH_CHANGE_RATE = 0.05
MAX_TOKENS = 5

PLANS: tuple[tuple[str, float], ...] = (("basic", 55), ("plus", 30), ("premium", 15))
REGIONS: tuple[tuple[str, float], ...] = (
    ("Jakarta", 28),
    ("West Java", 18),
    ("East Java", 14),
    ("Central Java", 10),
    ("Banten", 7),
    ("North Sumatra", 7),
    ("Bali", 5),
    ("South Sulawesi", 5),
    ("Yogyakarta", 3),
    ("East Kalimantan", 3),
)
NO_TOKEN_RATE = {"basic": 0.44, "plus": 0.32, "premium": 0.20}
METRO_REGIONS = frozenset({"Jakarta", "Bali"})
METRO_NO_TOKEN_BONUS = 0.05
TOKEN_COUNTS: tuple[tuple[int, float], ...] = ((1, 52), (2, 30), (3, 12), (4, 4), (5, 2))
CREDIT_CARD_SHARE = {"basic": 0.30, "plus": 0.42, "premium": 0.58}
DEBIT_ISSUERS: tuple[tuple[str, float], ...] = (
    ("BRI", 24),
    ("Mandiri", 22),
    ("BCA", 18),
    ("BNI", 14),
    ("BSI", 8),
    ("CIMB Niaga", 6),
    ("Permata", 4),
    ("Danamon", 4),
)
CREDIT_ISSUERS: tuple[tuple[str, float], ...] = (
    ("BCA", 26),
    ("Mandiri", 20),
    ("BNI", 14),
    ("BRI", 12),
    ("CIMB Niaga", 12),
    ("Permata", 5),
    ("Danamon", 4),
    ("OCBC NISP", 4),
    ("Maybank", 3),
)
BRANDS: tuple[tuple[str, float], ...] = (
    ("visa", 55),
    ("mastercard", 35),
    ("jcb", 7),
    ("amex", 3),
)
SIGNUP_MONTHS = tuple(
    f"{2022 + (11 + i) // 12}-{(11 + i) % 12 + 1:02d}" for i in range(24)
)  # 2022-12 .. 2024-11
SIGNUP_WEIGHTS = tuple(float(12 + i) for i in range(24))  # mild growth
_SIGNUP_OPTIONS = tuple(zip(SIGNUP_MONTHS, SIGNUP_WEIGHTS, strict=True))

FIRST_NAMES = (
    "Anton", "Budi", "Siti", "Dewi", "Agus", "Rina", "Andi", "Putri", "Rizky", "Ayu",
    "Dian", "Eko", "Fitri", "Hendra", "Indah", "Joko", "Kartika", "Lestari", "Nur",
    "Yusuf", "Wahyu", "Sri", "Bambang", "Ratna", "Teguh", "Nia", "Arif", "Citra",
    "Fajar", "Gita", "Hadi", "Intan", "Maya", "Reza", "Sari", "Taufik", "Utami",
    "Vina", "Wulan", "Yanti", "Zainal", "Dimas", "Lina", "Yoga", "Nadia", "Irfan",
)  # fmt: skip
LAST_NAMES = (
    "Budiman", "Santoso", "Wijaya", "Pratama", "Saputra", "Hidayat", "Setiawan",
    "Kurniawan", "Nugroho", "Gunawan", "Halim", "Susanto", "Wibowo", "Rahman",
    "Hakim", "Purnomo", "Suharto", "Utomo", "Permana", "Firmansyah", "Ramadhan",
    "Kusuma", "Hartono", "Salim", "Tanoto", "Lim", "Syahputra", "Maulana",
    "Anggraini", "Lestari", "Rahayu", "Puspita", "Siswanto", "Hasibuan",
)  # fmt: skip
# Regional flavour: Batak surnames in North Sumatra, Balinese birth-order names in Bali.
BATAK_NAMES = (
    "Siregar", "Simanjuntak", "Nasution", "Lubis", "Harahap", "Sitompul", "Manurung",
    "Pangaribuan", "Sembiring", "Ginting", "Tarigan", "Panjaitan", "Situmorang",
)  # fmt: skip
BALINESE_FIRST = ("Made", "Ketut", "Nyoman", "Wayan", "Komang", "Putu", "Gede", "Kadek")

# Total weight of each table above, summed once (the same float sum _pick would do on
# every draw); keyed by identity, as the tables are module constants.
_TOTALS = {
    id(table): sum(weight for _, weight in table)
    for table in (PLANS, REGIONS, TOKEN_COUNTS, DEBIT_ISSUERS, CREDIT_ISSUERS, BRANDS,
                  _SIGNUP_OPTIONS)
}

# The guide's example answer, verbatim (its sample has trailing commas; this is the
# same objects as valid JSON).
_GUIDE_TOKENS: tuple[tuple[str, str, str, str, str | None], ...] = (
    (DIRECT_DEBIT, "BRI", "243591d7e49f45109961581718c3ef82", "*********8982", None),
    (DIRECT_DEBIT, "BRI", "05fc9236261381647e24a14a691e1590", "*********8981", None),
    (CREDIT_CARD, "BCA", "4bc187a24c60fc88977604d170eea4a5", "4096****5464", "visa"),
)


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    """What the world knows about a customer besides tokens."""

    customer_id: str
    name: str
    region: str
    plan: str
    signup_month: str


@dataclass(frozen=True, slots=True)
class _Card:
    type: str
    issuer: str
    token_id: str
    masked_card: str
    brand: str | None


def _root(customer_id: str, seed: int) -> bytes:
    # surrogatepass: an ID decoded from JSON may hold a lone surrogate; never crash.
    return hashlib.sha256(f"{seed}:{customer_id}".encode("utf-8", "surrogatepass")).digest()


_sha256 = hashlib.sha256
# The digest's first 8 bytes as a big-endian integer: int.from_bytes(digest[:8], "big")
# without the slice and the keyword call (about a quarter of a draw's cost).
_first_8 = struct.Struct(">Q").unpack_from


def _unit(data: bytes) -> float:
    """The draw in [0, 1) that `data` (root + label bytes) gives."""
    first: int = _first_8(_sha256(data).digest())[0]
    return first / 2.0**64


def _uniform(root: bytes, label: str) -> float:
    """A draw in [0, 1) that depends only on (root, label)."""
    return _unit(root + label.encode("utf-8"))


def _pick(options: Sequence[tuple[Any, float]], u: float) -> Any:
    total = _TOTALS.get(id(options))
    if total is None:
        total = sum(weight for _, weight in options)
    point = u * total
    for value, weight in options:
        if point < weight:
            return value
        point -= weight
    return options[-1][0]


def customer_profile(customer_id: str, seed: int = 0) -> CustomerProfile:
    """Name, region, plan and signup month; shared by tokens_for and sample_customers."""
    return _profile(customer_id, _root(customer_id, seed))


def _profile(customer_id: str, root: bytes) -> CustomerProfile:
    name, region, plan = _who(customer_id, root)
    month: str = _pick(_SIGNUP_OPTIONS, _uniform(root, "signup"))
    return CustomerProfile(customer_id, name, region, plan, month)


def _who(customer_id: str, root: bytes) -> tuple[str, str, str]:
    """Name, region and plan: what answers need (the signup month is not asked for)."""
    region: str = _pick(REGIONS, _unit(root + b"region"))
    plan: str = _pick(PLANS, _unit(root + b"plan"))
    if customer_id == GUIDE_CUSTOMER_ID:
        name = GUIDE_CUSTOMER_NAME
    else:
        regional = _unit(root + b"name:regional") < 0.6
        firsts = BALINESE_FIRST if region == "Bali" and regional else FIRST_NAMES
        lasts = BATAK_NAMES if region == "North Sumatra" and regional else LAST_NAMES
        first = firsts[int(_unit(root + b"name:first") * len(firsts))]
        last = lasts[int(_unit(root + b"name:last") * len(lasts))]
        name = f"{first} {last}"
    return name, region, plan


def customer_name_for(customer_id: str, seed: int = 0) -> str:
    return customer_profile(customer_id, seed).name


def _card(root: bytes, slot: str, plan: str) -> _Card:
    """One token; every attribute depends only on (customer root, slot label)."""
    # The hashes of `_uniform(root, f"slot:{slot}:{label}")`, written out: several
    # draws per card, thousands of answers a second.
    key = root + f"slot:{slot}:".encode()
    token_id = _sha256(key + b"token_id").hexdigest()[:32]
    last4 = str(int.from_bytes(_sha256(key + b"last4").digest(), "big") % 10**4).zfill(4)
    if _unit(key + b"type") >= CREDIT_CARD_SHARE[plan]:
        issuer = _pick(DEBIT_ISSUERS, _unit(key + b"issuer"))
        return _Card(DIRECT_DEBIT, issuer, token_id, "*" * 9 + last4, None)
    brand: str = _pick(BRANDS, _unit(key + b"brand"))
    issuer = "BNI" if brand == "amex" else _pick(CREDIT_ISSUERS, _unit(key + b"issuer"))
    if brand == "visa":
        tail = int.from_bytes(_sha256(key + b"bin-tail").digest(), "big")
        bin4 = "4" + str(tail % 10**3).zfill(3)
    elif brand == "mastercard":
        tail = int.from_bytes(_sha256(key + b"bin-tail").digest(), "big")
        bin4 = f"5{1 + int(_unit(key + b'bin') * 5)}{str(tail % 10**2).zfill(2)}"
    elif brand == "jcb":
        bin4 = f"35{28 + int(_unit(key + b'bin') * 62)}"  # JCB's 3528-3589
    else:
        tail = int.from_bytes(_sha256(key + b"bin-tail").digest(), "big")
        bin4 = "37" + str(tail % 10**2).zfill(2)
    return _Card(CREDIT_CARD, issuer, token_id, f"{bin4}****{last4}", brand)


def _cards(customer_id: str, seed: int, epoch: int) -> tuple[str, list[_Card]]:
    """The customer's name and cards."""
    root = _root(customer_id, seed)
    name, region, plan = _who(customer_id, root)
    no_token = NO_TOKEN_RATE[plan]
    if region in METRO_REGIONS:
        no_token -= METRO_NO_TOKEN_BONUS
    count = (
        0
        if _unit(root + b"has-token") < no_token
        else _pick(TOKEN_COUNTS, _unit(root + b"count"))
    )
    base = [_card(root, str(i), plan) for i in range(count)]
    # Debit tokens first, then credit cards, as in the guide's example.
    cards = sorted(base, key=lambda c: c.type != DIRECT_DEBIT)  # stable: keeps slot order
    for step in range(1, epoch + 1):
        if _uniform(root, f"epoch:{step}") >= EPOCH_CHANGE_RATE:
            continue
        gain = not cards or (len(cards) < MAX_TOKENS and _uniform(root, f"epoch:{step}:gain") < 0.5)
        if gain:
            cards.append(_card(root, f"e{step}", plan))
        else:
            del cards[int(_uniform(root, f"epoch:{step}:which") * len(cards))]
    return name, cards


def named_cards(customer_id: str, seed: int = 0, epoch: int = 0) -> tuple[str, list[_Card]]:
    """The customer's name and tokens in answer order (the guide's customer: the
    guide's); what `tokens_for` and `world_json.tokens_json` write out."""
    if epoch < 0:
        raise ValueError("epoch must be >= 0")
    if customer_id == GUIDE_CUSTOMER_ID:
        return GUIDE_CUSTOMER_NAME, [_Card(*token) for token in _GUIDE_TOKENS]
    return _cards(customer_id, seed, epoch)


def tokens_for(customer_id: str, seed: int = 0, epoch: int = 0) -> list[dict[str, Any]]:
    """The API's answer for a customer (all types), as fresh JSON-ready dicts."""
    name, cards = named_cards(customer_id, seed, epoch)
    out: list[dict[str, Any]] = []
    for card in cards:
        detail: dict[str, Any] = {
            "issuer": card.issuer,
            "token_id": card.token_id,
            "masked_card": card.masked_card,
        }
        if card.brand is not None:
            detail["brand"] = card.brand
        out.append(
            {
                "token_data": {"type": card.type},
                "customer": {"id": customer_id, "name": name},
                CARD_FIELD[card.type]: detail,
            }
        )
    return out


def sample_customers(n: int = 3000, seed: int = 0) -> list[dict[str, str]]:
    """Rows of the demo customer file: CUST-10001, CUST-10002, ... with their profile."""
    rows = []
    for i in range(n):
        profile = customer_profile(f"CUST-{10001 + i}", seed)
        rows.append(
            {
                "customer_id": profile.customer_id,
                "region": profile.region,
                "plan": profile.plan,
                "signup_month": profile.signup_month,
            }
        )
    return rows


def sample_csv_text(n: int = 3000, seed: int = 0) -> str:
    """The exact text of samples/customers.csv (UTF-8, comma, "\\n" line ends)."""
    lines = [",".join(SAMPLE_COLUMNS)]
    for row in sample_customers(n, seed):
        lines.append(",".join(_csv_field(row[c]) for c in SAMPLE_COLUMNS))
    return "\n".join(lines) + "\n"


def _csv_field(value: str) -> str:
    if any(ch in value for ch in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def write_sample_csv(path: Path, n: int = 3000, seed: int = 0) -> None:
    path.write_text(sample_csv_text(n, seed), encoding="utf-8", newline="")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    target = Path(args[0]) if args else Path("samples/customers.csv")
    write_sample_csv(target)
    # csv module round trip as a sanity check that the file parses as written.
    with target.open(encoding="utf-8", newline="") as fh:
        count = sum(1 for _ in csv.DictReader(fh))
    print(f"wrote {count} customers to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The guide's answer for CUST-0001 (its sample JSON, trailing commas removed), shared
by the world, simulator and client tests as an independent fixture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GUIDE_TOKENS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "guide_cust_0001.json").read_text(encoding="utf-8")
)

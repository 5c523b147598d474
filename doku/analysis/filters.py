"""What a page or report narrows a run to (a value; applied by `aggregates.apply_filters`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Filters:
    """What the insights page narrows to. An empty selection means no restriction.

    - types / issuers / brands (brand labels, incl. "Direct debit (no brand)" and
      "Unknown brand") restrict TOKENS; per-customer token counts are recomputed, so
      uptake reads "share of fetched customers holding >= 1 matching token". Failed and
      pending customers are untouched (they stay beside the denominator).
    - attributes (frame column -> allowed values, "(blank)" for missing) restrict
      CUSTOMERS, and with them their tokens and errors.
    """

    types: Collection[str] = ()
    issuers: Collection[str] = ()
    brands: Collection[str] = ()
    attributes: Mapping[str, Collection[str]] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(
            self.types or self.issuers or self.brands or any(self.attributes.values())
        )

    @property
    def restricts_tokens(self) -> bool:
        return bool(self.types or self.issuers or self.brands)

    def describe(self) -> str:
        """One line for chart titles and report headers ("" when nothing is filtered)."""
        parts = []
        for name, values in (
            ("type", self.types),
            ("issuer", self.issuers),
            ("brand", self.brands),
            *self.attributes.items(),
        ):
            if values:
                parts.append(f"{name}: {', '.join(sorted(map(str, values)))}")
        return "; ".join(parts)

"""Audit trail (admins): every sensitive action - sign-ins, lookups, audits, reveals,
downloads and exports, deletions, saved audits and schedules - with who, when and what."""

from __future__ import annotations

from ui import chrome, state, trail_view
from ui.present import PAGE_NEEDS, TRAIL

chrome.page_setup(
    "Audit trail",
    icon=":material/policy:",
    intro="Who did what, when, to which object: from this dashboard, the command line, "
    "the Python API and the workers. Customers are named by fingerprint unless "
    "[doku.access] says otherwise; token IDs and secrets are never recorded.",
    needs=PAGE_NEEDS[TRAIL],
)

with chrome.guard():
    trail_view.section(state.get_store())

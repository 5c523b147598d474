"""The callbacks of a page's customer-input widgets (paste, upload, sheet, column):
they record what the analyst gave in a `BulkInput` kept in session_state. Bulk audit
and Saved audits each use one set, told apart by their widget keys' prefix."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from ui.bulk_input import BulkInput


@dataclass(frozen=True)
class InputWidgets:
    """Widgets keyed `{prefix}_paste`, `{prefix}_file`, `{prefix}_sheet` and
    `{prefix}_column`, recording into the BulkInput at session_state[`state_key`]."""

    prefix: str
    state_key: str

    def current(self) -> BulkInput:
        current = st.session_state.get(self.state_key)
        if not isinstance(current, BulkInput):
            current = st.session_state[self.state_key] = BulkInput()
        return current

    def on_paste(self) -> None:
        self.current().paste(st.session_state.get(f"{self.prefix}_paste") or "")

    def on_upload(self) -> None:
        uploaded = st.session_state.get(f"{self.prefix}_file")
        if uploaded is None:
            self.current().upload(None, None)
        else:
            self.current().upload(uploaded.name, uploaded.getvalue())

    def on_sheet(self) -> None:
        self.current().choose_sheet(st.session_state.get(f"{self.prefix}_sheet"))

    def on_column(self) -> None:
        self.current().choose_column(st.session_state.get(f"{self.prefix}_column"))

"""What an error means to an analyst: a short title and what to do, keyed on the
error's stable machine `code` (`doku.errors`), never on its display label. No Streamlit.

`error_title` and `error_text` are Markdown: everything in them that came from outside
(the message, DOKU's own message, which is unsigned, the Request-Id) is `escape_md`'d;
the advice texts are ours."""

from __future__ import annotations

from doku.errors import DokuError
from ui.present import ERROR_CHARS, escape_md

FALLBACK_ADVICE = "Try again; if it persists, check the server log."

ADVICE = {
    "invalid_input": "Check the input and try again.",
    "authentication": (
        "DOKU did not accept the credentials. Check DOKU_CLIENT_ID and DOKU_SECRET_KEY, and "
        "that DOKU_ENV matches them (sandbox keys do not work on production)."
    ),
    "bad_request": (
        "DOKU refused the request as malformed. Check the customer ID; if it looks right, "
        "report it with the Request-Id below."
    ),
    "conflict": "DOKU saw this Request-Id before. Try again: every attempt gets a new one.",
    "client_http": "DOKU refused the request. Report it with the Request-Id below.",
    "rate_limited": (
        "DOKU is rate limiting this client. Wait a minute and try again; for bulk audits, "
        "lower the requests per second."
    ),
    "server_error": (
        "DOKU had a server problem, even after retries. Try again in a few minutes; if it "
        "persists, contact DOKU support with the Request-Id below."
    ),
    "transport": (
        "DOKU could not be reached (timeout or dropped connection). Check the network, any "
        "proxy, and DOKU_BASE_URL, then try again."
    ),
    "deadline_exceeded": (
        "DOKU's answer took longer than the client allows for one request (a slow or stalled "
        "connection), even after retries. Try again later; if it persists, check the "
        "network, any proxy, and DOKU_BASE_URL."
    ),
    "response_too_large": (
        "DOKU's answer was larger than the client accepts, so it was not read and nothing "
        "from it is shown. Report it with the Request-Id below."
    ),
    "signature_mismatch": (
        "The answer was NOT trusted and nothing from it is shown: its signature does not "
        "match. The secret key may be wrong, or a proxy altered the response body."
    ),
    "malformed_response": (
        "DOKU's answer could not be read, so nothing from it is shown. Try again; if it "
        "persists, report it with the Request-Id below."
    ),
    "configuration": (
        "Fix the settings (environment variables or the [doku] table in "
        ".streamlit/secrets.toml) and reload the page. See README, Configuration."
    ),
    "cancelled": "The request was cancelled.",
    "run_busy": (
        "This run is already being fetched, here or by another process (e.g. `python -m "
        "doku audit`). Wait for it to finish, then resume or retry it."
    ),
}
TITLES = {
    "invalid_input": "Input problem",
    "authentication": "Authentication rejected",
    "bad_request": "Bad request",
    "rate_limited": "Rate limited",
    "server_error": "DOKU server error",
    "transport": "DOKU unreachable",
    "deadline_exceeded": "DOKU too slow",
    "response_too_large": "Response too large",
    "signature_mismatch": "Response signature mismatch",
    "malformed_response": "Unreadable response",
    "configuration": "Configuration problem",
    "run_busy": "Run already running",
}


def advice_for(code: str) -> str:
    """What to do about an error of this code."""
    return ADVICE.get(code, FALLBACK_ADVICE)


def error_title(exc: DokuError) -> str:
    """The title of an error message (Markdown): ours for known codes, else its display
    label."""
    return TITLES.get(exc.code) or escape_md(str(exc.kind).capitalize())


def error_text(exc: DokuError) -> str:
    """The plain-words body of an error (Markdown): what happened, then what to do, then
    the details support needs (HTTP status, Request-Id, attempts)."""
    lines = [escape_md(exc.message or str(exc), ERROR_CHARS)]
    if exc.doku_message and exc.doku_message != exc.message:
        lines.append("DOKU said: " + escape_md(exc.doku_message, ERROR_CHARS))
    lines.append(advice_for(exc.code))
    details = []
    if exc.status is not None:
        details.append(f"HTTP {exc.status:d}")
    if exc.request_id:
        details.append(f"Request-Id {escape_md(exc.request_id)}")
    if exc.attempts > 1:
        details.append(f"{exc.attempts:d} attempts")
    if details:
        lines.append(" · ".join(details))
    return "\n\n".join(lines)

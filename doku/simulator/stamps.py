"""The two clock readings on every simulator answer, formatted once per second.

Both the ``Date`` header (RFC 7231) and ``Response-Timestamp`` (DOKU's ISO 8601) have
one-second resolution, so formatting them for every answer (email.utils.formatdate,
strftime) only repeats the work of the previous answer; at thousands of answers a
second that was a few percent of the simulator's CPU per request.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from email.utils import formatdate

from doku.client.signing import format_timestamp

# (second since the epoch, Date header, Response-Timestamp); replaced whole, so a
# thread reading it never sees a mix of two seconds.
_latest: tuple[int, str, str] = (-1, "", "")


def answer_stamps() -> tuple[str, str]:
    """The Date header and the Response-Timestamp for an answer sent now."""
    global _latest  # a one-entry cache shared by all handler threads
    second = int(time.time())
    latest = _latest
    if latest[0] != second:
        latest = (
            second,
            formatdate(second, usegmt=True),
            format_timestamp(datetime.fromtimestamp(second, timezone.utc)),
        )
        _latest = latest
    return latest[1], latest[2]

"""The request line and header block of a simulator request, parsed cheaply.

http.server parses every header block with the email package (``http.client.
parse_headers``): a feed parser, policy objects and regexes for what is almost always
eight ASCII ``Name: value`` lines. That was about 45% of the simulator's CPU per
request, and the simulator must stay at least twice as fast as the clients it
measures (issue 16).

`LeanHeadHandler.parse_request` handles the plain case itself and gives everything
else to the standard library, so the result is the same object either way:

* a request line that is not exactly ``METHOD /target HTTP/1.x`` goes to
  ``BaseHTTPRequestHandler.parse_request`` untouched;
* the header lines are read exactly as ``http.client`` reads them (same line length
  and header count limits, same exceptions, same 431 answers);
* a block of plain lines (``lean_head``) becomes an ``HTTPMessage`` built directly;
  any other block (continuation lines, bare LF, control or non-ASCII bytes, an empty
  or unusual name, a multipart or message Content-Type the email parser treats
  specially) is parsed by the email parser from the same bytes, as
  ``http.client.parse_headers`` does.
"""

from __future__ import annotations

import email.parser
import http.client
import re
from collections.abc import Mapping
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from types import MappingProxyType
from typing import Protocol

# http.client's limits (_MAXLINE, _MAXHEADERS; private there, so restated here).
MAX_LINE = 65536
MAX_HEADERS = 100

# A block of plain header lines and the blank line. A name is what email.feedparser's
# headerRE accepts as one, minus the empty name it drops with a defect; a value is
# printable ASCII or tab, so no line splits differently for the email parser.
_PLAIN_BLOCK = re.compile(rb"(?:[!-9;-~]+:[\t -~]*\r\n)*\r\n")
# One line of such a block: `[ \t]*` eats the leading blanks as compat32's
# lstrip(" \t") does; trailing blanks stay in the value, as they do there.
_FIELD = re.compile(r"([!-9;-~]+):[ \t]*([\t -~]*)\r\n")
# Content types after which the email parser goes on to parse a body (sub-parts, a
# nested message) instead of taking the rest verbatim: leave those to it.
_SPECIAL_TYPE = re.compile(r"multipart|message", re.IGNORECASE)
_PLAIN_VERSIONS = frozenset({"HTTP/1.0", "HTTP/1.1"})


class LineSource(Protocol):
    """What header lines are read from: the handler's rfile, or io.BytesIO."""

    def readline(self, size: int | None = -1, /) -> bytes: ...


def read_head_lines(rfile: LineSource) -> list[bytes]:
    """The header lines up to and including the blank one (or EOF), read as
    http.client._read_headers reads them: LineTooLong past MAX_LINE bytes,
    HTTPException past MAX_HEADERS lines. A source that can hand over a whole plain
    block at once (`head_lines`, the event loop's received bytes) does."""
    whole = getattr(rfile, "head_lines", None)
    if whole is not None and (block := whole()) is not None:
        return list(block)
    lines = []
    while True:
        line = rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            return lines


def plain_pairs(block: bytes) -> list[tuple[str, str]] | None:
    """(name, value) of each line of a plain header block (its lines and the blank
    line), as the email parser reads them; None when the block is not plain."""
    if _PLAIN_BLOCK.fullmatch(block) is None:
        return None
    text = block.decode("ascii")
    pairs: list[tuple[str, str]] = _FIELD.findall(text)
    # The block is ASCII here, where lower() finds what the IGNORECASE search would,
    # about ten times faster: the search only runs when the word is there.
    lowered = text.lower()
    if ("multipart" in lowered or "message" in lowered) and any(
        name.lower() == "content-type" and _SPECIAL_TYPE.search(value) for name, value in pairs
    ):
        return None
    return pairs


def first_of_each(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased name -> value of its first occurrence (see header_fields)."""
    return {name.lower(): value for name, value in reversed(pairs)}


def lean_head(lines: list[bytes]) -> tuple[http.client.HTTPMessage, dict[str, str]] | None:
    """The HTTPMessage the email parser would build from these plain lines and its
    `header_fields`, or None when the block is not plain (ask the email parser)."""
    pairs = plain_pairs(b"".join(lines))
    if pairs is None:
        return None
    message = http.client.HTTPMessage()
    for name, value in pairs:
        message.set_raw(name, value)
    message.set_payload("")  # the email parser's payload: the empty rest of the block
    # Reversed, so the first occurrence of a name wins, as in message.get(name).
    return message, first_of_each(pairs)


def parse_head(lines: list[bytes]) -> tuple[http.client.HTTPMessage, dict[str, str]]:
    """Headers from the lines `read_head_lines` returned, equal to what
    http.client.parse_headers makes of the same bytes, and their `header_fields`."""
    lean = lean_head(lines)
    if lean is not None:
        return lean
    text = b"".join(lines).decode("iso-8859-1")
    parsed = email.parser.Parser(_class=http.client.HTTPMessage).parsestr(text)
    assert isinstance(parsed, http.client.HTTPMessage)
    return parsed, header_fields(parsed)


def header_fields(message: Message) -> dict[str, str]:
    """Lower-cased name -> value of its first occurrence: what message.get(name)
    returns, looked up in a dict instead of a scan of every header per call."""
    fields: dict[str, str] = {}
    for name, value in message.items():
        fields.setdefault(name.lower(), str(value))
    return fields


class LeanHeadHandler(BaseHTTPRequestHandler):
    """BaseHTTPRequestHandler with the plain request's parsing done cheaply; sets
    `fields` (see header_fields) next to `headers` on every successful parse."""

    raw_requestline: bytes  # set by handle_one_request before parse_request
    # Replaced (never mutated) by every successful parse; empty before the first.
    fields: Mapping[str, str] = MappingProxyType({})

    def parse_request(self) -> bool:
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = requestline.split()
        if (
            len(words) != 3
            or words[2] not in _PLAIN_VERSIONS
            or words[1].startswith("//")  # the stdlib rewrites those (gh-87389)
        ):
            return self._parsed(super().parse_request())
        # What the stdlib's parse_request sets for such a line before the headers.
        self.requestline = requestline
        self.command, self.path, self.request_version = words
        self.close_connection = words[2] != "HTTP/1.1" or self.protocol_version < "HTTP/1.1"
        try:
            self.headers, self.fields = parse_head(read_head_lines(self.rfile))
        except http.client.LineTooLong as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long",
                            str(err))
            return False
        except http.client.HTTPException as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers",
                            str(err))
            return False
        # The stdlib's Connection and Expect handling, on the fields just parsed.
        conntype = self.fields.get("connection", "").lower()
        if conntype == "close":
            self.close_connection = True
        elif conntype == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        if (
            self.fields.get("expect", "").lower() == "100-continue"
            and self.protocol_version >= "HTTP/1.1"
            and self.request_version >= "HTTP/1.1"
        ):
            return self.handle_expect_100()
        return True

    def _parsed(self, ok: bool) -> bool:
        if ok:
            self.fields = header_fields(self.headers)
        return ok

"""One small error hierarchy the rest of the app can act on.

Every error carries the HTTP status (None before/without a response), DOKU's own
message when the body had one, and the Request-Id of the attempt. `kind` is a short
stable label used in the store, exports and the CLI's one-line messages. No error
text ever includes the secret key.
"""

from __future__ import annotations

from typing import Any


class DokuError(Exception):
    kind = "error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        doku_message: str | None = None,
        request_id: str | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.doku_message = doku_message
        self.request_id = request_id
        self.body = body
        self.attempts = 1  # set by the client once retries are over

    def __str__(self) -> str:
        head = self.kind if self.status is None else f"{self.kind} ({self.status})"
        return f"{head}: {self.message}" if self.message else head

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "status": self.status,
            "message": self.message,
            "doku_message": self.doku_message,
            "request_id": self.request_id,
        }


class ConfigurationError(DokuError):
    kind = "configuration error"


class InvalidInputError(DokuError):
    """Raised before any request is made."""

    kind = "invalid input"


class AuthenticationError(DokuError):
    kind = "authentication rejected"


class BadRequestError(DokuError):
    kind = "bad request"


class ConflictError(DokuError):
    """409: DOKU saw this Request-Id before (a replay)."""

    kind = "duplicate request"


class ClientHttpError(DokuError):
    """Any other 4xx."""

    kind = "request rejected"


class RateLimitedError(DokuError):
    kind = "rate limited"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(DokuError):
    kind = "server error"
    retryable = True


class TransportError(DokuError):
    """Timeout, refused or dropped connection: no usable HTTP answer."""

    kind = "transport error"
    retryable = True


class SignatureMismatchError(DokuError):
    kind = "response signature mismatch"


class MalformedResponseError(DokuError):
    kind = "malformed response"


class CancelledError(DokuError):
    kind = "cancelled"


ERROR_KINDS = tuple(
    cls.kind
    for cls in (
        ConfigurationError,
        InvalidInputError,
        AuthenticationError,
        BadRequestError,
        ConflictError,
        ClientHttpError,
        RateLimitedError,
        ServerError,
        TransportError,
        SignatureMismatchError,
        MalformedResponseError,
        CancelledError,
    )
)

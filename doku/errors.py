"""One small error hierarchy the rest of the app can act on.

Every error carries the HTTP status (None before/without a response), DOKU's own
message when the body had one, and the Request-Id of the attempt. `code` is the
stable machine name (snake_case) that the store, exports and the UI key on; `kind`
is its display label, used in one-line messages and free to be reworded. No error
text ever includes the secret key.
"""

from __future__ import annotations

from typing import Any


class DokuError(Exception):
    code = "error"
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
            "code": self.code,
            "kind": self.kind,
            "status": self.status,
            "message": self.message,
            "doku_message": self.doku_message,
            "request_id": self.request_id,
        }


class ConfigurationError(DokuError):
    code = "configuration"
    kind = "configuration error"


class InvalidInputError(DokuError):
    """Raised before any request is made."""

    code = "invalid_input"
    kind = "invalid input"


class NotAllowedError(DokuError):
    """An action the signed-in user's role does not include (refused server-side)."""

    code = "not_allowed"
    kind = "not allowed"


class NoSuchRunError(InvalidInputError):
    """A run id (or `latest`) that names no run in the store."""

    code = "no_such_run"
    kind = "no such run"


class NoSuchSavedAuditError(InvalidInputError):
    """A saved audit name or id (or schedule id) that names none in the store."""

    code = "no_such_saved_audit"
    kind = "no such saved audit"


class AuthenticationError(DokuError):
    code = "authentication"
    kind = "authentication rejected"


class BadRequestError(DokuError):
    code = "bad_request"
    kind = "bad request"


class ConflictError(DokuError):
    """409: DOKU saw this Request-Id before (a replay)."""

    code = "conflict"
    kind = "duplicate request"


class ClientHttpError(DokuError):
    """Any other 4xx."""

    code = "client_http"
    kind = "request rejected"


class RateLimitedError(DokuError):
    code = "rate_limited"
    kind = "rate limited"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(DokuError):
    code = "server_error"
    kind = "server error"
    retryable = True


class TransportError(DokuError):
    """Timeout, refused or dropped connection: no usable HTTP answer."""

    code = "transport"
    kind = "transport error"
    retryable = True


class DeadlineExceededError(TransportError):
    """One attempt took longer than its overall deadline (connect to last byte): a slow or
    dripping server. Retryable like any transport failure; its own code so a run can tell
    it apart from a plain timeout."""

    code = "deadline_exceeded"
    kind = "deadline exceeded"


class ResponseTooLargeError(DokuError):
    """The answer (bytes off the wire or after decompression) is over the client's cap;
    reading stopped there. Not retried: the same server would send it again."""

    code = "response_too_large"
    kind = "response too large"


class SignatureMismatchError(DokuError):
    code = "signature_mismatch"
    kind = "response signature mismatch"


class MalformedResponseError(DokuError):
    code = "malformed_response"
    kind = "malformed response"


class CancelledError(DokuError):
    code = "cancelled"
    kind = "cancelled"


class RunBusyError(DokuError):
    """The run is already being fetched (by this process or another one)."""

    code = "run_busy"
    kind = "run already live"



class StoreError(DokuError):
    """The store (SQLite file or PostgreSQL database) failed or cannot be reached. The
    message names the store by its redacted form: never a database password."""

    code = "store"
    kind = "store error"
    # The database gave up this transaction to let others go on (a deadlock, a
    # serialization failure): running it again is the documented answer.
    transient = False


class StoreTooNewError(StoreError):
    """The store's schema is newer than this doku knows: refused, never downgraded."""

    code = "store_too_new"
    kind = "store too new"


# The codes a run or customer can be stored with, each explained in the UI. The store's
# own errors (StoreError) are raised to the caller, never stored, so are not listed.
ERROR_CLASSES: tuple[type[DokuError], ...] = (
    ConfigurationError,
    InvalidInputError,
    NoSuchRunError,
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
    RunBusyError,
    DeadlineExceededError,
    ResponseTooLargeError,
)
ERROR_CODES = tuple(cls.code for cls in ERROR_CLASSES)
ERROR_KINDS = tuple(cls.kind for cls in ERROR_CLASSES)
LABELS = {cls.code: cls.kind for cls in ERROR_CLASSES}
# Stores written before codes existed hold the display label; read either.
_CODE_OF_LABEL = {cls.kind: cls.code for cls in ERROR_CLASSES}


def error_code(stored: str) -> str:
    """The machine code of a stored error value (a code, or an older store's label)."""
    return stored if stored in LABELS else _CODE_OF_LABEL.get(stored, stored)


def error_label(code: str) -> str:
    """Display label of a code (the code itself when unknown)."""
    return LABELS.get(error_code(code), code)

"""Errors that reach a client: each carries its HTTP status and OpenAI's error shape."""

from __future__ import annotations


class ClawhostError(Exception):
    """An error with a one-line message meant for the caller."""

    status = 500
    type = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = headers or {}
        if code is not None:
            self.code = code

    def to_dict(self) -> dict:
        return {"error": {"message": self.message, "type": self.type,
                          "param": self.param, "code": self.code}}


class BadRequest(ClawhostError):
    status, type, code = 400, "invalid_request_error", "invalid_request"


class Unauthorized(ClawhostError):
    status, type, code = 401, "authentication_error", "invalid_api_key"


class PaymentRequired(ClawhostError):
    status, type, code = 402, "insufficient_quota", "budget_exceeded"


class Forbidden(ClawhostError):
    status, type, code = 403, "invalid_request_error", "forbidden"


class RequestTimeout(ClawhostError):
    status, type, code = 408, "invalid_request_error", "request_timeout"


class UnsupportedMediaType(ClawhostError):
    status, type, code = 415, "invalid_request_error", "unsupported_media_type"


class NotFound(ClawhostError):
    status, type, code = 404, "invalid_request_error", "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class PayloadTooLarge(ClawhostError):
    status, type, code = 413, "invalid_request_error", "payload_too_large"


class Overloaded(ClawhostError):
    """The queue is full: come back later (429 with Retry-After)."""

    status, type, code = 429, "rate_limit_error", "overloaded"

    def __init__(self, message: str, *, retry_after: float = 1.0, **kw):
        super().__init__(message, **kw)
        self.headers.setdefault("Retry-After", str(max(1, round(retry_after))))


class Unavailable(ClawhostError):
    status, type, code = 503, "server_error", "unavailable"


class TimedOut(ClawhostError):
    status, type, code = 504, "timeout", "timeout"


class UpstreamError(ClawhostError):
    """A remote provider failed; ``status`` is what we pass on to the client."""

    type, code = "upstream_error", "upstream_error"

    def __init__(self, message: str, *, status: int = 502, **kw):
        super().__init__(message, **kw)
        self.status = status


class ConfigError(ValueError):
    """config.yaml is missing or invalid; the message is one line per problem."""

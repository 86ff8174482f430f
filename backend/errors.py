"""Domain errors raised by services and mapped to the one error shape {code, status, message, errors}."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: carries an HTTP status, a Chinese message and per-field errors."""

    status_code = 400

    def __init__(self, message: str, *, errors: dict[str, Any] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        self.extra = extra


class Invalid(DomainError):
    status_code = 422


class BadRequest(DomainError):
    status_code = 400


class Unauthorized(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Gone(DomainError):
    status_code = 410


class TooLarge(DomainError):
    status_code = 413


class TooManyRequests(DomainError):
    status_code = 429


class ChecksumMismatch(DomainError):
    status_code = 460

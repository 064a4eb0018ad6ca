"""Typed, user-facing errors. The CLI prints their message on one line and exits with status 2."""

from __future__ import annotations


class GPOError(Exception):
    """An error the user can fix; its message says how."""


class ConfigError(GPOError):
    """An invalid flag value or an impossible flag combination."""


class DataError(GPOError):
    """Missing or malformed benchmark data."""


class BackendError(GPOError):
    """An LLM backend cannot be built or reached (missing package, server down, bad key)."""


class ReplicaUnavailable(BackendError):
    """One server stopped answering (refused connections, timeouts or 5xx after the retries);
    a replica pool sets it aside and sends its requests to the other replicas."""


class BudgetExceeded(GPOError):
    """A token or cost budget was reached; the run stops at a step boundary and can be resumed."""

"""HTTP details shared by the provider clients (internal): Retry-After, status classes."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

# 408 request timeout, 409 conflict (lock contention at some providers), 425 too early,
# 429 rate limited. Every other 4xx means the request itself is wrong: retrying cannot help.
_TRANSIENT_4XX = frozenset({408, 409, 425, 429})


def is_transient_status(status: int) -> bool:
    """Whether an HTTP error status may succeed on retry (429, 5xx and a few timeouts)."""
    return status >= 500 or status in _TRANSIENT_4XX


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """Seconds to wait before retrying, from ``Retry-After`` / ``retry-after-ms`` headers.

    Args:
        headers: Response headers (case-insensitive mapping or plain dict).
        now: Current Unix time, for HTTP-date values; defaults to `time.time()`.

    Returns:
        A non-negative number of seconds, or None when no usable header is present.
    """
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))

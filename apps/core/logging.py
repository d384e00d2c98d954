"""Logging pieces shared by every process."""

from __future__ import annotations

import logging

# Answers that are the system working as designed: a refused permission, a missing page, a
# throttled client. They are logged as one line each, without a traceback.
EXPECTED_STATUSES = frozenset({400, 401, 403, 404, 405, 409, 413, 415, 422, 429})


class ExpectedResponsesWithoutTraceback(logging.Filter):
    """Drop the traceback Django attaches to 4xx log records (PermissionDenied carries one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) in EXPECTED_STATUSES:
            record.exc_info = None
            record.exc_text = None
        return True

"""Structured logs: one JSON object per line on stdout (Lambda sends it to the function's log group).

Every line of a request carries its request id (API Gateway's, or Lambda's for stream and event
handlers), so a caller's ``requestId`` from a Problem finds the whole story in Logs Insights.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any


def log(message: str, *, request_id: str, level: str = "INFO", **fields: Any) -> None:
    """One log line: ``message``, ``level``, ``request_id`` and the given fields (made JSON-safe with str)."""
    record = {"level": level, "message": message, "request_id": request_id, **fields}
    print(json.dumps(record, default=str, separators=(",", ":")), file=sys.stdout, flush=True)


def log_exception(message: str, error: BaseException, *, request_id: str, **fields: Any) -> None:
    """An unexpected error, with its traceback: it stays in the log, the caller gets a bare 500."""
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    log(message, request_id=request_id, level="ERROR", error=type(error).__name__, traceback=trace, **fields)

"""Pagination cursors: opaque to callers, strictly checked when they come back.

A cursor is base64url (no padding) of compact JSON ``{"v": 1, "q": <query fingerprint>, "p": <position>}``.
The position is where the next page starts (a key, a timestamp); the fingerprint binds it to the query
that issued it (operation and every parameter except ``limit`` and ``cursor``), so a cursor replayed with
other parameters is refused rather than silently paging through something else.

Not signed, on purpose: a cursor only moves the caller within data it may read anyway, and every
position field is checked against its expected type and format before it goes near a key or a SQL
literal (``positions`` below), exactly like a parameter. A signature would need a secret per site
for no gain in what a caller can see.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .problems import ApiError, bad_parameter

VERSION = 1
_FIELD = "cursor"
_REPLAY = "fix: pass the previous page's nextCursor unchanged, with the same parameters"


def fingerprint(operation_id: str, params: Mapping[str, Any], *, ignore: tuple[str, ...] = ()) -> str:
    """A short digest of the query a cursor belongs to; ``limit``, ``cursor`` and ``ignore`` excluded."""
    kept = {name: value for name, value in params.items() if name not in ("limit", "cursor", *ignore)}
    text = json.dumps([operation_id, kept], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode(query: str, position: dict[str, Any]) -> str:
    """The cursor for ``position`` of the query with fingerprint ``query``."""
    data = json.dumps({"v": VERSION, "q": query, "p": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(cursor: str, query: str, fields: Mapping[str, type | tuple[type, ...]], field: str = _FIELD) -> dict:
    """The position in ``cursor``; raises 400 unless it was issued for ``query`` with exactly ``fields``."""
    try:
        data = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(data)
    except (binascii.Error, ValueError, RecursionError) as error:
        raise bad_parameter(field, f"cursor is not one this API issued; {_REPLAY}") from error
    if not isinstance(payload, dict) or set(payload) != {"v", "q", "p"} or payload["v"] != VERSION:
        raise bad_parameter(field, f"cursor is not one this API issued; {_REPLAY}")
    if payload["q"] != query:
        raise bad_parameter(field, f"cursor belongs to another query; {_REPLAY}")
    position = payload["p"]
    if not isinstance(position, dict) or set(position) != set(fields):
        raise bad_parameter(field, f"cursor is not one this API issued; {_REPLAY}")
    for name, kind in fields.items():
        value = position[name]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise bad_parameter(field, f"cursor is not one this API issued; {_REPLAY}")
    return position


def checked(value: Any, check: Any, field: str = _FIELD) -> Any:
    """``check(value)``, with any ValueError it raises turned into the cursor's 400."""
    try:
        return check(value)
    except (ValueError, ApiError) as error:
        raise bad_parameter(field, f"cursor is not one this API issued; {_REPLAY}") from error

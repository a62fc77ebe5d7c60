"""Validation problems as lines to act on: ``field: what is wrong (got value); fix: how``.

The one helper behind every validated input: site files (``site_model/loader.py``), tag maps
(``edge/pipeline/tag_map.py``) and Greengrass component configurations (``edge/greengrass/config.py``).
It takes the error dicts that pydantic's ``ValidationError.errors()`` yields (``type``, ``loc``,
``msg``, ``input``) and imports nothing beyond the standard library: it ships to gateways inside the
edge artifact, beside ``edge/`` and ``envelope/``.

Two kinds of problem read differently:

* pydantic's own (a wrong type, a number out of range, an unknown or a missing field) get the fix
  of their error type from the caller's table, else from ``COMMON_FIXES``, else the caller's
  ``default_fix``, e.g. ``network.vpn: is not a known field (got True); fix: remove it ...``;
* our validators (error type ``value_error``) end their message in their own ``fix:``, and each
  line of it is one problem. A field's validator gets the value it refused in front
  (``tags[1].path: 'a/b' is not area/line/cell/tag; fix: ...``); a model's validator, whose input is
  the whole mapping, names its own values, so no value is shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

UNKNOWN_FIELD = "is not a known field"  # pydantic's "Extra inputs are not permitted" says less
MAX_VALUE_CHARS = 120  # a refused value longer than this is cut: a whole mapping would bury the problem

# Error types that are one problem spelled differently (pydantic dataclasses say unexpected_keyword_argument).
_SAME_AS = MappingProxyType(
    {
        "unexpected_keyword_argument": "extra_forbidden",
        "missing_argument": "missing",
        "missing_keyword_only_argument": "missing",
        "missing_positional_only_argument": "missing",
    }
)
_KEY = "[key]"  # pydantic's loc part after a mapping key that is itself invalid
_VALUE_ERROR_PREFIX = "Value error, "  # what pydantic puts before a validator's ValueError text

# Fixes of pydantic's error types that hold for any input; a caller's table adds or overrides.
COMMON_FIXES: Mapping[str, str] = MappingProxyType(
    {
        "missing": "add it",
        "extra_forbidden": "remove it or correct its spelling",
        "literal_error": "use one of the values shown",
        "enum": "use one of the values shown",
        "string_pattern_mismatch": "write a value matching the pattern shown",
        "string_too_short": "write a longer value",
        "string_too_long": "shorten it",
        "string_type": "write a string",
        "int_parsing": "write a whole number",
        "int_from_float": "write a whole number",
        "int_type": "write a whole number",
        "float_parsing": "write a number",
        "float_type": "write a number",
        "finite_number": "write a finite number",
        "bool_parsing": "write true or false",
        "bool_type": "write true or false",
        "greater_than": "use a larger number",
        "greater_than_equal": "use a larger number",
        "less_than": "use a smaller number",
        "less_than_equal": "use a smaller number",
        "list_type": "write a list",
        "too_short": "add at least one entry",
        "too_long": "remove entries",
        "dict_type": "write a mapping",
        "model_type": "write a mapping of the fields",
        "dataclass_type": "write a mapping of the fields",
    }
)


def field_path(loc: Sequence[int | str], prefix: str = "") -> str:
    """``tags[1].path`` for pydantic's loc ``("tags", 1, "path")``; a bad mapping key reads ``sources.s7 (key)``.

    ``prefix`` names where the validated data sits in a larger input, e.g. ``runner``.
    """
    text = prefix
    for part in loc:
        if part == _KEY:
            text += " (key)"
        elif isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def shown(value: Any) -> str:
    """The ``repr`` of a refused value, cut to ``MAX_VALUE_CHARS``."""
    text = repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


@dataclass(frozen=True)
class Describer:
    """How the problems of one kind of input read.

    ``subject`` stands in for the field when a pydantic problem has none (e.g. ``(site)``);
    ``default_fix`` is the fix of an error type no table knows (e.g. ``see tenants/schema.json``);
    ``fixes`` maps error types to fixes and takes precedence over ``COMMON_FIXES`` (by default none);
    ``value_separator`` sits between a refused value and its validator's message (by default a space:
    ``'a/b' is not area/line/cell/tag``; the site files' validators read better after ``': '``).
    """

    subject: str
    default_fix: str
    fixes: Mapping[str, str] = field(default_factory=dict)
    value_separator: str = " "

    def fix(self, error_type: str) -> str:
        """The fix of one pydantic error type."""
        kind = _SAME_AS.get(error_type, error_type)
        return self.fixes.get(kind) or COMMON_FIXES.get(kind) or self.default_fix

    def lines(self, error: Mapping[str, Any], *, prefix: str = "") -> list[str]:
        """The problem lines of one error dict (a validator may report several problems, one per line)."""
        kind = _SAME_AS.get(error["type"], error["type"])
        loc = tuple(error["loc"])
        key = field_path(loc, prefix)
        message = str(error["msg"]).removeprefix(_VALUE_ERROR_PREFIX)
        if kind == "value_error":
            lines = message.split("\n")
            if loc and "input" in error and not isinstance(error["input"], Mapping):
                lines = [f"{shown(error['input'])}{self.value_separator}{line}" for line in lines]
            return [f"{key}: {line}" if key else line for line in lines]
        if kind == "extra_forbidden":
            message = UNKNOWN_FIELD
        got = "" if kind == "missing" or "input" not in error else f" (got {shown(error['input'])})"
        return [f"{key or self.subject}: {message}{got}; fix: {self.fix(kind)}"]

    def describe(self, errors: Iterable[Mapping[str, Any]], *, prefix: str = "") -> list[str]:
        """Every problem of ``errors`` (``ValidationError.errors()``), one line each, in pydantic's order."""
        return [line for error in errors for line in self.lines(error, prefix=prefix)]

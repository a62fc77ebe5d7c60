"""Checking parameters and request bodies against the contract's schemas, in the handler.

API Gateway's request validator checks the same document before a request reaches us, but a handler
must not trust that alone (a test, a misconfigured stage or a direct invoke skips it), and the Lambda
runtime has no jsonschema. So this is the small subset of JSON Schema / OpenAPI 3.0 the document uses,
no more: ``SUPPORTED`` lists the keywords, and the contract test fails if a request schema uses another.
Messages name the field, the value and the fix, like every validation message of the project.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from envelope.tag_envelope import parse_timestamp

SUPPORTED = frozenset(
    (
        "$ref",
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "minItems",
        "maxItems",
        "uniqueItems",
        "allOf",
        "oneOf",
        "nullable",
        "format",
        "default",
        "description",
    )
)
_INTEGER_RE = re.compile(r"^-?[0-9]{1,18}$")
_NUMBER_RE = re.compile(r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$")


class SchemaError(ValueError):
    """A value does not fit its schema; ``field`` names where (``limit``, ``entries[2].path``)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


def resolve(contract: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node`` itself, or what its ``$ref`` (``#/components/...``) points at, followed to the end."""
    while "$ref" in node:
        target: Any = contract
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


@cache
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check(contract: dict[str, Any], schema: dict[str, Any], value: Any, field: str) -> Any:
    """``value`` with defaults filled in, if it fits ``schema``; raises SchemaError at the first misfit."""
    schema = resolve(contract, schema)
    for part in schema.get("allOf", ()):
        value = check(contract, part, value, field)
    if value is None:
        if schema.get("nullable"):
            return None
        raise SchemaError(field, "is null; fix: give a value")
    if "oneOf" in schema:
        return _one_of(contract, schema["oneOf"], value, field)
    kind = schema.get("type")
    if kind == "object":
        value = _object(contract, schema, value, field)
    elif kind == "array":
        value = _array(contract, schema, value, field)
    elif kind == "string":
        _string(schema, value, field)
    elif kind in ("integer", "number"):
        _number(schema, value, field, kind)
    elif kind == "boolean" and not isinstance(value, bool):
        raise SchemaError(field, f"{_describe(value)} is not true or false; fix: send a boolean")
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(str(choice) for choice in schema["enum"])
        raise SchemaError(field, f"{_describe(value)} is not one of {choices}; fix: use one of them")
    return value


def _one_of(contract: dict[str, Any], options: list[dict[str, Any]], value: Any, field: str) -> Any:
    fits = []
    for option in options:
        try:
            fits.append(check(contract, option, value, field))
        except SchemaError:
            continue
    if len(fits) != 1:
        raise SchemaError(field, f"{_describe(value)} fits {len(fits)} of the {len(options)} allowed shapes, not one")
    return fits[0]


def _object(contract: dict[str, Any], schema: dict[str, Any], value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SchemaError(field, f"is a {type(value).__name__}, not an object; fix: send a JSON object")
    properties = schema.get("properties", {})
    if schema.get("additionalProperties") is False:
        extra = sorted(set(value) - set(properties))
        if extra:
            raise SchemaError(field, f"unknown field(s) {', '.join(extra)}; fix: send only {', '.join(properties)}")
    missing = [name for name in schema.get("required", ()) if name not in value]
    if missing:
        raise SchemaError(f"{field}.{missing[0]}" if field else missing[0], "is missing; fix: give it")
    result = dict(value)
    for name, sub in properties.items():
        where = f"{field}.{name}" if field else name
        if name in value:
            result[name] = check(contract, sub, value[name], where)
        elif "default" in resolve(contract, sub):
            result[name] = resolve(contract, sub)["default"]
    return result


def _array(contract: dict[str, Any], schema: dict[str, Any], value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise SchemaError(field, f"is a {type(value).__name__}, not a list; fix: send a JSON array")
    if len(value) < schema.get("minItems", 0):
        raise SchemaError(field, f"has {len(value)} item(s), fewer than {schema['minItems']}; fix: send more")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        raise SchemaError(field, f"has {len(value)} items, more than {schema['maxItems']}; fix: split the request")
    items = [check(contract, schema.get("items", {}), item, f"{field}[{index}]") for index, item in enumerate(value)]
    if schema.get("uniqueItems") and len({repr(item) for item in items}) != len(items):
        raise SchemaError(field, "holds an item twice; fix: give each once")
    return items


def _string(schema: dict[str, Any], value: Any, field: str) -> None:
    if not isinstance(value, str):
        raise SchemaError(field, f"{_describe(value)} is not a string; fix: send a string")
    if len(value) < schema.get("minLength", 0):
        raise SchemaError(field, f"is shorter than {schema['minLength']} character(s); fix: give a longer value")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise SchemaError(field, f"is longer than {schema['maxLength']} characters; fix: shorten it")
    if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
        raise SchemaError(field, f"{_describe(value)} does not match {schema['pattern']}; fix: see the API document")
    if schema.get("format") == "date-time":
        try:
            parse_timestamp(value)
        except ValueError as error:
            raise SchemaError(field, f"{error}; fix: send RFC 3339 UTC with a Z suffix") from error


def _number(schema: dict[str, Any], value: Any, field: str, kind: str) -> None:
    allowed = (int,) if kind == "integer" else (int, float)
    if isinstance(value, bool) or not isinstance(value, allowed):
        raise SchemaError(field, f"{_describe(value)} is not {'an integer' if kind == 'integer' else 'a number'}")
    if "minimum" in schema and value < schema["minimum"]:
        raise SchemaError(field, f"{value} is below {schema['minimum']}; fix: give at least {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        raise SchemaError(field, f"{value} is above {schema['maximum']}; fix: give at most {schema['maximum']}")


def coerce_parameter(contract: dict[str, Any], schema: dict[str, Any], text: str, field: str) -> Any:
    """A path or query parameter (always text on the wire) as its schema's type, before ``check``."""
    schema = resolve(contract, schema)
    kind = schema.get("type")
    if kind == "integer":
        if not _INTEGER_RE.match(text):
            raise SchemaError(field, f"{_describe(text)} is not a whole number; fix: send digits only")
        return int(text)
    if kind == "number":
        if not _NUMBER_RE.match(text):
            raise SchemaError(field, f"{_describe(text)} is not a number")
        return float(text)
    if kind == "boolean":
        if text not in ("true", "false"):
            raise SchemaError(field, f"{_describe(text)} is not true or false")
        return text == "true"
    if kind == "array":  # style form, explode false: comma separated
        return [coerce_parameter(contract, schema.get("items", {}), part, field) for part in text.split(",")]
    return text

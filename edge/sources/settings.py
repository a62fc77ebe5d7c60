"""Validation of a source's settings block in the tag map (``sources.<name>``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

Settings = TypeVar("Settings", bound=BaseModel)


def parse_source_settings(model: type[Settings], data: Mapping[str, Any], *, source: str, module: str) -> Settings:
    """``model`` from ``data``; raises ValueError with one line per bad field: its path, value and the fix."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as error:
        problems = [
            f"sources.{source}.{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            + ("" if item["type"] == "missing" else f" (got {item['input']!r})")
            + f"; fix: see {model.__name__} in {module}"
            for item in error.errors()
        ]
        raise ValueError("\n".join(problems)) from None

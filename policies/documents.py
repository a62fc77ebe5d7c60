"""Policy documents inside CloudFormation values: shared by the isolation proof (templates) and the rules
that read resource policies (resolved L1 properties)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any


def policy_documents(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every policy document under ``node``, including documents held as JSON text."""
    if isinstance(node, Mapping):
        if isinstance(node.get("Statement"), list):
            yield node
        for value in node.values():
            yield from policy_documents(value)
    elif isinstance(node, list):
        for value in node:
            yield from policy_documents(value)
    elif isinstance(node, str) and '"Statement"' in node:
        try:
            yield from policy_documents(json.loads(node))
        except ValueError:
            return

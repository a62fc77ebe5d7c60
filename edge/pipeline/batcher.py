"""Batcher: reported values into ``tags`` messages, one ISA-95 line each, bounded in bytes.

Each line has at most one open batch. A batch closes when the next value would
take it past ``max_bytes``, when it has been open ``linger_s`` (so a quiet line
still delivers), or on ``flush``. The encoded size is tracked exactly as values
arrive (the envelope's compact JSON of each value, measured without encoding it
twice), so batches land just under the target and never above it.

``batch_seq`` counts the batches of each line from 0 without gaps; the caller
persists ``next_batch_seq`` together with each closed batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from edge.pipeline.harmonizer import Tag
from envelope.tag_envelope import encode, idempotency_key, tag_batch, tag_value


@dataclass(frozen=True, slots=True)
class Batch:
    """A closed batch: the wire message of one line."""

    line: str
    batch_seq: int
    payload: bytes
    values: int


class _Open:
    __slots__ = ("batch_seq", "opened_at", "size", "values")

    def __init__(self, batch_seq: int, size: int, opened_at: float) -> None:
        self.batch_seq = batch_seq
        self.size = size
        self.opened_at = opened_at
        self.values: list[dict[str, Any]] = []


def _json_size(value: Any) -> int:
    """Characters of a value in the envelope's JSON."""
    if type(value) is str:
        return len(json.dumps(value))
    return len(repr(value))  # int and float print as in JSON; True/False have the length of true/false


class Batcher:
    """Open batches per line; returns the batches it closes."""

    def __init__(
        self, *, site: str, gateway: str, max_bytes: int, linger_s: float, next_batch_seq: Mapping[str, int]
    ) -> None:
        self.site = site
        self.gateway = gateway
        self.max_bytes = max_bytes
        self.linger_s = linger_s
        self._next = dict(next_batch_seq)
        self._open: dict[str, _Open] = {}
        # Per tag path (not Tag.index: a pipeline's stage numbers its own tags from 0 as well): encoded size
        # of a value without its variable parts.
        self._base: dict[str, int] = {}

    def next_batch_seq(self, line: str) -> int:
        """The batch_seq the next batch of ``line`` will carry."""
        return self._next.get(line, 0)

    def add(self, stamped: Iterable[tuple[Tag, dict[str, Any]]], now: float) -> list[Batch]:
        """Add stamped values; returns the batches that filled up."""
        closed = []
        for tag, value in stamped:
            size = self._size(tag, value)
            batch = self._open.get(tag.line)
            if batch is not None and batch.size + 1 + size > self.max_bytes:
                closed.append(self._close(tag.line))
                batch = None
            if batch is None:
                batch = self._start(tag.line, now)
            else:
                size += 1  # the comma before it
            batch.values.append(value)
            batch.size += size
        return closed

    def expired(self, now: float) -> list[Batch]:
        """Close the batches open for ``linger_s`` or longer."""
        lines = [line for line, batch in self._open.items() if now - batch.opened_at >= self.linger_s]
        return [self._close(line) for line in lines]

    def flush(self) -> list[Batch]:
        """Close every open batch."""
        return [self._close(line) for line in list(self._open)]

    def _start(self, line: str, now: float) -> _Open:
        batch_seq = self._next.get(line, 0)
        frame = encode(tag_batch(site=self.site, gateway=self.gateway, line=line, batch_seq=batch_seq, values=[]))
        batch = self._open[line] = _Open(batch_seq, len(frame), now)
        return batch

    def _close(self, line: str) -> Batch:
        batch = self._open.pop(line)
        self._next[line] = batch.batch_seq + 1
        message = tag_batch(
            site=self.site, gateway=self.gateway, line=line, batch_seq=batch.batch_seq, values=batch.values
        )
        return Batch(line=line, batch_seq=batch.batch_seq, payload=encode(message), values=len(batch.values))

    def _size(self, tag: Tag, value: dict[str, Any]) -> int:
        base = self._base.get(tag.path)
        if base is None:
            # A template with value 0, empty quality and ts, and seq 0: everything else is fixed per tag.
            template = tag_value(path=tag.path, value=0, unit=tag.unit, quality="", ts="", seq=0, gateway=self.gateway)
            base = len(encode(template)) - 1 - 1 - len(idempotency_key(self.gateway, 0))
            self._base[tag.path] = base
        return (
            base
            + _json_size(value["value"])
            + len(value["quality"])
            + len(value["ts"])
            + len(str(value["seq"]))
            + len(value["id"])
        )

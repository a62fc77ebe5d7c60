"""The two seams of the edge pipeline: where readings come from, where records go.

Sources (simulator, OPC UA, Modbus) yield ``Reading`` lists; transports (direct
MQTT, Greengrass IPC, stream manager) confirm each publish. The pipeline in
between is synchronous and plain, so it can be tested and benchmarked alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Reading:
    """One raw value as a source saw it, before harmonization."""

    address: str  # the tag map's source address, e.g. "ns=2;s=Filler.Temp" or "holding:0:float32"
    value: float | int | bool | str
    quality: str  # "good" | "uncertain" | "bad"
    source_ts: float  # epoch seconds (UTC) at the source


class Source(Protocol):
    """A stream of readings for the addresses it was configured with."""

    async def start(self) -> None:
        """Connect (and keep reconnecting with backoff while ``readings`` runs)."""

    def readings(self) -> AsyncIterator[list[Reading]]:
        """Yields readings as they change or are polled; ends only on ``close``."""
        ...

    async def close(self) -> None:
        """Disconnect and end ``readings``."""


class TransportError(Exception):
    """A publish that was not confirmed; the record stays in the spool."""


class Transport(Protocol):
    """Delivers wire messages to the cloud, confirming each one."""

    async def connect(self) -> None:
        """Open the connection (raises TransportError when the peer is unreachable)."""

    async def publish(self, topic: str, payload: bytes) -> None:
        """Return only once the peer confirmed the message (MQTT PUBACK, stream append); else raise TransportError."""

    async def close(self) -> None:
        """Close the connection."""

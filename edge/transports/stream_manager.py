"""Kinesis through Greengrass stream manager: append to a local message stream that exports to the site's stream.

For gateways with ``transport: stream-manager``. The component owns one message
stream with a Kinesis export definition; stream manager persists it on disk and
uploads it in the background, retrying for as long as it takes. ``publish`` is
``append_message``: once it returns, stream manager holds the message durably,
so the runner may drop it from its own spool.

Differences from the MQTT path, by design of stream manager:

* there are no topics: telemetry batches and heartbeats go into the same Kinesis
  stream (as the IoT rules do on the MQTT path) and consumers tell them apart by
  the envelope's ``kind``; ``publish`` ignores its topic argument;
* stream manager picks a random partition key per record, so the per-line order
  the IoT rule keeps (partition key = line) does not hold here; consumers order
  and deduplicate by ``batch_seq`` and the values' idempotency keys.

The stream rejects new data when full (rather than overwriting the oldest), so
a full disk surfaces as ``TransportError`` and the data waits in the runner's
spool instead of being silently dropped. The client is the stream_manager SDK's
``StreamManagerClient`` (tests pass a fake with the same methods); its calls
block, so they run in a worker thread.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field
from stream_manager import (
    ExportDefinition,
    KinesisConfig,
    MessageStreamDefinition,
    Persistence,
    StrategyOnFull,
    StreamManagerException,
)

from edge.readings import TransportError

_FIX_UNREACHABLE = "fix: deploy aws.greengrass.StreamManager to this core and check that it runs"


class StreamManagerSettings(BaseModel):
    """The ``stream_manager`` section of the pipeline component's configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kinesis_stream_name: str = Field(
        pattern=r"^[a-zA-Z0-9_.\-]{1,128}$", description="The site's Kinesis data stream (from the site's stack)."
    )
    stream_name: str = Field(
        default="dmc-telemetry", pattern=r"^[A-Za-z0-9_,.\-]{1,255}$", description="The local message stream."
    )
    max_size_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1024 * 1024, description="Disk the local stream may use before it refuses data."
    )
    flush_on_write: bool = Field(default=True, description="Sync each append to disk: survives a power cut.")
    export_batch_size: int = Field(default=500, ge=1, le=500, description="Records per Kinesis PutRecords call.")


class MessageStreams(Protocol):
    """The part of ``StreamManagerClient`` this transport uses."""

    def list_streams(self) -> list[str]: ...

    def create_message_stream(self, definition: MessageStreamDefinition) -> None: ...

    def update_message_stream(self, definition: MessageStreamDefinition) -> None: ...

    def append_message(self, stream_name: str, data: bytes) -> int: ...


def stream_definition(settings: StreamManagerSettings) -> MessageStreamDefinition:
    """The local stream: on disk, refusing data when full, exported to the site's Kinesis stream."""
    return MessageStreamDefinition(
        name=settings.stream_name,
        max_size=settings.max_size_bytes,
        strategy_on_full=StrategyOnFull.RejectNewData,
        persistence=Persistence.File,
        flush_on_write=settings.flush_on_write,
        export_definition=ExportDefinition(
            kinesis=[
                KinesisConfig(
                    identifier=f"{settings.stream_name}-to-kinesis",
                    kinesis_stream_name=settings.kinesis_stream_name,
                    batch_size=settings.export_batch_size,
                )
            ]
        ),
    )


class StreamManagerTransport:
    """``Transport`` that appends to a stream manager message stream."""

    def __init__(self, client: MessageStreams, settings: StreamManagerSettings) -> None:
        self._client = client
        self._settings = settings

    async def connect(self) -> None:
        """Create the message stream, or bring an existing one up to the configured definition."""
        definition = stream_definition(self._settings)
        try:
            existing = await asyncio.to_thread(self._client.list_streams)
            if self._settings.stream_name in existing:
                await asyncio.to_thread(self._client.update_message_stream, definition)
            else:
                await asyncio.to_thread(self._client.create_message_stream, definition)
        except (StreamManagerException, OSError) as error:  # ConnectionError and TimeoutError are OSErrors
            raise TransportError(
                f"cannot set up message stream {self._settings.stream_name}: {error!r}; {_FIX_UNREACHABLE}"
            ) from error

    async def publish(self, topic: str, payload: bytes) -> None:
        """Append one message; returns once stream manager stored it (the topic does not travel, see module doc)."""
        try:
            await asyncio.to_thread(self._client.append_message, self._settings.stream_name, payload)
        except (StreamManagerException, OSError) as error:
            raise TransportError(f"append to {self._settings.stream_name} failed: {error!r}") from error

    async def close(self) -> None:
        """Nothing to close here: the entry point that created the client closes it."""

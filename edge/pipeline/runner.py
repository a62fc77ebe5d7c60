"""The edge pipeline as one long-running task: sources -> pipeline -> spool -> transport, plus heartbeats.

Whoever hosts the pipeline builds the parts and hands them in; the runner owns
no protocol. ``edge/run_local.py`` runs the simulator against a local broker;
the Greengrass entry point runs an OPC UA or Modbus source with an IPC or
stream-manager transport::

    units = {...}                                   # the site's edge.canonical_units
    tag_map = load_tag_map(path, canonical_units=units)
    config = RunnerConfig(spool_path=work / "spool.db", canonical_units=units)
    runner = Runner(tag_map, config, sources=[source], transport=transport)
    summary = await runner.run(stop)                # returns after stop.set() and a bounded drain

``stage`` (optional) is the model stage (``edge.inference.stage.ScoringStage``): the pipeline
feeds it and reports what it derives; ``runner.pipeline.use(...)`` swaps it while running.

Inside ``run``:

* one collector per source: ``await source.start()``, then every list from
  ``source.readings()`` goes through ``Pipeline.ingest`` (synchronous, on the
  event loop: a scan of 10,000 values takes a few milliseconds);
* a ticker calls ``Pipeline.tick`` every ``tick_s`` (max-interval reports,
  lingering batches);
* the publisher sends the spool's oldest message, one at a time so that each
  line stays in order, and removes it only once ``transport.publish`` returned.
  On ``TransportError`` it waits (jittered exponential backoff) and calls
  ``transport.connect()`` again before retrying: a transport's ``connect`` must
  therefore be callable again after a failure (waiting for its reconnection);
* a heartbeat goes to the health topic every ``heartbeat_interval_s``.

Failure model: transport errors are expected and retried for ever; any other
exception (a source bug, a full disk) ends ``run`` with that exception after
closing what it opened, and the host restarts the component. Nothing accepted
is lost by that, because the spool is durable.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from edge.pipeline.health import Health
from edge.pipeline.pipeline import Pipeline, Stage
from edge.pipeline.spool import FSYNC_DEFAULT, Spool
from edge.pipeline.tag_map import TagMap
from edge.readings import Source, Transport, TransportError
from edge.sources.backoff import Backoff, ReconnectSettings
from envelope.tag_envelope import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

_CLOSE_TIMEOUT_S = 5.0  # how long closed sources get to end their readings


class RunnerConfig(BaseModel):
    """How the pipeline batches, stores and forwards."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spool_path: Path = Field(description="SQLite file of the spool; keep it on persistent storage.")
    canonical_units: dict[str, str] = Field(description="The site's edge.canonical_units (quantity -> unit).")
    spool_max_bytes: int = Field(
        256 * 1024 * 1024, ge=2 * MAX_MESSAGE_BYTES, description="Payload bytes the spool holds before evicting."
    )
    spool_fsync: bool = Field(
        FSYNC_DEFAULT,
        description="Flush each spool commit to disk, so accepted batches survive a power cut; false saves the "
        "flushes and survives only a killed process.",
    )
    # Half the message limit: a batch never passes max(batch_bytes, one value), and one value stays far below.
    batch_bytes: int = Field(32 * 1024, ge=1024, le=MAX_MESSAGE_BYTES // 2, description="Target size of a batch.")
    linger_s: float = Field(2.0, gt=0, le=300, description="Longest time a value waits in an open batch.")
    tick_s: float = Field(0.5, gt=0, le=60, description="How often max intervals and linger times are checked.")
    heartbeat_interval_s: int = Field(60, ge=1, le=3600, description="Time between heartbeats.")
    max_clients: int = Field(
        8, ge=1, le=256, description="PLC sessions (sources) this gateway is sized for; the cloud alerts at 80%."
    )
    drain_timeout_s: float = Field(10.0, ge=0, le=3600, description="How long a stop waits for the spool to drain.")
    reconnect: ReconnectSettings = Field(default_factory=ReconnectSettings, description="Publisher retry pacing.")


@dataclass(frozen=True)
class Summary:
    """What one run did."""

    read: int
    reported: int
    suppressed: int
    suppressed_pct: float
    batches: int
    sent: int
    spool_depth: int
    dropped_overflow: int
    retransmissions: int


class Runner:
    """Runs a tag map's pipeline between the given sources and transport."""

    def __init__(
        self,
        tag_map: TagMap,
        config: RunnerConfig,
        *,
        sources: Sequence[Source],
        transport: Transport,
        stage: Stage | None = None,
    ) -> None:
        if not sources:
            raise ValueError("a runner needs at least one source; fix: pass the sources the tag map uses")
        if len(sources) > config.max_clients:
            raise ValueError(
                f"{len(sources)} sources exceed max_clients {config.max_clients}; fix: raise runner.max_clients"
            )
        self.config = config
        self.sources = list(sources)
        self.transport = transport
        self.spool = Spool(config.spool_path, max_bytes=config.spool_max_bytes, fsync=config.spool_fsync)
        self.pipeline = Pipeline(
            tag_map,
            config.canonical_units,
            self.spool,
            batch_bytes=config.batch_bytes,
            linger_s=config.linger_s,
            stage=stage,
        )
        self.health = Health(
            site=tag_map.site,
            gateway=tag_map.gateway,
            spool=self.spool,
            pipeline=self.pipeline,
            interval_s=config.heartbeat_interval_s,
        )
        self._sent_before = self.spool.counter("sent")
        self._last_reading = [-math.inf] * len(self.sources)
        self._wake = asyncio.Event()  # set when the spool got something to publish
        self._draining = False

    async def run(self, stop: asyncio.Event) -> Summary:
        """Run until ``stop`` is set (or a part fails), then flush, drain for a bounded time and close.

        A runner runs once: at the end it closes the transport and its spool.
        """
        collectors = [asyncio.create_task(self._collect(index, source)) for index, source in enumerate(self.sources)]
        helpers = [asyncio.create_task(self._tick()), asyncio.create_task(self._heartbeat())]
        publisher = asyncio.create_task(self._publish())
        workers = [*collectors, *helpers, publisher]
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([stopping, *workers], return_when=asyncio.FIRST_COMPLETED)
            for source in self.sources:
                await source.close()
            await asyncio.wait(collectors, timeout=_CLOSE_TIMEOUT_S)
            for helper in helpers:
                helper.cancel()
            self.pipeline.flush()
            self._draining = True
            self._wake.set()
            await asyncio.wait([publisher], timeout=self.config.drain_timeout_s)
            failures = [
                error
                for worker in workers
                if worker.done() and not worker.cancelled() and (error := worker.exception()) is not None
            ]
            if failures:
                raise failures[0]
        finally:
            stopping.cancel()
            for worker in workers:
                worker.cancel()
            await asyncio.gather(stopping, *workers, return_exceptions=True)
            await self.transport.close()
            summary = self.summary()
            self.spool.close()
        return summary

    def summary(self) -> Summary:
        counts = self.pipeline.counts
        return Summary(
            read=counts.read,
            reported=counts.reported,
            suppressed=counts.suppressed,
            suppressed_pct=counts.suppressed_pct,
            batches=counts.batches,
            sent=self.spool.counter("sent") - self._sent_before,
            spool_depth=self.spool.depth,
            dropped_overflow=self.spool.counter("dropped_overflow"),
            retransmissions=self.spool.counter("retransmissions"),
        )

    async def _collect(self, index: int, source: Source) -> None:
        await source.start()
        async for readings in source.readings():
            now = time.monotonic()
            self._last_reading[index] = now
            if self.pipeline.ingest(readings, now):
                self._wake.set()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_s)
            if self.pipeline.tick(time.monotonic()):
                self._wake.set()

    async def _heartbeat(self) -> None:
        interval = self.config.heartbeat_interval_s
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            clients = sum(1 for seen in self._last_reading if now - seen <= interval)
            message = self.health.message(clients=clients, max_clients=self.config.max_clients, now=time.time())
            try:
                await self.transport.publish(self.health.topic, message)
            except TransportError as error:
                log.info("heartbeat not sent (the next one carries the same cumulative figures): %s", error)

    async def _publish(self) -> None:
        backoff = Backoff(self.config.reconnect)
        connected = False
        while True:
            if not connected:
                try:
                    await self.transport.connect()
                except TransportError as error:
                    log.warning("transport not connected, %d messages spooled: %s", self.spool.depth, error)
                    await asyncio.sleep(backoff.next_delay())
                    continue
                connected = True
            record = self.spool.oldest()
            if record is None:
                if self._draining:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            self.spool.begin_attempt(record)
            try:
                await self.transport.publish(record.topic, record.payload)
            except TransportError as error:
                self.spool.abandon_attempt()
                connected = False
                log.warning("publish failed, %d messages spooled: %s", self.spool.depth, error)
                await asyncio.sleep(backoff.next_delay())
                continue
            self.spool.confirm(record)
            backoff.reset()

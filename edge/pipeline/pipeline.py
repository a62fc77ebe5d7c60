"""The synchronous hot path: readings -> harmonize -> deadband -> stamp -> batch -> spool.

Plain calls on whole scans, no asyncio: the runner calls ``ingest`` with each
list of readings and ``tick`` a few times a second (max-interval reports of tags
that stopped changing, and batches whose linger time is up). Every closed batch
is appended to the spool with the counters it advances, in one transaction.

An optional stage (the model stage of ``edge/inference``) sees every harmonized value and, on
``tick``, hands back values it derived (anomaly scores) for tags of its own; they are stamped,
batched and spooled like every other value. ``use`` attaches or replaces it while the pipeline runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from edge.pipeline.batcher import Batch, Batcher
from edge.pipeline.deadband import Deadband
from edge.pipeline.harmonizer import Harmonizer, Item, Tag
from edge.pipeline.spool import Spool
from edge.pipeline.tag_map import TagMap
from edge.readings import Reading
from envelope.tag_envelope import topic


@dataclass
class RunCounts:
    """What this pipeline object did since it was built (the persisted totals live in the spool)."""

    read: int = 0  # readings received
    reported: int = 0  # values that passed report by exception
    suppressed: int = 0  # values the deadband held back
    batches: int = 0  # batches appended to the spool

    @property
    def suppressed_pct(self) -> float:
        considered = self.reported + self.suppressed
        return 100.0 * self.suppressed / considered if considered else 0.0


class Stage(Protocol):
    """Derives values from harmonized ones; its items are already through its own report by exception."""

    def bind(self, tags: Sequence[Tag]) -> None:
        """Learn the pipeline's tags (``Item`` tags are these, by ``Tag.index``)."""

    def observe(self, items: Sequence[Item]) -> None:
        """See one scan's harmonized values (before report by exception)."""

    def tick(self, now: float) -> list[Item]:
        """The derived values to report now (``now`` is the pipeline's monotonic clock)."""
        ...


def batch_seq_counter(line: str) -> str:
    """The spool counter holding the next batch_seq of a line."""
    return f"batch_seq/{line}"


class Pipeline:
    """One gateway's tags from readings to spooled batches."""

    def __init__(
        self,
        tag_map: TagMap,
        canonical_units: Mapping[str, str],
        spool: Spool,
        *,
        batch_bytes: int,
        linger_s: float,
        stage: Stage | None = None,
    ) -> None:
        self.spool = spool
        self.topic = topic(tag_map.site, tag_map.gateway, "telemetry")
        self.harmonizer = Harmonizer(
            tag_map, canonical_units, next_seq=spool.counter("seq"), discarded=spool.counter("discarded")
        )
        self.deadband = Deadband(self.harmonizer.tags)
        lines = {tag.line for tag in self.harmonizer.tags}
        self.batcher = Batcher(
            site=tag_map.site,
            gateway=tag_map.gateway,
            max_bytes=batch_bytes,
            linger_s=linger_s,
            next_batch_seq={line: spool.counter(batch_seq_counter(line)) for line in lines},
        )
        self.received = spool.counter("received")  # cumulative since the gateway's first start
        self.counts = RunCounts()
        self.stage: Stage | None = None
        self.use(stage)

    def use(self, stage: Stage | None) -> None:
        """Attach ``stage`` (None: none) from the next scan on."""
        if stage is not None:
            stage.bind(self.harmonizer.tags)
        self.stage = stage

    def ingest(self, readings: Sequence[Reading], now: float) -> int:
        """Process one scan; ``now`` is the monotonic clock. Returns the batches spooled."""
        items = self.harmonizer.harmonize(readings)
        if self.stage is not None:
            self.stage.observe(items)
        chosen = self.deadband.select(items, now)
        self.received += len(readings)
        self.counts.read += len(readings)
        self.counts.reported += len(chosen)
        self.counts.suppressed += len(items) - len(chosen)
        return self._spool(self.batcher.add(self.harmonizer.stamp(chosen), now))

    def tick(self, now: float) -> int:
        """Report tags whose max interval passed without a reading and the stage's values, close lingering batches."""
        chosen = self.deadband.select(self.harmonizer.latest(self.deadband.due(now)), now)
        if self.stage is not None:
            chosen += self.stage.tick(now)
        self.counts.reported += len(chosen)
        closed = self.batcher.add(self.harmonizer.stamp(chosen), now)
        return self._spool(closed + self.batcher.expired(now))

    def flush(self) -> int:
        """Spool every open batch (on shutdown)."""
        return self._spool(self.batcher.flush())

    def _spool(self, batches: list[Batch]) -> int:
        for batch in batches:
            self.spool.append(
                self.topic,
                batch.payload,
                batch.values,
                {
                    "seq": self.harmonizer.next_seq,
                    batch_seq_counter(batch.line): batch.batch_seq + 1,
                    "received": self.received,
                    "discarded": self.harmonizer.discarded,
                },
            )
        self.counts.batches += len(batches)
        return len(batches)

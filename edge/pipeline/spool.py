"""Durable store-and-forward: a FIFO of wire messages in SQLite (WAL), plus the pipeline's counters.

A batch counts as accepted only once ``append`` committed it; it leaves the
spool only through ``confirm``, after the transport confirmed delivery. Each
append commits the batch together with the counters that must never go back
(the gateway's next ``seq``, each line's next ``batch_seq``), in one
transaction: after a SIGKILL or power cut the spool and the counters agree, so a
restart neither loses an accepted batch nor reuses a sequence number.

Durable on power loss by default: with ``fsync=True`` (WAL, ``synchronous=FULL``)
every commit waits for its flush to disk, so a batch that ``append`` accepted
survives a power cut of the gateway, at one flush per commit (a batch's append,
its delivery attempt and its confirmation). ``fsync=False``
(``synchronous=NORMAL``) still survives a killed process, but a power cut may
lose the last commits before the OS wrote them. ``make bench-edge`` measures
both.

Overflow policy, explicit and counted: the spool holds at most ``max_bytes`` of
payload; a new batch that does not fit evicts the oldest batches (never the one
being published), and their values add to the ``dropped_overflow`` counter.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from envelope.tag_envelope import MAX_MESSAGE_BYTES

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,            -- insertion order: new rows get max(id) + 1
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    value_count INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_SYNCHRONOUS_FULL = 2  # what PRAGMA synchronous reads back for FULL (NORMAL is 1)

# Decided here only: RunnerConfig.spool_fsync, the components' runner option, defaults to it.
FSYNC_DEFAULT = True


@dataclass(frozen=True, slots=True)
class Record:
    """One spooled message."""

    id: int
    topic: str
    payload: bytes
    values: int
    attempts: int


class Spool:
    """Oldest-first queue of messages awaiting delivery; survives restarts and, with ``fsync``, power cuts."""

    def __init__(self, path: Path, *, max_bytes: int, fsync: bool = FSYNC_DEFAULT) -> None:
        if max_bytes < 2 * MAX_MESSAGE_BYTES:
            raise ValueError(
                f"spool max_bytes {max_bytes} cannot hold a message being sent and a new one; "
                f"fix: allow at least {2 * MAX_MESSAGE_BYTES} bytes"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        # Autocommit mode: every change below runs in an explicit BEGIN IMMEDIATE ... COMMIT.
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self._db.executescript(_SCHEMA)
        self._in_flight: int | None = None
        self._load()

    def _load(self) -> None:
        self._counters = dict(self._db.execute("SELECT name, value FROM counters").fetchall())
        self._depth, self._bytes = self._db.execute(
            "SELECT count(*), coalesce(sum(length(payload)), 0) FROM records"
        ).fetchone()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._load()  # the in-memory mirror follows the database, not the failed attempt
            raise

    def _store(self, counters: Mapping[str, int]) -> None:
        self._db.executemany(
            "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            counters.items(),
        )
        self._counters.update(counters)

    @property
    def fsync(self) -> bool:
        """Whether each commit waits for its flush to disk, as the open database reports it."""
        return bool(self._db.execute("PRAGMA synchronous").fetchone()[0] == _SYNCHRONOUS_FULL)

    @property
    def depth(self) -> int:
        """Messages waiting for delivery."""
        return int(self._depth)

    @property
    def payload_bytes(self) -> int:
        """Payload bytes waiting for delivery."""
        return int(self._bytes)

    def counter(self, name: str) -> int:
        """A persisted counter (0 before its first store)."""
        return int(self._counters.get(name, 0))

    def append(self, topic: str, payload: bytes, values: int, counters: Mapping[str, int]) -> None:
        """Store one message and the given counters atomically; evicts the oldest messages if full."""
        with self._transaction():
            excess = self._bytes + len(payload) - self.max_bytes
            if excess > 0:
                self._evict(excess)
            self._db.execute(
                "INSERT INTO records (topic, payload, value_count) VALUES (?, ?, ?)", (topic, payload, values)
            )
            self._store(counters)
            self._depth += 1
            self._bytes += len(payload)

    def _evict(self, excess: int) -> None:
        victims: list[tuple[int]] = []
        freed = dropped = 0
        rows = self._db.execute(
            "SELECT id, length(payload), value_count FROM records WHERE id IS NOT ? ORDER BY id", (self._in_flight,)
        )
        for record_id, size, values in rows:
            victims.append((record_id,))
            freed += size
            dropped += values
            if freed >= excess:
                break
        rows.close()
        self._db.executemany("DELETE FROM records WHERE id = ?", victims)
        self._store({"dropped_overflow": self.counter("dropped_overflow") + dropped})
        self._depth -= len(victims)
        self._bytes -= freed

    def oldest(self) -> Record | None:
        """The next message to deliver, or None when the spool is empty."""
        row = self._db.execute(
            "SELECT id, topic, payload, value_count, attempts FROM records ORDER BY id LIMIT 1"
        ).fetchone()
        return Record(*row) if row else None

    def begin_attempt(self, record: Record) -> None:
        """Note a delivery attempt before it starts; a repeated attempt counts as a retransmission."""
        with self._transaction():
            self._db.execute("UPDATE records SET attempts = attempts + 1 WHERE id = ?", (record.id,))
            if record.attempts:
                self._store({"retransmissions": self.counter("retransmissions") + 1})
        self._in_flight = record.id

    def abandon_attempt(self) -> None:
        """The attempt failed: the message stays first in line (and may be evicted again)."""
        self._in_flight = None

    def confirm(self, record: Record) -> None:
        """The transport confirmed the message: remove it for good and count it as sent."""
        with self._transaction():
            deleted = self._db.execute("DELETE FROM records WHERE id = ?", (record.id,)).rowcount
            self._store({"sent": self.counter("sent") + 1})
            self._depth -= deleted
            self._bytes -= deleted * len(record.payload)
        self._in_flight = None

    def bump(self, name: str) -> int:
        """Persist ``name`` + 1 and return the value before (a durable sequence)."""
        value = self.counter(name)
        with self._transaction():
            self._store({name: value + 1})
        return value

    def close(self) -> None:
        self._db.close()

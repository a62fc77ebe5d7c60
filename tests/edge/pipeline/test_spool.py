"""Spool: durable FIFO, counters in the same transaction, exact overflow accounting, retransmissions."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.pipeline.spool import Spool
from envelope.tag_envelope import MAX_MESSAGE_BYTES

LIMIT = 2 * MAX_MESSAGE_BYTES  # the smallest spool allowed
BIG = 100_000  # three of these do not fit


def payload(mark: int, size: int = 100) -> bytes:
    return bytes([mark]) * size


def test_messages_leave_oldest_first_and_only_when_confirmed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_bytes=LIMIT)
    for mark in (1, 2, 3):
        spool.append("t", payload(mark), values=mark, counters={"seq": mark * 10})
    assert (spool.depth, spool.payload_bytes) == (3, 300)
    first = spool.oldest()
    assert first is not None
    assert (first.payload, first.values, first.attempts) == (payload(1), 1, 0)
    assert spool.oldest() == first  # looking does not remove
    spool.begin_attempt(first)
    spool.confirm(first)
    remaining = []
    while (record := spool.oldest()) is not None:
        spool.begin_attempt(record)
        spool.confirm(record)
        remaining.append(record.payload)
    assert remaining == [payload(2), payload(3)]
    assert (spool.depth, spool.payload_bytes, spool.counter("sent")) == (0, 0, 3)


def test_records_and_counters_survive_a_reopen(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_bytes=LIMIT)
    spool.append("dmc/plantA/gw1/telemetry", payload(1), values=4, counters={"seq": 4, "batch_seq/a/b/c/d": 1})
    spool.append("dmc/plantA/gw1/telemetry", payload(2), values=2, counters={"seq": 6, "batch_seq/a/b/c/d": 2})
    assert spool.bump("heartbeat_seq") == 0
    spool.close()
    again = Spool(tmp_path / "spool.db", max_bytes=LIMIT)
    assert (again.depth, again.payload_bytes) == (2, 200)
    assert (again.counter("seq"), again.counter("batch_seq/a/b/c/d"), again.counter("heartbeat_seq")) == (6, 2, 1)
    record = again.oldest()
    assert record is not None
    assert (record.topic, record.payload) == ("dmc/plantA/gw1/telemetry", payload(1))


def test_overflow_evicts_the_oldest_and_counts_their_values_exactly(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_bytes=LIMIT)
    for mark, values in ((1, 10), (2, 20), (3, 30), (4, 40)):
        spool.append("t", payload(mark, BIG), values=values, counters={})
    # The third append evicted the first (10 values), the fourth the second (20 values).
    assert spool.counter("dropped_overflow") == 30
    assert (spool.depth, spool.payload_bytes) == (2, 2 * BIG)
    spool.append("t", payload(5, LIMIT - BIG + 1), values=5, counters={})  # needs the room of both
    assert spool.counter("dropped_overflow") == 30 + 30 + 40
    record = spool.oldest()
    assert record is not None and record.payload[0] == 5 and spool.depth == 1
    spool.close()
    assert Spool(tmp_path / "spool.db", max_bytes=LIMIT).counter("dropped_overflow") == 100


def test_the_message_being_sent_is_never_evicted(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_bytes=LIMIT)
    spool.append("t", payload(1, BIG), values=1, counters={})
    spool.append("t", payload(2, BIG), values=2, counters={})
    in_flight = spool.oldest()
    assert in_flight is not None
    spool.begin_attempt(in_flight)
    spool.append("t", payload(3, BIG), values=3, counters={})
    assert spool.counter("dropped_overflow") == 2  # the second went, not the first
    spool.confirm(in_flight)
    after = spool.oldest()
    assert after is not None and after.payload[0] == 3
    assert (spool.depth, spool.payload_bytes) == (1, BIG)


def test_a_repeated_attempt_is_a_retransmission_even_after_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_bytes=LIMIT)
    spool.append("t", payload(1), values=1, counters={})
    record = spool.oldest()
    assert record is not None
    spool.begin_attempt(record)
    spool.abandon_attempt()  # the publish failed
    retry = spool.oldest()
    assert retry is not None and retry.attempts == 1
    spool.begin_attempt(retry)
    assert spool.counter("retransmissions") == 1
    spool.close()  # as if killed before the confirmation
    again = Spool(tmp_path / "spool.db", max_bytes=LIMIT)
    record = again.oldest()
    assert record is not None and record.attempts == 2
    again.begin_attempt(record)
    again.confirm(record)
    assert (again.counter("retransmissions"), again.counter("sent"), again.depth) == (2, 1, 0)


def test_a_spool_too_small_for_two_messages_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^spool max_bytes 1000 cannot hold .*fix: allow at least 262144 bytes$"):
        Spool(tmp_path / "spool.db", max_bytes=1000)


def test_the_spool_uses_write_ahead_logging(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_bytes=LIMIT)
    spool.append("t", payload(1), values=1, counters={})
    assert (tmp_path / "spool.db-wal").exists()

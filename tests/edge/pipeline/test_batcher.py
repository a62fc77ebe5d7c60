"""Batcher: one line per batch, gapless batch_seq, bounded size, linger and flush."""

from __future__ import annotations

from typing import Any

from edge.pipeline.batcher import Batcher
from edge.pipeline.harmonizer import Harmonizer
from edge.pipeline.tag_map import TagMap
from edge.readings import Reading
from envelope.tag_envelope import MAX_MESSAGE_BYTES, decode, encode, tag_batch

TS = 1_769_846_400.0
LINES = ("filling/line1", "packing/line2")


def harmonizer() -> Harmonizer:
    tags = [
        {"source": "opcua", "address": f"{line}/{index}", "path": f"{line}/cell/t{index}"}
        for line in LINES
        for index in range(50)
    ]
    tags.append({"source": "opcua", "address": "note", "path": "filling/line1/cell/note", "kind": "state"})
    tag_map = TagMap.model_validate({"enterprise": "acme", "site": "plantA", "gateway": "gw1", "tags": tags})
    return Harmonizer(tag_map, {})


def stamped(source: Harmonizer, count: int, line: str = LINES[0], start: float = 0.0) -> list[Any]:
    readings = [Reading(f"{line}/{index % 50}", start + index * 1.25, "good", TS + index) for index in range(count)]
    return list(source.stamp(source.harmonize(readings)))


def batcher(max_bytes: int = 4096, linger_s: float = 2.0, **next_seq: int) -> Batcher:
    return Batcher(site="plantA", gateway="gw1", max_bytes=max_bytes, linger_s=linger_s, next_batch_seq=next_seq)


def test_a_batch_holds_values_of_one_line_as_a_valid_envelope() -> None:
    source = harmonizer()
    values = stamped(source, 3, LINES[0]) + stamped(source, 2, LINES[1])
    target = batcher()
    assert target.add(values, now=0.0) == []  # nothing is full yet
    batches = target.flush()
    assert [(batch.line, batch.values) for batch in batches] == [
        ("acme/plantA/filling/line1", 3),
        ("acme/plantA/packing/line2", 2),
    ]
    assert decode(batches[0].payload) == tag_batch(
        site="plantA", gateway="gw1", line="acme/plantA/filling/line1", batch_seq=0, values=[v for _, v in values[:3]]
    )


def test_batches_close_just_under_the_size_bound_and_keep_every_value_in_order() -> None:
    source = harmonizer()
    values = stamped(source, 400)
    largest = max(len(encode(value)) for _, value in values)
    target = batcher(max_bytes=4096)
    batches = target.add(values, now=0.0) + target.flush()
    assert len(batches) >= 10
    for batch in batches[:-1]:
        # A full batch stops only because the next value (and its comma) would not fit.
        assert 4096 - largest - 1 < len(batch.payload) <= 4096
    assert len(batches[-1].payload) <= 4096
    sent = [value for batch in batches for value in decode(batch.payload)["values"]]
    assert sent == [value for _, value in values]


def test_a_long_text_value_still_fits_a_message() -> None:
    source = harmonizer()
    text = "\u00e9" * 1024  # each escapes to 6 characters in JSON
    stamp = list(source.stamp(source.harmonize([Reading("note", text, "good", TS)])))
    target = batcher(max_bytes=1024)
    batches = target.add(stamped(source, 3) + stamp + stamped(source, 3), now=0.0) + target.flush()
    assert [batch.values for batch in batches] == [3, 1, 3]
    assert 1024 < len(batches[1].payload) < MAX_MESSAGE_BYTES


def test_batch_seq_counts_per_line_from_the_persisted_value_without_gaps() -> None:
    source = harmonizer()
    target = batcher(max_bytes=1024, **{"acme/plantA/filling/line1": 7})
    batches = target.add(stamped(source, 60, LINES[0]) + stamped(source, 30, LINES[1]), now=0.0) + target.flush()
    by_line: dict[str, list[int]] = {}
    for batch in batches:
        by_line.setdefault(batch.line, []).append(batch.batch_seq)
    one, two = by_line["acme/plantA/filling/line1"], by_line["acme/plantA/packing/line2"]
    assert one == list(range(7, 7 + len(one)))
    assert two == list(range(len(two)))
    assert target.next_batch_seq("acme/plantA/filling/line1") == 7 + len(one)
    assert all(decode(batch.payload)["batch_seq"] == batch.batch_seq for batch in batches)


def test_a_partial_batch_leaves_after_its_linger_time() -> None:
    source = harmonizer()
    target = batcher(linger_s=2.0)
    target.add(stamped(source, 2, LINES[0]), now=10.0)
    target.add(stamped(source, 2, LINES[1]), now=11.0)
    assert target.expired(11.9) == []
    assert [batch.line for batch in target.expired(12.0)] == ["acme/plantA/filling/line1"]
    assert [batch.line for batch in target.expired(13.0)] == ["acme/plantA/packing/line2"]
    assert target.flush() == []

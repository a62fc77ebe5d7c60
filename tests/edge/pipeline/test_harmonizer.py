"""Harmonizer: addresses to ISA-95 paths, units to the site's units, bad values, stamps."""

from __future__ import annotations

import math
from typing import Any

import pytest

from edge.pipeline.harmonizer import Harmonizer
from edge.pipeline.tag_map import TagMap, TagMapError
from edge.pipeline.units import conversion
from edge.readings import Reading
from envelope.tag_envelope import utc_timestamp

UNITS = {"temperature": "degC", "pressure": "bar", "flow": "m3/h", "length": "mm", "mass": "kg"}
TS = 1_769_846_400.25  # 2026-01-31T08:00:00.250Z


def tag_map(*tags: dict[str, Any]) -> TagMap:
    return TagMap.model_validate({"enterprise": "acme", "site": "plantA", "gateway": "gw1", "tags": list(tags)})


def analog(address: str, path: str, **fields: Any) -> dict[str, Any]:
    return {"source": "opcua", "address": address, "path": path} | fields


@pytest.mark.parametrize(
    ("quantity", "unit", "canonical", "value", "expected"),
    [
        ("temperature", "degF", "degC", 212.0, 100.0),
        ("temperature", "degF", "degC", 32.0, 0.0),
        ("temperature", "K", "degC", 273.15, 0.0),
        ("temperature", "degC", "degF", 100.0, 212.0),
        ("pressure", "psi", "bar", 100.0, 6.894757293168),
        ("pressure", "kPa", "bar", 250.0, 2.5),
        ("pressure", "mbar", "bar", 1013.25, 1.01325),
        ("flow", "gpm", "m3/h", 100.0, 22.71247056),
        ("flow", "l/min", "m3/h", 100.0, 6.0),
        ("length", "in", "mm", 2.0, 50.8),
        ("mass", "lb", "kg", 10.0, 4.5359237),
        ("mass", "g", "kg", 1500.0, 1.5),
        ("pressure", "bar", "bar", 3.0, 3.0),
    ],
)
def test_conversions(quantity: str, unit: str, canonical: str, value: float, expected: float) -> None:
    scale, offset = conversion(quantity, unit, canonical)
    assert value * scale + offset == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_an_unknown_quantity_only_passes_its_own_unit() -> None:
    assert conversion("speed", "rpm", "rpm") == (1.0, 0.0)
    with pytest.raises(ValueError, match=r"^no conversion from 'rad/s' to 'rpm' for speed; fix: use a speed unit "):
        conversion("speed", "rad/s", "rpm")


def test_values_get_their_isa95_path_line_and_site_unit() -> None:
    harmonizer = Harmonizer(
        tag_map(
            analog("ns=2;s=Temp", "filling/line1/filler/temperature", quantity="temperature", unit="degF"),
            analog("holding:0:float32", "filling/line1/capper/air", quantity="pressure", unit="psi"),
            {"source": "opcua", "address": "ns=2;s=State", "path": "filling/line1/filler/state", "kind": "state"},
            analog("ns=2;s=Torque", "filling/line1/capper/torque", unit="N.m"),
        ),
        UNITS,
    )
    items = harmonizer.harmonize(
        [
            Reading("ns=2;s=Temp", 212, "good", TS),
            Reading("holding:0:float32", 14.503773773, "uncertain", TS),
            Reading("ns=2;s=State", "running", "good", TS),
            Reading("ns=2;s=Torque", 2.5, "good", TS),
        ]
    )
    assert [(tag.path, tag.line, tag.unit) for tag, *_ in items] == [
        ("acme/plantA/filling/line1/filler/temperature", "acme/plantA/filling/line1", "degC"),
        ("acme/plantA/filling/line1/capper/air", "acme/plantA/filling/line1", "bar"),
        ("acme/plantA/filling/line1/filler/state", "acme/plantA/filling/line1", ""),
        ("acme/plantA/filling/line1/capper/torque", "acme/plantA/filling/line1", "N.m"),
    ]
    assert [value for _, value, *_ in items] == [pytest.approx(100.0), pytest.approx(1.0), "running", 2.5]
    assert [quality for *_, quality, _ in items] == ["good", "uncertain", "good", "good"]


def test_a_deadband_in_the_source_unit_becomes_one_in_the_site_unit() -> None:
    (tag,) = Harmonizer(
        tag_map(analog("t", "a/l/c/t", quantity="temperature", unit="degF", deadband_abs=0.9, deadband_pct=2)), UNITS
    ).tags
    assert tag.deadband_abs == pytest.approx(0.5)  # a change of 0.9 degF is 0.5 degC, whatever the offset
    assert tag.deadband_pct == pytest.approx(0.02)


def test_the_harmonizer_checks_units_itself() -> None:
    with pytest.raises(TagMapError, match=r"^tag map: tags\[0\]\.unit: no conversion from 'degR' to 'degC'"):
        Harmonizer(tag_map(analog("t", "a/l/c/t", quantity="temperature", unit="degR")), UNITS)


def test_unsendable_values_go_out_bad_with_the_last_value() -> None:
    harmonizer = Harmonizer(
        tag_map(
            analog("t", "a/l/c/t"),
            {"source": "opcua", "address": "s", "path": "a/l/c/s", "kind": "state"},
        ),
        UNITS,
    )
    first = harmonizer.harmonize([Reading("t", math.nan, "good", TS), Reading("s", "x" * 1025, "good", TS)])
    assert first == []  # nothing to stand in for them yet
    assert harmonizer.discarded == 2
    harmonizer.harmonize([Reading("t", 20.5, "good", TS), Reading("s", "running", "good", TS)])
    later = harmonizer.harmonize(
        [
            Reading("t", math.inf, "good", TS + 1),
            Reading("t", True, "good", TS + 2),  # a bool is no measurement
            Reading("t", "21", "good", TS + 3),
            Reading("s", "x" * 1025, "good", TS + 4),
            Reading("t", 21.0, "questionable", TS + 5),  # not an envelope quality
        ]
    )
    assert [(value, quality) for _, value, quality, _ in later] == [
        (20.5, "bad"),
        (20.5, "bad"),
        (20.5, "bad"),
        ("running", "bad"),
        (21.0, "bad"),
    ]
    assert harmonizer.discarded == 2


def test_unknown_addresses_are_counted_not_sent() -> None:
    harmonizer = Harmonizer(tag_map(analog("t", "a/l/c/t")), UNITS, discarded=5)
    assert harmonizer.harmonize([Reading("ns=9;s=Nope", 1.0, "good", TS)]) == []
    assert harmonizer.discarded == 6


def test_stamps_carry_utc_time_a_gapless_sequence_and_the_idempotency_key() -> None:
    harmonizer = Harmonizer(tag_map(analog("t", "a/l/c/t", unit="N.m")), UNITS, next_seq=41)
    items = harmonizer.harmonize([Reading("t", 1.5, "good", TS), Reading("t", 2.5, "good", TS + 1)])
    stamped = list(harmonizer.stamp(items))
    assert [value for _, value in stamped] == [
        {
            "path": "acme/plantA/a/l/c/t",
            "value": 1.5,
            "unit": "N.m",
            "quality": "good",
            "ts": "2026-01-31T08:00:00.250Z",
            "seq": 41,
            "id": "gw1:41",
        },
        {
            "path": "acme/plantA/a/l/c/t",
            "value": 2.5,
            "unit": "N.m",
            "quality": "good",
            "ts": utc_timestamp(TS + 1),
            "seq": 42,
            "id": "gw1:42",
        },
    ]
    assert harmonizer.next_seq == 43


def test_latest_holds_the_newest_item_of_each_tag() -> None:
    harmonizer = Harmonizer(tag_map(analog("t", "a/l/c/t"), analog("u", "a/l/c/u")), UNITS)
    harmonizer.harmonize([Reading("t", 1.0, "good", TS), Reading("t", 2.0, "good", TS + 1)])
    assert [value for _, value, *_ in harmonizer.latest([0, 1])] == [2.0]

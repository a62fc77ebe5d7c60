"""The one unit table of edge and cloud (envelope/units.py)."""

import pytest

from envelope import units


@pytest.mark.parametrize(
    ("quantity", "source", "target", "value", "expected"),
    [
        ("temperature", "degF", "degC", 212.0, 100.0),
        ("temperature", "K", "degC", 273.15, 0.0),
        ("pressure", "psi", "Pa", 1.0, 6894.757293168361),
        ("flow", "L/min", "m3/h", 100.0, 6.0),
        ("length", "in", "mm", 2.0, 50.8),
        ("mass", "lb", "kg", 1.0, 0.45359237),
    ],
)
def test_linear_converts_between_two_units_of_a_quantity(quantity, source, target, value, expected) -> None:
    scale, offset = units.linear(quantity, source, target)
    assert value * scale + offset == pytest.approx(expected)


def test_aliases_name_only_units_of_the_table() -> None:
    known = {unit for table in units.UNITS.values() for unit in table}
    assert set(units.ALIASES.values()) <= known
    assert units.normalised(" l/min ") == "L/min"
    assert units.normalised("stone") == "stone"


def test_quantity_of_a_unit() -> None:
    assert units.quantity_of("bar") == "pressure"
    assert units.quantity_of("stone") is None


def test_canonical_unit_problems_name_quantity_unit_and_fix() -> None:
    assert units.canonical_unit_problems({"mass": "kg", "temperature": "degC"}) == []
    assert units.canonical_unit_problems({"mass": "stone", "speed": "m/s"}) == [
        "mass: unit 'stone' is not known; fix: use one of kg, g, t, lb, oz",
        "speed: unknown quantity; fix: use one of temperature, pressure, flow, length, mass",
    ]

"""Unit spellings and the small conversion table of the conformed layer. Plain Python.

Every spelling maps to one normalised unit; a normalised unit of a known quantity converts linearly
to the quantity's base unit. A value is converted to the site's canonical unit of its quantity
(``Edge.canonical_units``, e.g. ``{"temperature": "degC"}``) when both units are in the table;
any other unit is kept as spelled (trimmed) and its values are not touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

# normalised unit -> (quantity, factor, offset): base = value * factor + offset.
UNITS: dict[str, tuple[str, float, float]] = {
    "degC": ("temperature", 1.0, 0.0),
    "degF": ("temperature", 5.0 / 9.0, -160.0 / 9.0),
    "K": ("temperature", 1.0, -273.15),
    "Pa": ("pressure", 1e-5, 0.0),
    "kPa": ("pressure", 1e-2, 0.0),
    "MPa": ("pressure", 10.0, 0.0),
    "mbar": ("pressure", 1e-3, 0.0),
    "bar": ("pressure", 1.0, 0.0),
    "psi": ("pressure", 0.0689475729316836, 0.0),
    "m3/h": ("flow", 1.0, 0.0),
    "m3/s": ("flow", 3600.0, 0.0),
    "L/min": ("flow", 0.06, 0.0),
    "L/h": ("flow", 1e-3, 0.0),
    "mm": ("length", 1.0, 0.0),
    "cm": ("length", 10.0, 0.0),
    "m": ("length", 1000.0, 0.0),
    "in": ("length", 25.4, 0.0),
    "g": ("mass", 1e-3, 0.0),
    "kg": ("mass", 1.0, 0.0),
    "t": ("mass", 1000.0, 0.0),
    "lb": ("mass", 0.45359237, 0.0),
}

# Spellings seen from PLCs and OPC UA servers -> normalised unit (matched after trimming blanks).
ALIASES: dict[str, str] = {
    **{unit: unit for unit in UNITS},
    "°C": "degC",
    "℃": "degC",
    "C": "degC",
    "deg C": "degC",
    "celsius": "degC",
    "Celsius": "degC",
    "°F": "degF",
    "℉": "degF",
    "F": "degF",
    "deg F": "degF",
    "fahrenheit": "degF",
    "Fahrenheit": "degF",
    "kelvin": "K",
    "Kelvin": "K",
    "pa": "Pa",
    "kpa": "kPa",
    "mpa": "MPa",
    "Bar": "bar",
    "PSI": "psi",
    "m³/h": "m3/h",
    "m^3/h": "m3/h",
    "m3/hr": "m3/h",
    "m³/s": "m3/s",
    "l/min": "L/min",
    "lpm": "L/min",
    "l/h": "L/h",
    "inch": "in",
    "kilogram": "kg",
    "lbs": "lb",
}


class Conversion(NamedTuple):
    """How one spelling is stored: ``value * scale + shift`` in ``unit``."""

    unit: str
    scale: float
    shift: float


def quantities() -> dict[str, list[str]]:
    """Each quantity of the table and its normalised units (for error messages and validation)."""
    found: dict[str, list[str]] = {}
    for unit, (quantity, _, _) in UNITS.items():
        found.setdefault(quantity, []).append(unit)
    return found


def conversion(spelling: str, canonical_units: Mapping[str, str]) -> Conversion:
    """The stored unit of a spelling and the linear map into it (identity when not convertible)."""
    unit = ALIASES.get(spelling.strip(), spelling.strip())
    if unit not in UNITS:
        return Conversion(unit, 1.0, 0.0)
    quantity, factor, offset = UNITS[unit]
    target = canonical_units.get(quantity, unit)
    _, target_factor, target_offset = UNITS[target]
    # base = v * factor + offset = w * target_factor + target_offset, solved for w.
    return Conversion(target, factor / target_factor, (offset - target_offset) / target_factor)


def conversions(canonical_units: Mapping[str, str]) -> dict[str, Conversion]:
    """The conversion of every known spelling, for a lookup table in Spark."""
    return {spelling: conversion(spelling, canonical_units) for spelling in ALIASES}

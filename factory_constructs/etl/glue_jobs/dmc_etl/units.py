"""Unit conversions of the conformed layer, on the envelope's table (``envelope.units``, the one the
gateways use too). Plain Python.

Every spelling maps to one normalised unit; a normalised unit of a known quantity converts linearly
to the quantity's reference unit. A value is converted to the site's canonical unit of its quantity
(``Edge.canonical_units``, e.g. ``{"temperature": "degC"}``) when both units are in the table;
any other unit is kept as spelled (trimmed) and its values are not touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from envelope import units as table

# Every spelling the conversion table answers for: the table's units and their aliases.
SPELLINGS: tuple[str, ...] = (*(unit for units in table.UNITS.values() for unit in units), *table.ALIASES)


class Conversion(NamedTuple):
    """How one spelling is stored: ``value * scale + shift`` in ``unit``."""

    unit: str
    scale: float
    shift: float


def quantities() -> dict[str, list[str]]:
    """Each quantity of the table and its normalised units (for error messages and validation)."""
    return {quantity: list(units) for quantity, units in table.UNITS.items()}


def conversion(spelling: str, canonical_units: Mapping[str, str]) -> Conversion:
    """The stored unit of a spelling and the linear map into it (identity when not convertible)."""
    unit = table.normalised(spelling)
    quantity = table.quantity_of(unit)
    if quantity is None:
        return Conversion(unit, 1.0, 0.0)
    target = canonical_units.get(quantity, unit)
    return Conversion(target, *table.linear(quantity, unit, target))


def conversions(canonical_units: Mapping[str, str]) -> dict[str, Conversion]:
    """The conversion of every known spelling, for a lookup table in Spark."""
    return {spelling: conversion(spelling, canonical_units) for spelling in SPELLINGS}

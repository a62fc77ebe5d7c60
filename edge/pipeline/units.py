"""Unit conversions into a site's canonical units: linear, ``canonical = value * scale + offset``.

The table is the envelope's (``envelope.units``), the one the conformed layer uses too. A unit of
another quantity (psi for a temperature) has no conversion on purpose, so that a wrong unit in a
tag map fails when the map is loaded, not on the wire.
"""

from __future__ import annotations

from envelope import units as table


def units_of(quantity: str) -> list[str]:
    """The units the table knows for a quantity (empty for an unknown quantity)."""
    return table.units_of(quantity)


def conversion(quantity: str, source_unit: str, canonical_unit: str) -> tuple[float, float]:
    """(scale, offset) that turn ``source_unit`` (or one of its spellings) into ``canonical_unit``;
    raises ValueError with the fix."""
    source = table.normalised(source_unit)
    if source == canonical_unit:
        return 1.0, 0.0
    units = table.units_of(quantity)
    missing = [unit for unit, known in ((source_unit, source), (canonical_unit, canonical_unit)) if known not in units]
    if missing:
        known = ", ".join(units) if units else f"only {canonical_unit} (no conversions for {quantity!r})"
        raise ValueError(
            f"no conversion from {source_unit!r} to {canonical_unit!r} for {quantity}; "
            f"fix: use a {quantity} unit the gateway converts: {known}"
        )
    return table.linear(quantity, source, canonical_unit)

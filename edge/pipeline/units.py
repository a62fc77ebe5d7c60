"""Unit conversions into a site's canonical units: linear, ``canonical = value * scale + offset``.

Each quantity lists its units as (scale, offset) into one reference unit of that
quantity; any two units of the same quantity convert through it. A unit of
another quantity (psi for a temperature) has no conversion on purpose, so that a
wrong unit in a tag map fails when the map is loaded, not on the wire.
"""

from __future__ import annotations

# quantity -> unit -> (scale, offset) into the quantity's reference unit (the first entry).
_UNITS: dict[str, dict[str, tuple[float, float]]] = {
    "temperature": {"degC": (1.0, 0.0), "degF": (5 / 9, -32 * 5 / 9), "K": (1.0, -273.15)},
    "pressure": {
        "bar": (1.0, 0.0),
        "mbar": (1e-3, 0.0),
        "Pa": (1e-5, 0.0),
        "kPa": (1e-2, 0.0),
        "MPa": (10.0, 0.0),
        "psi": (0.0689475729317831, 0.0),
        "atm": (1.01325, 0.0),
    },
    "flow": {
        "m3/h": (1.0, 0.0),
        "m3/s": (3600.0, 0.0),
        "l/min": (0.06, 0.0),
        "l/h": (1e-3, 0.0),
        "gpm": (0.2271247056, 0.0),  # US gallons per minute
    },
    "length": {
        "mm": (1.0, 0.0),
        "um": (1e-3, 0.0),
        "cm": (10.0, 0.0),
        "m": (1000.0, 0.0),
        "in": (25.4, 0.0),
        "ft": (304.8, 0.0),
    },
    "mass": {
        "kg": (1.0, 0.0),
        "g": (1e-3, 0.0),
        "t": (1000.0, 0.0),
        "lb": (0.45359237, 0.0),
        "oz": (0.028349523125, 0.0),
    },
}


def units_of(quantity: str) -> list[str]:
    """The units the table knows for a quantity (empty for an unknown quantity)."""
    return list(_UNITS.get(quantity, {}))


def conversion(quantity: str, source_unit: str, canonical_unit: str) -> tuple[float, float]:
    """(scale, offset) that turn ``source_unit`` into ``canonical_unit``; raises ValueError with the fix."""
    if source_unit == canonical_unit:
        return 1.0, 0.0
    units = _UNITS.get(quantity, {})
    missing = [unit for unit in (source_unit, canonical_unit) if unit not in units]
    if missing:
        known = ", ".join(units) if units else f"only {canonical_unit} (no conversions for {quantity!r})"
        raise ValueError(
            f"no conversion from {source_unit!r} to {canonical_unit!r} for {quantity}; "
            f"fix: use a {quantity} unit the gateway converts: {known}"
        )
    # Through the reference unit: ref = v * a_src + b_src and ref = c * a_can + b_can.
    scale_src, offset_src = units[source_unit]
    scale_can, offset_can = units[canonical_unit]
    return scale_src / scale_can, (offset_src - offset_can) / scale_can

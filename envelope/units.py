"""The units edge and cloud convert between: one table, so that a site's canonical unit means the same
on a gateway (harmonizer, tag map) and in the lake (conformed layer), and the site model can refuse a
canonical unit that either side would not know.

Conversions are linear: each quantity lists its units as (scale, offset) into its reference unit
(the first entry), ``reference = value * scale + offset``; any two units of one quantity convert
through it. Standard library only: it ships with the envelope to gateways, Lambda and Glue.
"""

from __future__ import annotations

# quantity -> unit -> (scale, offset) into the quantity's reference unit (the first entry).
UNITS: dict[str, dict[str, tuple[float, float]]] = {
    "temperature": {"degC": (1.0, 0.0), "degF": (5 / 9, -32 * 5 / 9), "K": (1.0, -273.15)},
    "pressure": {
        "bar": (1.0, 0.0),
        "mbar": (1e-3, 0.0),
        "Pa": (1e-5, 0.0),
        "kPa": (1e-2, 0.0),
        "MPa": (10.0, 0.0),
        "psi": (0.06894757293168361, 0.0),  # 6894.757293168361 Pa
        "atm": (1.01325, 0.0),
    },
    "flow": {
        "m3/h": (1.0, 0.0),
        "m3/s": (3600.0, 0.0),
        "L/min": (0.06, 0.0),
        "L/h": (1e-3, 0.0),
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

# Other spellings PLCs and OPC UA servers use -> the table's unit (matched after trimming blanks).
ALIASES: dict[str, str] = {
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
    "µm": "um",
    "inch": "in",
    "kilogram": "kg",
    "lbs": "lb",
}


def normalised(spelling: str) -> str:
    """The table's unit for a spelling, or the trimmed spelling itself when it is not an alias."""
    text = spelling.strip()
    return ALIASES.get(text, text)


def units_of(quantity: str) -> list[str]:
    """The units the table knows for a quantity (empty for an unknown quantity)."""
    return list(UNITS.get(quantity, {}))


def quantity_of(unit: str) -> str | None:
    """The quantity a (normalised) unit measures, or None when the table does not know it."""
    return next((quantity for quantity, units in UNITS.items() if unit in units), None)


def linear(quantity: str, source_unit: str, target_unit: str) -> tuple[float, float]:
    """(scale, offset) with ``target = source * scale + offset``; both units must be of ``quantity``."""
    scale_src, offset_src = UNITS[quantity][source_unit]
    scale_tgt, offset_tgt = UNITS[quantity][target_unit]
    # Through the reference unit: ref = s * scale_src + offset_src = t * scale_tgt + offset_tgt.
    return scale_src / scale_tgt, (offset_src - offset_tgt) / scale_tgt


def canonical_unit_problems(canonical_units: dict[str, str]) -> list[str]:
    """One line per entry of a site's canonical units that edge and cloud could not both convert to."""
    problems = []
    for quantity, unit in canonical_units.items():
        if quantity not in UNITS:
            problems.append(f"{quantity}: unknown quantity; fix: use one of {', '.join(UNITS)}")
        elif unit not in UNITS[quantity]:
            problems.append(f"{quantity}: unit {unit!r} is not known; fix: use one of {', '.join(UNITS[quantity])}")
    return problems

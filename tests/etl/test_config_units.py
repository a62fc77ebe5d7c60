"""The --site_config parser, the unit table and the shift calendar: plain Python, no Spark."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from dmc_etl.config import SiteConfigError, parse_site_config
from dmc_etl.shifts import shift_instances
from dmc_etl.units import conversion

ROOT = Path(__file__).resolve().parents[2]
LINE = {
    "line_path": "acme/plantA/filling/line1",
    "ideal_cycle_time_s": 0.5,
    "state_tag": "filler/state",
    "running_states": ["running"],
    "good_count_tag": "filler/good_count",
    "total_count_tag": "filler/total_count",
    "shifts": [{"name": "night", "start": "22:00", "end": "06:00"}],
}
SITE = {"timezone": "Europe/Berlin", "canonical_units": {"temperature": "degC"}, "lines": [LINE]}


def test_a_valid_config_is_parsed_into_typed_values() -> None:
    config = parse_site_config(json.dumps(SITE))
    line = config.lines[0]
    assert config.timezone == "Europe/Berlin"
    assert line.ideal_cycle_time_s == 0.5
    assert line.running_states == ("running",)
    assert line.tag_path(line.state_tag) == "acme/plantA/filling/line1/filler/state"
    assert (line.shifts[0].start.hour, line.shifts[0].end.hour) == (22, 6)


def test_every_problem_is_reported_at_once_with_its_fix() -> None:
    bad_line = {
        **LINE,
        "line_path": "acme/plantA",
        "ideal_cycle_time_s": 0,
        "running_states": [],
        "shifts": [{"name": "x", "start": "25:00", "end": "06:00", "extra": 1}],
        "colour": "red",
    }
    text = json.dumps({"timezone": "Mars/Olympus", "canonical_units": {"mass": "stone"}, "lines": [bad_line]})
    with pytest.raises(SiteConfigError) as raised:
        parse_site_config(text)
    assert str(raised.value).splitlines() == [
        "timezone: 'Mars/Olympus' is not an IANA time zone; fix: use e.g. 'Europe/Berlin'",
        "canonical_units.mass: 'stone' is not a mass unit; fix: use one of kg, g, t, lb, oz",
        "lines[0]: unknown key(s) colour; fix: use only good_count_tag, ideal_cycle_time_s, line_path, "
        "running_states, shifts, state_tag, total_count_tag",
        "lines[0].line_path: 'acme/plantA' is not enterprise/site/area/line; fix: use e.g. 'acme/p/a/l1'",
        "lines[0].ideal_cycle_time_s: 0 is not a positive number of seconds; fix: e.g. 0.5",
        "lines[0].running_states: [] is not a non-empty list of strings; fix: ['running']",
        "lines[0].shifts[0]: unknown key(s) extra; fix: use only end, name, start",
        "lines[0].shifts[0].start: '25:00' is not a time HH:MM; fix: use e.g. '06:00'",
    ]


def test_not_json_and_missing_keys_are_refused() -> None:
    with pytest.raises(SiteConfigError, match=r"^site_config: not JSON"):
        parse_site_config("{")
    with pytest.raises(SiteConfigError) as raised:
        parse_site_config(json.dumps({"lines": [LINE, LINE]}))
    assert str(raised.value).splitlines() == [
        "site_config: missing canonical_units, timezone; fix: add it",
        "lines: line_path acme/plantA/filling/line1 is listed twice; fix: list each line once",
    ]


@pytest.mark.parametrize(
    ("spelling", "value", "unit", "expected"),
    [
        ("°C", 21.5, "degC", 21.5),
        ("celsius", 21.5, "degC", 21.5),
        (" C ", 21.5, "degC", 21.5),
        ("°F", 212.0, "degC", 100.0),
        ("K", 273.15, "degC", 0.0),
        ("mbar", 1013.0, "bar", 1.013),
        ("psi", 100.0, "bar", 6.89475729316836),
        ("l/min", 100.0, "m3/h", 6.0),
        ("lbs", 10.0, "kg", 4.5359237),
        ("rpm", 1500.0, "rpm", 1500.0),
    ],
)
def test_spellings_are_normalised_and_converted_to_the_canonical_unit(
    spelling: str, value: float, unit: str, expected: float
) -> None:
    canonical = {"temperature": "degC", "pressure": "bar", "flow": "m3/h", "mass": "kg"}
    found = conversion(spelling, canonical)
    assert found.unit == unit
    assert value * found.scale + found.shift == pytest.approx(expected, abs=1e-9)


def test_a_unit_without_a_canonical_target_keeps_its_normalised_spelling() -> None:
    assert conversion("°F", {}) == ("degF", 1.0, 0.0)


def test_a_night_shift_ends_the_next_day_and_lasts_real_time_across_dst() -> None:
    config = parse_site_config(json.dumps(SITE))
    # 2026-03-28 22:00 CET -> 2026-03-29 06:00 CEST: Europe/Berlin springs forward that night.
    (night,) = shift_instances(config.lines, config.timezone, [date(2026, 3, 28)])
    assert night.start == datetime(2026, 3, 28, 21, 0, tzinfo=UTC)
    assert night.end == datetime(2026, 3, 29, 4, 0, tzinfo=UTC)
    assert (night.end - night.start).total_seconds() == 7 * 3600


def test_the_schemas_module_imports_no_pyspark() -> None:
    code = (
        "import sys; import factory_constructs.etl.glue_jobs.schemas as s; "
        "assert s.CONFORMED_PARTITION_KEYS[0] == ('area', 'string'); "
        "print(sorted(m for m in sys.modules if m.startswith(('pyspark', 'aws_cdk'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

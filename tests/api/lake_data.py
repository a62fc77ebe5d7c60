"""A small day of one line in the local lake: conformed rows written like the conformed job writes them,
then the real curate job (tag_minute, tag_hour, line_shift_oee), so the API reads what the ETL produced.

The values are plain Python lists, so every test computes its expectation from them independently of the
SQL under test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from api_world import AREA, CONFORMED_DATABASE, CURATED_DATABASE, ENTERPRISE, GATEWAY, LINE, LINE_PATH, SITE

CATALOG = "lake"
CONFORMED = CONFORMED_DATABASE  # the names the moto Glue catalog and the settings use
CURATED = CURATED_DATABASE
TEMP = f"{LINE_PATH}/cell1/temp"
DOOR = f"{LINE_PATH}/cell1/door"
DAY = datetime(2026, 1, 5, tzinfo=UTC)
AS_OF = datetime(2026, 1, 6, 1, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Value:
    """One conformed value."""

    path: str
    ts: datetime
    value: float | bool | str
    quality: str
    seq: int

    @property
    def id(self) -> str:
        return f"{GATEWAY}:{self.seq}"


def _temp() -> list[Value]:
    """08:00:00 to 09:59:50 every 10 s; every 50th bad, every 37th uncertain; values repeat each 10 minutes."""
    found = []
    for index in range(720):
        quality = "bad" if index % 50 == 49 else "uncertain" if index % 37 == 36 else "good"
        moment = DAY + timedelta(hours=8, seconds=10 * index)
        found.append(Value(TEMP, moment, 20.0 + (index % 60) * 0.5, quality, 1000 + index))
    return found


def _door() -> list[Value]:
    return [
        Value(DOOR, DAY + timedelta(hours=8, minutes=minute), minute % 2 == 0, "good", 5000 + minute)
        for minute in range(30)
    ]


def _oee_tags() -> list[Value]:
    """State and counters: running 06-12 and 13-20 UTC; 10 parts a minute while running, 9 of them good."""
    found = [
        Value(f"{LINE_PATH}/cell1/state", DAY + timedelta(hours=5), "idle", "good", 1),
        Value(f"{LINE_PATH}/cell1/state", DAY + timedelta(hours=6), "running", "good", 2),
        Value(f"{LINE_PATH}/cell1/state", DAY + timedelta(hours=12), "idle", "good", 3),
        Value(f"{LINE_PATH}/cell1/state", DAY + timedelta(hours=13), "running", "good", 4),
        Value(f"{LINE_PATH}/cell1/state", DAY + timedelta(hours=20), "idle", "good", 5),
    ]
    seq = 10
    total = good = 0
    for hour in range(5, 23):
        running = 6 <= hour < 12 or 13 <= hour < 20
        moment = DAY + timedelta(hours=hour)
        found += [
            Value(f"{LINE_PATH}/cell1/total", moment, float(total), "good", seq),
            Value(f"{LINE_PATH}/cell1/good", moment, float(good), "good", seq + 1),
        ]
        seq += 2
        if running:
            total, good = total + 600, good + 540
    return found


TEMP_VALUES = _temp()
DOOR_VALUES = _door()
VALUES = TEMP_VALUES + DOOR_VALUES + _oee_tags()

SITE_CONFIG = json.dumps(
    {
        "timezone": "UTC",
        "canonical_units": {},
        "lines": [
            {
                "line_path": LINE_PATH,
                "ideal_cycle_time_s": 6.0,
                "state_tag": "cell1/state",
                "running_states": ["running"],
                "good_count_tag": "cell1/good",
                "total_count_tag": "cell1/total",
                "shifts": [
                    {"name": "early", "start": "06:00", "end": "14:00"},
                    {"name": "late", "start": "14:00", "end": "22:00"},
                ],
            }
        ],
    }
)


def _row(value: Value) -> tuple[Any, ...]:
    _, _, area, line, cell, tag = value.path.split("/")
    number = float(value.value) if isinstance(value.value, float) else None
    flag = value.value if isinstance(value.value, bool) else None
    text = value.value if isinstance(value.value, str) else None
    unit = "degC" if tag == "temp" else ""
    naive = value.ts.replace(tzinfo=None)  # Spark reads naive datetimes in the session zone (UTC)
    return (
        SITE,
        GATEWAY,
        cell,
        tag,
        value.path,
        naive,
        number,
        flag,
        text,
        unit,
        value.quality,
        value.seq,
        value.id,
        area,
        line,
        naive.date(),
    )


def build_lake(spark: Any, state_path: str) -> None:
    """Create the tables, write the conformed rows and run the curate job once."""
    from dmc_etl.config import parse_site_config
    from dmc_etl.curate import curate
    from dmc_etl.schemas import CONFORMED_COLUMNS, CONFORMED_PARTITION_KEYS, ddl
    from dmc_etl.tables import create_tables

    assert (ENTERPRISE, AREA, LINE) == ("acme", "press", "line1")
    create_tables(spark, CATALOG, CONFORMED, CURATED)
    frame = spark.createDataFrame([_row(value) for value in VALUES], ddl(CONFORMED_COLUMNS + CONFORMED_PARTITION_KEYS))
    frame.writeTo(f"{CATALOG}.{CONFORMED}.tag_values").append()
    curate(
        spark,
        catalog=CATALOG,
        conformed_database=CONFORMED,
        curated_database=CURATED,
        config=parse_site_config(SITE_CONFIG),
        state_path=state_path,
        as_of=AS_OF,
    )

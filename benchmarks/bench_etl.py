"""Benchmark of raw -> conformed on local Spark and Iceberg: against the engine's own floor, and as the day grows.

Generates raw Firehose objects (JSON Lines of envelope ``tags`` batches, four lines, 200 values per
batch, about 1% of batches delivered twice), then, in one Spark session with the Iceberg runtime and a
Hadoop catalog in a temporary folder (the driver on loopback):

* ratio, over 1,000,000 values:
  - baseline: read the objects as JSON with the envelope schema and append them unchanged to an
    Iceberg table (parse + write, nothing else: what any job over this input pays with this format);
  - conform: ``dmc_etl.conform`` (parse, checks, typing, units, rejects, dedupe, the MERGE of new
    rows into the partitioned ``tag_values`` table).
  Each is run once to warm up, then timed ``ROUNDS`` times, alternating, into fresh tables; the best
  time of each is reported because other processes share this machine. Session start-up is timed
  separately.
* growth: six hourly runs of 500,000 new values each into the same day and lines of one table, so
  that the sixth merges into partitions already holding about 2.5 million rows. The first five run
  once; then the first hour (into empty tables) and the sixth (into the five hours, the table rolled
  back to their snapshot before each round) are timed ``GROWTH_ROUNDS`` times, alternating, and the
  best time of each is reported.

The last two lines are machine-readable:
``bench-etl: rows=... startup_s=... conform_s=... baseline_s=... ratio=...`` and
``bench-etl-growth: hours=6 per_hour=... first_s=... last_s=... last_over_first=...``.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "factory_constructs" / "etl" / "glue_jobs")]

from envelope.tag_envelope import encode, tag_batch, tag_value, utc_timestamp  # noqa: E402

ICEBERG_JAR = ROOT / ".spark-jars" / "iceberg-spark-runtime-3.5_2.12-1.10.0.jar"
ROWS = 1_000_000
BATCH = 200
BATCHES_PER_OBJECT = 100
DUPLICATE_SHARE = 0.01
ROUNDS = 5
HOURS = 6
PER_HOUR = 500_000
GROWTH_ROUNDS = 5
START = 1_767_600_000.0  # 2026-01-05T08:00:00Z
LINES = [
    "acme/plantA/filling/line1",
    "acme/plantA/filling/line2",
    "acme/plantA/packing/line3",
    "acme/plantA/packing/line4",
]
TAGS = {
    "filler/temperature": "°C",
    "filler/pressure": "mbar",
    "filler/flow": "l/min",
    "filler/state": "",
    "filler/good_count": "",
    "filler/total_count": "",
    "capper/torque": "Nm",
    "capper/speed": "rpm",
}
SITE_CONFIG = {
    "timezone": "Europe/Berlin",
    "canonical_units": {"temperature": "degC", "pressure": "bar", "flow": "m3/h"},
    "lines": [
        {
            "line_path": line,
            "ideal_cycle_time_s": 0.5,
            "state_tag": "filler/state",
            "running_states": ["running"],
            "good_count_tag": "filler/good_count",
            "total_count_tag": "filler/total_count",
            "shifts": [{"name": "day", "start": "06:00", "end": "18:00"}],
        }
        for line in LINES
    ],
}


def _value(rng: random.Random, line: str, tag: str, seq: int, epoch: float) -> dict[str, object]:
    if tag.endswith("state"):
        value: float | int | str = rng.choice(["running", "running", "idle", "fault"])
    elif tag.endswith("count"):
        value = seq // 10
    else:
        value = round(rng.uniform(0, 100), 3)
    quality = "good" if rng.random() > 0.01 else "uncertain"
    return tag_value(
        path=f"{line}/{tag}",
        value=value,
        unit=TAGS[tag],
        quality=quality,
        ts=utc_timestamp(epoch),
        seq=seq,
        gateway="gw-01",
    )


def generate(raw: Path, rows: int, *, start: float, spacing_s: float, first_seq: int = 0, seed: int = 42) -> int:
    """Write ``rows`` values as raw objects under ``raw/tags/...``, the value of sequence number n
    (from ``first_seq`` + 1 on) at ``start + (n - first_seq) * spacing_s``; returns the values written."""
    rng = random.Random(seed)
    tags = list(TAGS)
    seq = first_seq
    written = 0
    batch_seq = dict.fromkeys(LINES, first_seq // BATCH)
    # Each object holds the batches of one line, as the delivery stream's partitioning by line writes them.
    pending: dict[str, list[bytes]] = {line: [] for line in LINES}
    objects = 0

    def flush(line: str) -> None:
        nonlocal objects
        first = json.loads(pending[line][0])["values"][0]["ts"]
        _, _, area, name = line.split("/")
        folder = raw / "tags" / f"area={area}" / f"line={name}" / f"date={first[:10]}" / f"hour={first[11:13]}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"part-{objects:05d}.json").write_bytes(b"\n".join(pending[line]) + b"\n")
        objects += 1
        pending[line] = []

    while written < rows:
        line = LINES[written // BATCH % len(LINES)]
        values = []
        for _ in range(BATCH):
            seq += 1
            values.append(_value(rng, line, rng.choice(tags), seq, start + (seq - first_seq) * spacing_s))
        record = encode(tag_batch(site="plantA", gateway="gw-01", line=line, batch_seq=batch_seq[line], values=values))
        batch_seq[line] += 1
        copies = 2 if rng.random() < DUPLICATE_SHARE else 1  # at-least-once delivery
        for _ in range(copies):
            if written < rows:
                pending[line].append(record)
                written += BATCH
        if len(pending[line]) >= BATCHES_PER_OBJECT:
            flush(line)
    for line in LINES:
        if pending[line]:
            flush(line)
    return written


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-etl-"))
    try:
        rows = generate(work / "raw", ROWS, start=START, spacing_s=0.05)
        size_mb = sum(p.stat().st_size for p in (work / "raw").rglob("*.json")) / 1e6
        print(f"generated {rows} values, {size_mb:.0f} MB of JSON Lines in {work / 'raw'}")
        hourly = []
        for hour in range(HOURS):
            folder = work / f"raw-hour-{hour}"
            start = START + hour * 3600
            generate(folder, PER_HOUR, start=start, spacing_s=3600 / PER_HOUR, first_seq=hour * PER_HOUR, seed=hour)
            hourly.append(str(folder / "tags"))
        print(f"generated {HOURS} hours of {PER_HOUR} values each")

        started = time.perf_counter()
        from dmc_etl.catalog import LOCAL_CATALOG, hadoop_catalog_conf
        from pyspark.sql import SparkSession

        builder = (
            SparkSession.builder.master("local[2]")
            .appName("bench-etl")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "8")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.memory", "4g")
            # Loopback only: the driver serves the Iceberg jar to its executors.
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.jars", str(ICEBERG_JAR))
        )
        for key, value in hadoop_catalog_conf(LOCAL_CATALOG, str(work / "warehouse")).items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        spark.range(1).collect()
        startup_s = time.perf_counter() - started
        print(f"startup: {startup_s:.2f} s")

        from dmc_etl.catalog import table_name
        from dmc_etl.config import parse_site_config
        from dmc_etl.conform import ENVELOPE_SCHEMA, RawObjects, conform
        from dmc_etl.schemas import CONFORMED_TABLES, TABLE_PROPERTIES
        from dmc_etl.tables import create_table

        config = parse_site_config(json.dumps(SITE_CONFIG))
        tags = str(work / "raw" / "tags")
        properties = ", ".join(f"'{key}' = '{value}'" for key, value in TABLE_PROPERTIES.items())

        def conformed_tables(database: str) -> tuple[str, str]:
            spark.sql(f"CREATE NAMESPACE {LOCAL_CATALOG}.{database}")
            for table, (columns, partition_keys) in CONFORMED_TABLES.items():
                create_table(spark, table_name(LOCAL_CATALOG, database, table), columns, partition_keys)
            return table_name(LOCAL_CATALOG, database, "tag_values"), table_name(LOCAL_CATALOG, database, "rejects")

        def drop(database: str) -> None:
            for table in spark.sql(f"SHOW TABLES IN {LOCAL_CATALOG}.{database}").collect():
                spark.sql(f"DROP TABLE {LOCAL_CATALOG}.{database}.{table.tableName} PURGE")
            spark.sql(f"DROP NAMESPACE {LOCAL_CATALOG}.{database}")

        def prepare_baseline(database: str) -> str:
            spark.sql(f"CREATE NAMESPACE {LOCAL_CATALOG}.{database}")
            name = table_name(LOCAL_CATALOG, database, "copy")
            columns = ", ".join(f"`{field.name}` {field.dataType.simpleString()}" for field in ENVELOPE_SCHEMA.fields)
            spark.sql(f"CREATE TABLE {name} ({columns}) USING iceberg TBLPROPERTIES ({properties})")
            return name

        def baseline(database: str) -> None:
            frame = spark.read.option("recursiveFileLookup", "true").schema(ENVELOPE_SCHEMA).json(tags)
            frame.writeTo(table_name(LOCAL_CATALOG, database, "copy")).append()

        def conform_run(database: str) -> None:
            conformed, rejects = (
                table_name(LOCAL_CATALOG, database, "tag_values"),
                table_name(LOCAL_CATALOG, database, "rejects"),
            )
            summary = conform(
                spark, RawObjects([tags]), conformed_table=conformed, rejects_table=rejects, config=config
            )
            assert summary.values == rows and not summary.rejects, summary

        timings: dict[str, list[float]] = {"baseline": [], "conform": []}
        runs = {"baseline": (prepare_baseline, baseline), "conform": (conformed_tables, conform_run)}
        for round_ in range(ROUNDS + 1):
            for name, (prepare, run) in runs.items():
                database = f"{name}_{round_}"
                prepare(database)
                began = time.perf_counter()
                run(database)
                elapsed = time.perf_counter() - began
                drop(database)
                if round_:  # round 0 is the warm-up
                    timings[name].append(elapsed)
                print(f"{name} round {round_}: {elapsed:.2f} s{' (warm-up)' if not round_ else ''}")
        conform_s, baseline_s = min(timings["conform"]), min(timings["baseline"])

        def conform_hour(conformed: str, rejects: str, hour: int) -> float:
            began = time.perf_counter()
            summary = conform(
                spark, RawObjects([hourly[hour]]), conformed_table=conformed, rejects_table=rejects, config=config
            )
            elapsed = time.perf_counter() - began
            assert summary.values == PER_HOUR and not summary.rejects, summary
            return elapsed

        # The day's first five hours into one table; then, alternating, the first hour into an empty table
        # and the sixth into the five hours (the table rolled back to them before each round).
        day, day_rejects = conformed_tables("growth")
        for hour in range(HOURS - 1):
            print(f"growth hour {hour}: {conform_hour(day, day_rejects, hour):.2f} s")
        ((five_hours,),) = spark.sql(
            f"SELECT snapshot_id FROM {day}.snapshots ORDER BY committed_at DESC LIMIT 1"
        ).collect()
        held = spark.table(day).count()
        growth: dict[str, list[float]] = {"first": [], "last": []}
        for round_ in range(GROWTH_ROUNDS):
            database = f"growth_first_{round_}"
            growth["first"].append(conform_hour(*conformed_tables(database), 0))
            drop(database)
            spark.sql(f"CALL {LOCAL_CATALOG}.system.rollback_to_snapshot('growth.tag_values', {five_hours})")
            growth["last"].append(conform_hour(day, day_rejects, HOURS - 1))
            print(
                f"growth round {round_}: first hour {growth['first'][-1]:.2f} s, "
                f"hour {HOURS} into {held} rows {growth['last'][-1]:.2f} s"
            )
        print(f"growth: {spark.table(day).count()} rows after the sixth hour")
        first_s, last_s = min(growth["first"]), min(growth["last"])
        spark.stop()
        print(
            f"bench-etl: rows={rows} startup_s={startup_s:.2f} conform_s={conform_s:.2f} "
            f"baseline_s={baseline_s:.2f} ratio={conform_s / baseline_s:.2f}"
        )
        print(
            f"bench-etl-growth: hours={HOURS} per_hour={PER_HOUR} first_s={first_s:.2f} last_s={last_s:.2f} "
            f"last_over_first={last_s / first_s:.2f}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

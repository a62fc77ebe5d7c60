"""Benchmark of raw -> conformed on local Spark against the engine's own I/O floor.

Generates 1,000,000 tag values as raw Firehose objects (JSON Lines of envelope ``tags`` batches, four
lines, 200 values per batch, about 1% of batches delivered twice), then times in one Spark session:

* baseline: read the same objects as JSON with the envelope schema and write them unchanged as
  Parquet (parse + write, nothing else: what any job over this input pays);
* conform: ``dmc_etl.conform`` (parse, checks, typing, units, rejects, dedupe, partitioned write).

Each is run once to warm up, then timed ``ROUNDS`` times, alternating, into fresh output folders; the
best time of each is reported because other processes share this machine. Session start-up is timed
separately. Last line: ``bench-etl: rows=... startup_s=... conform_s=... baseline_s=... ratio=...``.
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

ROWS = 1_000_000
BATCH = 200
BATCHES_PER_OBJECT = 100
DUPLICATE_SHARE = 0.01
ROUNDS = 5
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


def generate(raw: Path) -> int:
    """Write the raw objects under ``raw/tags/...``; returns the number of tag values written."""
    rng = random.Random(42)
    tags = list(TAGS)
    start = 1_767_600_000.0  # 2026-01-05T08:00:00Z
    seq = written = 0
    batch_seq = dict.fromkeys(LINES, 0)
    pending: list[bytes] = []
    objects = 0
    while written < ROWS:
        line = LINES[written // BATCH % len(LINES)]
        values = []
        for _ in range(BATCH):
            seq += 1
            values.append(_value(rng, line, rng.choice(tags), seq, start + seq * 0.05))
        record = encode(tag_batch(site="plantA", gateway="gw-01", line=line, batch_seq=batch_seq[line], values=values))
        batch_seq[line] += 1
        copies = 2 if rng.random() < DUPLICATE_SHARE else 1  # at-least-once delivery
        for _ in range(copies):
            if written < ROWS:
                pending.append(record)
                written += BATCH
        if len(pending) >= BATCHES_PER_OBJECT or written >= ROWS:
            first = json.loads(pending[0])["values"][0]["ts"]
            _, _, area, name = line.split("/")
            folder = raw / "tags" / f"area={area}" / f"line={name}" / f"date={first[:10]}" / f"hour={first[11:13]}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"part-{objects:05d}.json").write_bytes(b"\n".join(pending) + b"\n")
            objects += 1
            pending = []
    return written


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-etl-"))
    try:
        rows = generate(work / "raw")
        size_mb = sum(p.stat().st_size for p in (work / "raw").rglob("*.json")) / 1e6
        print(f"generated {rows} values, {size_mb:.0f} MB of JSON Lines in {work / 'raw'}")

        started = time.perf_counter()
        from pyspark.sql import SparkSession

        spark = (
            SparkSession.builder.master("local[2]")
            .appName("bench-etl")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "8")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.memory", "4g")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        spark.range(1).collect()
        startup_s = time.perf_counter() - started
        print(f"startup: {startup_s:.2f} s")

        from dmc_etl.config import parse_site_config
        from dmc_etl.conform import ENVELOPE_SCHEMA, RawObjects, conform

        config = parse_site_config(json.dumps(SITE_CONFIG))
        tags = str(work / "raw" / "tags")

        def baseline(out: Path) -> None:
            frame = spark.read.option("recursiveFileLookup", "true").schema(ENVELOPE_SCHEMA).json(tags)
            frame.write.mode("overwrite").parquet(str(out / "copy"))

        def conform_run(out: Path) -> None:
            summary = conform(
                spark,
                RawObjects([tags]),
                conformed_path=str(out / "conformed"),
                rejects_path=str(out / "rejects"),
                config=config,
            )
            assert summary.values == rows and not summary.rejects, summary

        timings: dict[str, list[float]] = {"baseline": [], "conform": []}
        runs = {"baseline": baseline, "conform": conform_run}
        for round_ in range(ROUNDS + 1):
            for name, run in runs.items():
                out = work / f"out-{name}-{round_}"
                began = time.perf_counter()
                run(out)
                elapsed = time.perf_counter() - began
                shutil.rmtree(out)
                if round_:  # round 0 is the warm-up
                    timings[name].append(elapsed)
                print(f"{name} round {round_}: {elapsed:.2f} s{' (warm-up)' if not round_ else ''}")
        conform_s, baseline_s = min(timings["conform"]), min(timings["baseline"])
        spark.stop()
        print(
            f"bench-etl: rows={rows} startup_s={startup_s:.2f} conform_s={conform_s:.2f} "
            f"baseline_s={baseline_s:.2f} ratio={conform_s / baseline_s:.2f}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Edge hot path at 10,000 tags: values/s and peak RSS, against a bare JSON parse + re-serialize.

The simulator makes one scan of 10,000 tags per simulated second (20 lines, 100
machines with state, good and total counters and 97 process signals each:
temperatures in degF, pressures in psi, flows in gpm, lengths in inches,
masses in pounds, vibrations). Each value becomes one JSON update, as a
data-change notification would arrive: {"address", "value", "quality",
"source_ts"}. Two fresh processes, each pinned to one core, then time only their
own work on the same updates:

* pipeline: parse each update into a Reading, then harmonize -> deadband ->
  stamp -> batch -> SQLite spool (WAL, one commit per batch), with the ticks
  that close lingering batches; measured twice, with the spool's fsync on (the
  default: each commit waits for its flush to disk) and off;
* baseline: parse each update and serialize it again (json.loads + json.dumps).

Making the scans is not timed. One warm-up scan (every tag's first report)
runs untimed in all. Rates count the process's own CPU time (time.process_time),
so other load on a shared machine skews them less; the wall-clock rates are
printed beside, and only they include the waits for the disk that fsync adds.
Each of the three runs three times, alternating; its least CPU time and its
least wall time count (each from its own best run). Peak RSS is each process's
own high-water mark (the highest of its runs). Targets,
for the default (fsync on): at least 150,000 values/s, at most 1.5x the
baseline's time, under 64 MB RSS. The spool lives in the system's temporary
folder; its file system is printed, since on tmpfs an fsync costs nothing.

The last line is machine-readable: ``values_per_s`` and ``baseline_ratio`` are
the default's (fsync on), ``*_fsync`` and ``*_nofsync`` each setting's CPU and
wall rates.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.pipeline.pipeline import Pipeline  # noqa: E402  (after the path set-up above)
from edge.pipeline.spool import Spool  # noqa: E402
from edge.pipeline.tag_map import TagMap, parse_tag_map  # noqa: E402
from edge.readings import Reading  # noqa: E402
from edge.sources.simulator import SimulatorSettings, SimulatorSource  # noqa: E402

LINES = 20
MACHINES_PER_LINE = 5
SCANS = 40
ROUNDS = 3  # fresh processes per kind, alternating; the best of each kind counts
PIPELINES = {"pipeline-fsync": True, "pipeline-nofsync": False}  # worker kind -> the spool's fsync
START_TS = 1_769_846_400.0
UNITS = {"temperature": "degC", "pressure": "bar", "flow": "m3/h", "length": "mm", "mass": "kg"}
TARGET_VALUES_PER_S = 150_000
TARGET_RATIO = 1.5
TARGET_RSS_MB = 64.0

# Process signals per machine: (count, cell/tag prefix, quantity, unit, mean, noise, drift, deadband field, band)
SIGNALS: list[tuple[int, str, str | None, str, float, float, float, str, float]] = [
    (30, "temperature", "temperature", "degF", 150.0, 0.15, 1.5, "deadband_abs", 0.5),
    (25, "pressure", "pressure", "psi", 60.0, 0.12, 0.6, "deadband_abs", 0.2),
    (15, "flow", "flow", "gpm", 25.0, 0.12, 0.5, "deadband_pct", 1.0),
    (10, "position", "length", "in", 4.0, 0.001, 0.004, "deadband_abs", 0.002),
    (10, "weight", "mass", "lb", 12.0, 0.005, 0.03, "deadband_abs", 0.01),
    (7, "vibration", None, "mm/s", 2.5, 0.14, 0.3, "deadband_abs", 0.2),
]


def tag_map() -> TagMap:
    tags: list[dict[str, Any]] = []
    for line in range(LINES):
        for index in range(MACHINES_PER_LINE):
            machine = f"l{line}m{index}"
            cell = f"area{line % 4}/line{line}/machine{index}"
            tags.append(
                {"source": "simulator", "address": f"state:{machine}", "path": f"{cell}/state", "kind": "state"}
            )
            for counter in ("good", "total"):
                address = f"{counter}:{machine}"
                tags.append({"source": "simulator", "address": address, "path": f"{cell}/{counter}", "kind": "counter"})
            for count, name, quantity, unit, mean, noise, drift, band_field, band in SIGNALS:
                for n in range(count):
                    level = mean * (0.8 + 0.4 * n / count)
                    period = 600 + 300 * (n % 7)
                    address = f"analog:{machine}-{name}{n}:mean={level}:noise={noise}:drift={drift}:period_s={period}"
                    tag = {"source": "simulator", "address": address, "path": f"{cell}/{name}{n}", "unit": unit}
                    if quantity is not None:
                        tag["quantity"] = quantity
                    tags.append(tag | {band_field: band, "max_interval_s": 300})
    data = {"enterprise": "acme", "site": "plantA", "gateway": "plantA-gw-01", "tags": tags}
    return parse_tag_map(data, origin="bench tag map", canonical_units=UNITS)


def updates(source: SimulatorSource, scan: int) -> list[bytes]:
    """One scan as JSON updates (not timed)."""
    return [
        json.dumps({"address": r.address, "value": r.value, "quality": r.quality, "source_ts": r.source_ts}).encode()
        for r in source.scan(START_TS + scan)
    ]


def pipeline_scan(pipeline: Pipeline, payloads: list[bytes], now: float, last: bool) -> tuple[float, float]:
    """CPU and wall seconds to take one scan of updates through the pipeline (its lists die with this call)."""
    loads = json.loads
    started = time.process_time(), time.perf_counter()
    readings = []
    for payload in payloads:
        update = loads(payload)
        readings.append(Reading(update["address"], update["value"], update["quality"], update["source_ts"]))
    pipeline.ingest(readings, now)
    pipeline.tick(now)
    if last:
        pipeline.flush()
    return time.process_time() - started[0], time.perf_counter() - started[1]


def run_pipeline(pipeline: Pipeline, source: SimulatorSource) -> dict[str, Any]:
    pipeline_scan(pipeline, updates(source, 0), 0.0, last=False)  # warm-up: every tag's first report
    warm = (pipeline.counts.reported, pipeline.counts.suppressed)
    cpu, wall = map(
        sum,
        zip(
            *(
                pipeline_scan(pipeline, updates(source, scan), float(scan), scan == SCANS)
                for scan in range(1, SCANS + 1)
            ),
            strict=True,
        ),
    )
    reported = pipeline.counts.reported - warm[0]
    suppressed = pipeline.counts.suppressed - warm[1]
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "suppressed_pct": 100.0 * suppressed / (reported + suppressed),
        "batches": pipeline.spool.depth,
        "batch_kb": pipeline.spool.payload_bytes / pipeline.spool.depth / 1024,
    }


def baseline_scan(payloads: list[bytes]) -> tuple[float, float]:
    """CPU and wall seconds to parse and re-serialize one scan of updates."""
    loads, dumps = json.loads, json.dumps
    started = time.process_time(), time.perf_counter()
    for payload in payloads:
        dumps(loads(payload))
    return time.process_time() - started[0], time.perf_counter() - started[1]


def run_baseline(source: SimulatorSource) -> dict[str, Any]:
    baseline_scan(updates(source, 0))  # warm-up, as for the pipeline
    cpu, wall = map(sum, zip(*(baseline_scan(updates(source, scan)) for scan in range(1, SCANS + 1)), strict=True))
    return {"cpu_s": cpu, "wall_s": wall}


def file_system(folder: Path) -> str:
    """The type of the file system that holds ``folder`` (the longest mount point above it), from /proc/mounts."""
    best, kind = "", "unknown"
    for line in Path("/proc/mounts").read_text(encoding="utf-8").splitlines():
        _, mount_point, fs_type, *_ = line.split()
        inside = folder.is_relative_to(mount_point)
        if inside and len(mount_point) >= len(best):
            best, kind = mount_point, fs_type
    return kind


def worker(kind: str) -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    with tempfile.TemporaryDirectory() as folder:
        tags = tag_map()
        values = SCANS * len(tags.tags)
        source = SimulatorSource(SimulatorSettings(seed=42), tags.addresses("simulator"))
        if kind in PIPELINES:
            spool = Spool(Path(folder) / "spool.db", max_bytes=1 << 30, fsync=PIPELINES[kind])
            assert spool.fsync is PIPELINES[kind]
            pipeline = Pipeline(tags, UNITS, spool, batch_bytes=32 * 1024, linger_s=2.0)
            del tags  # as on a gateway: the compiled pipeline stays, the parsed tag map goes
            result = run_pipeline(pipeline, source)
        else:
            del tags
            result = run_baseline(source)
    result["values"] = values
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    result["file_system"] = file_system(Path(tempfile.gettempdir()).resolve())
    print(json.dumps(result))


def measure(kind: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", kind], capture_output=True, text=True, check=True, timeout=600
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The least CPU time and, separately, the least wall time (the runs least disturbed by other work), with the
    highest RSS of all. Wall time counts apart: it alone holds the waits for the disk that fsync adds."""
    best = min(runs, key=lambda run: run["cpu_s"])
    return best | {"wall_s": min(run["wall_s"] for run in runs), "rss_mb": max(run["rss_mb"] for run in runs)}


def rates(run: dict[str, Any]) -> tuple[float, float]:
    """Values per CPU second and per wall second of one run."""
    return run["values"] / run["cpu_s"], run["values"] / run["wall_s"]


def main() -> int:
    kinds = (*PIPELINES, "baseline")
    rounds = [{kind: measure(kind) for kind in kinds} for _ in range(ROUNDS)]  # interleaved: same conditions
    best = {kind: best_of([measured[kind] for measured in rounds]) for kind in kinds}
    durable, fast, baseline = best["pipeline-fsync"], best["pipeline-nofsync"], best["baseline"]
    rate, wall_rate = rates(durable)
    fast_rate, fast_wall_rate = rates(fast)
    ratio = durable["cpu_s"] / baseline["cpu_s"]
    tags = durable["values"] // SCANS
    print(
        f"bench-edge: {tags:,} tags, {SCANS} scans ({durable['values']:,} values as JSON updates), one core, "
        f"best of {ROUNDS} runs each; spool on {durable['file_system']}"
    )
    for name, run in (
        ("pipeline, spool fsync on (the default)", durable),
        ("pipeline, spool fsync off", fast),
        ("baseline (parse, re-serialize)", baseline),
    ):
        cpu, wall = rates(run)
        print(
            f"  {name}: {cpu:,.0f} values per CPU second ({wall:,.0f} per wall second), peak RSS {run['rss_mb']:.1f} MB"
        )
    print(f"  batches: {durable['batches']} of {durable['batch_kb']:.1f} KB on average, one spool commit each")
    print(
        f"  fsync on against off: wall time {durable['wall_s'] / fast['wall_s']:.2f}x, "
        f"CPU time {durable['cpu_s'] / fast['cpu_s']:.2f}x "
        f"({(durable['wall_s'] - fast['wall_s']) / durable['batches'] * 1000:+.2f} ms of wall time per batch)"
    )
    print(
        f"  pipeline CPU time / baseline CPU time: {ratio:.2f} with fsync, "
        f"{fast['cpu_s'] / baseline['cpu_s']:.2f} without"
    )
    print(f"  suppressed by report by exception: {durable['suppressed_pct']:.1f}%")
    missed = [
        text
        for text, failed in (
            (f"values/s below {TARGET_VALUES_PER_S:,}", rate < TARGET_VALUES_PER_S),
            (f"ratio above {TARGET_RATIO}", ratio > TARGET_RATIO),
            (f"RSS above {TARGET_RSS_MB:.0f} MB", durable["rss_mb"] > TARGET_RSS_MB),
        )
        if failed
    ]
    print(f"  targets (fsync on): {'missed: ' + ', '.join(missed) if missed else 'met'}")
    print(
        f"bench-edge: values_per_s={rate:.0f} values_per_s_fsync={rate:.0f} values_per_s_nofsync={fast_rate:.0f} "
        f"wall_values_per_s_fsync={wall_rate:.0f} wall_values_per_s_nofsync={fast_wall_rate:.0f} "
        f"rss_mb={durable['rss_mb']:.1f} baseline_ratio={ratio:.2f} suppressed_pct={durable['suppressed_pct']:.1f}"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--worker", choices=[*PIPELINES, "baseline"], help=argparse.SUPPRESS)
    kind = arguments.parse_args().worker
    if kind:
        worker(kind)
    else:
        sys.exit(main())

"""Throughput of the Firehose transform Lambda's handler, in-process, on 10,000 realistic records.

Records are ``tags`` batches as the edge sends them at the default batch size (32 KB of 170-byte
values, 192 values each) plus gateway heartbeats, and 3 % invalid records (wrong quality, not JSON,
not UTF-8). Firehose hands the Lambda about 1 MB per invocation, so records go in events of 32.
The last line is ``bench-ingest: records=10000 records_per_s=<n>``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from the repo root

from envelope.tag_envelope import encode, heartbeat, tag_batch, tag_value, utc_timestamp
from factory_constructs.ingestion.transform_handler.handler import handler

RECORDS = 10_000
VALUES_PER_BATCH = 192  # floor(32 KB / 170 B): the site model's default batch_kb and bytes_per_value
RECORDS_PER_EVENT = 32  # ~1 MB of 32 KB batches: Firehose's processor buffer
INVALID_SHARE = 0.03
HEARTBEAT_EVERY = 50
T0 = 1_800_000_000.0
LINES = ["acme/plantA/filling/line1", "acme/plantA/filling/line2", "acme/plantA/packing/line1"]
GATEWAYS = ["plantA-gw-01", "plantA-gw-02"]


def _batch(number: int, rng: random.Random) -> bytes:
    gateway = GATEWAYS[number % len(GATEWAYS)]
    line = LINES[number % len(LINES)]
    start = T0 + number
    values = [
        tag_value(
            path=f"{line}/cell{index % 8}/tag_{index:03d}",
            value=round(rng.uniform(-50, 250), 3) if index % 5 else rng.choice(["running", "idle", "fault"]),
            unit="degC" if index % 5 else "",
            quality="good" if index % 17 else "uncertain",
            ts=utc_timestamp(start + index / 1000),
            seq=number * VALUES_PER_BATCH + index,
            gateway=gateway,
        )
        for index in range(VALUES_PER_BATCH)
    ]
    return encode(tag_batch(site="plantA", gateway=gateway, line=line, batch_seq=number, values=values))


def _heartbeat(number: int) -> bytes:
    return encode(
        heartbeat(
            site="plantA",
            gateway=GATEWAYS[number % len(GATEWAYS)],
            ts=utc_timestamp(T0 + number),
            seq=number,
            interval_s=60,
            clients=12,
            max_clients=50,
            sent=number * 10,
            received=number * 10,
            retransmissions=number // 100,
            lost=0,
            spool_depth=0,
            dropped_overflow=0,
        )
    )


def _invalid(number: int, rng: random.Random) -> bytes:
    kind = number % 3
    if kind == 0:
        message = json.loads(_batch(number, rng))
        message["values"][7]["quality"] = "excellent"
        return json.dumps(message).encode()
    if kind == 1:
        return b"PLC dump " + bytes(rng.randrange(256) for _ in range(200))
    return _batch(number, rng)[:-40] + b"\xff\xfe"


def payloads(rng: random.Random) -> list[bytes]:
    made = []
    for number in range(RECORDS):
        if rng.random() < INVALID_SHARE:
            made.append(_invalid(number, rng))
        elif number % HEARTBEAT_EVERY == 0:
            made.append(_heartbeat(number))
        else:
            made.append(_batch(number, rng))
    return made


def events(data: list[bytes]) -> list[dict[str, Any]]:
    records = [
        {"recordId": str(n), "approximateArrivalTimestamp": int((T0 + n) * 1000), "data": base64.b64encode(d).decode()}
        for n, d in enumerate(data)
    ]
    return [
        {"invocationId": f"bench-{start}", "records": records[start : start + RECORDS_PER_EVENT]}
        for start in range(0, len(records), RECORDS_PER_EVENT)
    ]


def main() -> None:
    data = payloads(random.Random(7))
    batches = events(data)
    mean_kb = sum(len(d) for d in data) / len(data) / 1024
    log = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(log):  # the handler logs one JSON line per invocation
        results = [handler(event, None) for event in batches]
    elapsed = time.perf_counter() - started

    kinds: dict[str, int] = {}
    for result in results:
        for record in result["records"]:
            kind = record["metadata"]["partitionKeys"]["kind"]
            kinds[kind] = kinds.get(kind, 0) + 1
    assert sum(kinds.values()) == RECORDS, kinds
    print(f"records: {RECORDS} in {len(batches)} invocations, mean record {mean_kb:.1f} KiB")
    print(f"partitions: {', '.join(f'{kind}={count}' for kind, count in sorted(kinds.items()))}")
    print(f"elapsed: {elapsed:.3f} s, {elapsed / RECORDS * 1e3:.3f} ms per record")
    print(f"bench-ingest: records={RECORDS} records_per_s={RECORDS / elapsed:.0f}")


if __name__ == "__main__":
    main()

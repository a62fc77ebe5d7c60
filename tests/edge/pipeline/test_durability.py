"""Store and forward under failure: SIGKILLed gateways, broker outages and a full spool.

Every batch that reached the spool must reach the broker, in order per line;
the only duplicates allowed are redeliveries of a whole batch with the same
idempotency keys; what the overflow policy evicts is counted exactly.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from mqtt_peers import Recorder, gateway_transport, run, wait_until

from edge.pipeline.local_mosquitto import LocalMosquitto, Pki
from edge.pipeline.pipeline import batch_seq_counter
from edge.pipeline.runner import Runner, RunnerConfig, Summary
from edge.pipeline.spool import Spool
from edge.pipeline.tag_map import TagMap
from edge.sources.backoff import ReconnectSettings
from edge.sources.simulator import SimulatorSettings, SimulatorSource
from envelope.tag_envelope import MAX_MESSAGE_BYTES

pytestmark = pytest.mark.network

LINE = "acme/plantA/filling/line1"
AREA_LINES = ("filling/line1", "filling/line2", "packing/line3")


def check_delivery(batches: list[dict[str, Any]], expected: dict[str, int]) -> None:
    """Assert per line: batch_seq 0..n-1 all arrived, first deliveries in order, repeats identical, no id reused."""
    first: dict[tuple[str, int], dict[str, Any]] = {}
    highest: dict[str, int] = {}
    last_seq: dict[str, int] = {}
    by_id: dict[str, dict[str, Any]] = {}
    for batch in batches:
        line, batch_seq = batch["line"], batch["batch_seq"]
        if (line, batch_seq) in first:
            assert batch == first[line, batch_seq], f"{line} batch {batch_seq} came again with other content"
            continue
        assert batch_seq == highest.get(line, -1) + 1, f"{line}: batch {batch_seq} after {highest.get(line)}"
        highest[line] = batch_seq
        first[line, batch_seq] = batch
        for value in batch["values"]:
            assert value["id"] not in by_id, f"id {value['id']} reused by another batch"
            by_id[value["id"]] = value
            assert value["seq"] > last_seq.get(line, -1), f"{line}: seq {value['seq']} out of order"
            last_seq[line] = value["seq"]
    assert {line: highest[line] + 1 for line in highest} == expected


def spooled_batches(spool_path: Path, lines: list[str]) -> tuple[dict[str, int], int, int]:
    """Per line the batches ever accepted, plus the spool's depth and overflow count, as persisted."""
    spool = Spool(spool_path, max_bytes=2 * MAX_MESSAGE_BYTES)
    try:
        accepted = {line: spool.counter(batch_seq_counter(line)) for line in lines}
        return accepted, spool.depth, spool.counter("dropped_overflow")
    finally:
        spool.close()


def busy_tag_map(folder: Path) -> Path:
    """A simulator tag map of three lines that makes more data than the transport sends, so that a
    backlog is always in flight and a kill almost always lands in the middle of a publish."""
    tags: list[dict[str, Any]] = []
    for area_line in AREA_LINES:
        machine = area_line.replace("/", "-")
        tags.append(
            {"source": "simulator", "address": f"total:{machine}", "path": f"{area_line}/m/total", "kind": "counter"}
        )
        tags += [
            {"source": "simulator", "address": f"analog:{machine}-{n}:mean=50:noise=5", "path": f"{area_line}/m/t{n}"}
            for n in range(100)
        ]
    data = {
        "enterprise": "acme",
        "site": "plantA",
        "gateway": "plantA-gw-01",
        "sources": {"simulator": {"seed": 5, "scan_interval_s": 0.05}},
        "tags": tags,
    }
    path = folder / "busy.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_sigkill_at_random_points_loses_nothing_that_was_spooled(
    broker: LocalMosquitto, pki: Pki, recorder: Recorder, tmp_path: Path
) -> None:
    spool = tmp_path / "spool.db"
    command = [
        sys.executable, "-m", "edge.run_local", "--tag-map", str(busy_tag_map(tmp_path)),
        "--broker", f"localhost:{broker.port}", "--pki", str(pki.folder), "--spool", str(spool),
        "--linger-s", "0.1", "--heartbeat-s", "1", "--drain-s", "60",
    ]  # fmt: skip
    chance = random.Random(20261121)
    with (tmp_path / "gateway.log").open("w") as log:
        for _ in range(4):
            before = len(recorder.batches())
            gateway = subprocess.Popen([*command, "--seconds", "60"], cwd=ROOT, stdout=log, stderr=log)
            try:
                wait_until(lambda: len(recorder.batches()) > before, "the restarted gateway to publish")  # noqa: B023
                time.sleep(chance.uniform(0.0, 1.0))
            finally:
                gateway.kill()
                gateway.wait(timeout=10)
        final = subprocess.run(
            [*command, "--seconds", "0.5"], cwd=ROOT, stdout=log, stderr=log, timeout=90, check=False
        )
    assert final.returncode == 0, (tmp_path / "gateway.log").read_text(encoding="utf-8")[-3000:]

    lines = [f"acme/plantA/{area_line}" for area_line in AREA_LINES]
    accepted, depth, dropped = spooled_batches(spool, lines)
    assert (depth, dropped) == (0, 0)
    wait_until(
        lambda: len({(b["line"], b["batch_seq"]) for b in recorder.batches()}) >= sum(accepted.values()),
        "every spooled batch",
    )
    check_delivery(recorder.batches(), accepted)


def runner_for(
    tag_map: TagMap, units: dict[str, str], broker: LocalMosquitto, pki: Pki, spool: Path, **config: Any
) -> Runner:
    source = SimulatorSource(SimulatorSettings(seed=11, scan_interval_s=0.05), tag_map.addresses("simulator"))
    settings = RunnerConfig(
        spool_path=spool,
        canonical_units=units,
        linger_s=0.2,
        tick_s=0.05,
        heartbeat_interval_s=1,
        reconnect=ReconnectSettings(initial_s=0.1, max_s=0.5),
        **config,
    )
    return Runner(tag_map, settings, sources=[source], transport=gateway_transport(broker, pki))


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.05)
    assert condition(), what


def test_a_broker_outage_loses_nothing_and_the_backlog_drains_in_order(
    broker: LocalMosquitto, pki: Pki, recorder: Recorder, example_map: TagMap, canonical_units: dict[str, str],
    tmp_path: Path,
) -> None:  # fmt: skip
    runner = runner_for(example_map, canonical_units, broker, pki, tmp_path / "spool.db")

    async def scenario() -> Summary:
        stop = asyncio.Event()
        running = asyncio.create_task(runner.run(stop))
        await until(lambda: len(recorder.batches()) >= 3, "batches before the outage")
        await asyncio.to_thread(broker.stop)
        await until(lambda: runner.spool.depth >= 5, "a backlog while the broker is down")
        await asyncio.to_thread(broker.start)
        await until(lambda: runner.spool.depth == 0, "the backlog to drain")
        stop.set()
        return await running

    summary = run(scenario)
    accepted, depth, dropped = spooled_batches(tmp_path / "spool.db", [LINE])
    assert (depth, dropped, summary.spool_depth) == (0, 0, 0)
    wait_until(lambda: set(recorder.batch_seqs().get(LINE, ())) >= set(range(accepted[LINE])), "every spooled batch")
    check_delivery(recorder.batches(), accepted)
    assert summary.sent == accepted[LINE]


def noisy_map(tags: int) -> TagMap:
    """Analog tags whose noise beats any deadband: every value is reported, the spool fills fast."""
    return TagMap.model_validate(
        {
            "enterprise": "acme",
            "site": "plantA",
            "gateway": "plantA-gw-01",
            "tags": [
                {"source": "simulator", "address": f"analog:m{n}:mean=50:noise=5", "path": f"filling/line1/m{n}/t"}
                for n in range(tags)
            ],
        }
    )


def test_a_full_spool_evicts_the_oldest_and_counts_every_value_it_dropped(
    broker: LocalMosquitto, pki: Pki, recorder: Recorder, canonical_units: dict[str, str], tmp_path: Path
) -> None:
    runner = runner_for(
        noisy_map(300), canonical_units, broker, pki, tmp_path / "spool.db", spool_max_bytes=2 * MAX_MESSAGE_BYTES
    )

    async def scenario() -> Summary:
        await asyncio.to_thread(broker.stop)  # the gateway starts offline
        stop = asyncio.Event()
        running = asyncio.create_task(runner.run(stop))
        await until(lambda: runner.spool.counter("dropped_overflow") > 0, "the spool to overflow")
        stop.set()
        await asyncio.sleep(0.5)  # the runner stopped collecting and tries to drain
        await asyncio.to_thread(broker.start)
        return await running

    summary = run(scenario)
    assert summary.spool_depth == 0 and summary.dropped_overflow > 0
    accepted, _, dropped = spooled_batches(tmp_path / "spool.db", [LINE])
    wait_until(lambda: len(recorder.batches()) == summary.sent, "every delivered batch at the subscriber")
    batches = recorder.batches()
    delivered = sorted(batch["batch_seq"] for batch in batches)
    assert delivered == sorted(set(delivered)), "no batch twice"
    evicted = sorted(set(range(accepted[LINE])) - set(delivered))
    assert evicted and delivered[-1] == accepted[LINE] - 1  # the oldest went, the newest arrived
    assert sum(len(batch["values"]) for batch in batches) + dropped == summary.reported

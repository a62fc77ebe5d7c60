"""The capacity plan against figures worked out by hand (below each test), not by re-running the formulas."""

from __future__ import annotations

from typing import Any

import pytest

from site_model import Site, load_sites
from site_model.plan import main
from site_model.sizing import CostLine, Plan, plan

PLANT_A = load_sites()["plantA"]


def with_ingestion(site: Site, **changes: Any) -> Site:
    data = site.model_dump()
    data["ingestion"].update(changes)
    return Site.model_validate(data)


def cost(result: Plan, item: str) -> CostLine:
    (line,) = [line for line in result.costs if line.item == item]
    return line


# plantA: 20,000 tags at 1 Hz, 80 % suppressed, 170 B values in 32 KB batches, 2 gateways at 60 s,
# 1 line, provisioned, 72 h retention, 64 MiB / 300 s Firehose buffers, MQTT.
#
#   values/s          = 20,000 x 1 x 0.2                      = 4,000
#   values/record     = floor(32 x 1,024 / 170) = floor(192.75) = 192
#   tags records/s    = ceil(4,000 / 192) = ceil(20.83)       = 21
#   heartbeats/s      = 2 / 60                                = 0.033333
#   records/s         = 21.033333
#   bytes/s           = 4,000 x 170 + 21 x 160 + 0.033333 x 300 = 680,000 + 3,360 + 10 = 683,370
#   mean tags record  = (680,000 + 3,360) / 21                = 32,540.95 B
#   shards by bytes   = ceil(683,370 / 524,288) = ceil(1.303) = 2
#   shards by records = ceil(21.0333 / 500)     = ceil(0.042) = 1   -> 2 shards, bound by bytes


def test_plant_a_throughput() -> None:
    load = plan(PLANT_A).throughput

    assert load.values_per_s == 4000
    assert load.values_per_record == 192
    assert load.tag_records_per_s == 21
    assert load.heartbeat_records_per_s == pytest.approx(0.033333, abs=1e-6)
    assert load.records_per_s == pytest.approx(21.033333, abs=1e-6)
    assert load.bytes_per_s == pytest.approx(683_370)
    assert load.tag_record_bytes == pytest.approx(32_540.95, abs=0.01)


def test_plant_a_shards_are_bound_by_bytes() -> None:
    capacity = plan(PLANT_A).shards

    assert (capacity.by_bytes, capacity.by_records, capacity.count, capacity.bound) == (2, 1, 2, "bytes")


def test_plant_a_firehose_buffers() -> None:
    # 64 MiB = 67,108,864 B. The stream fills it in 67,108,864 / 683,370 = 98.20 s; the one line partition
    # (683,360 B/s of tags) in 98.204 s < 300 s. Each gateway's health partition gets 5 B/s: written at 300 s.
    # Objects: (1 / 98.204 + 2 / 300) per s x 2,628,000 s = 26,760.5 + 17,520 = 44,280.5 per month.
    flushes = plan(PLANT_A).buffers

    assert (flushes.size_bytes, flushes.interval_s) == (67_108_864, 300)
    assert flushes.fill_s == pytest.approx(98.20, abs=0.01)
    assert flushes.line_flush_s == pytest.approx(98.204, abs=0.001)
    assert flushes.objects_per_month == pytest.approx(44_280.5, abs=0.5)


def test_plant_a_monthly_cost_line_by_line() -> None:
    # A month is 730 h = 2,628,000 s.
    # 5 KB units per s: tags 21 x ceil(32,541 / 5,120 = 6.36) = 147, heartbeats 0.033333 x 1 -> 147.033333
    #   -> 386,403,600 per month: IoT messages, rules and actions are 386.4036 million each.
    # 25 KB units per s: 21 x ceil(32,541 / 25,600 = 1.27) + 0.033333 = 42.033333 -> 110.4636 million.
    # Firehose billed bytes: 147.033333 x 5,120 B x 2,628,000 s / 2^30 = 1,842.52 GB.
    # Data partitioned: 683,370 x 2,628,000 / 2^30 = 1,672.56 GB.
    # Lambda: 4,000 values/s x 2,628,000 s / 100,000 values per vCPU-s = 105,120 s x 1.72754 GB = 181,599 GB-s;
    #   683,370 x 2,628,000 / 1,048,576 = 1.7127 million invocations.
    expected = {
        "messages (5 KB increments)": 386.4036 * 1.00,  # 386.40
        "rules triggered": 386.4036 * 0.15,  # 57.96
        "rule actions (Kinesis put)": 386.4036 * 0.15,  # 57.96
        "gateway connection-minutes": 0.0876 * 0.08,  # 2 x 43,800 min = 0.0876 million -> 0.007
        "shard-hours": 2 * 730 * 0.015,  # 21.90
        "PUT payload units (25 KB)": 110.4636 * 0.014,  # 1.55
        "extended retention (to 7 days)": 2 * 730 * 0.020,  # 29.20 (72 h > 24 h)
        "ingestion (records rounded to 5 KB)": 1842.52 * 0.029,  # 53.43
        "dynamic partitioning, data": 1672.56 * 0.020,  # 33.45
        "dynamic partitioning, objects": 44.2805 * 0.005,  # 0.22
        "transform compute": 181_599 * 0.0000166667,  # 3.03
        "transform invocations": 1.7127 * 0.20,  # 0.34
        "PUT requests (one per object)": 44.2805 * 0.005,  # 0.22
    }
    result = plan(PLANT_A)

    assert {line.item: line.monthly_usd for line in result.costs} == pytest.approx(expected, abs=0.01)
    assert result.monthly_usd == pytest.approx(645.67, abs=0.01)


def test_on_demand_stream_has_no_shards_and_is_priced_per_stream_hour_and_gb() -> None:
    # plantA on demand. Data in rounds each record up to 1 KB: 21 x ceil(32,541 / 1,024 = 31.8) = 21 x 32 KiB
    # + 0.033333 x 1 KiB = 688,162 B/s -> x 2,628,000 / 2^30 = 1,684.29 GB. Out: 2 readers x 1,672.56 GB.
    # Extended retention holds 48 h beyond the first 24: 683,370 x 172,800 / 2^30 = 109.98 GB-month.
    result = plan(with_ingestion(PLANT_A, capacity="on-demand"))

    assert result.shards.count is None and result.shards.bound == "on-demand"
    kinesis = {line.item: line for line in result.costs if line.service == "Kinesis"}
    assert sorted(kinesis) == [
        "data in (records rounded to 1 KB)",
        "data out (2 consumers)",
        "extended retention (to 7 days)",
        "on-demand stream-hours",
    ]
    assert kinesis["on-demand stream-hours"].monthly_usd == pytest.approx(730 * 0.04)  # 29.20
    assert kinesis["data in (records rounded to 1 KB)"].quantity == pytest.approx(1684.29, abs=0.01)
    assert kinesis["data out (2 consumers)"].quantity == pytest.approx(2 * 1672.56, abs=0.01)
    assert kinesis["extended retention (to 7 days)"].quantity == pytest.approx(109.98, abs=0.01)
    assert kinesis["extended retention (to 7 days)"].unit == "GB-month"


def test_shards_bound_by_records_when_records_are_small() -> None:
    # 99,900 tags at 1 Hz, nothing suppressed, 600 B values in 1 KB batches: one value per record.
    #   records/s = 99,900 + 2 / 60 = 99,900.0333 -> ceil(/ 500) = ceil(199.80007) = 200
    #   bytes/s   = 99,900 x 600 + 99,900 x 160 + 10 = 75,924,010 -> ceil(/ 524,288) = ceil(144.81) = 145
    site = with_ingestion(PLANT_A, tag_count=99_900, report_by_exception_ratio=0, bytes_per_value=600, batch_kb=1)

    capacity = plan(site).shards

    assert (capacity.by_records, capacity.by_bytes, capacity.count, capacity.bound) == (200, 145, 200, "records")


def test_shards_bound_by_bytes_at_scale() -> None:
    # 1,000,000 tags at 1 Hz, half suppressed: 500,000 values/s in batches of 192.
    #   records/s = ceil(500,000 / 192) = ceil(2,604.17) = 2,605 (+ 0.033 heartbeats) -> ceil(/ 500) = 6
    #   bytes/s   = 500,000 x 170 + 2,605 x 160 + 10 = 85,416,810 -> ceil(/ 524,288) = ceil(162.92) = 163
    site = with_ingestion(PLANT_A, tag_count=1_000_000, report_by_exception_ratio=0.5)

    capacity = plan(site).shards

    assert (capacity.by_bytes, capacity.by_records, capacity.count, capacity.bound) == (163, 6, 163, "bytes")


def test_retention_beyond_seven_days_adds_long_term_storage() -> None:
    # 240 h keeps 72 h beyond the 7 days: 683,370 B/s x 259,200 s / 2^30 = 164.96 GB-month.
    result = plan(with_ingestion(PLANT_A, stream_retention_hours=240))

    assert cost(result, "long-term retention (beyond 7 days)").quantity == pytest.approx(164.96, abs=0.01)
    assert cost(result, "extended retention (to 7 days)").quantity == 2 * 730


def test_stream_manager_sites_pay_no_iot_core_messaging() -> None:
    result = plan(load_sites()["plantB"])  # transport: stream-manager

    assert "IoT Core" not in {line.service for line in result.costs}
    assert {"Kinesis", "Firehose", "Lambda", "S3"} <= {line.service for line in result.costs}


def test_cli_prints_the_computation_step_by_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plantA"]) == 0

    out = capsys.readouterr().out
    for step in (
        "= 20,000 x 1 x (1 - 0.8) = 4,000.0 values/s",
        "floor(32 x 1024 / 170) = 192",
        "tags records/s = ceil(4,000.0 / 192) = 21",
        "= 683,370 B/s",
        "by bytes:   ceil(683,370 / 524,288) = 2",
        "shards = max(1, 2, 1) = 2 (bound by bytes)",
        "the whole stream fills 64 MiB in 98.2 s",
        "$    645.67",
    ):
        assert step in out


def test_cli_rejects_an_unknown_site_naming_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plantZ"]) == 2

    assert capsys.readouterr().err.strip() == "unknown site 'plantZ'; known sites: plantA, plantB, plantC"

"""Capacity and monthly cost of a site's streaming path (edge -> IoT Core -> Kinesis -> Firehose -> S3).

Pure functions of the site model; ``python -m site_model.plan <site>`` prints them step by step.
Sizes use binary units (KiB, MiB, GiB), as Kinesis, Firehose and AWS billing do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from site_model.model import Site

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600

# Envelope bytes outside the values, measured with envelope.tag_envelope.encode for plantA's names:
# a tags batch's header is 129 B, a heartbeat with 9-digit counters 270 B; rounded up for longer names.
BATCH_HEADER_BYTES = 160
HEARTBEAT_BYTES = 300

# Kinesis write limits per shard; we plan for half of either, leaving room for bursts and for the
# backlog a gateway replays from its spool after an outage.
SHARD_BYTES_PER_S = 1 * MIB
SHARD_RECORDS_PER_S = 1000
SHARD_HEADROOM = 0.5

# Streams in the path that read every record: the Firehose delivery and the stream alerts Lambda.
STREAM_CONSUMERS = 2

# The transform Lambda: benchmarks/bench_ingest.py validates about 115,000 values/s (600 records of
# 192 values) on one core of the development machine; rounded down. Lambda gives one vCPU at 1,769 MB,
# so the GB-seconds of CPU-bound work do not depend on the memory chosen (up to 1,769 MB).
TRANSFORM_VALUES_PER_VCPU_S = 100_000
LAMBDA_GB_PER_VCPU = 1769 / 1024
# Firehose hands the transform about 1 MiB per invocation (its processor buffer, as we configure it).
TRANSFORM_INVOCATION_BYTES = 1 * MIB


@dataclass(frozen=True)
class UnitPrices:
    """US East (N. Virginia) list prices in USD, first volume tier: the ONE table the plan prices with.

    Source: aws.amazon.com/{iot-core,kinesis/data-streams,firehose,s3,lambda}/pricing as published in
    2025, transcribed by hand (this project's machines cannot reach the pages); re-check them there
    before budgeting. Other regions differ (eu-central-1 is a few percent dearer for most lines).
    """

    iot_messages_per_million: float = 1.00  # metered in 5 KB increments: a 32 KB message is 7 messages
    iot_rules_triggered_per_million: float = 0.15  # rules engine, also in 5 KB increments
    iot_actions_per_million: float = 0.15  # rules engine actions (here: the Kinesis put), 5 KB increments
    iot_connection_minutes_per_million: float = 0.08
    kinesis_shard_hour: float = 0.015  # provisioned
    kinesis_put_units_per_million: float = 0.014  # provisioned; a PUT payload unit is 25 KB of one record
    kinesis_extended_retention_shard_hour: float = 0.020  # provisioned, retention from 24 h to 7 days
    kinesis_on_demand_stream_hour: float = 0.04
    kinesis_on_demand_in_per_gb: float = 0.08  # each record rounded up to 1 KB
    kinesis_on_demand_out_per_gb: float = 0.04  # per consumer reading the data
    kinesis_on_demand_extended_retention_per_gb_month: float = 0.10  # retention from 24 h to 7 days
    kinesis_long_term_retention_per_gb_month: float = 0.023  # retention beyond 7 days, both modes
    firehose_ingest_per_gb: float = 0.029  # Kinesis or Direct PUT source; each record rounded up to 5 KB
    firehose_partitioning_per_gb: float = 0.020  # dynamic partitioning, data processed
    firehose_partitioning_per_1000_objects: float = 0.005  # dynamic partitioning, S3 objects delivered
    s3_put_per_1000: float = 0.005  # S3 Standard PUT requests
    lambda_gb_second: float = 0.0000166667  # x86_64
    lambda_requests_per_million: float = 0.20


PRICES = UnitPrices()


@dataclass(frozen=True)
class Throughput:
    """Steady-state load the site puts on the stream."""

    values_per_s: float
    values_per_record: int
    tag_records_per_s: int
    heartbeat_records_per_s: float
    tag_record_bytes: float  # mean size of one tags record
    bytes_per_s: float

    @property
    def records_per_s(self) -> float:
        return self.tag_records_per_s + self.heartbeat_records_per_s

    @property
    def tag_bytes_per_s(self) -> float:
        return self.tag_records_per_s * self.tag_record_bytes


@dataclass(frozen=True)
class Shards:
    """Provisioned shard count (None when the stream is on-demand) and what bounds it."""

    by_bytes: int
    by_records: int
    count: int | None

    @property
    def bound(self) -> str:
        """Which limit sets the count: "bytes", "records", "bytes and records", or "on-demand"."""
        if self.count is None:
            return "on-demand"
        if self.by_bytes == self.by_records:
            return "bytes and records"
        return "bytes" if self.by_bytes > self.by_records else "records"


@dataclass(frozen=True)
class Buffers:
    """Firehose buffering: each dynamic partition (one per line, one per gateway) has its own buffer."""

    size_bytes: int
    interval_s: int
    fill_s: float  # time the whole stream takes to fill one size buffer
    line_flush_s: float  # how often a line's partition is written: buffer full or interval, whichever first
    objects_per_month: float


@dataclass(frozen=True)
class CostLine:
    service: str
    item: str
    quantity: float  # per month, in ``unit``
    unit: str
    unit_price: float  # USD per ``unit``

    @property
    def monthly_usd(self) -> float:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class Plan:
    site: Site
    throughput: Throughput
    shards: Shards
    buffers: Buffers
    costs: list[CostLine]

    @property
    def monthly_usd(self) -> float:
        return sum(line.monthly_usd for line in self.costs)


def throughput(site: Site) -> Throughput:
    """Values, records and bytes per second the site's gateways send."""
    ingestion = site.ingestion
    # Rounded so that 1 - 0.8 = 0.19999999999999996 does not turn 4,000 values/s into 3,999.999...
    values_per_s = round(ingestion.tag_count * ingestion.sample_rate_hz * (1 - ingestion.report_by_exception_ratio), 6)
    # A value larger than the batch target (4 KB values, 1 KB batches) still travels, alone.
    values_per_record = max(1, ingestion.batch_kb * KIB // ingestion.bytes_per_value)
    tag_records_per_s = math.ceil(values_per_s / values_per_record)
    heartbeat_records_per_s = len(site.edge.gateways) / site.alerts.heartbeat_interval_s
    value_bytes_per_s = values_per_s * ingestion.bytes_per_value
    tag_record_bytes = value_bytes_per_s / tag_records_per_s + BATCH_HEADER_BYTES
    return Throughput(
        values_per_s=values_per_s,
        values_per_record=values_per_record,
        tag_records_per_s=tag_records_per_s,
        heartbeat_records_per_s=heartbeat_records_per_s,
        tag_record_bytes=tag_record_bytes,
        bytes_per_s=value_bytes_per_s
        + tag_records_per_s * BATCH_HEADER_BYTES
        + heartbeat_records_per_s * HEARTBEAT_BYTES,
    )


def shards(site: Site, load: Throughput) -> Shards:
    """Shards needed to stay at or below half of a shard's byte and record limits."""
    by_bytes = math.ceil(load.bytes_per_s / (SHARD_HEADROOM * SHARD_BYTES_PER_S))
    by_records = math.ceil(load.records_per_s / (SHARD_HEADROOM * SHARD_RECORDS_PER_S))
    count = None if site.ingestion.capacity == "on-demand" else max(1, by_bytes, by_records)
    return Shards(by_bytes=by_bytes, by_records=by_records, count=count)


def buffers(site: Site, load: Throughput) -> Buffers:
    """Firehose buffer settings, the time to fill them, and the S3 objects they produce."""
    size_bytes = site.ingestion.firehose_buffer_mb * MIB
    interval_s = site.ingestion.firehose_buffer_seconds

    def flush_s(bytes_per_s: float) -> float:
        return min(float(interval_s), size_bytes / bytes_per_s)

    lines = len(site.lines)
    gateways = len(site.edge.gateways)
    line_flush_s = flush_s(load.tag_bytes_per_s / lines)
    heartbeat_flush_s = flush_s(load.heartbeat_records_per_s * HEARTBEAT_BYTES / gateways)
    objects_per_s = lines / line_flush_s + gateways / heartbeat_flush_s
    return Buffers(
        size_bytes=size_bytes,
        interval_s=interval_s,
        fill_s=size_bytes / load.bytes_per_s,
        line_flush_s=line_flush_s,
        objects_per_month=objects_per_s * SECONDS_PER_MONTH,
    )


def _per_month(per_second: float) -> float:
    return per_second * SECONDS_PER_MONTH


def monthly_cost(
    site: Site, load: Throughput, capacity: Shards, flushes: Buffers, prices: UnitPrices
) -> list[CostLine]:
    """Every line item of the streaming path for one month (730 hours)."""
    costs: list[CostLine] = []

    def add(service: str, item: str, quantity: float, unit: str, unit_price: float) -> None:
        costs.append(CostLine(service=service, item=item, quantity=quantity, unit=unit, unit_price=unit_price))

    def records_per_month(rounding_bytes: float) -> float:
        """Billing units per month when each record is rounded up to ``rounding_bytes``."""
        tag_units = load.tag_records_per_s * math.ceil(load.tag_record_bytes / rounding_bytes)
        beat_units = load.heartbeat_records_per_s * math.ceil(HEARTBEAT_BYTES / rounding_bytes)
        return _per_month(tag_units + beat_units)

    gb_per_month = _per_month(load.bytes_per_s) / GIB
    retention_h = site.ingestion.stream_retention_hours

    if site.edge.transport == "mqtt":  # stream manager writes to Kinesis directly, bypassing IoT Core
        messages = records_per_month(5 * KIB) / 1e6
        add("IoT Core", "messages (5 KB increments)", messages, "million", prices.iot_messages_per_million)
        add("IoT Core", "rules triggered", messages, "million", prices.iot_rules_triggered_per_million)
        add("IoT Core", "rule actions (Kinesis put)", messages, "million", prices.iot_actions_per_million)
        minutes = len(site.edge.gateways) * HOURS_PER_MONTH * 60 / 1e6
        add("IoT Core", "gateway connection-minutes", minutes, "million", prices.iot_connection_minutes_per_million)

    if capacity.count is not None:
        shard_hours = capacity.count * HOURS_PER_MONTH
        add("Kinesis", "shard-hours", shard_hours, "shard-hour", prices.kinesis_shard_hour)
        add(
            "Kinesis",
            "PUT payload units (25 KB)",
            records_per_month(25 * KIB) / 1e6,
            "million",
            prices.kinesis_put_units_per_million,
        )
        if retention_h > 24:
            add(
                "Kinesis",
                "extended retention (to 7 days)",
                shard_hours,
                "shard-hour",
                prices.kinesis_extended_retention_shard_hour,
            )
    else:
        add("Kinesis", "on-demand stream-hours", HOURS_PER_MONTH, "stream-hour", prices.kinesis_on_demand_stream_hour)
        add(
            "Kinesis",
            "data in (records rounded to 1 KB)",
            records_per_month(KIB) * KIB / GIB,
            "GB",
            prices.kinesis_on_demand_in_per_gb,
        )
        add(
            "Kinesis",
            f"data out ({STREAM_CONSUMERS} consumers)",
            gb_per_month * STREAM_CONSUMERS,
            "GB",
            prices.kinesis_on_demand_out_per_gb,
        )
        if retention_h > 24:
            stored_gb = load.bytes_per_s * (min(retention_h, 168) - 24) * 3600 / GIB
            add(
                "Kinesis",
                "extended retention (to 7 days)",
                stored_gb,
                "GB-month",
                prices.kinesis_on_demand_extended_retention_per_gb_month,
            )
    if retention_h > 168:
        stored_gb = load.bytes_per_s * (retention_h - 168) * 3600 / GIB
        add(
            "Kinesis",
            "long-term retention (beyond 7 days)",
            stored_gb,
            "GB-month",
            prices.kinesis_long_term_retention_per_gb_month,
        )

    add(
        "Firehose",
        "ingestion (records rounded to 5 KB)",
        records_per_month(5 * KIB) * 5 * KIB / GIB,
        "GB",
        prices.firehose_ingest_per_gb,
    )
    add("Firehose", "dynamic partitioning, data", gb_per_month, "GB", prices.firehose_partitioning_per_gb)
    objects = flushes.objects_per_month
    add(
        "Firehose",
        "dynamic partitioning, objects",
        objects / 1000,
        "1,000 objects",
        prices.firehose_partitioning_per_1000_objects,
    )

    transform_s = _per_month(load.values_per_s) / TRANSFORM_VALUES_PER_VCPU_S
    add("Lambda", "transform compute", transform_s * LAMBDA_GB_PER_VCPU, "GB-second", prices.lambda_gb_second)
    invocations = _per_month(load.bytes_per_s) / TRANSFORM_INVOCATION_BYTES / 1e6
    add("Lambda", "transform invocations", invocations, "million", prices.lambda_requests_per_million)

    add("S3", "PUT requests (one per object)", objects / 1000, "1,000 requests", prices.s3_put_per_1000)
    return costs


def plan(site: Site, prices: UnitPrices = PRICES) -> Plan:
    """Throughput, shards, buffers and monthly cost of one site."""
    load = throughput(site)
    capacity = shards(site, load)
    flushes = buffers(site, load)
    return Plan(
        site=site,
        throughput=load,
        shards=capacity,
        buffers=flushes,
        costs=monthly_cost(site, load, capacity, flushes, prices),
    )

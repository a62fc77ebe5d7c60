"""Prints a site's streaming capacity plan and monthly cost, step by step: ``python -m site_model.plan plantA``."""

from __future__ import annotations

import argparse
import sys

from site_model.loader import load_sites
from site_model.sizing import (
    BATCH_HEADER_BYTES,
    HEARTBEAT_BYTES,
    HOURS_PER_MONTH,
    KIB,
    MIB,
    SHARD_BYTES_PER_S,
    SHARD_HEADROOM,
    SHARD_RECORDS_PER_S,
    Plan,
    plan,
)


def render(result: Plan) -> str:
    """The plan as text, each figure with the arithmetic that produced it."""
    site, load, capacity, flushes = result.site, result.throughput, result.shards, result.buffers
    ingestion = site.ingestion
    gateways = len(site.edge.gateways)
    out = [
        f"Streaming plan for {site.id} ({site.display_name}), home region {site.home_region}",
        "",
        "1. Values",
        f"   tag_count x sample_rate_hz x (1 - report_by_exception_ratio) = {ingestion.tag_count:,} x "
        f"{ingestion.sample_rate_hz:g} x (1 - {ingestion.report_by_exception_ratio:g}) "
        f"= {load.values_per_s:,.1f} values/s",
        "2. Records",
        f"   values per record = floor(batch_kb x 1024 / bytes_per_value) = floor({ingestion.batch_kb} x 1024 / "
        f"{ingestion.bytes_per_value}) = {load.values_per_record}",
        f"   tags records/s = ceil({load.values_per_s:,.1f} / {load.values_per_record}) = {load.tag_records_per_s:,}",
        f"   heartbeats/s = gateways / heartbeat_interval_s = {gateways} / {site.alerts.heartbeat_interval_s} "
        f"= {load.heartbeat_records_per_s:.4f}",
        f"   records/s = {load.records_per_s:,.4f}",
        "3. Bytes",
        f"   values {load.values_per_s:,.1f} x {ingestion.bytes_per_value} B + headers {load.tag_records_per_s:,} x "
        f"{BATCH_HEADER_BYTES} B + heartbeats {load.heartbeat_records_per_s:.4f} x {HEARTBEAT_BYTES} B "
        f"= {load.bytes_per_s:,.0f} B/s ({load.bytes_per_s / MIB:.3f} MiB/s)",
        f"   mean tags record = {load.tag_record_bytes:,.0f} B",
        f"4. Kinesis shards (at most {SHARD_HEADROOM:.0%} of {SHARD_BYTES_PER_S // MIB} MiB/s and "
        f"{SHARD_RECORDS_PER_S:,} records/s per shard)",
        f"   by bytes:   ceil({load.bytes_per_s:,.0f} / {SHARD_HEADROOM * SHARD_BYTES_PER_S:,.0f}) "
        f"= {capacity.by_bytes}",
        f"   by records: ceil({load.records_per_s:,.4f} / {SHARD_HEADROOM * SHARD_RECORDS_PER_S:,.0f}) "
        f"= {capacity.by_records}",
    ]
    if capacity.count is None:
        out.append("   capacity on-demand: no shards to provision; the figures above are the load it will scale to")
    else:
        out.append(
            f"   shards = max(1, {capacity.by_bytes}, {capacity.by_records}) = {capacity.count} "
            f"(bound by {capacity.bound})"
        )
    out += [
        "5. Firehose buffers",
        f"   size {ingestion.firehose_buffer_mb} MiB, interval {flushes.interval_s} s",
        f"   the whole stream fills {ingestion.firehose_buffer_mb} MiB in {flushes.fill_s:,.1f} s",
        f"   each of {len(site.lines)} line partition(s) is written every {flushes.line_flush_s:,.1f} s; "
        f"each of {gateways} gateway health partition(s) every {flushes.interval_s} s or sooner when full",
        f"   S3 objects: {flushes.objects_per_month:,.0f} per month",
        f"6. Monthly cost ({HOURS_PER_MONTH} h), US East list prices (table: site_model/sizing.py UnitPrices)",
    ]
    width = max(len(f"{line.service} {line.item}") for line in result.costs)
    for line in result.costs:
        label = f"{line.service} {line.item}".ljust(width)
        price = f"{line.unit_price:.10f}".rstrip("0").rstrip(".")
        out.append(f"   {label}  {line.quantity:>16,.4f} {line.unit:<14} x ${price:<12} = ${line.monthly_usd:>10,.2f}")
    out.append(f"   {'total'.ljust(width)}  {'':>16} {'':<14}   {'':<13}   ${result.monthly_usd:>10,.2f}")
    out.append(f"   (sizes: 1 KB = {KIB} B; data transfer, alerts Lambda, storage and Glue are not included)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m site_model.plan", description=__doc__)
    parser.add_argument("site", help="site id, e.g. plantA (a file under tenants/)")
    args = parser.parse_args(argv)
    try:
        sites = load_sites()
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    if args.site not in sites:
        print(f"unknown site {args.site!r}; known sites: {', '.join(sorted(sites))}", file=sys.stderr)
        return 2
    print(render(plan(sites[args.site])))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Prints a site's streaming capacity plan and monthly cost (and its ML workspace's), step by step:
``python -m site_model.plan plantA``."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

from site_model.loader import load_sites
from site_model.model import Site
from site_model.sizing import (
    BATCH_HEADER_BYTES,
    HEARTBEAT_BYTES,
    HOURS_PER_MONTH,
    KIB,
    MIB,
    SHARD_BYTES_PER_S,
    SHARD_HEADROOM,
    SHARD_RECORDS_PER_S,
    CostLine,
    Plan,
    plan,
)

# Interface endpoints that features.ml_workspace adds in every availability zone (SageMaker API, runtime
# and Studio, ECR api and dkr, S3: factory_constructs/foundation/network.py
# ML_INTERFACE_ENDPOINTS and ML_S3_INTERFACE_ENDPOINT; a test keeps the two in step). STS, Logs, KMS
# (and Greengrass) are there for every site.
ML_ENDPOINTS_PER_ZONE = 6
# Sessions an analyst opens a month: one per working day. Each ends at most idle_shutdown_minutes plus one
# check after its last activity (factory_constructs/ml/idle_shutdown: CHECK_INTERVAL_S).
SESSIONS_PER_MONTH = 21
IDLE_CHECK_INTERVAL_MINUTES = 1


@dataclass(frozen=True)
class WorkspacePrices:
    """US East (N. Virginia) list prices in USD of what the ML workspace costs every month.

    Source: aws.amazon.com/privatelink/pricing (interface endpoint hours) and aws.amazon.com/sagemaker/pricing
    (Studio JupyterLab instances, on-demand) as published in 2025, transcribed by hand (this project's machines
    cannot reach the pages); re-check them there before budgeting. The domain itself has no fee.
    """

    interface_endpoint_hour: float = 0.01  # per endpoint per availability zone
    jupyterlab_instance_hour: dict[str, float] = field(
        default_factory=lambda: {
            "ml.t3.medium": 0.05,
            "ml.t3.large": 0.10,
            "ml.m5.large": 0.115,
            "ml.m5.xlarge": 0.23,
        }
    )


WORKSPACE_PRICES = WorkspacePrices()


def app_hours_per_analyst(site: Site) -> float:
    """The hours an analyst's JupyterLab app runs a month: the hours it runs code, plus the idle tail the
    idle shutdown allows each session before it deletes the app."""
    ml = site.ml
    tail_minutes = ml.idle_shutdown_minutes + IDLE_CHECK_INTERVAL_MINUTES
    return ml.active_hours_per_analyst + SESSIONS_PER_MONTH * tail_minutes / 60


def workspace_costs(site: Site, prices: WorkspacePrices = WORKSPACE_PRICES) -> list[CostLine]:
    """The ML workspace's monthly cost lines; none without features.ml_workspace."""
    if not site.features.ml_workspace:
        return []
    ml = site.ml
    endpoint_hours = ML_ENDPOINTS_PER_ZONE * site.network.az_count * HOURS_PER_MONTH
    return [
        CostLine("VPC", "ML interface endpoint-hours", endpoint_hours, "endpoint-hour", prices.interface_endpoint_hour),
        CostLine(
            "SageMaker",
            f"JupyterLab {ml.instance_type} app-hours",
            len(ml.analysts) * app_hours_per_analyst(site),
            "instance-hour",
            prices.jupyterlab_instance_hour[ml.instance_type],
        ),
    ]


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
    workspace = workspace_costs(site)
    if workspace:
        out += _render_workspace(site, workspace, result.monthly_usd)
    return "\n".join(out)


def _render_workspace(site: Site, costs: list[CostLine], streaming_usd: float) -> list[str]:
    ml = site.ml
    tail = ml.idle_shutdown_minutes + IDLE_CHECK_INTERVAL_MINUTES
    workspace_usd = sum(line.monthly_usd for line in costs)
    out = [
        "7. ML workspace (features.ml_workspace), US East list prices (table: site_model/plan.py WorkspacePrices)",
        f"   endpoint-hours = {ML_ENDPOINTS_PER_ZONE} endpoints x {site.network.az_count} zones x {HOURS_PER_MONTH} h "
        f"= {ML_ENDPOINTS_PER_ZONE * site.network.az_count * HOURS_PER_MONTH:,}",
        f"   app-hours per analyst = active_hours_per_analyst + {SESSIONS_PER_MONTH} sessions x "
        f"(idle_shutdown_minutes + {IDLE_CHECK_INTERVAL_MINUTES} check) / 60 = {ml.active_hours_per_analyst} + "
        f"{SESSIONS_PER_MONTH} x {tail} / 60 = {app_hours_per_analyst(site):,.2f}, x {len(ml.analysts)} analysts",
        f"   (the idle shutdown ends a forgotten app {tail} minutes after its last activity)",
    ]
    width = max(len(f"{line.service} {line.item}") for line in costs)
    for line in costs:
        label = f"{line.service} {line.item}".ljust(width)
        out.append(
            f"   {label}  {line.quantity:>12,.2f} {line.unit:<14} x ${line.unit_price:<8g} "
            f"= ${line.monthly_usd:>10,.2f}"
        )
    out.append(f"   {'workspace total'.ljust(width)}  {'':>12} {'':<14}   {'':<9}   ${workspace_usd:>10,.2f}")
    out.append("   (the domain has no fee; home folders (EFS), space volumes (EBS) and training jobs are not included)")
    out.append(f"   site total (streaming + workspace) = ${streaming_usd + workspace_usd:,.2f} per month")
    return out


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

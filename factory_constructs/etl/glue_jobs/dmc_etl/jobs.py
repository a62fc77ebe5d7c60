"""The two jobs as functions of their arguments: what the Glue entry scripts call, and what tests run.

Argument contract (strings, as Glue passes them). Tables are ``<catalog>.<database>.<table>``: the
catalog is a Spark catalog the session is configured with (the Glue Data Catalog in AWS, a Hadoop
catalog in a folder locally; ``catalog``), never a code path of its own.

* raw_to_conformed: ``raw_path`` (the raw zone's ``tags/`` folder, holding ``area=.../line=.../``),
  ``catalog``, ``conformed_database`` (its ``tag_values`` and ``rejects`` tables), ``site_config`` and
  ``watermark_path`` (a folder outside any table, e.g. ``s3://<conformed bucket>/_state/raw_to_conformed/``).
  Reads the objects modified since the last successful run less an overlap that covers objects
  listed late; reading an object twice is harmless because the write inserts only new keys.
  ``retention_days``: the conformed tables keep that many whole days (``retention``).
* conformed_to_curated: ``catalog``, ``conformed_database``, ``curated_database``, ``site_config``,
  ``state_path`` (a folder outside any table, where the job keeps the last conformed snapshot it has
  processed), and optionally ``lookback_days``: a backfill that also recomputes the whole UTC and
  plant-local days of the last ``lookback_days`` days. ``retention_days``: the curated tables keep
  that many whole days. Optionally ``event_bus`` (the site bus's name or ARN): once the curated tables
  have committed, the run publishes a "new curated data" event and a KPI summary per recomputed shift
  on it (``events``), before it writes its state, so a failed publish is repeated by the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from pyspark.sql import SparkSession

from .catalog import table_name
from .config import parse_site_config
from .conform import ConformSummary, RawObjects, conform
from .curate import CurateSummary, curate
from .events import EventsClient, announcer
from .retention import expire_days, retention_days
from .schemas import CONFORMED_TABLES, CURATED_TABLES
from .tables import create_table, create_tables
from .watermark import read_mark, write_mark

RAW_TO_CONFORMED_ARGUMENTS = (
    "raw_path",
    "catalog",
    "conformed_database",
    "site_config",
    "watermark_path",
    "retention_days",
)
RAW_TO_CONFORMED_OPTIONAL: tuple[str, ...] = ()
CONFORMED_TO_CURATED_ARGUMENTS = (
    "catalog",
    "conformed_database",
    "curated_database",
    "site_config",
    "state_path",
    "retention_days",
)
CONFORMED_TO_CURATED_OPTIONAL = ("lookback_days", "event_bus")

# Objects whose upload started before the last run's bound but were listed only after it (S3 stamps a
# multipart upload with its start) are read again by the next run; Firehose uploads take seconds.
OVERLAP = timedelta(minutes=30)


def _required(args: Mapping[str, str], names: tuple[str, ...]) -> None:
    missing = [name for name in names if not args.get(name)]
    if missing:
        raise ValueError(f"missing job argument(s) {', '.join('--' + n for n in missing)}; fix: pass them")


def raw_to_conformed(spark: SparkSession, args: Mapping[str, str], now: datetime) -> ConformSummary:
    """Conform the raw objects that are new since the last run; ``now`` (aware) bounds this run's input."""
    _required(args, RAW_TO_CONFORMED_ARGUMENTS)
    config = parse_site_config(args["site_config"])
    keep_days = retention_days(args["retention_days"])
    now = now.replace(microsecond=0)  # Spark's modification-time bounds have whole seconds
    catalog, database = args["catalog"], args["conformed_database"]
    # The stack defines the tables in AWS; a local catalog (or a new database) gets the same ones here.
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {catalog}.{database}")
    for table, (columns, partition_keys) in CONFORMED_TABLES.items():
        create_table(spark, table_name(catalog, database, table), columns, partition_keys)
    mark = read_mark(spark, args["watermark_path"])
    raw = RawObjects([args["raw_path"]], modified_after=mark - OVERLAP if mark else None, modified_before=now)
    summary = conform(
        spark,
        raw,
        conformed_table=table_name(catalog, database, "tag_values"),
        rejects_table=table_name(catalog, database, "rejects"),
        config=config,
    )
    write_mark(spark, args["watermark_path"], now)
    for table in CONFORMED_TABLES:
        expire_days(spark, table_name(catalog, database, table), now.date(), keep_days)
    return summary


def events_client() -> EventsClient:
    """An EventBridge client of the job's region and role (boto3 ships with Glue, not with the library)."""
    import boto3

    client: EventsClient = boto3.client("events")
    return client


def conformed_to_curated(
    spark: SparkSession,
    args: Mapping[str, str],
    now: datetime,
    *,
    new_events_client: Callable[[], EventsClient] = events_client,
) -> CurateSummary:
    """Bring the curated tables up to the conformed table's current snapshot (the windows that received
    rows since the last run), or recompute the last ``lookback_days`` days; ``now`` (aware) closes open
    states and shifts. With ``event_bus``, what was written is announced there through a client from
    ``new_events_client``."""
    _required(args, CONFORMED_TO_CURATED_ARGUMENTS)
    config = parse_site_config(args["site_config"])
    text = args.get("lookback_days")
    if text is not None and (not text.isdigit() or int(text) < 1):
        raise ValueError(f"--lookback_days {text!r} is not a positive whole number; fix: pass e.g. 2")
    keep_days = retention_days(args["retention_days"])
    catalog = args["catalog"]
    conformed_database, curated_database = args["conformed_database"], args["curated_database"]
    bus = args.get("event_bus")
    announce = announcer(new_events_client(), bus) if bus else None
    create_tables(spark, catalog, conformed_database, curated_database)
    summary = curate(
        spark,
        catalog=catalog,
        conformed_database=conformed_database,
        curated_database=curated_database,
        config=config,
        state_path=args["state_path"],
        as_of=now,
        lookback_days=None if text is None else int(text),
        announce=announce,
    )
    for table in CURATED_TABLES:
        expire_days(spark, table_name(catalog, curated_database, table), now.date(), keep_days)
    return summary

"""The two jobs as functions of their arguments: what the Glue entry scripts call, and what tests run.

Argument contract (strings, as Glue passes them):

* raw_to_conformed: ``raw_path`` (the raw zone's ``tags/`` folder, holding ``area=.../line=.../``),
  ``conformed_path``, ``rejects_path``, ``site_config``, and optionally ``watermark_path`` (default
  ``<conformed_path>/_state/raw_to_conformed/``, a folder that table readers skip). Reads the objects
  modified since the last successful run less an overlap that covers objects listed late; reading an
  object twice is harmless because the write is a merge.
* conformed_to_curated: ``conformed_path``, ``curated_path``, ``site_config``, and optionally
  ``lookback_days`` (default 2): the UTC and plant-local days of the last ``lookback_days`` days are
  recomputed; a backfill after older late data passes a larger value.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from pyspark.sql import SparkSession

from .config import parse_site_config
from .conform import ConformSummary, RawObjects, conform
from .curate import CurateSummary, curate
from .watermark import read_mark, write_mark

RAW_TO_CONFORMED_ARGUMENTS = ("raw_path", "conformed_path", "rejects_path", "site_config")
RAW_TO_CONFORMED_OPTIONAL = ("watermark_path",)
CONFORMED_TO_CURATED_ARGUMENTS = ("conformed_path", "curated_path", "site_config")
CONFORMED_TO_CURATED_OPTIONAL = ("lookback_days",)
LOOKBACK_DAYS = "2"

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
    now = now.replace(microsecond=0)  # Spark's modification-time bounds have whole seconds
    state = args.get("watermark_path") or f"{args['conformed_path'].rstrip('/')}/_state/raw_to_conformed"
    mark = read_mark(spark, state)
    raw = RawObjects([args["raw_path"]], modified_after=mark - OVERLAP if mark else None, modified_before=now)
    summary = conform(
        spark, raw, conformed_path=args["conformed_path"], rejects_path=args["rejects_path"], config=config
    )
    write_mark(spark, state, now)
    return summary


def curated_days(now: datetime, timezone: str, lookback_days: int) -> list[date]:
    """The UTC and plant-local calendar days of the last ``lookback_days`` days up to ``now``."""
    zones = (UTC, ZoneInfo(timezone))
    return sorted({(now - timedelta(days=i)).astimezone(zone).date() for zone in zones for i in range(lookback_days)})


def conformed_to_curated(spark: SparkSession, args: Mapping[str, str], now: datetime) -> CurateSummary:
    """Recompute the curated tables for the recent days; ``now`` (aware) closes open states and shifts."""
    _required(args, CONFORMED_TO_CURATED_ARGUMENTS)
    config = parse_site_config(args["site_config"])
    text = args.get("lookback_days", LOOKBACK_DAYS)
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"--lookback_days {text!r} is not a positive whole number; fix: pass e.g. 2")
    days = curated_days(now, config.timezone, int(text))
    return curate(
        spark,
        conformed_path=args["conformed_path"],
        curated_path=args["curated_path"],
        config=config,
        days=days,
        as_of=now,
    )

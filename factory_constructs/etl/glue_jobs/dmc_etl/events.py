"""What the curated job announces on the site's EventBridge bus once its tables have committed.

Two kinds of event, built from what a run wrote (``CuratedRun``):
* one "new curated data" event per run (source ``dmc.etl``, detail type ``Curated Data``): the site, the
  conformed snapshot the curated tables now reflect (with the one before it), and per table and line
  the span it received: the partition dates and the instants the recomputed windows lie in;
* one KPI summary per recomputed (line, shift) OEE row (source ``dmc.kpi``, detail type
  ``dmc.kpi-summary``): exactly the columns of ``line_shift_oee``, camelCased, so it names no person and
  the site's KPI rule may forward it to the cross-site bus.

Delivery is at least once: a run that fails after publishing publishes again. Consumers deduplicate on
``conformedSnapshot`` (new curated data) and on (site, area, line, date, shift) (a KPI summary, which a
later recomputation replaces).

Plain Python and a boto3-style client passed in: this runs in Glue, and tests pass a moto client.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from .schemas import LINE_SHIFT_OEE_COLUMNS, LINE_SHIFT_OEE_PARTITION_KEYS

# The one event a site may send to another bus (site_events.SiteEvents forwards it): a KPI summary of a
# line and shift, OEE and its factors and counts. Its detail names no person.
KPI_SUMMARY_SOURCE = "dmc.kpi"
KPI_SUMMARY_DETAIL_TYPE = "dmc.kpi-summary"
# The curated tables received new windows; it stays on the site's bus.
CURATED_DATA_SOURCE = "dmc.etl"
CURATED_DATA_DETAIL_TYPE = "Curated Data"
OEE_TABLE = "line_shift_oee"
# PutEvents takes at most 10 entries per call.
MAX_ENTRIES_PER_CALL = 10
# Calls per entry before giving up, and the pause before the first retry (doubled for each further one):
# failed entries are mostly throttling or internal failures, which pass after a short wait.
ATTEMPTS = 3
FIRST_PAUSE_S = 1.0

Entry = dict[str, str]


class EventsClient(Protocol):
    """The one call of a boto3 EventBridge client that is used."""

    def put_events(self, *, Entries: list[Entry]) -> Mapping[str, Any]: ...


class PublishError(RuntimeError):
    """Events that EventBridge refused on every attempt."""


@dataclass(frozen=True)
class Span:
    """What one curated table received for one line: the recomputed windows lie in ``start`` to ``end``
    (None: on to the end of the data), in the partitions dated ``first_date`` to ``last_date``. Windows
    between recomputed ones may be unchanged: the span covers them all, it does not list them."""

    area: str
    line: str
    first_date: date
    last_date: date | None
    start: datetime  # aware
    end: datetime | None  # aware


@dataclass(frozen=True)
class TableWrite:
    """One curated table's commit: the spans it replaced and, for OEE, the rows written (a few: one per
    line and shift), keyed by column name."""

    table: str
    spans: tuple[Span, ...]
    rows: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class CuratedRun:
    """What one run of the curated job committed."""

    site: str
    conformed_snapshot: int
    previous_snapshot: int | None  # None: a first run
    as_of: datetime  # aware: the run's end of ended shifts
    writes: tuple[TableWrite, ...] = ()


def _camel(name: str) -> str:
    """``shift_start`` -> ``shiftStart``."""
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _json_value(value: Any) -> Any:
    """A column value as JSON: instants as ISO 8601 UTC, days as ISO dates, the rest as they are."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{value.isoformat()} has no time zone; fix: pass aware datetimes (UTC)")
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _entry(source: str, detail_type: str, detail: Mapping[str, Any]) -> Entry:
    # allow_nan=False: EventBridge refuses a detail that is not strict JSON, so say which value it is here.
    return {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail, allow_nan=False)}


def _span_detail(span: Span) -> dict[str, Any]:
    return {
        "area": span.area,
        "line": span.line,
        "firstDate": _json_value(span.first_date),
        "lastDate": _json_value(span.last_date),
        "from": _json_value(span.start),
        "to": _json_value(span.end),
    }


def curated_data_event(run: CuratedRun) -> Entry:
    """The "new curated data" event of ``run``: per table written, the span each line received."""
    detail = {
        "site": run.site,
        "conformedSnapshot": run.conformed_snapshot,
        "previousSnapshot": run.previous_snapshot,
        "asOf": _json_value(run.as_of),
        "tables": {write.table: [_span_detail(span) for span in write.spans] for write in run.writes},
    }
    return _entry(CURATED_DATA_SOURCE, CURATED_DATA_DETAIL_TYPE, detail)


# Exactly the OEE table's columns: a row may hold more (a frame's helper columns), never sent.
_OEE_COLUMNS = [name for name, _ in LINE_SHIFT_OEE_COLUMNS + LINE_SHIFT_OEE_PARTITION_KEYS]


def kpi_summary_events(run: CuratedRun) -> list[Entry]:
    """One KPI summary per OEE row ``run`` wrote: the table's columns, camelCased."""
    rows = [row for write in run.writes if write.table == OEE_TABLE for row in write.rows]
    return [
        _entry(
            KPI_SUMMARY_SOURCE,
            KPI_SUMMARY_DETAIL_TYPE,
            {_camel(name): _json_value(row[name]) for name in _OEE_COLUMNS},
        )
        for row in rows
    ]


def publish(
    client: EventsClient,
    bus: str,
    entries: Sequence[Entry],
    *,
    pause: Callable[[float], None] = time.sleep,
) -> None:
    """Put ``entries`` on ``bus`` (its name or ARN), at most 10 per call; only the entries EventBridge
    refused are sent again, up to ``ATTEMPTS`` calls each. Raises ``PublishError`` naming the error codes
    and how many were not published; a call that fails as a whole (access denied) raises boto3's error."""
    pending = list(entries)
    refused: Counter[str] = Counter()
    for attempt in range(ATTEMPTS):
        if attempt:
            pause(FIRST_PAUSE_S * 2 ** (attempt - 1))
        refused = Counter()
        failed = []
        for first in range(0, len(pending), MAX_ENTRIES_PER_CALL):
            batch = pending[first : first + MAX_ENTRIES_PER_CALL]
            response = client.put_events(Entries=[{**entry, "EventBusName": bus} for entry in batch])
            if not response.get("FailedEntryCount"):
                continue
            # Results come in the order of the entries; a refused one has an ErrorCode instead of an EventId.
            for entry, result in zip(batch, response["Entries"], strict=True):
                if result.get("ErrorCode"):
                    failed.append(entry)
                    refused[result["ErrorCode"]] += 1
        pending = failed
        if not pending:
            return
    codes = ", ".join(f"{code} x{count}" for code, count in sorted(refused.items()))
    raise PublishError(
        f"{len(pending)} of {len(entries)} events were not published to event bus {bus} after {ATTEMPTS} "
        f"attempts ({codes}); fix: ThrottlingException and InternalFailure pass on a rerun, other codes are "
        "explained in the EventBridge PutEvents reference (PutEventsResultEntry)"
    )


def announcer(client: EventsClient, bus: str) -> Callable[[CuratedRun], None]:
    """What ``curate(announce=...)`` calls: publish the run's "new curated data" event and KPI summaries."""

    def announce(run: CuratedRun) -> None:
        publish(client, bus, [curated_data_event(run), *kpi_summary_events(run)])

    return announce

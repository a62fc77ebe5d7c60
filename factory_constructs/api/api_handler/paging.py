"""What every route shares: page size, time ranges, time text and the site's paths, checked the same way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from envelope.tag_envelope import TAG_PATH_RE, parse_timestamp

from .api import Request
from .contract import from_url_path
from .problems import bad_parameter, not_found
from .settings import Settings

# A range given without `from` (GET /alerts) reaches back this far from `to`.
DEFAULT_SPAN = timedelta(hours=24)
# Times the API accepts: nothing the plant measured predates the epoch, and a day of look-around
# (interpolation) and the longest window (1d) must still fit before year 10000.
EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 29, tzinfo=UTC)


def iso(moment: datetime) -> str:
    """How the API writes a time: RFC 3339 UTC, microseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def limit(request: Request, settings: Settings, value: Any = None) -> int:
    """The page size: as asked (the document's default applied), capped at the site's ceiling.

    Capped rather than refused: a caller pages with ``nextCursor`` anyway, and a site that lowers
    PAGE_LIMIT_MAX below the document's default must not turn every request without ``limit`` into a 400.
    """
    size = int(request.params["limit"] if value is None else value)
    return min(size, settings.page_limit_max)


def time_range(
    after: str | None, until: str | None, settings: Settings, now: datetime, *, prefix: str = ""
) -> tuple[datetime, datetime]:
    """``(from, to)`` as aware datetimes: ``to`` after ``from``, at most MAX_RANGE_DAYS apart.

    Missing bounds (only where the document makes them optional) default to now and 24 hours before ``to``.
    """
    end = parse_timestamp(until) if until else now
    if not EARLIEST <= end <= LATEST:
        raise bad_parameter(f"{prefix}to", f"to {iso(end)} is outside {iso(EARLIEST)} .. {iso(LATEST)}")
    start = parse_timestamp(after) if after else end - DEFAULT_SPAN
    if not EARLIEST <= start <= LATEST:
        raise bad_parameter(f"{prefix}from", f"from {iso(start)} is outside {iso(EARLIEST)} .. {iso(LATEST)}")
    if end <= start:
        raise bad_parameter(f"{prefix}to", f"to {iso(end)} is not after from {iso(start)}; fix: give a later to")
    if end - start > timedelta(days=settings.max_range_days):
        raise bad_parameter(
            f"{prefix}from",
            f"the range spans {(end - start).total_seconds() / 86400:.2f} days, more than this site's "
            f"{settings.max_range_days}; fix: ask for a shorter range and page through it",
        )
    return start, end


def site_tag(segment_or_path: str, settings: Settings, *, field: str = "path") -> str:
    """The full tag path a request names (URL ``~`` form or ``/`` form); 404 unless it is of this site."""
    path = from_url_path(segment_or_path)
    if not TAG_PATH_RE.match(path):
        raise bad_parameter(field, f"{segment_or_path!r} is not enterprise/site/area/line/cell/tag")
    enterprise, site = path.split("/")[:2]
    if (enterprise, site) != (settings.enterprise, settings.site_id):
        raise not_found(
            f"tag {path!r} is not of this site ({settings.enterprise}/{settings.site_id}); fix: ask that site's API",
            field=field,
        )
    return path

"""The lake query port: SQL text in, typed rows out. Athena in AWS; local Spark in the tests.

Both implementations run the very same statement text (``sql.py`` builds it), so the tests exercise the
SQL itself against the Iceberg tables the ETL writes. That fixes what the text may contain:

* only syntax and functions Trino (Athena engine v3) and Spark 3.5 both read the same way
  (``date_trunc``, ``minute``, ``%``, ``min_by``/``max_by``, ``stddev_samp``, ``VALUES`` tables,
  ``TIMESTAMP '...'``/``DATE '...'`` literals), no integer ``/`` (Spark divides as double), no quoting;
* tables named ``<database>.<table>``: Athena resolves them in its default Glue catalog, the local port
  sets its Iceberg catalog as the session's current one;
* values as literals, never parameters (Athena's ``?`` parameters and Spark's ``:name`` ones differ):
  a literal is built only from a validated value (``literal``), and a string literal may hold only the
  characters tag paths, shift names and value ids use. Spark reads ``''`` inside a string as the end of
  one literal and the start of the next (it concatenates them) and takes ``\\`` as an escape, so quotes
  and backslashes are refused outright rather than escaped.

Rows come back as dicts of Python values: ``datetime`` (aware, UTC), ``date``, ``float``, ``int``, ``bool``,
``str`` or ``None``, whatever engine produced them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, Protocol

Row = dict[str, Any]
_SAFE_TEXT = re.compile(r"^[A-Za-z0-9_.:/\- ]{0,512}$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,254}$")
_RUNNING = ("QUEUED", "RUNNING")


class QueryFailed(Exception):
    """A statement failed or did not finish in time (``timed_out``); the message is for the log only."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class Queries(Protocol):
    """Runs statements concurrently; one result (rows, or the failure) per statement, in order."""

    def run_many(self, statements: Sequence[str]) -> list[list[Row] | QueryFailed]: ...


def run(queries: Queries, statement: str) -> list[Row]:
    """The rows of one statement; raises QueryFailed."""
    result = queries.run_many([statement])[0]
    if isinstance(result, QueryFailed):
        raise result
    return result


# --- literals -----------------------------------------------------------------------------------------


def text(value: str) -> str:
    """A string literal; raises ValueError for any character outside the safe set (quotes included)."""
    if not isinstance(value, str) or not _SAFE_TEXT.match(value):
        raise ValueError(f"{value!r} cannot be a SQL string literal; only letters, digits and _ . : / - are allowed")
    return f"'{value}'"


def timestamp(value: datetime) -> str:
    """A timestamp literal (UTC, microseconds) of an aware datetime."""
    if value.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone; pass an aware UTC datetime")
    return f"TIMESTAMP '{value.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}'"


def day(value: date) -> str:
    """A date literal."""
    return f"DATE '{value.isoformat()}'"


def integer(value: int) -> str:
    """An integer literal."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not an integer")
    return str(value)


def identifier(name: str) -> str:
    """A database or table name, unquoted (Glue names are lower case letters, digits and _)."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a Glue database or table name (lower case letters, digits, _)")
    return name


# --- Athena -------------------------------------------------------------------------------------------


def _athena_value(kind: str, cell: dict[str, Any]) -> Any:
    """One cell of GetQueryResults (always text) as the Python value of its column type."""
    if "VarCharValue" not in cell:
        return None
    raw = cell["VarCharValue"]
    if kind in ("bigint", "integer", "smallint", "tinyint"):
        return int(raw)
    if kind in ("double", "real", "float", "decimal"):
        return float(raw)
    if kind == "boolean":
        return raw == "true"
    if kind == "date":
        return date.fromisoformat(raw)
    if kind.startswith("timestamp"):
        # "2026-01-31 08:00:00.000000" or, with time zone, "2026-01-31 08:00:00.000000 UTC"
        return datetime.fromisoformat(raw.removesuffix(" UTC")).replace(tzinfo=UTC)
    return raw


class AthenaQueries:
    """The port on Athena: start every statement in the workgroup, poll them together, read all pages.

    The workgroup holds the result location, its encryption and the bytes-scanned limit, so a statement
    needs nothing else. ``timeout_s`` stays under API Gateway's 29-second integration limit: a statement
    still running then is stopped (it would go on scanning, and billing, for nobody).
    """

    def __init__(
        self,
        client: Any,
        workgroup: str,
        *,
        timeout_s: float = 20.0,
        poll_s: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._workgroup = workgroup
        self._timeout_s = timeout_s
        self._poll_s = poll_s
        self._sleep = sleep
        self._clock = clock

    def run_many(self, statements: Sequence[str]) -> list[list[Row] | QueryFailed]:
        deadline = self._clock() + self._timeout_s
        ids = [
            self._client.start_query_execution(QueryString=statement, WorkGroup=self._workgroup)["QueryExecutionId"]
            for statement in statements
        ]
        results: dict[str, list[Row] | QueryFailed] = {}
        pending = list(ids)
        delay = self._poll_s
        while pending:
            for query_id in list(pending):
                status = self._client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
                state = status["State"]
                if state in _RUNNING:
                    continue
                pending.remove(query_id)
                if state == "SUCCEEDED":
                    results[query_id] = self._rows(query_id)
                else:
                    reason = status.get("StateChangeReason", "no reason given")
                    results[query_id] = QueryFailed(f"Athena query {query_id} {state}: {reason}")
            if pending and self._clock() + delay > deadline:
                for query_id in pending:
                    self._client.stop_query_execution(QueryExecutionId=query_id)
                    results[query_id] = QueryFailed(f"Athena query {query_id} timed out", timed_out=True)
                pending = []
            elif pending:
                self._sleep(delay)
                delay = min(delay * 2, 1.0)
        return [results[query_id] for query_id in ids]

    def _rows(self, query_id: str) -> list[Row]:
        rows: list[Row] = []
        token: str | None = None
        first_page = True
        while True:
            arguments: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": 1000}
            if token:
                arguments["NextToken"] = token
            page = self._client.get_query_results(**arguments)
            columns = [(info["Name"], info["Type"]) for info in page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
            data = page["ResultSet"]["Rows"]
            if first_page:
                data = data[1:]  # a SELECT's first row repeats the column names
                first_page = False
            for row in data:
                cells = row.get("Data", [])
                rows.append(
                    {name: _athena_value(kind, cell) for (name, kind), cell in zip(columns, cells, strict=True)}
                )
            token = page.get("NextToken")
            if not token:
                return rows

"""The Athena side of the query port: statements started in the workgroup, polled together, results read
page by page and typed by column; a failure or a timeout per statement. And the SQL literals' guard.

moto runs no SQL: results are queued through its documented API, so these tests check the port's
protocol and typing; the SQL itself is checked on local Spark (test_read_routes) and against Trino's
grammar (test_sql_dialect)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws

from factory_constructs.api.api_handler.queries import (
    AthenaQueries,
    QueryFailed,
    day,
    identifier,
    integer,
    text,
    timestamp,
)

REGION = "eu-central-1"


def column(name: str, kind: str) -> dict[str, Any]:
    return {"Name": name, "Label": name, "Type": kind, "CatalogName": "hive", "SchemaName": "", "TableName": ""}


def test_statements_run_in_the_workgroup_and_rows_come_back_typed() -> None:
    with mock_aws():
        athena = boto3.client("athena", region_name=REGION)
        athena.create_work_group(
            Name="plantA-api", Configuration={"ResultConfiguration": {"OutputLocation": "s3://r/"}}
        )
        columns = [
            column("ts", "timestamp with time zone"),
            column("v", "double"),
            column("n", "bigint"),
            column("ok", "boolean"),
            column("d", "date"),
            column("s", "varchar"),
        ]
        header = {"Data": [{"VarCharValue": item["Name"]} for item in columns]}
        row = {
            "Data": [
                {"VarCharValue": "2026-01-05 08:00:01.250000 UTC"},
                {"VarCharValue": "21.5"},
                {"VarCharValue": "7"},
                {"VarCharValue": "true"},
                {"VarCharValue": "2026-01-05"},
                {},
            ]
        }
        queued: dict[str, Any] = {
            "region": REGION,
            "results": [{"rows": [header, row], "column_info": columns}, {"rows": [header], "column_info": columns}],
        }
        assert (
            requests.post(
                "http://motoapi.amazonaws.com/moto-api/static/athena/query-results", json=queued, timeout=5
            ).status_code
            == 201
        )
        sleeps: list[float] = []
        port = AthenaQueries(athena, "plantA-api", sleep=sleeps.append)
        first, second = port.run_many(["SELECT 1", "SELECT 2"])
        assert first == [
            {
                "ts": datetime(2026, 1, 5, 8, 0, 1, 250000, tzinfo=UTC),
                "v": 21.5,
                "n": 7,
                "ok": True,
                "d": date(2026, 1, 5),
                "s": None,
            }
        ]
        assert second == []
        executions = athena.list_query_executions(WorkGroup="plantA-api")["QueryExecutionIds"]
        assert len(executions) == 2


class FakeAthena:
    """Athena that keeps statements running for ``polls`` polls, then ends them in ``state``; results in pages."""

    def __init__(self, state: str = "SUCCEEDED", polls: int = 1, pages: int = 1) -> None:
        self.state, self.polls, self.pages = state, polls, pages
        self.started: list[dict[str, Any]] = []
        self.stopped: list[str] = []
        self.seen: dict[str, int] = {}

    def start_query_execution(self, **arguments: Any) -> dict[str, Any]:
        self.started.append(arguments)
        return {"QueryExecutionId": f"q{len(self.started)}"}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:
        self.seen[QueryExecutionId] = self.seen.get(QueryExecutionId, 0) + 1
        state = "RUNNING" if self.seen[QueryExecutionId] <= self.polls else self.state
        return {
            "QueryExecution": {
                "Status": {"State": state, "StateChangeReason": "line 1:8: Column 'x' cannot be resolved"}
            }
        }

    def stop_query_execution(self, QueryExecutionId: str) -> None:
        self.stopped.append(QueryExecutionId)

    def get_query_results(self, QueryExecutionId: str, MaxResults: int, NextToken: str | None = None) -> dict[str, Any]:
        page = int(NextToken or 0)
        rows = [{"Data": [{"VarCharValue": str(page * 10 + i)}]} for i in range(2)]
        if page == 0:
            rows.insert(0, {"Data": [{"VarCharValue": "n"}]})
        answer: dict[str, Any] = {
            "ResultSet": {"ResultSetMetadata": {"ColumnInfo": [column("n", "integer")]}, "Rows": rows}
        }
        if page + 1 < self.pages:
            answer["NextToken"] = str(page + 1)
        return answer


def test_every_result_page_is_read_and_the_header_row_dropped_once() -> None:
    fake = FakeAthena(pages=3)
    (rows,) = AthenaQueries(fake, "wg", sleep=lambda _: None).run_many(["SELECT n"])
    assert rows == [{"n": n} for n in (0, 1, 10, 11, 20, 21)]
    assert fake.started == [{"QueryString": "SELECT n", "WorkGroup": "wg"}]


def test_a_failed_statement_is_a_failure_of_its_own_entry() -> None:
    (failure,) = AthenaQueries(FakeAthena(state="FAILED"), "wg", sleep=lambda _: None).run_many(["SELECT x"])
    assert isinstance(failure, QueryFailed) and not failure.timed_out and "cannot be resolved" in str(failure)


def test_statements_still_running_at_the_deadline_are_stopped() -> None:
    clock = iter(range(100))
    fake = FakeAthena(polls=1000)
    port = AthenaQueries(fake, "wg", timeout_s=5, poll_s=1, sleep=lambda _: None, clock=lambda: float(next(clock)))
    results = port.run_many(["SELECT 1", "SELECT 2"])
    assert all(isinstance(result, QueryFailed) and result.timed_out for result in results)
    assert fake.stopped == ["q1", "q2"]


def test_literals_refuse_anything_that_could_leave_the_string() -> None:
    assert text("acme/plantA/press/line1/cell1/temp") == "'acme/plantA/press/line1/cell1/temp'"
    assert text("plantA-gw1:42") == "'plantA-gw1:42'"
    for bad in ("it's", "a\\b", "x'); DROP", "new\nline", "ä"):
        with pytest.raises(ValueError, match="cannot be a SQL string literal"):
            text(bad)
    assert timestamp(datetime(2026, 1, 5, 9, 0, tzinfo=UTC)) == "TIMESTAMP '2026-01-05 09:00:00.000000'"
    with pytest.raises(ValueError, match="has no time zone"):
        timestamp(datetime(2026, 1, 5))
    assert day(date(2026, 1, 5)) == "DATE '2026-01-05'"
    with pytest.raises(ValueError, match="is not an integer"):
        integer(True)
    with pytest.raises(ValueError, match="not a Glue database or table name"):
        identifier("planta-conformed")

"""Writing Iceberg tables: new keys only, one commit, the table's side restricted to the partitions named.

Also the plan helpers the conform tests use: what a MERGE statement ran, and what its scans read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from types import TracebackType
from typing import Any

import pytest
from dmc_etl.catalog import LOCAL_CATALOG, table_name
from dmc_etl.lake import Between, insert_new, one_row_per_key, partition_predicate, session_conf, sql_literal

pytestmark = pytest.mark.spark

ROWS = "id string, value double, line string, date date"


def plan_nodes(plan: Any) -> Iterator[Any]:
    """Every node of an executed JVM plan, through commands, adaptive plans and their query stages (not
    into a cached relation's or a checkpoint's own plan)."""
    stack = [plan]
    while stack:
        node = stack.pop()
        yield node
        name = node.getClass().getSimpleName()
        if name == "CommandResultExec":
            stack.append(node.commandPhysicalPlan())
        elif name == "AdaptiveSparkPlanExec":
            stack.append(node.executedPlan())
        elif name.endswith("QueryStageExec"):
            stack.append(node.plan())
        children = node.children()
        stack.extend(children.apply(index) for index in range(children.size()))


def node_names(plan: Any) -> list[str]:
    return [node.getClass().getSimpleName() for node in plan_nodes(plan)]


class MergeRecorder:
    """While active, records every MERGE statement run on ``spark`` (``statements``), its executed plan
    (``plans``) and what each of its table scans read (``scans``: table, result and skipped data files,
    the scan with its pushed filters)."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self.statements: list[str] = []
        self.plans: list[Any] = []
        self.scans: list[dict[str, Any]] = []

    def __enter__(self) -> MergeRecorder:
        run = self.spark.sql

        def recording(query: str, *args: Any, **kwargs: Any) -> Any:
            frame = run(query, *args, **kwargs)
            if query.lstrip().upper().startswith("MERGE"):
                self.statements.append(query)
                plan = frame._jdf.queryExecution().executedPlan()
                self.plans.append(plan)
                for node in plan_nodes(plan):
                    if node.getClass().getSimpleName() == "BatchScanExec":
                        metrics = node.metrics()
                        self.scans.append(
                            {
                                "table": node.table().name(),
                                "result_data_files": metrics.apply("resultDataFiles").value(),
                                "skipped_data_files": metrics.apply("skippedDataFiles").value(),
                                "scan": node.simpleString(1000),
                            }
                        )
            return frame

        self.spark.sql = recording  # an attribute of this session object, deleted on exit
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        delattr(self.spark, "sql")


@pytest.fixture
def table(spark: Any, databases: tuple[str, str]) -> str:
    """An Iceberg table partitioned by line and date, holding a, b and c in three partitions."""
    name = table_name(LOCAL_CATALOG, databases[0], "keyed")
    spark.sql(f"CREATE TABLE {name} ({ROWS}) USING iceberg PARTITIONED BY (line, date)")
    spark.sql(
        f"INSERT INTO {name} VALUES ('a', 1.0, 'line1', DATE '2026-01-05'), ('b', 2.0, 'line1', DATE '2026-01-06'), "
        "('c', 3.0, 'line2', DATE '2026-01-05')"
    )
    return name


def contents(spark: Any, name: str) -> list[tuple[Any, ...]]:
    return sorted((tuple(row) for row in spark.table(name).collect()), key=repr)


def snapshots(spark: Any, name: str) -> int:
    return int(spark.table(f"{name}.snapshots").count())


DAY5 = {"line": "line1", "date": date(2026, 1, 5)}


def test_only_keys_the_table_does_not_hold_are_inserted_in_one_commit(spark: Any, table: str) -> None:
    new = spark.createDataFrame([("a", 9.0, "line1", date(2026, 1, 5)), ("d", 4.0, "line1", date(2026, 1, 5))], ROWS)
    insert_new(spark, new, table, key=["line", "date", "id"], partitions=[DAY5])
    assert contents(spark, table) == [
        ("a", 1.0, "line1", date(2026, 1, 5)),  # known: left as it was
        ("b", 2.0, "line1", date(2026, 1, 6)),
        ("c", 3.0, "line2", date(2026, 1, 5)),
        ("d", 4.0, "line1", date(2026, 1, 5)),
    ]
    assert snapshots(spark, table) == 2
    insert_new(spark, new, table, key=["line", "date", "id"], partitions=[DAY5])  # again: nothing new
    assert len(contents(spark, table)) == 4


def test_the_tables_side_reads_only_the_files_of_the_partitions_named(spark: Any, table: str) -> None:
    new = spark.createDataFrame([("d", 4.0, "line1", date(2026, 1, 5))], ROWS)
    with MergeRecorder(spark) as recorder:
        insert_new(spark, new, table, key=["line", "date", "id"], partitions=[DAY5])
    ((scan,),) = [recorder.scans]
    assert (scan["table"], scan["result_data_files"], scan["skipped_data_files"]) == (table, 1, 2)
    assert "line = 'line1'" in scan["scan"] and "date = 20458" in scan["scan"], scan  # pushed to Iceberg


def test_the_on_clause_compares_the_key_and_the_partitions(spark: Any, table: str) -> None:
    new = spark.createDataFrame([("d", 4.0, "line1", date(2026, 1, 5))], ROWS)
    with MergeRecorder(spark) as recorder:
        insert_new(spark, new, table, key=["line", "date", "id"], partitions=[DAY5])
    (merge,) = recorder.statements
    view = merge.split(" USING ")[1].split(" ")[0]
    assert merge == (
        f"MERGE INTO {table} t USING {view} s ON t.`line` = s.`line` AND t.`date` = s.`date` AND t.`id` = s.`id` "
        "AND ((t.`line` = 'line1' AND t.`date` = DATE '2026-01-05')) WHEN NOT MATCHED THEN INSERT *"
    )
    assert view not in [row.viewName for row in spark.sql("SHOW VIEWS").collect()]  # dropped after


def test_no_partitions_means_no_commit(spark: Any, table: str) -> None:
    empty = spark.createDataFrame([], ROWS)
    insert_new(spark, empty, table, key=["line", "date", "id"], partitions=[])
    assert snapshots(spark, table) == 1


def test_null_safe_key_columns_match_null_to_null(spark: Any, databases: tuple[str, str]) -> None:
    name = table_name(LOCAL_CATALOG, databases[0], "nullable")
    schema = "source string, position int, day string"
    spark.sql(f"CREATE TABLE {name} ({schema}) USING iceberg PARTITIONED BY (day)")
    rows = spark.createDataFrame([("a.json", None, None), ("a.json", 1, None)], schema)
    key = ["day", "source", "position"]
    for _ in range(2):
        insert_new(spark, rows, name, key=key, partitions=[{"day": None}], null_safe=("day", "position"))
    assert contents(spark, name) == [("a.json", 1, None), ("a.json", None, None)]
    # With plain equality a null never matches: the same rows again would be new.
    insert_new(spark, rows, name, key=key, partitions=[{"day": None}], null_safe=("day",))
    assert len(contents(spark, name)) == 3


def test_one_row_per_key_keeps_one_copy_of_each_key(spark: Any) -> None:
    rows = spark.createDataFrame(
        [
            ("a", 1.0, "line1", date(2026, 1, 5)),
            ("a", 1.0, "line1", date(2026, 1, 5)),
            ("a", 1.0, "line2", date(2026, 1, 5)),
        ],
        ROWS,
    )
    kept = one_row_per_key(rows, ["line", "date", "id"])
    assert kept.columns == ["id", "value", "line", "date"]
    assert sorted(tuple(row) for row in kept.collect()) == [
        ("a", 1.0, "line1", date(2026, 1, 5)),
        ("a", 1.0, "line2", date(2026, 1, 5)),
    ]


def test_partitions_become_literal_predicates_iceberg_can_prune_by() -> None:
    partitions = [{"area": "it's", "line": "a\\b", "date": date(2026, 1, 5)}, {"area": "x", "line": None}]
    assert partition_predicate("t", partitions) == (
        "(t.`area` = 'it\\'s' AND t.`line` = 'a\\\\b' AND t.`date` = DATE '2026-01-05') "
        "OR (t.`area` = 'x' AND t.`line` IS NULL)"
    )
    assert partition_predicate("t", []) == "false"
    assert sql_literal(7) == "7"
    with pytest.raises(
        TypeError, match=r"^no SQL literal for 1.5 \(float\); fix: pass a str, int, date or aware datetime$"
    ):
        sql_literal(1.5)


def test_a_range_of_a_column_becomes_a_between_of_utc_timestamps() -> None:
    eight = datetime(2026, 1, 5, 8, 0, 0, 250, tzinfo=UTC)
    berlin = datetime(2026, 1, 5, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    assert partition_predicate("t", [{"line": "line1", "ts": Between(eight, berlin)}]) == (
        "(t.`line` = 'line1' AND t.`ts` BETWEEN TIMESTAMP '2026-01-05 08:00:00.000250Z' "
        "AND TIMESTAMP '2026-01-05 09:30:00.000000Z')"
    )
    assert sql_literal(date(2026, 1, 5)) == "DATE '2026-01-05'"
    with pytest.raises(
        TypeError,
        match=r"^no SQL literal for the naive datetime.datetime\(2026, 1, 5, 8, 0\); fix: pass an aware datetime "
        r"\(e.g. in UTC\)$",
    ):
        sql_literal(datetime(2026, 1, 5, 8, 0))


def test_a_range_limits_the_tables_side_to_the_files_that_overlap_it(spark: Any, databases: tuple[str, str]) -> None:
    """Iceberg skips a file whose bounds of the column lie outside the range; a row outside the range is
    never compared, so the range must hold every row a key can match (here a copy of 10:00 is new)."""
    name = table_name(LOCAL_CATALOG, databases[0], "timed")
    spark.sql(f"CREATE TABLE {name} (id string, ts timestamp, line string) USING iceberg PARTITIONED BY (line)")
    for hour in ("08", "10"):  # a file each
        spark.sql(f"INSERT INTO {name} VALUES ('{hour}', TIMESTAMP '2026-01-05 {hour}:00:00Z', 'line1')")

    def new(*hours: int) -> Any:
        rows = [(f"{h:02d}", datetime(2026, 1, 5, h, tzinfo=UTC), "line1") for h in hours]
        return spark.createDataFrame(rows, "id string, ts timestamp, line string")

    morning = {"line": "line1", "ts": Between(datetime(2026, 1, 5, 8, tzinfo=UTC), datetime(2026, 1, 5, 9, tzinfo=UTC))}
    with MergeRecorder(spark) as recorder:
        insert_new(spark, new(8, 9), name, key=["line", "id"], partitions=[morning])
    ((scan,),) = [recorder.scans]
    assert (scan["result_data_files"], scan["skipped_data_files"]) == (1, 1), scan
    assert "ts >= 1767600000000000" in scan["scan"] and "ts <= 1767603600000000" in scan["scan"], scan
    assert sorted(row.id for row in spark.table(name).collect()) == ["08", "09", "10"]
    insert_new(spark, new(10), name, key=["line", "id"], partitions=[morning])  # 10:00 is outside the range
    assert sorted(row.id for row in spark.table(name).collect()) == ["08", "09", "10", "10"]


def test_session_settings_are_put_back(spark: Any) -> None:
    spark.conf.set("spark.sql.iceberg.distribution-mode", "hash")
    with session_conf(spark, {"spark.sql.iceberg.distribution-mode": "none", "spark.dmc.unset": "x"}):
        assert spark.conf.get("spark.sql.iceberg.distribution-mode") == "none"
        assert spark.conf.get("spark.dmc.unset") == "x"
    assert spark.conf.get("spark.sql.iceberg.distribution-mode") == "hash"
    assert spark.conf.get("spark.dmc.unset", None) is None
    spark.conf.unset("spark.sql.iceberg.distribution-mode")

"""Every statement ``sql.py`` builds parses as Trino (Athena engine v3) and as Spark SQL, and calls only
functions both engines know by that name: local Spark runs the very same text in test_read_routes, and
this is the check, without an Athena, that the Athena side reads it too (sqlglot's grammars)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlglot
from sqlglot import exp

from factory_constructs.api.api_handler import sql

TAG = sql.TagRef(path="acme/plantA/press/line1/cell1/temp", area="press", line="line1")
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=2)
# sqlglot's names of the functions the statements may call; each exists in Trino and in Spark 3.5.
SHARED = {"Min", "Max", "Sum", "Count", "Minute", "TimestampTrunc", "DateTrunc", "ArgMin", "ArgMax", "StddevSamp"}
# Expression nodes sqlglot counts as functions that are plain syntax: AND/OR, literals' casts, BETWEEN.
SYNTAX = {"And", "Or", "Cast", "Between", "Not"}

STATEMENTS = {
    "raw": sql.raw_history("planta_conformed", TAG, after=T0, until=T1, quality=None, resume=None, rows=101),
    "raw resumed, one quality": sql.raw_history(
        "planta_conformed", TAG, after=T0, until=T1, quality="good", resume=(T0, "gw:1"), rows=101
    ),
    **{
        f"curated {resolution}": sql.curated_aggregates(
            "planta_curated", TAG, resolution=resolution, first=T0, end=T1, rows=11
        )
        for resolution in sql.WINDOW
    },
    **{
        f"raw {resolution}": sql.raw_aggregates(
            "planta_conformed", TAG, resolution=resolution, first=T0, end=T1, quality=None, rows=11
        )
        for resolution in sql.WINDOW
    },
    "interpolation": sql.interpolation_buckets(
        "planta_conformed", TAG, buckets=[(0, T0 - timedelta(days=1), T0), (1, T0, T1)], quality="uncertain"
    ),
    "oee": sql.line_oee(
        "planta_curated", area="press", line="line1", after=T0, until=T1, shift="early", resume=(T0, "a"), rows=2
    ),
}


@pytest.mark.parametrize("name", sorted(STATEMENTS))
@pytest.mark.parametrize("dialect", ["trino", "spark"])
def test_the_statement_parses_and_calls_only_shared_functions(name: str, dialect: str) -> None:
    tree = sqlglot.parse_one(STATEMENTS[name], read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
    called = {type(node).__name__ for node in tree.find_all(exp.Func)} - SYNTAX
    unknown = sorted(node.name for node in tree.find_all(exp.Anonymous))
    assert not unknown, f"{name}: functions sqlglot does not know in {dialect}: {unknown}"
    assert called <= SHARED, f"{name}: {sorted(called - SHARED)}"


def test_no_statement_divides_or_quotes_identifiers() -> None:
    for name, statement in STATEMENTS.items():
        tree = sqlglot.parse_one(statement, read="trino")
        assert not list(tree.find_all(exp.Div)), f"{name}: Spark's / is a double division, Trino's an integer one"
        assert '"' not in statement and "`" not in statement, name

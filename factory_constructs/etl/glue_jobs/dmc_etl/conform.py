"""Raw zone -> conformed zone: parse, check, type, normalise units, deduplicate, insert new rows.

Input: JSON Lines objects, each line one envelope ``tags`` batch. Output: one typed row per tag value
in the conformed Iceberg table, deduplicated on ``id`` within the run and against the rows already in
the partitions it touches, so delivery "at least once" and re-runs over the same objects leave exactly
one row per value. The write is ``MERGE INTO ... WHEN NOT MATCHED THEN INSERT *`` on the partition and
``id``, restricted to the partitions the run's rows fall in (``lake.insert_new``): one atomic commit
that adds only new rows, whatever the partitions already hold.

Built for one pass over the input: Spark's JSON reader parses each line once with an explicit schema
(no inference, no UDF), the values are checked with column expressions and counted where their rows
are built (observed metrics). The parsed batches, moved to the task of their line, are kept
(``kept_batches``) between listing the partitions of their values and the merge, because the merge is
planned on those partitions. An extra pass happens only for the rejects, when there are any: it reads
the lines as text so that a refused line is kept as it was. Blank lines carry nothing and are skipped
by both.

What is refused goes to the rejects table with the reason, never dropped and never failing the job:
* a whole line when it is not a readable ``tags`` batch: not JSON, a field of the wrong JSON type,
  a missing or wrong ``v``, ``kind``, ``site``, ``gateway``, ``line``, ``batch_seq`` or ``values``;
* a single value when only that value is wrong (missing field, path not on the batch's line, quality,
  timestamp, sequence number, id); the batch's other values are kept.
The checks follow ``envelope.tag_envelope.validate``, with four leniencies. Spark's JSON reader reads
a number or boolean in a string field as its text (an ``id`` sent as 7), a string of digits in an
integer field as the number (a ``seq`` sent as "7"), and a line holding a JSON array of batches as
those batches (the rejects pass, reading text, refuses that line as well); and a timestamp with an
offset before its "Z" (``...T09:00:00+01:00Z``) is read at that offset, because the checks cost per
value and stay short. The ingestion transform already refuses all four before the raw zone.

Typing: Spark's reader gives a polymorphic ``value`` as text without its JSON type, so a value is a
number when its text is a decimal number, a boolean when it is ``true``/``false``, a string otherwise
(a string that spells a number, such as "0042", is read as the number 42).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, DataFrameReader, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from envelope.tag_envelope import KIND_TAGS, LINE_PATH_RE, QUALITIES, SCHEMA_VERSION

from .config import SiteConfig
from .lake import (
    Between,
    insert_new,
    line_path_parts,
    one_row_per_key,
    path_exists,
    require_utc,
    session_conf,
    shaped,
    sql_literal,
)
from .schemas import CONFORMED_COLUMNS, CONFORMED_PARTITION_KEYS, REJECTS_COLUMNS, REJECTS_PARTITION_KEYS
from .units import conversions

_CORRUPT = "_corrupt_record"
_VALUE = T.StructType(
    [
        T.StructField("path", T.StringType()),
        T.StructField("value", T.StringType()),  # any JSON scalar, read as its text
        T.StructField("unit", T.StringType()),
        T.StructField("quality", T.StringType()),
        T.StructField("ts", T.StringType()),
        T.StructField("seq", T.LongType()),
        T.StructField("id", T.StringType()),
    ]
)
ENVELOPE_SCHEMA = T.StructType(
    [
        T.StructField("v", T.LongType()),
        T.StructField("kind", T.StringType()),
        T.StructField("site", T.StringType()),
        T.StructField("gateway", T.StringType()),
        T.StructField("line", T.StringType()),
        T.StructField("batch_seq", T.LongType()),
        T.StructField("values", T.ArrayType(_VALUE)),
        T.StructField(_CORRUPT, T.StringType()),
    ]
)
# A line that is not JSON, or whose fields have the wrong JSON type, fills _corrupt_record. NaN and
# Infinity are not JSON numbers: refusing them makes such a line a reject instead of a stored NaN.
_PARSE_OPTIONS = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT, "allowNonNumericNumbers": "false"}
_UNIT_TABLE_TYPE = "map<string, struct<unit: string, scale: double, shift: double>>"

# The key of a conformed row: its partition and its idempotency key (the merge compares both).
CONFORMED_KEY = (*(name for name, _ in CONFORMED_PARTITION_KEYS), "id")
# A reject is the same reject when its raw object, place in it, reason and text are: a re-run over the
# same object refuses the same lines and values again. A whole refused line has no value_index, and a
# reject outside the raw zone's date layout no date: those match null to null.
REJECTS_KEY = ("date", "source_file", "value_index", "reason", "record")
REJECTS_NULLABLE = ("date", "value_index", "record")


@dataclass(frozen=True)
class ConformSummary:
    """What one run did: values written (before deduplication), rejects per field, partitions touched."""

    values: int
    rejects: dict[str, int]
    partitions: list[dict[str, object]]


@dataclass(frozen=True)
class RawObjects:
    """The raw objects a run reads: everything under ``paths``, optionally by modification time.

    Bounds are UTC (the session time zone); ``modified_after`` excludes, ``modified_before`` excludes.
    """

    paths: Sequence[str]
    modified_after: datetime | None = None
    modified_before: datetime | None = None

    def _reader(self, spark: SparkSession) -> DataFrameReader:
        reader = spark.read.option("recursiveFileLookup", "true")
        if self.modified_after is not None:
            reader = reader.option("modifiedAfter", _spark_time(self.modified_after))
        if self.modified_before is not None:
            reader = reader.option("modifiedBefore", _spark_time(self.modified_before))
        return reader

    def parsed(self, spark: SparkSession, schema: T.StructType = ENVELOPE_SCHEMA) -> DataFrame:
        """One row per non-blank line, read by Spark's JSON reader with ``schema``, and its ``source_file``.

        The reader parses bytes directly, cheaper than ``from_json`` over text (docs/performance.md,
        bench-etl), so the conformed pass uses it; it skips blank lines, which carry nothing.
        """
        frame = self._reader(spark).schema(schema).options(**_PARSE_OPTIONS).json(list(self.paths))
        return frame.select(*schema.fieldNames(), F.col("_metadata.file_path").alias("source_file"))

    def lines(self, spark: SparkSession) -> DataFrame:
        """Each non-blank line as ``text``, and its ``source_file``: what a refused line is kept as."""
        frame = self._reader(spark).text(list(self.paths))
        return frame.where(F.trim("value") != "").select(
            F.col("value").alias("text"), F.col("_metadata.file_path").alias("source_file")
        )


def _spark_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _sql_string(text: str) -> str:
    """``text`` as a Spark SQL string literal."""
    return sql_literal(text)


def _sql_format(template: str, *args: str) -> str:
    """SQL for ``format_string(template, args...)``."""
    return f"format_string({', '.join([_sql_string(template), *args])})"


# The checks and the columns built from them are SQL text: Spark parses an expression of any size in
# one call, while each function of the Column API is a call from Python into the JVM (most of the
# driver's planning time; docs/performance.md, bench-etl).


def _record_problem(m: str) -> str:
    """SQL: why the parsed line ``m`` is not a usable tags batch (null when it is), in the envelope's words."""
    return f"""CASE
        WHEN {m} IS NULL OR {m}.{_CORRUPT} IS NOT NULL
            THEN {_sql_string("message: not a JSON object of the tag envelope's types")}
        WHEN {m}.v IS NULL OR {m}.v != {SCHEMA_VERSION}
            THEN {_sql_format(f"v: %s is not the supported schema version {SCHEMA_VERSION}", f"{m}.v")}
        WHEN {m}.kind IS NULL OR {m}.kind != {_sql_string(KIND_TAGS)}
            THEN {_sql_format(f"kind: '%s' is not {KIND_TAGS}", f"{m}.kind")}
        WHEN {m}.site IS NULL OR {m}.site = ''
            THEN {_sql_format("site: '%s' is not a non-empty string", f"{m}.site")}
        WHEN {m}.gateway IS NULL OR {m}.gateway = ''
            THEN {_sql_format("gateway: '%s' is not a non-empty string", f"{m}.gateway")}
        WHEN {m}.line IS NULL OR NOT {m}.line RLIKE {_sql_string(LINE_PATH_RE.pattern)}
            THEN {_sql_format("line: '%s' is not enterprise/site/area/line", f"{m}.line")}
        WHEN split({m}.line, '/')[1] != {m}.site
            THEN {_sql_format("line: '%s' is not under site '%s'", f"{m}.line", f"{m}.site")}
        WHEN {m}.batch_seq IS NULL OR {m}.batch_seq < 0
            THEN {_sql_format("batch_seq: %s is not a non-negative integer", f"{m}.batch_seq")}
        WHEN {m}.values IS NULL OR size({m}.values) = 0
            THEN {_sql_string("values: expected a non-empty list of tag values")}
    END"""


# Parts of a value ``x`` (``_values``), as SQL. Spark finds a character in a string by comparing at every
# position and counts characters from the start to cut one, so the cell and tag are found from the end
# of the path, which is short. The timestamp is read without its closing "Z" in the session time zone,
# UTC (``require_utc``): a zone in the text makes Spark look it up with regular expressions on every value.
_CELL_TAG = "substring_index(x.path, '/', -2)"
_CELL = f"substring_index({_CELL_TAG}, '/', 1)"
_TAG = f"substring_index({_CELL_TAG}, '/', -1)"
_BEFORE_Z = "substring_index(x.ts, 'Z', 1)"
_TS = f"try_to_timestamp({_BEFORE_Z})"
# The first "Z" of the ts is its last character (so it is the only one: the text before it is one byte
# shorter than the ts), and its date is followed by "T".
_UTC_MARKED = f"(octet_length({_BEFORE_Z}) + 1 = octet_length(x.ts) AND instr(x.ts, 'T') = 11)"
_QUALITY_IN = f"x.quality IN ({', '.join(_sql_string(q) for q in QUALITIES)})"

# True when a value can be conformed. Kept small on purpose: Spark compiles the work on a row into one
# Java method, and a method too long for the JVM's JIT compiler runs interpreted, several times slower.
# The reasons are built only for refused rows (``_VALUE_PROBLEM``), in the rejects query.
_VALUE_OK = " AND ".join(
    [
        *(f"x.{field} IS NOT NULL" for field in _VALUE.fieldNames()),
        "startswith(x.path, line_prefix)",
        # The path is the line's, a slash and cell/tag, and nothing else (its byte lengths add up):
        # cheaper than building the expected path for every value.
        f"octet_length(x.path) = octet_length(line_prefix) + octet_length({_CELL_TAG})",
        # Neither cell nor tag is empty: cell/tag neither starts nor ends with "/" (no cut of its own).
        f"NOT startswith({_CELL_TAG}, '/')",
        "NOT endswith(x.path, '/')",
        _QUALITY_IN,
        f"{_TS} IS NOT NULL",
        _UTC_MARKED,
        "x.seq >= 0",
        "x.id != ''",
    ]
)


def _value_problem_sql() -> str:
    """SQL: why value ``x`` (at ``value_index``) of a usable batch cannot be conformed, in the envelope's
    words (the first problem)."""

    def at(template: str, *args: str) -> str:
        return _sql_format("values[%d]" + template, "value_index", *args)

    missing = "".join(f"\n        WHEN x.{f} IS NULL THEN {at(f': missing {f}')}" for f in _VALUE.fieldNames())
    return f"""CASE
        WHEN x IS NULL THEN {at(": expected an object")}{missing}
        WHEN NOT startswith(x.path, line_prefix)
            THEN {at(".path: '%s' is not on the batch's line '%s'", "x.path", "line_path")}
        WHEN {_CELL} = '' OR {_TAG} = '' OR concat(line_path, '/', {_CELL}, '/', {_TAG}) != x.path
            THEN {at(".path: '%s' is not enterprise/site/area/line/cell/tag", "x.path")}
        WHEN NOT {_QUALITY_IN}
            THEN {at(f".quality: '%s' is not one of {', '.join(QUALITIES)}", "x.quality")}
        WHEN {_TS} IS NULL OR NOT {_UTC_MARKED}
            THEN {at(".ts: '%s' is not ISO 8601 UTC like 2026-01-31T08:00:00.000Z", "x.ts")}
        WHEN x.seq < 0 THEN {at(".seq: %d is not a non-negative integer", "x.seq")}
        WHEN x.id = '' THEN {at(".id: '' is not a non-empty string")}
    END"""


_VALUE_PROBLEM = _value_problem_sql()


def _unit_table(config: SiteConfig) -> str:
    """SQL: spelling -> (unit, scale, shift) as a constant map, a lookup per row and no join.

    Written as JSON and read by Spark once, when the plan is optimized.
    """
    table = {spelling: c._asdict() for spelling, c in sorted(conversions(config.canonical_units).items())}
    return f"from_json({_sql_string(json.dumps(table))}, {_sql_string(_UNIT_TABLE_TYPE)})"


def _area_line(line_path: str) -> list[Column]:
    """``area`` and ``line`` of a batch from its ISA-95 line path (null for a batch without one)."""
    _, area, line = line_path_parts(line_path)
    return [area, line]


def batch_records(parsed: DataFrame) -> DataFrame:
    """The JSON reader's rows (``RawObjects.parsed``) as ``source_file``, the batch ``m``, its ``area``
    and ``line``, and ``record_problem`` (null when the batch is usable)."""
    records = parsed.selectExpr("source_file", f"struct({', '.join(ENVELOPE_SCHEMA.fieldNames())}) AS m")
    return records.select("*", *_area_line("m.line"), F.expr(_record_problem("m")).alias("record_problem"))


def line_records(lines: DataFrame) -> DataFrame:
    """Raw ``lines`` parsed like ``batch_records`` does, plus ``bad_line``: the text of a refused line."""
    parsed = lines.select("text", "source_file", F.from_json("text", ENVELOPE_SCHEMA, _PARSE_OPTIONS).alias("m"))
    problem = F.expr(_record_problem("m"))
    return parsed.select(
        "source_file",
        "m",
        *_area_line("m.line"),
        problem.alias("record_problem"),
        F.when(problem.isNotNull(), F.col("text")).alias("bad_line"),
    )


def _values(records: DataFrame, *keep: str) -> DataFrame:
    """One row per value of a usable batch (``value_index``, ``x``) and one per refused line, with the
    batch's columns and ``keep``."""
    # Columns of the batch are computed once per line, in a select of their own: columns selected beside
    # a generator are evaluated after it, once per value. A refused line has no values to explode and
    # becomes a single row (explode_outer of null).
    batch_columns = [
        "source_file",
        "record_problem",
        *keep,
        "m.site AS site",
        "m.gateway AS gateway",
        "m.line AS line_path",
        "concat(m.line, '/') AS line_prefix",
        "area",
        "line",
        "m.batch_seq AS batch_seq",
    ]
    batches = records.selectExpr(*batch_columns, "CASE WHEN record_problem IS NULL THEN m.values END AS values")
    kept = [name for name in batches.columns if name != "values"]
    return batches.selectExpr(*kept, "posexplode_outer(values) AS (value_index, x)")


def checked_rows(records: DataFrame, config: SiteConfig) -> DataFrame:
    """One row per value of a usable batch and one per refused line (``batch_records``): ``ok`` (false:
    refused) and the conformed columns."""
    # Java's number parser also takes "1d", "NaN", "Infinity": a decimal number ends with a digit.
    ends_with_digit = " OR ".join(f"endswith(x.value, '{digit}')" for digit in "0123456789")
    # In a select of its own: three columns use the number, and Spark keeps an expensive expression
    # used more than once in its own projection instead of parsing the text again for each.
    number = f"CASE WHEN {ends_with_digit} THEN try_cast(x.value AS DOUBLE) END AS number"
    values = _values(records).selectExpr("*", number)
    boolean = "CASE WHEN x.value IN ('true', 'false') THEN x.value = 'true' END"
    conversion = f"{_unit_table(config)}[trim(x.unit)]"
    return values.selectExpr(
        f"record_problem IS NULL AND {_VALUE_OK} AS ok",
        "site",
        "gateway",
        "area",
        "line",
        f"{_CELL} AS cell",
        f"{_TAG} AS tag",
        "x.path AS path",
        f"{_TS} AS ts",
        f"to_date({_TS}) AS date",
        f"coalesce(number * {conversion}.scale + {conversion}.shift, number) AS value_double",
        f"{boolean} AS value_bool",
        f"CASE WHEN number IS NULL AND {boolean} IS NULL THEN x.value END AS value_string",
        f"coalesce({conversion}.unit, trim(x.unit)) AS unit",
        "x.quality AS quality",
        "x.seq AS seq",
        "x.id AS id",
    )


def reject_rows(records: DataFrame) -> DataFrame:
    """Every refused line, and every refused value of a usable batch (``line_records``), with its reason
    (rejects columns)."""
    refused = _values(records, "bad_line").where(f"record_problem IS NOT NULL OR NOT ({_VALUE_OK})")
    return refused.selectExpr(
        "source_file",
        "CASE WHEN record_problem IS NULL THEN value_index END AS value_index",
        f"coalesce(record_problem, {_VALUE_PROBLEM}) AS reason",
        "CASE WHEN record_problem IS NULL THEN to_json(x) ELSE bad_line END AS record",
        "gateway",
        "line_path",
        "batch_seq",
        # Rejects are filed under the date partition of their raw object (null outside that layout).
        "nullif(regexp_extract(source_file, '/date=([^/]+)/', 1), '') AS date",
    )


def _reject_field(reason: Column) -> Column:
    """The field a reason names, without value indexes: a bounded key for counting rejects."""
    return F.regexp_replace(F.substring_index(reason, ":", 1), r"\[\d+\]", "[]")


def conform(
    spark: SparkSession,
    raw: RawObjects,
    *,
    conformed_table: str,
    rejects_table: str,
    config: SiteConfig,
) -> ConformSummary:
    """Conform the ``raw`` objects into the conformed Iceberg table (``<catalog>.<database>.tag_values``),
    and what is refused into the rejects table; each gets one commit, of new rows only."""
    require_utc(spark)
    nothing = ConformSummary(values=0, rejects={}, partitions=[])
    # A folder that does not exist holds nothing to read (a fresh raw zone has no tags/ folder yet).
    raw = replace(raw, paths=[path for path in raw.paths if path_exists(spark, path)])
    if not raw.paths:
        return nothing
    parsed = raw.parsed(spark)
    if not parsed.inputFiles():  # listed already; an action over no input reports no observed metrics
        return nothing
    # The batches of a line travel to one task before they are taken apart: moving a few thousand
    # batches is cheaper than moving their values one by one, and every copy of a value is on its line.
    # They are kept there because the merge is planned on the partitions of their values, which a light
    # pass over them finds first.
    records = with_value_span(batch_records(parsed))
    tasks = line_tasks(spark, parsed.inputFiles())
    moved = records.repartition(tasks, "area", "line") if tasks else records.repartition("area", "line")
    batches = kept_batches(spark, moved)
    try:
        return _conform_batches(spark, raw, batches, conformed_table, rejects_table, config)
    finally:
        release(batches)


def kept_batches(spark: SparkSession, moved: DataFrame) -> DataFrame:
    """The ``moved`` batches computed once and kept on the executors (memory, then disk), still
    partitioned by line: a local checkpoint, planned without adaptive execution.

    A checkpoint keeps rows as they are, where a cache (``persist``) encodes them into columns and
    decodes them again for every later pass, and a conform round is faster with the checkpoint
    (docs/performance.md, bench-etl). Adaptive execution would coalesce the shuffle's partitions and
    the checkpoint would then lose their hash partitioning, so the merge would move every value again;
    it is off for this one job only. A checkpoint is not recomputed when an executor is lost: the run
    fails instead, and is repeated whole (it advances the watermark only at the end, and a repeated
    merge inserts only keys the table lacks).
    """
    with session_conf(spark, {"spark.sql.adaptive.enabled": "false"}):
        return moved.localCheckpoint(eager=True)


def release(batches: DataFrame) -> None:
    """Drop the blocks of ``kept_batches`` from the executors now, not when the JVM collects them.

    PySpark has no public call for a checkpoint's blocks, so this goes through the plan's JVM handle
    (as ``lake.path_exists`` does): the checkpoint's plan is one ``LogicalRDD`` over the kept RDD.
    """
    batches._jdf.queryExecution().logical().rdd().unpersist(False)


# The raw zone's layout, the ingestion's Firehose prefix: each object holds the batches of one line.
_RAW_LINE = re.compile(r"/area=([^/]+)/line=([^/]+)/")


def line_tasks(spark: SparkSession, files: Sequence[str]) -> int | None:
    """How many tasks to move the batches to so that each line the raw ``files`` are filed under
    (``tags/area=.../line=.../``) gets a task of its own; None when no path names a line.

    Spark sends a batch to task ``pmod(hash(area, line), n)``. For some n two lines share a task while
    another task stays empty; the shared task then runs on one core for two lines' time, after the
    others (four lines in three tasks on two cores take three lines' time, not two). So n is the
    smallest number from the number of lines to four times it that gives each line a task of its own,
    or else the fewest lines a shared task; at least two, so that the batches keep their hash
    partitioning by line whatever the number of lines (of one task Spark makes a single partition,
    another plan).
    Only the balance depends on the paths: a batch filed under another line's folder still goes to the
    task of its own line, wherever that is.
    """
    lines = sorted({found.groups() for found in map(_RAW_LINE.search, files) if found})
    if not lines:
        return None
    spread = [_spark_hash(spark, area, line) for area, line in lines]
    fewest = max(len(lines), 2)
    return max(range(fewest, 4 * fewest + 1), key=lambda n: (len({h % n for h in spread}), -n))


def _spark_hash(spark: SparkSession, *texts: str) -> int:
    """Spark's ``hash(texts...)``, the hash its hash partitioning takes of string columns, from Spark's own
    function on the driver (a query of literals would cost a planning: tenths of a second).

    PySpark has no public call for this, so it goes through the context's JVM handles (as
    ``lake.path_exists`` does).
    """
    jvm = spark.sparkContext._jvm
    murmur3 = jvm.org.apache.spark.unsafe.hash.Murmur3_x86_32  # type: ignore[union-attr]
    offset = jvm.org.apache.spark.unsafe.Platform.BYTE_ARRAY_OFFSET  # type: ignore[union-attr]
    result = _HASH_SEED
    for text in texts:
        data = text.encode()
        result = murmur3.hashUnsafeBytes(bytearray(data), offset, len(data), result)
    return int(result)


_HASH_SEED = 42  # Spark's hash() and hash partitioning


def with_value_span(records: DataFrame) -> DataFrame:
    """``records`` (``batch_records``) with what ``touched_partitions`` reads of a usable batch, computed
    per batch while it is parsed: ``value_dates``, the distinct dates of its values, and ``ts_low`` and
    ``ts_high``, its earliest and latest value timestamps (microseconds since the epoch)."""
    stamps = f"CASE WHEN record_problem IS NULL THEN transform(m.values, x -> {_TS}) END AS _stamps"
    # A projection of its own: the three columns below read the parsed timestamps, parsed once.
    return records.selectExpr("*", stamps).selectExpr(
        *records.columns,
        "array_distinct(transform(_stamps, ts -> to_date(ts))) AS value_dates",
        "unix_micros(array_min(_stamps)) AS ts_low",
        "unix_micros(array_max(_stamps)) AS ts_high",
    )


def touched_partitions(batches: DataFrame) -> list[dict[str, object]]:
    """The (area, line, date) partitions the values of ``batches`` (``with_value_span``) can land in, each
    with the range of timestamps its new rows can have: a superset of the conformed rows (it counts
    values that are refused too, and a batch's range for each of its days).

    The merge compares only the table's rows within those ranges, and that is exact: a row the table
    holds with the key of a new row has the new row's ``ts``. The key's ``id`` names one value for ever
    (``envelope.tag_envelope.idempotency_key``: the gateway and its sequence number, which the spool
    persists so that a restart never reuses one). The gateway stamps a value's ts, seq and id together,
    once (``edge.pipeline.harmonizer``); every later copy of the value is a copy of its batch's bytes
    (a spool retransmission, an at-least-once delivery of MQTT, stream manager or Firehose, the
    ingestion transform's re-encoding, a re-run over the same raw object), from which this job reads
    the same ts every time. The key's date is the day of that ts already: one row per key rests on the
    same fact. (A producer that broke the envelope by sending one id with two timestamps of one day
    would get a row for each, where comparing the whole partition would have kept the first.)

    So a run compares the keys of the hours it brings, not of the whole day: a new hour is compared
    with no file of the earlier hours (Iceberg skips a file by the bounds of ``ts`` in its metadata),
    and a late value only with the files of its own time.

    One aggregate over the kept batches: they are already in the task of their line, so it moves nothing
    and only one row per partition comes to the driver.
    """
    spans = (
        batches.selectExpr("area", "line", "explode(value_dates) AS date", "ts_low", "ts_high")
        .where("date IS NOT NULL")  # a timestamp that does not parse; its value is refused
        .groupBy("area", "line", "date")
        .agg(F.expr("min(ts_low) AS ts_low"), F.expr("max(ts_high) AS ts_high"))
        .collect()
    )
    return [
        {
            "area": row.area,
            "line": row.line,
            "date": row.date,
            "ts": Between(_from_micros(row.ts_low), _from_micros(row.ts_high)),
        }
        for row in sorted(spans, key=lambda row: (row.area, row.line, row.date))
    ]


def _from_micros(micros: int) -> datetime:
    """The aware UTC datetime of ``micros`` since the epoch, exactly (a float of seconds would round)."""
    return _EPOCH + timedelta(microseconds=micros)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _conform_batches(
    spark: SparkSession,
    raw: RawObjects,
    batches: DataFrame,
    conformed_table: str,
    rejects_table: str,
    config: SiteConfig,
) -> ConformSummary:
    """``conform`` of the kept ``batches`` (``with_value_span``, moved to the task of their line)."""
    touched = touched_partitions(batches)
    checked = checked_rows(batches, config)
    # Every value and every refused line is counted where its row is built anyway; the refused ones
    # are dropped right above the observation, which Spark does not move a filter through (a filter on
    # the check would otherwise land in the projection that builds the row and compute the check twice).
    # The partition of each row is built in that compiled projection too: an observed metric evaluates
    # its own expressions interpreted, row by row. As SQL text: one call into the JVM per metric.
    kept = Observation("conform")
    observed = checked.selectExpr("*", "CASE WHEN ok THEN struct(area, line, date) END AS _partition").observe(
        kept,
        F.expr("count(CASE WHEN ok THEN 1 END) AS values"),
        F.expr("count(CASE WHEN NOT ok THEN 1 END) AS refused"),
        # As JSON text: Spark 3.5 hands an observed array to Python as a bare JVM object.
        F.expr("to_json(collect_set(_partition)) AS partitions"),
    )
    accepted = shaped(observed.where("ok"), CONFORMED_COLUMNS, CONFORMED_PARTITION_KEYS)
    if touched:
        new = one_row_per_key(accepted, CONFORMED_KEY)
        insert_new(spark, new, conformed_table, key=CONFORMED_KEY, partitions=touched, clustered=True)
    else:  # no value to insert, only refused lines: they are counted all the same
        accepted.write.format("noop").mode("overwrite").save()
    metrics = kept.get
    partitions = sorted(
        (
            {"area": p["area"], "line": p["line"], "date": date.fromisoformat(p["date"])}
            for p in json.loads(metrics["partitions"])
        ),
        key=lambda p: (p["area"], p["line"], p["date"]),
    )
    rejects: dict[str, int] = {}
    if metrics["refused"]:
        # Rejects are rare: finding them reads the input again, as text (a refused line is kept as it was).
        refused_rows = reject_rows(line_records(raw.lines(spark))).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            tally = refused_rows.groupBy("date", _reject_field(F.col("reason")).alias("field")).count().collect()
            for row in tally:
                rejects[row["field"]] = rejects.get(row["field"], 0) + row["count"]
            dates = [{"date": day} for day in sorted({row["date"] for row in tally}, key=str)]
            new_rejects = one_row_per_key(shaped(refused_rows, REJECTS_COLUMNS, REJECTS_PARTITION_KEYS), REJECTS_KEY)
            insert_new(spark, new_rejects, rejects_table, key=REJECTS_KEY, partitions=dates, null_safe=REJECTS_NULLABLE)
        finally:
            refused_rows.unpersist()
    return ConformSummary(values=metrics["values"], rejects=rejects, partitions=partitions)

"""Raw zone -> conformed zone: parse, check, type, normalise units, deduplicate, merge by partition.

Input: JSON Lines objects, each line one envelope ``tags`` batch. Output: one typed row per tag value,
deduplicated on ``id`` across the run and the rows already in the partitions it touches, so delivery
"at least once" and re-runs over the same objects leave exactly one row per value.

Built for one pass over the input: Spark's JSON reader parses each line once with an explicit schema
(no inference, no UDF), the values are checked with column expressions, and written by the same job
that counts them (observed metrics), with nothing cached. Extra passes happen only when needed: a
light one to find the touched partitions when the table already exists (for the merge), and one for
the rejects when there are any, which reads the lines as text so that a refused line is kept as it
was. Blank lines carry nothing and are skipped by both.

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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import reduce

from pyspark import StorageLevel
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, DataFrameReader, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from envelope.tag_envelope import KIND_TAGS, LINE_PATH_RE, QUALITIES, SCHEMA_VERSION

from .config import SiteConfig
from .lake import line_path_parts, merge_partitions, path_missing, require_utc
from .schemas import (
    CONFORMED_COLUMNS,
    CONFORMED_PARTITION_KEYS,
    CONFORMED_PLAIN,
    REJECTS_COLUMNS,
    REJECTS_PARTITION_KEYS,
)
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
_QUALITY_LIST = ", ".join(QUALITIES)
_UNIT_TABLE_TYPE = "map<string, struct<unit: string, scale: double, shift: double>>"


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

        The reader parses bytes directly, cheaper than ``from_json`` over text (parse, explode and
        write of a million values: 2.5 s against 3.7 s here), so the conformed pass uses it; it skips
        blank lines, which carry nothing.
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


def _record_problem(m: Column) -> Column:
    """Why a parsed line is not a usable tags batch (null when it is), in the envelope's words."""
    line = m["line"]
    return (
        F.when(m.isNull() | m[_CORRUPT].isNotNull(), F.lit("message: not a JSON object of the tag envelope's types"))
        .when(
            m["v"].isNull() | (m["v"] != SCHEMA_VERSION),
            F.format_string(f"v: %s is not the supported schema version {SCHEMA_VERSION}", m["v"]),
        )
        .when(
            m["kind"].isNull() | (m["kind"] != KIND_TAGS), F.format_string(f"kind: '%s' is not {KIND_TAGS}", m["kind"])
        )
        .when(
            m["site"].isNull() | (m["site"] == ""), F.format_string("site: '%s' is not a non-empty string", m["site"])
        )
        .when(
            m["gateway"].isNull() | (m["gateway"] == ""),
            F.format_string("gateway: '%s' is not a non-empty string", m["gateway"]),
        )
        .when(
            line.isNull() | ~line.rlike(LINE_PATH_RE.pattern),
            F.format_string("line: '%s' is not enterprise/site/area/line", line),
        )
        .when(
            F.split(line, "/").getItem(1) != m["site"],
            F.format_string("line: '%s' is not under site '%s'", line, m["site"]),
        )
        .when(
            m["batch_seq"].isNull() | (m["batch_seq"] < 0),
            F.format_string("batch_seq: %s is not a non-negative integer", m["batch_seq"]),
        )
        .when(
            m["values"].isNull() | (F.size(m["values"]) == 0), F.lit("values: expected a non-empty list of tag values")
        )
    )


def _value_parts(x: Column) -> dict[str, Column]:
    """Cell, tag and timestamp of a value: the last two segments of its path, and its ts.

    Spark finds a character in a string by comparing at every position and counts characters from
    the start to cut one, so the parts are found from the end of the path, which is short. The
    timestamp is read without its closing "Z" in the session time zone, UTC (``require_utc``): a zone
    in the text makes Spark look it up with regular expressions on every value.
    """
    cell_tag = F.substring_index(x["path"], "/", -2)
    before_z = F.substring_index(x["ts"], "Z", 1)
    return {
        "cell_tag": cell_tag,
        "cell": F.substring_index(cell_tag, "/", 1),
        "tag": F.substring_index(cell_tag, "/", -1),
        "before_z": before_z,
        "ts": F.try_to_timestamp(before_z),
    }


def _utc_marked(x: Column, parts: dict[str, Column]) -> Column:
    """True when the only "Z" of a value's ts is its last character and its date is followed by "T"."""
    ts = x["ts"]
    return (F.octet_length(parts["before_z"]) + 1 == F.octet_length(ts)) & ts.endswith("Z") & (F.instr(ts, "T") == 11)


def _value_ok(x: Column, line_prefix: Column, parts: dict[str, Column]) -> Column:
    """True when a value can be conformed.

    Kept small on purpose: Spark compiles the work on a row into one Java method, and a method too
    long for the JVM's JIT compiler runs interpreted, several times slower. The reasons are built only
    for refused rows (``_value_problem``), in the rejects query.
    """
    cell, tag, ts = parts["cell"], parts["tag"], parts["ts"]
    present = reduce(lambda a, b: a & b, [x[field].isNotNull() for field in _VALUE.fieldNames()])
    return (
        present
        # The path is the line's, a slash and cell/tag, and nothing else (its byte lengths add up):
        # cheaper than building the expected path for every value.
        & x["path"].startswith(line_prefix)
        & (F.octet_length(x["path"]) == F.octet_length(line_prefix) + F.octet_length(parts["cell_tag"]))
        & (cell != "")
        & (tag != "")
        & x["quality"].isin(*QUALITIES)
        & ts.isNotNull()
        & _utc_marked(x, parts)
        & (x["seq"] >= 0)
        & (x["id"] != "")
    )


def _value_problem(
    x: Column, index: Column, line_path: Column, line_prefix: Column, parts: dict[str, Column]
) -> Column:
    """Why one value of a usable batch cannot be conformed, in the envelope's words (the first problem)."""
    cell, tag, ts = parts["cell"], parts["tag"], parts["ts"]
    at = F.format_string("values[%d]", index)
    problem = F.when(x.isNull(), F.concat(at, F.lit(": expected an object")))
    for field in _VALUE.fieldNames():
        problem = problem.when(x[field].isNull(), F.concat(at, F.lit(f": missing {field}")))
    path = x["path"]
    return (
        problem.when(
            ~path.startswith(line_prefix),
            F.concat(at, F.format_string(".path: '%s' is not on the batch's line '%s'", path, line_path)),
        )
        .when(
            (cell == "") | (tag == "") | (F.concat(line_path, F.lit("/"), cell, F.lit("/"), tag) != path),
            F.concat(at, F.format_string(".path: '%s' is not enterprise/site/area/line/cell/tag", path)),
        )
        .when(
            ~x["quality"].isin(*QUALITIES),
            F.concat(at, F.format_string(f".quality: '%s' is not one of {_QUALITY_LIST}", x["quality"])),
        )
        .when(
            ts.isNull() | ~_utc_marked(x, parts),
            F.concat(at, F.format_string(".ts: '%s' is not ISO 8601 UTC like 2026-01-31T08:00:00.000Z", x["ts"])),
        )
        .when(x["seq"] < 0, F.concat(at, F.format_string(".seq: %d is not a non-negative integer", x["seq"])))
        .when(x["id"] == "", F.concat(at, F.lit(".id: '' is not a non-empty string")))
    )


def _unit_table(config: SiteConfig) -> Column:
    """Spelling -> (unit, scale, shift) as a constant map: a lookup per row, no join.

    Written as JSON and read by Spark once, when the plan is optimized: building the map from one
    literal per entry took about 0.7 s of calls from Python into the JVM on every run.
    """
    table = {spelling: c._asdict() for spelling, c in sorted(conversions(config.canonical_units).items())}
    return F.from_json(F.lit(json.dumps(table)), _UNIT_TABLE_TYPE)


def _area_line(line_path: Column) -> list[Column]:
    """``area`` and ``line`` of a batch from its ISA-95 line path (null for a batch without one)."""
    _, area, line = line_path_parts(line_path)
    return [area, line]


def batch_records(parsed: DataFrame) -> DataFrame:
    """The JSON reader's rows (``RawObjects.parsed``) as ``source_file``, the batch ``m``, its ``area``
    and ``line``, and ``record_problem`` (null when the batch is usable)."""
    records = parsed.select("source_file", F.struct(*ENVELOPE_SCHEMA.fieldNames()).alias("m"))
    return records.select("*", *_area_line(F.col("m.line")), _record_problem(F.col("m")).alias("record_problem"))


def line_records(lines: DataFrame) -> DataFrame:
    """Raw ``lines`` parsed like ``batch_records`` does, plus ``bad_line``: the text of a refused line."""
    parsed = lines.select("text", "source_file", F.from_json("text", ENVELOPE_SCHEMA, _PARSE_OPTIONS).alias("m"))
    problem = _record_problem(F.col("m"))
    return parsed.select(
        "source_file",
        "m",
        *_area_line(F.col("m.line")),
        problem.alias("record_problem"),
        F.when(problem.isNotNull(), F.col("text")).alias("bad_line"),
    )


# Just what locates a value's partition: parsing it is cheaper than the whole batch.
_LOCATION_SCHEMA = T.StructType(
    [
        T.StructField("line", T.StringType()),
        T.StructField("values", T.ArrayType(T.StructType([T.StructField("ts", T.StringType())]))),
    ]
)


def touched_partitions(spark: SparkSession, raw: RawObjects) -> list[dict[str, object]]:
    """The (area, line, date) partitions the values in ``raw`` can land in: a superset of the
    partitions of their conformed rows (it also counts values that are refused), found in one pass."""
    located = raw.parsed(spark, _LOCATION_SCHEMA).select("line", F.explode("values.ts").alias("ts"))
    found = located.select(*_area_line(F.col("line")), F.to_date(F.try_to_timestamp("ts")).alias("date")).distinct()
    return [row.asDict() for row in found.collect()]


def _values(records: DataFrame, *keep: str) -> DataFrame:
    """One row per value of a usable batch (``value_index``, ``x``) and one per refused line, with the
    batch's columns and ``keep``."""
    problem = F.col("record_problem")
    line_path = F.col("m.line")
    # Columns of the batch are computed once per line, in a select of their own: columns selected beside
    # a generator are evaluated after it, once per value. A refused line has no values to explode and
    # becomes a single row (explode_outer of null).
    batches = records.select(
        "source_file",
        "record_problem",
        *keep,
        F.col("m.site").alias("site"),
        F.col("m.gateway").alias("gateway"),
        line_path.alias("line_path"),
        F.concat(line_path, F.lit("/")).alias("line_prefix"),
        "area",
        "line",
        F.col("m.batch_seq").alias("batch_seq"),
        F.when(problem.isNull(), F.col("m.values")).alias("values"),
    )
    return batches.select(
        *(name for name in batches.columns if name != "values"),
        F.posexplode_outer("values").alias("value_index", "x"),
    )


def checked_rows(records: DataFrame, config: SiteConfig) -> DataFrame:
    """One row per value of a usable batch and one per refused line (``batch_records``): ``ok`` (false:
    refused) and the conformed columns."""
    x, line_prefix = F.col("x"), F.col("line_prefix")
    text = x["value"]
    # Java's number parser also takes "1d", "NaN", "Infinity": a decimal number ends with a digit.
    ends_with_digit = reduce(lambda a, b: a | b, [text.endswith(digit) for digit in "0123456789"])
    # In a select of its own: three columns use the number, and Spark keeps an expensive expression
    # used more than once in its own projection instead of parsing the text again for each.
    values = _values(records).withColumn("number", F.when(ends_with_digit, F.expr("try_cast(x.value AS DOUBLE)")))
    number = F.col("number")
    parts = _value_parts(x)
    ok = F.col("record_problem").isNull() & _value_ok(x, line_prefix, parts)
    boolean = F.when(text.isin("true", "false"), text == "true")
    conversion = _unit_table(config)[F.trim(x["unit"])]
    return values.select(
        ok.alias("ok"),
        F.col("site"),
        F.col("gateway"),
        F.col("area"),
        F.col("line"),
        parts["cell"].alias("cell"),
        parts["tag"].alias("tag"),
        x["path"].alias("path"),
        parts["ts"].alias("ts"),
        F.to_date(parts["ts"]).alias("date"),
        F.coalesce(number * conversion["scale"] + conversion["shift"], number).alias("value_double"),
        boolean.alias("value_bool"),
        F.when(number.isNull() & boolean.isNull(), text).alias("value_string"),
        F.coalesce(conversion["unit"], F.trim(x["unit"])).alias("unit"),
        x["quality"].alias("quality"),
        x["seq"].alias("seq"),
        x["id"].alias("id"),
    )


def reject_rows(records: DataFrame) -> DataFrame:
    """Every refused line, and every refused value of a usable batch (``line_records``), with its reason
    (rejects columns)."""
    values = _values(records, "bad_line")
    x, index, problem = F.col("x"), F.col("value_index"), F.col("record_problem")
    line_path, line_prefix = F.col("line_path"), F.col("line_prefix")
    parts = _value_parts(x)
    refused = values.where(problem.isNotNull() | ~_value_ok(x, line_prefix, parts))
    reason = _value_problem(x, index, line_path, line_prefix, parts)
    line_refused = problem.isNotNull()
    # Rejects are filed under the date partition of their raw object (null outside that layout).
    raw_date = F.nullif(F.regexp_extract("source_file", r"/date=([^/]+)/", 1), F.lit(""))
    return refused.select(
        "source_file",
        F.when(~line_refused, index).alias("value_index"),
        F.when(line_refused, problem).otherwise(reason).alias("reason"),
        F.when(line_refused, F.col("bad_line")).otherwise(F.to_json(x)).alias("record"),
        "gateway",
        "line_path",
        "batch_seq",
        raw_date.alias("date"),
    )


def _reject_field(reason: Column) -> Column:
    """The field a reason names, without value indexes: a bounded key for counting rejects."""
    return F.regexp_replace(F.substring_index(reason, ":", 1), r"\[\d+\]", "[]")


def conform(
    spark: SparkSession,
    raw: RawObjects,
    *,
    conformed_path: str,
    rejects_path: str,
    config: SiteConfig,
) -> ConformSummary:
    """Conform the ``raw`` objects into the conformed table, and what is refused into rejects."""
    require_utc(spark)
    nothing = ConformSummary(values=0, rejects={}, partitions=[])
    try:
        parsed = raw.parsed(spark)
    except AnalysisException as error:
        if path_missing(error):
            return nothing  # a fresh raw zone has no tags/ folder yet
        raise
    if not parsed.inputFiles():  # listed already; an action over no input reports no observed metrics
        return nothing
    # No cache and no counting pass: the conformed rows are written in one pass over the input, which
    # also gathers the summary (observed metrics). Rejects are rare, so finding them reads the input
    # again, as text (a refused line is kept as it was), and only when the write saw any.
    usable = F.col("record_problem").isNull()
    sent = Observation("batches")
    records = batch_records(parsed).observe(
        sent,
        F.count(F.when(~usable, 1)).alias("refused_lines"),
        F.coalesce(F.sum(F.when(usable, F.size("m.values"))), F.lit(0)).alias("values"),
    )
    # The batches of a line travel to one task before they are taken apart: moving a few thousand
    # batches is cheaper than moving their values one by one, and every copy of a value is on its line.
    checked = checked_rows(records.repartition("area", "line"), config)
    kept = Observation("conform")
    merge_partitions(
        spark,
        checked.where("ok"),
        conformed_path,
        CONFORMED_COLUMNS,
        CONFORMED_PARTITION_KEYS,
        ["id"],
        lambda: touched_partitions(spark, raw),
        CONFORMED_PLAIN,
        clustered_by=("area", "line"),
        observe=lambda rows: rows.observe(
            kept,
            F.count(F.lit(1)).alias("values"),
            F.collect_set(F.struct("area", "line", "date")).alias("partitions"),
        ),
    )
    batches, metrics = sent.get, kept.get
    refused = batches["refused_lines"] + batches["values"] - metrics["values"]
    rejects: dict[str, int] = {}
    if refused:
        refused_rows = reject_rows(line_records(raw.lines(spark))).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            tally = refused_rows.groupBy("date", _reject_field(F.col("reason")).alias("field")).count().collect()
            for row in tally:
                rejects[row["field"]] = rejects.get(row["field"], 0) + row["count"]
            dates = [{"date": date} for date in sorted({row["date"] for row in tally}, key=str)]
            merge_partitions(
                spark,
                refused_rows,
                rejects_path,
                REJECTS_COLUMNS,
                REJECTS_PARTITION_KEYS,
                ["source_file", "value_index", "reason", "record"],
                lambda: dates,
            )
        finally:
            refused_rows.unpersist()
    partitions = sorted(
        ({"area": p["area"], "line": p["line"], "date": p["date"]} for p in metrics["partitions"]),
        key=lambda p: (p["area"], p["line"], p["date"]),
    )
    return ConformSummary(values=metrics["values"], rejects=rejects, partitions=partitions)

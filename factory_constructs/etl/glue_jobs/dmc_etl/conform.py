"""Raw zone -> conformed zone: parse, check, type, normalise units, deduplicate, merge by partition.

Input: JSON Lines objects, each line one envelope ``tags`` batch. Output: one typed row per tag value,
deduplicated on ``id`` across the run and the rows already in the partitions it touches, so delivery
"at least once" and re-runs over the same objects leave exactly one row per value.

Built for one pass over the input: lines are parsed once with an explicit schema (no inference, no
UDF), checked with column expressions, and the checked rows are cached because three small actions
read them (the touched partitions and reject counts, the rejects, the conformed rows).

What is refused goes to the rejects table with the reason, never dropped and never failing the job:
* a whole line when it is not a readable ``tags`` batch: not JSON, a field of the wrong JSON type,
  a missing or wrong ``v``, ``kind``, ``site``, ``gateway``, ``line``, ``batch_seq`` or ``values``;
* a single value when only that value is wrong (missing field, path not on the batch's line, quality,
  timestamp, sequence number, id); the batch's other values are kept.
The checks follow ``envelope.tag_envelope.validate``. Spark's JSON reader is lenient in two ways the
envelope is not: a number or boolean in a string field is read as its text (an ``id`` sent as 7), and
a string of digits in an integer field as the number (a ``seq`` sent as "7"); the ingestion transform
already refuses both before the raw zone, so they are accepted here.

Typing: Spark's reader gives a polymorphic ``value`` as text without its JSON type, so a value is a
number when its text is a decimal number, a boolean when it is ``true``/``false``, a string otherwise
(a string that spells a number, such as "0042", is read as the number 42).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from envelope.tag_envelope import KIND_TAGS, LINE_PATH_RE, QUALITIES, SCHEMA_VERSION

from .config import SiteConfig
from .lake import merge_partitions, require_utc
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
_QUALITY_LIST = ", ".join(QUALITIES)


@dataclass(frozen=True)
class ConformSummary:
    """What one run did: values written (before deduplication), rejects per field, partitions touched."""

    values: int
    rejects: dict[str, int]
    partitions: list[dict[str, object]]


def read_raw(
    spark: SparkSession,
    paths: Sequence[str],
    modified_after: datetime | None = None,
    modified_before: datetime | None = None,
) -> DataFrame:
    """Raw lines (``text``) and their object (``source_file``) under ``paths``, optionally by modification time.

    Bounds are UTC (the session time zone); ``modified_after`` excludes, ``modified_before`` excludes.
    """
    reader = spark.read.option("recursiveFileLookup", "true")
    if modified_after is not None:
        reader = reader.option("modifiedAfter", _spark_time(modified_after))
    if modified_before is not None:
        reader = reader.option("modifiedBefore", _spark_time(modified_before))
    frame = reader.text(list(paths))
    return frame.select(F.col("value").alias("text"), F.col("_metadata.file_path").alias("source_file"))


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


def _value_parts(x: Column, line_path: Column) -> dict[str, Column]:
    """Cell, tag and timestamp of a value: the rest of its path after the batch's line, and its ts."""
    rest = F.substring(x["path"], F.length(line_path) + 2, 1 << 20)
    return {
        "cell": F.substring_index(rest, "/", 1),
        "tag": F.substring_index(rest, "/", -1),
        "ts": F.try_to_timestamp(x["ts"]),
    }


def _value_ok(x: Column, line_path: Column, parts: dict[str, Column]) -> Column:
    """True when a value can be conformed.

    Kept small on purpose: Spark compiles the work on a row into one Java method, and a method too
    long for the JVM's JIT compiler runs interpreted, several times slower. The reasons are built only
    for refused rows (``_value_problem``), in the rejects query.
    """
    cell, tag, ts = parts["cell"], parts["tag"], parts["ts"]
    present = reduce(lambda a, b: a & b, [x[field].isNotNull() for field in _VALUE.fieldNames()])
    return (
        present
        & (F.concat(line_path, F.lit("/"), cell, F.lit("/"), tag) == x["path"])
        & (cell != "")
        & (tag != "")
        & x["quality"].isin(*QUALITIES)
        & ts.isNotNull()
        & x["ts"].endswith("Z")
        & (F.substring(x["ts"], 11, 1) == "T")
        & (x["seq"] >= 0)
        & (x["id"] != "")
    )


def _value_problem(x: Column, index: Column, line_path: Column, parts: dict[str, Column]) -> Column:
    """Why one value of a usable batch cannot be conformed, in the envelope's words (the first problem)."""
    cell, tag, ts = parts["cell"], parts["tag"], parts["ts"]
    at = F.format_string("values[%d]", index)
    problem = F.when(x.isNull(), F.concat(at, F.lit(": expected an object")))
    for field in _VALUE.fieldNames():
        problem = problem.when(x[field].isNull(), F.concat(at, F.lit(f": missing {field}")))
    path = x["path"]
    return (
        problem.when(
            ~path.startswith(F.concat(line_path, F.lit("/"))),
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
            ts.isNull() | ~x["ts"].endswith("Z") | (F.substring(x["ts"], 11, 1) != "T"),
            F.concat(at, F.format_string(".ts: '%s' is not ISO 8601 UTC like 2026-01-31T08:00:00.000Z", x["ts"])),
        )
        .when(x["seq"] < 0, F.concat(at, F.format_string(".seq: %d is not a non-negative integer", x["seq"])))
        .when(x["id"] == "", F.concat(at, F.lit(".id: '' is not a non-empty string")))
    )


def _unit_table(config: SiteConfig) -> Column:
    """Spelling -> (unit, scale, shift) as a literal map: a lookup per row, no join."""
    entries = []
    for spelling, conversion in sorted(conversions(config.canonical_units).items()):
        entries += [
            F.lit(spelling),
            F.struct(
                F.lit(conversion.unit).alias("unit"),
                F.lit(conversion.scale).alias("scale"),
                F.lit(conversion.shift).alias("shift"),
            ),
        ]
    return F.create_map(*entries)


def parse_records(lines: DataFrame) -> DataFrame:
    """One row per raw line: ``source_file``, the parsed batch ``m``, ``record_problem`` (null when the
    batch is usable) and ``bad_line`` (the raw text, kept only for a refused line)."""
    parsed = lines.select("text", "source_file", F.from_json("text", ENVELOPE_SCHEMA, _PARSE_OPTIONS).alias("m"))
    problem = _record_problem(F.col("m"))
    return parsed.select(
        "source_file",
        "m",
        problem.alias("record_problem"),
        F.when(problem.isNotNull(), F.col("text")).alias("bad_line"),
    )


def _exploded(records: DataFrame) -> DataFrame:
    usable = records.where(F.col("record_problem").isNull())
    # Columns of the batch are computed once per line, before it is exploded into its values.
    return usable.select(
        "source_file",
        F.col("m.site").alias("site"),
        F.col("m.gateway").alias("gateway"),
        F.col("m.line").alias("line_path"),
        F.split(F.col("m.line"), "/").getItem(2).alias("area"),
        F.split(F.col("m.line"), "/").getItem(3).alias("line"),
        F.col("m.batch_seq").alias("batch_seq"),
        F.posexplode(F.col("m.values")).alias("value_index", "x"),
    )


def value_rows(records: DataFrame, config: SiteConfig) -> DataFrame:
    """The values of usable batches with the conformed columns, and ``ok`` (false: the value is refused)."""
    values = _exploded(records)
    x, line_path = F.col("x"), F.col("line_path")
    parts = _value_parts(x, line_path)
    text = x["value"]
    last_char = F.substring(text, -1, 1)
    # Java's number parser also takes "1d", "NaN", "Infinity": a decimal number ends with a digit.
    number = F.when(last_char.between("0", "9"), F.expr("try_cast(x.value AS DOUBLE)"))
    boolean = F.when(text.isin("true", "false"), text == "true")
    conversion = _unit_table(config)[F.trim(x["unit"])]
    return values.select(
        _value_ok(x, line_path, parts).alias("ok"),
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
    """Every refused line, and every refused value of a usable batch, with its reason (rejects columns)."""
    refused_lines = records.where(F.col("record_problem").isNotNull()).select(
        "source_file",
        F.lit(None).cast("int").alias("value_index"),
        F.col("record_problem").alias("reason"),
        F.col("bad_line").alias("record"),
        F.col("m.gateway").alias("gateway"),
        F.col("m.line").alias("line_path"),
        F.col("m.batch_seq").alias("batch_seq"),
    )
    values = _exploded(records)
    x, line_path = F.col("x"), F.col("line_path")
    parts = _value_parts(x, line_path)
    refused_values = values.where(~_value_ok(x, line_path, parts)).select(
        "source_file",
        "value_index",
        _value_problem(x, F.col("value_index"), line_path, parts).alias("reason"),
        F.to_json(x).alias("record"),
        "gateway",
        "line_path",
        "batch_seq",
    )
    # Rejects are filed under the date partition of their raw object (null outside that layout).
    raw_date = F.nullif(F.regexp_extract("source_file", r"/date=([^/]+)/", 1), F.lit(""))
    return refused_lines.unionByName(refused_values).withColumn("date", raw_date)


def _reject_field(reason: Column) -> Column:
    """The field a reason names, without value indexes: a bounded key for counting rejects."""
    return F.regexp_replace(F.substring_index(reason, ":", 1), r"\[\d+\]", "[]")


def conform(
    spark: SparkSession,
    lines: DataFrame,
    *,
    conformed_path: str,
    rejects_path: str,
    config: SiteConfig,
) -> ConformSummary:
    """Conform raw ``lines`` (``text``, ``source_file``) into the conformed table, refused ones into rejects."""
    require_utc(spark)
    # Only the parsed batches (one row per line, values still nested) are cached: every action below
    # starts from them, so the JSON is parsed once, and caching a few thousand rows costs little.
    records = parse_records(lines).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        values = value_rows(records, config)
        counts = values.groupBy("ok", "area", "line", "date").count().collect()
        partitions = [{"area": r["area"], "line": r["line"], "date": r["date"]} for r in counts if r["ok"]]
        rejects: dict[str, int] = {}
        if any(not row["ok"] for row in counts) or records.where(F.col("record_problem").isNotNull()).count():
            refused = reject_rows(records).persist(StorageLevel.MEMORY_AND_DISK)
            try:
                tally = refused.groupBy("date", _reject_field(F.col("reason")).alias("field")).count().collect()
                for row in tally:
                    rejects[row["field"]] = rejects.get(row["field"], 0) + row["count"]
                merge_partitions(
                    spark,
                    refused,
                    rejects_path,
                    REJECTS_COLUMNS,
                    REJECTS_PARTITION_KEYS,
                    ["source_file", "value_index", "reason", "record"],
                    [{"date": date} for date in sorted({row["date"] for row in tally}, key=str)],
                )
            finally:
                refused.unpersist()
        merge_partitions(
            spark, values.where("ok"), conformed_path, CONFORMED_COLUMNS, CONFORMED_PARTITION_KEYS, ["id"], partitions
        )
    finally:
        records.unpersist()
    return ConformSummary(values=sum(r["count"] for r in counts if r["ok"]), rejects=rejects, partitions=partitions)

"""The Glue Data Catalog of a site's lake: one database per zone, tables with partition projection.

Partition projection computes partitions from the table properties, so no crawler runs and
no partition is ever missing from a query: areas and lines come from the site model.
"""

from __future__ import annotations

import re

from aws_cdk import RemovalPolicy, Stack, Token
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from factory_constructs.etl.glue_jobs.schemas import (
    CONFORMED_COLUMNS,
    CONFORMED_PARTITION_KEYS,
    CURATED_TABLES,
    REJECTS_COLUMNS,
    REJECTS_PARTITION_KEYS,
    Columns,
)
from factory_constructs.lake.lake_bucket import ZONES

PROJECTION_START = "2024-01-01"
PARQUET = {
    "input_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "output_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "serde": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
}
# Raw objects are GZIP JSON Lines, one envelope message per line. The message's "line"
# (the ISA-95 line path) is read as line_path: "line" is the partition key.
RAW_TAG_COLUMNS: Columns = [
    ("v", "int"),
    ("kind", "string"),
    ("site", "string"),
    ("gateway", "string"),
    ("line_path", "string"),
    ("batch_seq", "bigint"),
    ("values", "array<struct<path:string,value:string,unit:string,quality:string,ts:string,seq:bigint,id:string>>"),
]
RAW_PARTITION_KEYS: Columns = [("area", "string"), ("line", "string"), ("date", "string"), ("hour", "string")]
# Glue accepts more, but Athena reads only database names of lowercase letters, digits and underscores.
DATABASE_NAME_RE = re.compile(r"^[a-z0-9_]{1,255}$")


class LakeCatalog(Construct):
    """Databases ``<site>_raw``, ``<site>_conformed``, ``<site>_curated`` (site id in lower case) and their tables.

    ``raw.tags`` reads the raw zone's JSON Lines; ``conformed.tag_values``, ``conformed.rejects`` and
    the curated tables read the ETL's Parquet output. ``areas`` and ``lines`` (at least one each,
    duplicates ignored) are the values partition projection offers for the ``area`` and ``line`` keys.
    ``removal_policy`` (default RETAIN): applies to the three databases.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        site_id: str,
        areas: list[str],
        lines: list[str],
        raw: s3.IBucket,
        conformed: s3.IBucket,
        curated: s3.IBucket,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        if not Token.is_unresolved(site_id):
            names = [f"{site_id.lower()}_{zone}" for zone in ZONES]
            invalid = [name for name in names if not DATABASE_NAME_RE.match(name)]
            if invalid:
                problems.append(
                    f"site_id {site_id!r} gives the Glue database name(s) {', '.join(invalid)}, which must be "
                    "lowercase letters, digits and underscores of at most 255 characters; fix: use a site id of "
                    "letters, digits and underscores of at most 245 characters"
                )
        for prop, values in (("areas", areas), ("lines", lines)):
            if not values:
                problems.append(
                    f"{prop} {values!r} is empty; fix: give at least one, partition projection enumerates them"
                )
        if problems:
            raise ValueError(f"LakeCatalog {construct_id}: " + "; ".join(problems))
        self._removal_policy = removal_policy
        self._catalog_id = Stack.of(self).account
        self._areas = ",".join(sorted(set(areas)))
        self._lines = ",".join(sorted(set(lines)))
        self.databases = {zone: self._database(site_id, zone) for zone in ZONES}
        self.raw_tags = self._table(
            "RawTags",
            "raw",
            "tags",
            location=f"s3://{raw.bucket_name}/tags/",
            columns=RAW_TAG_COLUMNS,
            partition_keys=RAW_PARTITION_KEYS,
            storage={
                "input_format": "org.apache.hadoop.mapred.TextInputFormat",
                "output_format": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                "serde": "org.openx.data.jsonserde.JsonSerDe",
            },
            serde_parameters={"mapping.line_path": "line", "ignore.malformed.json": "true"},
        )
        self.conformed_values = self._table(
            "ConformedValues",
            "conformed",
            "tag_values",
            location=f"s3://{conformed.bucket_name}/tag_values/",
            columns=CONFORMED_COLUMNS,
            partition_keys=CONFORMED_PARTITION_KEYS,
            storage=PARQUET,
        )
        self.rejects = self._table(
            "Rejects",
            "conformed",
            "rejects",
            location=f"s3://{conformed.bucket_name}/rejects/",
            columns=REJECTS_COLUMNS,
            partition_keys=REJECTS_PARTITION_KEYS,
            storage=PARQUET,
        )
        self.curated_tables = {
            name: self._table(
                f"Curated{''.join(part.title() for part in name.split('_'))}",
                "curated",
                name,
                location=f"s3://{curated.bucket_name}/{name}/",
                columns=columns,
                partition_keys=partition_keys,
                storage=PARQUET,
            )
            for name, (columns, partition_keys) in CURATED_TABLES.items()
        }

    def _database(self, site_id: str, zone: str) -> glue.CfnDatabase:
        database = glue.CfnDatabase(
            self,
            f"{zone.title()}Database",
            catalog_id=self._catalog_id,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=f"{site_id.lower()}_{zone}", description=f"{zone} zone of site {site_id}"
            ),
        )
        database.apply_removal_policy(self._removal_policy)
        return database

    def _projection(self, location: str, partition_keys: Columns) -> dict[str, str]:
        """Projection properties for our partition keys: area/line enums, hour 00-23, date days since start."""
        parameters = {"projection.enabled": "true"}
        template = location
        for name, glue_type in partition_keys:
            template += f"{name}=${{{name}}}/"
            if name == "area":
                parameters.update({"projection.area.type": "enum", "projection.area.values": self._areas})
            elif name == "line":
                parameters.update({"projection.line.type": "enum", "projection.line.values": self._lines})
            elif name == "hour":
                parameters.update(
                    {"projection.hour.type": "integer", "projection.hour.range": "0,23", "projection.hour.digits": "2"}
                )
            elif name == "date":
                parameters.update(
                    {
                        "projection.date.type": "date",
                        "projection.date.format": "yyyy-MM-dd",
                        "projection.date.range": f"{PROJECTION_START},NOW",
                        "projection.date.interval.unit": "DAYS",
                    }
                )
            else:
                raise ValueError(f"no projection for partition key {name!r} ({glue_type})")
        parameters["storage.location.template"] = template
        return parameters

    def _table(
        self,
        construct_id: str,
        zone: str,
        name: str,
        *,
        location: str,
        columns: Columns,
        partition_keys: Columns,
        storage: dict[str, str],
        serde_parameters: dict[str, str] | None = None,
    ) -> glue.CfnTable:
        database = self.databases[zone]
        parameters = {
            "classification": "json" if "JsonSerDe" in storage["serde"] else "parquet",
            **self._projection(location, partition_keys),
        }
        return glue.CfnTable(
            self,
            construct_id,
            catalog_id=self._catalog_id,
            database_name=database.ref,
            table_input=glue.CfnTable.TableInputProperty(
                name=name,
                table_type="EXTERNAL_TABLE",
                parameters=parameters,
                partition_keys=[glue.CfnTable.ColumnProperty(name=key, type=kind) for key, kind in partition_keys],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    input_format=storage["input_format"],
                    output_format=storage["output_format"],
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=storage["serde"], parameters=serde_parameters
                    ),
                    columns=[glue.CfnTable.ColumnProperty(name=column, type=kind) for column, kind in columns],
                ),
            ),
        )

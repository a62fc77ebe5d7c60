"""LakeCatalog on a bare stack: databases, tables, partition projection, validations, removal policy, nag."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import pytest
from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from construct_helpers import ACCOUNT, access_logs, bare_stack, site_keys, unacknowledged_findings
from factory_constructs.etl.glue_jobs.schemas import (
    CONFORMED_COLUMNS,
    CONFORMED_PARTITION_KEYS,
    CURATED_TABLES,
    REJECTS_COLUMNS,
    REJECTS_PARTITION_KEYS,
    Columns,
)
from factory_constructs.etl.lake_catalog import LakeCatalog
from factory_constructs.lake.lake_bucket import LakeBucket

pytestmark = pytest.mark.synth

PARQUET_STORAGE = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}
DATE_PROJECTION = {
    "projection.date.type": "date",
    "projection.date.format": "yyyy-MM-dd",
    "projection.date.range": "2024-01-01,NOW",
    "projection.date.interval.unit": "DAYS",
}


class Built(NamedTuple):
    stack: Stack
    buckets: dict[str, s3.IBucket]
    catalog: LakeCatalog

    def template(self) -> Template:
        return Template.from_stack(self.stack)

    def resolve(self, value: Any) -> Any:
        return self.stack.resolve(value)

    def database_ref(self, zone: str) -> Any:
        return self.resolve(self.catalog.databases[zone].ref)

    def s3_url(self, zone: str, path: str) -> Any:
        """``s3://<zone bucket>/<path>`` as the template renders it."""
        return self.resolve(f"s3://{self.buckets[zone].bucket_name}/{path}")


def build(**props: Any) -> Built:
    """A LakeCatalog "Catalog" of site plantA (one area, one line) on plain buckets, unless ``props`` override."""
    stack = bare_stack()
    buckets: dict[str, s3.IBucket] = {zone: s3.Bucket(stack, zone.title()) for zone in ("raw", "conformed", "curated")}
    catalog = LakeCatalog(
        stack,
        "Catalog",
        raw=buckets["raw"],
        conformed=buckets["conformed"],
        curated=buckets["curated"],
        **{"site_id": "plantA", "areas": ["filling"], "lines": ["line1"], **props},
    )
    return Built(stack, buckets, catalog)


def new(**props: Any) -> LakeCatalog:
    """Only the constructor (for validation tests): no template is synthesized."""
    stack = bare_stack()
    bucket = s3.Bucket(stack, "Bucket")
    return LakeCatalog(stack, "Catalog", raw=bucket, conformed=bucket, curated=bucket, **props)


def columns(pairs: Columns) -> list[dict[str, str]]:
    return [{"Name": name, "Type": kind} for name, kind in pairs]


def line_day_projection(areas: str = "filling", lines: str = "line1") -> dict[str, str]:
    return {
        "projection.enabled": "true",
        "projection.area.type": "enum",
        "projection.area.values": areas,
        "projection.line.type": "enum",
        "projection.line.values": lines,
        **DATE_PROJECTION,
    }


def parquet_table(built: Built, zone: str, name: str, table_columns: Columns, partition_keys: Columns) -> dict:
    """The whole TableInput of a Parquet table under ``s3://<zone>/<name>/``, partitioned by ``partition_keys``."""
    template_path = f"{name}/" + "".join(f"{key}=${{{key}}}/" for key, _ in partition_keys)
    projection = (
        line_day_projection()
        if [key for key, _ in partition_keys] == ["area", "line", "date"]
        else {"projection.enabled": "true", **DATE_PROJECTION}
    )
    return {
        "CatalogId": ACCOUNT,
        "DatabaseName": built.database_ref(zone),
        "TableInput": Match.exact(
            {
                "Name": name,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {
                    "classification": "parquet",
                    **projection,
                    "storage.location.template": built.s3_url(zone, template_path),
                },
                "PartitionKeys": columns(partition_keys),
                "StorageDescriptor": {
                    "Location": built.s3_url(zone, f"{name}/"),
                    "Columns": columns(table_columns),
                    **PARQUET_STORAGE,
                },
            }
        ),
    }


@pytest.fixture(scope="module")
def default() -> Built:
    return build()


# --- defaults ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["raw", "conformed", "curated"])
def test_each_zone_gets_a_database_named_after_the_site_in_lower_case(default: Built, zone: str) -> None:
    default.template().has_resource_properties(
        "AWS::Glue::Database",
        {
            "CatalogId": ACCOUNT,
            "DatabaseInput": Match.exact({"Name": f"planta_{zone}", "Description": f"{zone} zone of site plantA"}),
        },
    )


def test_there_are_exactly_three_databases_and_seven_tables(default: Built) -> None:
    template = default.template()
    template.resource_count_is("AWS::Glue::Database", 3)
    names = sorted(
        table["Properties"]["TableInput"]["Name"] for table in template.find_resources("AWS::Glue::Table").values()
    )
    assert names == ["downtime_events", "line_shift_oee", "rejects", "tag_hour", "tag_minute", "tag_values", "tags"]


def test_raw_tags_read_the_raw_json_lines_and_map_the_messages_line_to_line_path(default: Built) -> None:
    default.template().has_resource_properties(
        "AWS::Glue::Table",
        {
            "CatalogId": ACCOUNT,
            "DatabaseName": default.database_ref("raw"),
            "TableInput": Match.exact(
                {
                    "Name": "tags",
                    "TableType": "EXTERNAL_TABLE",
                    "Parameters": {
                        "classification": "json",
                        **line_day_projection(),
                        "projection.hour.type": "integer",
                        "projection.hour.range": "0,23",
                        "projection.hour.digits": "2",
                        "storage.location.template": default.s3_url(
                            "raw", "tags/area=${area}/line=${line}/date=${date}/hour=${hour}/"
                        ),
                    },
                    "PartitionKeys": columns(
                        [("area", "string"), ("line", "string"), ("date", "string"), ("hour", "string")]
                    ),
                    "StorageDescriptor": {
                        "Location": default.s3_url("raw", "tags/"),
                        "Columns": columns(
                            [
                                ("v", "int"),
                                ("kind", "string"),
                                ("site", "string"),
                                ("gateway", "string"),
                                ("line_path", "string"),
                                ("batch_seq", "bigint"),
                                (
                                    "values",
                                    "array<struct<path:string,value:string,unit:string,quality:string,ts:string,"
                                    "seq:bigint,id:string>>",
                                ),
                            ]
                        ),
                        "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
                        "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                        "SerdeInfo": {
                            "SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe",
                            "Parameters": {"mapping.line_path": "line", "ignore.malformed.json": "true"},
                        },
                    },
                }
            ),
        },
    )


def test_conformed_tag_values_are_parquet_with_the_etls_columns(default: Built) -> None:
    default.template().has_resource_properties(
        "AWS::Glue::Table",
        parquet_table(default, "conformed", "tag_values", CONFORMED_COLUMNS, CONFORMED_PARTITION_KEYS),
    )


def test_rejects_are_parquet_in_the_conformed_zone_partitioned_by_day_only(default: Built) -> None:
    assert REJECTS_PARTITION_KEYS == [("date", "string")]
    default.template().has_resource_properties(
        "AWS::Glue::Table", parquet_table(default, "conformed", "rejects", REJECTS_COLUMNS, REJECTS_PARTITION_KEYS)
    )


@pytest.mark.parametrize("name", sorted(CURATED_TABLES))
def test_each_curated_table_is_parquet_under_its_folder_with_the_etls_columns(default: Built, name: str) -> None:
    table_columns, partition_keys = CURATED_TABLES[name]
    default.template().has_resource_properties(
        "AWS::Glue::Table", parquet_table(default, "curated", name, table_columns, partition_keys)
    )


def test_the_construct_exposes_each_table_by_name(default: Built) -> None:
    catalog = default.catalog
    assert sorted(catalog.curated_tables) == sorted(CURATED_TABLES)
    table_names = {
        "tags": catalog.raw_tags,
        "tag_values": catalog.conformed_values,
        "rejects": catalog.rejects,
        **catalog.curated_tables,
    }
    for name, table in table_names.items():
        assert table.table_input.name == name  # type: ignore[union-attr]


# --- customisations: projection values ----------------------------------------------------------------


def test_areas_and_lines_are_projected_sorted_and_deduplicated() -> None:
    built = build(areas=["packing", "filling", "packing"], lines=["line2", "line1", "line2", "line10"])
    template = built.template()
    for table in template.find_resources("AWS::Glue::Table").values():
        parameters = table["Properties"]["TableInput"]["Parameters"]
        if table["Properties"]["TableInput"]["Name"] == "rejects":
            assert "projection.area.values" not in parameters
            continue
        assert parameters["projection.area.values"] == "filling,packing"
        assert parameters["projection.line.values"] == "line1,line10,line2"


def test_a_site_id_is_lower_cased_in_the_database_names() -> None:
    template = build(site_id="Plant_B2").template()
    names = sorted(
        database["Properties"]["DatabaseInput"]["Name"]
        for database in template.find_resources("AWS::Glue::Database").values()
    )
    assert names == ["plant_b2_conformed", "plant_b2_curated", "plant_b2_raw"]


# --- validations ----------------------------------------------------------------------------------------


def test_areas_must_not_be_empty() -> None:
    message = "LakeCatalog Catalog: areas [] is empty; fix: give at least one, partition projection enumerates them"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(site_id="plantA", areas=[], lines=["line1"])


def test_lines_must_not_be_empty() -> None:
    message = "LakeCatalog Catalog: lines [] is empty; fix: give at least one, partition projection enumerates them"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(site_id="plantA", areas=["filling"], lines=[])


def test_site_id_must_give_database_names_of_lowercase_letters_digits_and_underscores() -> None:
    message = (
        "LakeCatalog Catalog: site_id 'plant-A' gives the Glue database name(s) plant-a_raw, plant-a_conformed, "
        "plant-a_curated, which must be lowercase letters, digits and underscores of at most 255 characters; "
        "fix: use a site id of letters, digits and underscores of at most 245 characters"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(site_id="plant-A", areas=["filling"], lines=["line1"])


def test_site_id_must_keep_every_database_name_within_255_characters() -> None:
    new(site_id="p" * 245, areas=["filling"], lines=["line1"])  # "<245>_conformed" is exactly 255
    site_id = "p" * 248  # "<248>_raw" still fits
    message = (
        f"LakeCatalog Catalog: site_id {site_id!r} gives the Glue database name(s) {site_id}_conformed, "
        f"{site_id}_curated, which must be lowercase letters, digits and underscores of at most 255 characters; "
        "fix: use a site id of letters, digits and underscores of at most 245 characters"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(site_id=site_id, areas=["filling"], lines=["line1"])


def test_every_problem_is_reported_at_once() -> None:
    message = (
        "LakeCatalog Catalog: site_id 'plant A' gives the Glue database name(s) plant a_raw, plant a_conformed, "
        "plant a_curated, which must be lowercase letters, digits and underscores of at most 255 characters; "
        "fix: use a site id of letters, digits and underscores of at most 245 characters; "
        "areas [] is empty; fix: give at least one, partition projection enumerates them; "
        "lines [] is empty; fix: give at least one, partition projection enumerates them"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(site_id="plant A", areas=[], lines=[])


# --- removal policy -------------------------------------------------------------------------------------


def test_databases_are_retained_by_default(default: Built) -> None:
    databases = default.template().find_resources("AWS::Glue::Database")
    assert len(databases) == 3
    assert {(db["DeletionPolicy"], db["UpdateReplacePolicy"]) for db in databases.values()} == {("Retain", "Retain")}


def test_destroy_deletes_the_databases_with_their_stack() -> None:
    databases = build(removal_policy=RemovalPolicy.DESTROY).template().find_resources("AWS::Glue::Database")
    assert len(databases) == 3
    assert {(db["DeletionPolicy"], db["UpdateReplacePolicy"]) for db in databases.values()} == {("Delete", "Delete")}


# --- nag ------------------------------------------------------------------------------------------------


def test_the_catalog_alone_on_an_audit_trail_stack_has_no_unacknowledged_findings() -> None:
    stack = bare_stack(audit_trail=True)
    key = site_keys(stack).data
    logs = access_logs(stack)
    zones = {
        zone: LakeBucket(
            stack,
            zone.title(),
            zone=zone,
            key=key,
            access_logs=logs,
            expiration_days=400,
            object_lock_days=30 if zone == "raw" else None,
        ).bucket
        for zone in ("raw", "conformed", "curated")
    }
    LakeCatalog(
        stack,
        "Catalog",
        site_id="plantA",
        areas=["filling", "packing"],
        lines=["line1", "line2"],
        raw=zones["raw"],
        conformed=zones["conformed"],
        curated=zones["curated"],
    )
    assert unacknowledged_findings(stack) == []

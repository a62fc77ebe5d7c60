"""LakeCatalog on a bare stack: databases, the raw projection table, the Iceberg tables and their
optimizers, the optimizer role, snapshot retention, validations, grants, removal policy, nag."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

import pytest
from aws_cdk import CfnParameter, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Matcher, Template

from construct_helpers import (
    ACCOUNT,
    REGION,
    access_logs,
    bare_stack,
    role_statements,
    site_keys,
    unacknowledged_findings,
)
from factory_constructs.etl.glue_jobs.schemas import (
    CURATED_TABLES,
    REJECTS_COLUMNS,
    REJECTS_PARTITION_KEYS,
    Columns,
)
from factory_constructs.etl.lake_catalog import LakeCatalog, iceberg_schema, snapshot_retention_days
from factory_constructs.lake.lake_bucket import LakeBucket

pytestmark = pytest.mark.synth

# What Spark 3.5 with Iceberg 1.10 writes into a table's metadata for each of our Glue types
# (checked on a table made by dmc_etl.tables.create_table in a local catalog).
SPARK_ICEBERG_TYPES = {
    "string": "string",
    "int": "int",
    "bigint": "long",
    "double": "double",
    "boolean": "boolean",
    "timestamp": "timestamptz",
    "date": "date",
}
ICEBERG_PROPERTIES = {
    "format-version": "2",
    "write.format.default": "parquet",
    "write.parquet.compression-codec": "zstd",
}
# Each Iceberg table: (zone, construct id).
ICEBERG_TABLES = {
    "tag_values": ("conformed", "ConformedValues"),
    "rejects": ("conformed", "Rejects"),
    "tag_minute": ("curated", "CuratedTagMinute"),
    "tag_hour": ("curated", "CuratedTagHour"),
    "line_shift_oee": ("curated", "CuratedLineShiftOee"),
    "downtime_events": ("curated", "CuratedDowntimeEvents"),
}


class Built(NamedTuple):
    stack: Stack
    buckets: dict[str, s3.IBucket]
    key: kms.IKey
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

    def logical_id(self, construct: Any) -> str:
        return self.stack.get_logical_id(construct)

    def optimizers(self, table: str) -> dict[str, Mapping[str, Any]]:
        """Type -> the whole resource (Properties, DependsOn) of each optimizer of one table."""
        found: dict[str, Mapping[str, Any]] = {}
        for resource in self.template().find_resources("AWS::Glue::TableOptimizer").values():
            if resource["Properties"]["TableName"] == table:
                found[resource["Properties"]["Type"]] = resource
        return found


def build(**props: Any) -> Built:
    """A LakeCatalog "Catalog" of site plantA (one area, one line) on plain buckets and the site key,
    with conformed kept 3650 and curated 1825 days and no audit window, unless ``props`` override."""
    stack = bare_stack()
    keys = site_keys(stack)
    buckets: dict[str, s3.IBucket] = {zone: s3.Bucket(stack, zone.title()) for zone in ("raw", "conformed", "curated")}
    catalog = LakeCatalog(
        stack,
        "Catalog",
        raw=buckets["raw"],
        conformed=buckets["conformed"],
        curated=buckets["curated"],
        key=keys.data,
        **{
            "site_id": "plantA",
            "areas": ["filling"],
            "lines": ["line1"],
            "conformed_retention_days": 3650,
            "curated_retention_days": 1825,
            **props,
        },
    )
    return Built(stack, buckets, keys.data, catalog)


def new(stack: Stack | None = None, **props: Any) -> LakeCatalog:
    """Only the constructor (for validation tests): no template is synthesized."""
    stack = stack or bare_stack()
    bucket = s3.Bucket(stack, "Bucket")
    key = kms.Key(stack, "Key")
    defaults = {
        "site_id": "plantA",
        "areas": ["filling"],
        "lines": ["line1"],
        "conformed_retention_days": 3650,
        "curated_retention_days": 1825,
    }
    return LakeCatalog(stack, "Catalog", raw=bucket, conformed=bucket, curated=bucket, key=key, **{**defaults, **props})


def columns(pairs: Columns) -> list[dict[str, str]]:
    return [{"Name": name, "Type": kind} for name, kind in pairs]


def iceberg_fields(pairs: Columns) -> list[dict[str, Any]]:
    return [
        {"Id": index, "Name": name, "Type": SPARK_ICEBERG_TYPES[kind], "Required": False}
        for index, (name, kind) in enumerate(pairs, start=1)
    ]


def iceberg_table(built: Built, zone: str, name: str, table_columns: Columns, partition_keys: Columns) -> Matcher:
    """The whole AWS::Glue::Table of an Iceberg table under ``s3://<zone>/<name>/``."""
    all_columns = table_columns + partition_keys
    first_key = len(table_columns) + 1
    return Match.exact(
        {
            "CatalogId": ACCOUNT,
            "DatabaseName": built.database_ref(zone),
            "Name": name,
            "OpenTableFormatInput": {
                "IcebergInput": {
                    "MetadataOperation": "CREATE",
                    "Version": "2",
                    "IcebergTableInput": {
                        "Location": built.s3_url(zone, f"{name}/"),
                        "Schema": {"Type": "struct", "SchemaId": 0, "Fields": iceberg_fields(all_columns)},
                        "PartitionSpec": {
                            "SpecId": 0,
                            "Fields": [
                                {
                                    "Name": key,
                                    "SourceId": first_key + index,
                                    "Transform": "identity",
                                    "FieldId": 1000 + index,
                                }
                                for index, (key, _) in enumerate(partition_keys)
                            ],
                        },
                        "Properties": ICEBERG_PROPERTIES,
                    },
                }
            },
        }
    )


def glue_arn(resource: str) -> dict[str, Any]:
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":glue:{REGION}:{ACCOUNT}:{resource}"]]}


ICEBERG_RESOURCE_ARNS = [
    glue_arn("catalog"),
    glue_arn("database/planta_conformed"),
    glue_arn("database/planta_curated"),
    *(glue_arn(f"table/planta_{zone}/{name}") for name, (zone, _) in ICEBERG_TABLES.items()),
]


@pytest.fixture(scope="module")
def default() -> Built:
    return build()


# --- defaults: databases and the raw table --------------------------------------------------------------


@pytest.mark.parametrize("zone", ["raw", "conformed", "curated"])
def test_each_zone_gets_a_database_named_after_the_site_in_lower_case(default: Built, zone: str) -> None:
    default.template().has_resource_properties(
        "AWS::Glue::Database",
        {
            "CatalogId": ACCOUNT,
            "DatabaseInput": Match.exact({"Name": f"planta_{zone}", "Description": f"{zone} zone of site plantA"}),
        },
    )
    assert default.catalog.database_names[zone] == f"planta_{zone}"


def test_there_are_exactly_three_databases_and_seven_tables(default: Built) -> None:
    template = default.template()
    template.resource_count_is("AWS::Glue::Database", 3)
    names = sorted(
        table["Properties"].get("Name") or table["Properties"]["TableInput"]["Name"]
        for table in template.find_resources("AWS::Glue::Table").values()
    )
    assert names == ["downtime_events", "line_shift_oee", "rejects", "tag_hour", "tag_minute", "tag_values", "tags"]


def test_raw_tags_read_the_raw_json_lines_with_projected_partitions(default: Built) -> None:
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
                        "projection.enabled": "true",
                        "projection.area.type": "enum",
                        "projection.area.values": "filling",
                        "projection.line.type": "enum",
                        "projection.line.values": "line1",
                        "projection.date.type": "date",
                        "projection.date.format": "yyyy-MM-dd",
                        "projection.date.range": "2024-01-01,NOW",
                        "projection.date.interval.unit": "DAYS",
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


# --- defaults: the Iceberg tables ----------------------------------------------------------------------


def test_conformed_tag_values_is_the_iceberg_table_spark_creates_from_the_same_columns(default: Built) -> None:
    """Field by field what `CREATE TABLE ... USING iceberg` of dmc_etl.tables writes (ids, types, partitions)."""
    expected_fields = [
        (1, "site", "string"),
        (2, "gateway", "string"),
        (3, "cell", "string"),
        (4, "tag", "string"),
        (5, "path", "string"),
        (6, "ts", "timestamptz"),
        (7, "value_double", "double"),
        (8, "value_bool", "boolean"),
        (9, "value_string", "string"),
        (10, "unit", "string"),
        (11, "quality", "string"),
        (12, "seq", "long"),
        (13, "id", "string"),
        (14, "area", "string"),
        (15, "line", "string"),
        (16, "date", "date"),
    ]
    default.template().has_resource_properties(
        "AWS::Glue::Table",
        Match.exact(
            {
                "CatalogId": ACCOUNT,
                "DatabaseName": default.database_ref("conformed"),
                "Name": "tag_values",
                "OpenTableFormatInput": {
                    "IcebergInput": {
                        "MetadataOperation": "CREATE",
                        "Version": "2",
                        "IcebergTableInput": {
                            "Location": default.s3_url("conformed", "tag_values/"),
                            "Schema": {
                                "Type": "struct",
                                "SchemaId": 0,
                                "Fields": [
                                    {"Id": field_id, "Name": name, "Type": kind, "Required": False}
                                    for field_id, name, kind in expected_fields
                                ],
                            },
                            "PartitionSpec": {
                                "SpecId": 0,
                                "Fields": [
                                    {"Name": "area", "SourceId": 14, "Transform": "identity", "FieldId": 1000},
                                    {"Name": "line", "SourceId": 15, "Transform": "identity", "FieldId": 1001},
                                    {"Name": "date", "SourceId": 16, "Transform": "identity", "FieldId": 1002},
                                ],
                            },
                            "Properties": ICEBERG_PROPERTIES,
                        },
                    }
                },
            }
        ),
    )


def test_rejects_are_an_iceberg_table_in_the_conformed_zone_partitioned_by_day_only(default: Built) -> None:
    assert REJECTS_PARTITION_KEYS == [("date", "string")]
    default.template().has_resource_properties(
        "AWS::Glue::Table", iceberg_table(default, "conformed", "rejects", REJECTS_COLUMNS, REJECTS_PARTITION_KEYS)
    )


@pytest.mark.parametrize("name", sorted(CURATED_TABLES))
def test_each_curated_table_is_an_iceberg_table_under_its_folder(default: Built, name: str) -> None:
    table_columns, partition_keys = CURATED_TABLES[name]
    assert [key for key, _ in partition_keys] == ["area", "line", "date"]
    default.template().has_resource_properties(
        "AWS::Glue::Table", iceberg_table(default, "curated", name, table_columns, partition_keys)
    )


def test_no_iceberg_table_carries_a_table_input(default: Built) -> None:
    """A TableInput beside the Iceberg input is refused by Glue, or drops table_type=ICEBERG on an update."""
    tables = default.template().find_resources("AWS::Glue::Table")
    with_input = sorted(
        t["Properties"]["TableInput"]["Name"] for t in tables.values() if "TableInput" in t["Properties"]
    )
    assert with_input == ["tags"]


def test_the_construct_exposes_each_table_by_name(default: Built) -> None:
    catalog = default.catalog
    assert sorted(catalog.curated_tables) == sorted(CURATED_TABLES)
    assert catalog.raw_tags.table_input.name == "tags"  # type: ignore[union-attr]
    named = {"tag_values": catalog.conformed_values, "rejects": catalog.rejects, **catalog.curated_tables}
    for name, table in named.items():
        assert table.name == name
    assert {zone: sorted(tables) for zone, tables in catalog.iceberg_tables.items()} == {
        "conformed": ["rejects", "tag_values"],
        "curated": sorted(CURATED_TABLES),
    }


def test_iceberg_schema_refuses_a_type_it_has_no_iceberg_type_for() -> None:
    message = (
        "no Iceberg type for column(s) values array<string>, n float; "
        "fix: use one of string, int, bigint, double, boolean, timestamp, date or add the mapping to ICEBERG_TYPES"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        iceberg_schema([("site", "string"), ("values", "array<string>"), ("n", "float")])


# --- defaults: the table optimizers --------------------------------------------------------------------


@pytest.mark.parametrize("table", sorted(ICEBERG_TABLES))
def test_each_iceberg_table_is_compacted_expires_snapshots_and_deletes_orphan_files(default: Built, table: str) -> None:
    zone, _ = ICEBERG_TABLES[table]
    role_arn = default.resolve(default.catalog.optimizer_role.role_arn)
    optimizers = {kind: resource["Properties"] for kind, resource in default.optimizers(table).items()}
    common = {"CatalogId": ACCOUNT, "DatabaseName": default.database_ref(zone), "TableName": table}
    assert optimizers == {
        "compaction": {
            **common,
            "Type": "compaction",
            "TableOptimizerConfiguration": {
                "Enabled": True,
                "RoleArn": role_arn,
                "CompactionConfiguration": {"IcebergConfiguration": {"Strategy": "binpack"}},
            },
        },
        "retention": {
            **common,
            "Type": "retention",
            "TableOptimizerConfiguration": {
                "Enabled": True,
                "RoleArn": role_arn,
                "RetentionConfiguration": {
                    "IcebergConfiguration": {
                        # No audit window: a week of time travel (both zones keep their data longer).
                        "SnapshotRetentionPeriodInDays": 7,
                        "NumberOfSnapshotsToRetain": 1,
                        "CleanExpiredFiles": True,
                    }
                },
            },
        },
        "orphan_file_deletion": {
            **common,
            "Type": "orphan_file_deletion",
            "TableOptimizerConfiguration": {
                "Enabled": True,
                "RoleArn": role_arn,
                "OrphanFileDeletionConfiguration": {
                    "IcebergConfiguration": {
                        "Location": default.s3_url(zone, f"{table}/"),
                        "OrphanFileRetentionPeriodInDays": 3,
                    }
                },
            },
        },
    }


def test_there_are_three_optimizers_per_iceberg_table_and_none_on_raw(default: Built) -> None:
    optimizers = default.template().find_resources("AWS::Glue::TableOptimizer").values()
    tables = sorted(resource["Properties"]["TableName"] for resource in optimizers)
    assert tables == sorted(3 * list(ICEBERG_TABLES))


def test_each_optimizer_is_created_after_its_table_and_the_roles_policy(default: Built) -> None:
    role = default.catalog.optimizer_role
    policy = role.node.find_child("DefaultPolicy").node.default_child
    for name, (zone, _) in ICEBERG_TABLES.items():
        table = default.catalog.iceberg_tables[zone][name]
        for kind, resource in default.optimizers(name).items():
            assert sorted(resource["DependsOn"]) == sorted(
                [
                    default.logical_id(table),
                    default.logical_id(role.node.default_child),
                    default.logical_id(policy),
                ]
            ), (name, kind)


def test_the_optimizer_role_is_assumed_by_glue_only(default: Built) -> None:
    default.template().has_resource_properties(
        "AWS::IAM::Role",
        Match.exact(
            {
                "AssumeRolePolicyDocument": {
                    "Statement": [
                        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}}
                    ],
                    "Version": "2012-10-17",
                },
                "Description": "Glue table optimizers of the lake's Iceberg tables",
                "Tags": Match.any_value(),
            }
        ),
    )


def test_the_optimizer_role_reaches_only_the_iceberg_tables_folders_catalog_entries_logs_and_the_key(
    default: Built,
) -> None:
    def objects(zone: str, table: str) -> Any:
        return default.resolve(default.buckets[zone].arn_for_objects(f"{table}/*"))

    def logs(group: str) -> Any:
        return {
            "Fn::Join": [
                "",
                ["arn:", {"Ref": "AWS::Partition"}, f":logs:{REGION}:{ACCOUNT}:log-group:/aws-glue/{group}/logs:*"],
            ]
        }

    role_statements(
        default.stack,
        default.catalog.optimizer_role,
        [
            {
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Effect": "Allow",
                "Resource": [objects(zone, table) for table, (zone, _) in ICEBERG_TABLES.items()],
            },
            {
                "Action": "s3:ListBucket",
                "Condition": {"StringLike": {"s3:prefix": ["tag_values/*", "rejects/*"]}},
                "Effect": "Allow",
                "Resource": default.resolve(default.buckets["conformed"].bucket_arn),
            },
            {
                "Action": "s3:ListBucket",
                "Condition": {
                    "StringLike": {"s3:prefix": ["tag_minute/*", "tag_hour/*", "line_shift_oee/*", "downtime_events/*"]}
                },
                "Effect": "Allow",
                "Resource": default.resolve(default.buckets["curated"].bucket_arn),
            },
            {
                "Action": ["glue:GetTable", "glue:UpdateTable"],
                "Effect": "Allow",
                "Resource": ICEBERG_RESOURCE_ARNS,
            },
            {
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Effect": "Allow",
                "Resource": [
                    logs("iceberg-compaction"),
                    logs("iceberg-retention"),
                    logs("iceberg-orphan-file-deletion"),
                ],
            },
            {
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Effect": "Allow",
                "Resource": default.resolve(default.key.key_arn),
            },
        ],
    )


# --- customisations -----------------------------------------------------------------------------------


def retention_days(built: Built) -> dict[str, int]:
    """Table name -> SnapshotRetentionPeriodInDays of its retention optimizer."""
    return {
        name: built.optimizers(name)["retention"]["Properties"]["TableOptimizerConfiguration"][
            "RetentionConfiguration"
        ]["IcebergConfiguration"]["SnapshotRetentionPeriodInDays"]
        for name in ICEBERG_TABLES
    }


def test_an_audit_window_keeps_snapshots_that_long_but_never_longer_than_the_zone_keeps_data() -> None:
    built = build(audit_window_days=2555)
    assert built.catalog.snapshot_retention_days == {"conformed": 2555, "curated": 1825}
    assert retention_days(built) == {
        "tag_values": 2555,
        "rejects": 2555,
        "tag_minute": 1825,
        "tag_hour": 1825,
        "line_shift_oee": 1825,
        "downtime_events": 1825,
    }


def test_a_zone_kept_less_than_a_week_keeps_its_snapshots_only_as_long_as_its_data() -> None:
    built = build(conformed_retention_days=30, curated_retention_days=3)
    assert retention_days(built) == {
        "tag_values": 7,
        "rejects": 7,
        "tag_minute": 3,
        "tag_hour": 3,
        "line_shift_oee": 3,
        "downtime_events": 3,
    }


@pytest.mark.parametrize(
    ("zone_days", "audit_window_days", "expected"),
    [
        (3650, None, 7),  # no audit window: a week
        (3650, 3, 7),  # a short audit window: still a week
        (3650, 2555, 2555),  # the audit window
        (1825, 2555, 1825),  # capped at the zone's data retention
        (5, None, 5),  # a zone that keeps less than a week
        (2555, 2555, 2555),
    ],
)
def test_snapshot_retention_rule(zone_days: int, audit_window_days: int | None, expected: int) -> None:
    assert snapshot_retention_days(zone_days, audit_window_days) == expected


def test_areas_and_lines_are_projected_sorted_and_deduplicated_on_the_raw_table() -> None:
    built = build(areas=["packing", "filling", "packing"], lines=["line2", "line1", "line2", "line10"])
    built.template().has_resource_properties(
        "AWS::Glue::Table",
        {
            "TableInput": Match.object_like(
                {
                    "Name": "tags",
                    "Parameters": Match.object_like(
                        {"projection.area.values": "filling,packing", "projection.line.values": "line1,line10,line2"}
                    ),
                }
            )
        },
    )


def test_a_site_id_is_lower_cased_in_the_database_names_and_the_catalog_arns() -> None:
    built = build(site_id="Plant_B2")
    names = sorted(
        database["Properties"]["DatabaseInput"]["Name"]
        for database in built.template().find_resources("AWS::Glue::Database").values()
    )
    assert names == ["plant_b2_conformed", "plant_b2_curated", "plant_b2_raw"]
    assert built.resolve(built.catalog.iceberg_resource_arns[1]) == glue_arn("database/plant_b2_conformed")


# --- grants --------------------------------------------------------------------------------------------


def test_grant_iceberg_commits_lets_a_writer_read_and_swap_the_metadata_of_the_iceberg_tables_only() -> None:
    built = build()
    role = iam.Role(built.stack, "Writer", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"))
    built.catalog.grant_iceberg_commits(role)
    role_statements(
        built.stack,
        role,
        [
            {
                "Action": ["glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"],
                "Effect": "Allow",
                "Resource": ICEBERG_RESOURCE_ARNS,
            }
        ],
    )


# --- validations ----------------------------------------------------------------------------------------


def test_areas_must_not_be_empty() -> None:
    message = "LakeCatalog Catalog: areas [] is empty; fix: give at least one, partition projection enumerates them"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(areas=[])


def test_lines_must_not_be_empty() -> None:
    message = "LakeCatalog Catalog: lines [] is empty; fix: give at least one, partition projection enumerates them"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(lines=[])


def test_site_id_must_give_database_names_of_lowercase_letters_digits_and_underscores() -> None:
    message = (
        "LakeCatalog Catalog: site_id 'plant-A' gives the Glue database name(s) plant-a_raw, plant-a_conformed, "
        "plant-a_curated, which must be lowercase letters, digits and underscores of at most 255 characters; "
        "fix: use a site id of letters, digits and underscores of at most 245 characters"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(site_id="plant-A")


def test_site_id_must_keep_every_database_name_within_255_characters() -> None:
    new(site_id="p" * 245)  # "<245>_conformed" is exactly 255
    site_id = "p" * 248  # "<248>_raw" still fits
    message = (
        f"LakeCatalog Catalog: site_id {site_id!r} gives the Glue database name(s) {site_id}_conformed, "
        f"{site_id}_curated, which must be lowercase letters, digits and underscores of at most 255 characters; "
        "fix: use a site id of letters, digits and underscores of at most 245 characters"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(site_id=site_id)


@pytest.mark.parametrize("prop", ["conformed_retention_days", "curated_retention_days", "audit_window_days"])
def test_retention_days_must_be_at_least_one(prop: str) -> None:
    message = f"LakeCatalog Catalog: {prop} 0 is below 1; fix: give at least 1 day"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(None, **{prop: 0})


def test_retention_days_must_be_known_at_synth_time() -> None:
    stack = bare_stack()
    days = CfnParameter(stack, "Days", type="Number").value_as_number
    message = (
        "LakeCatalog Catalog: curated_retention_days is a token; fix: pass a number known at synth time, "
        "the snapshot retention is computed from it"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(stack, curated_retention_days=days)


def test_conformed_data_must_be_kept_for_the_audit_window() -> None:
    new(conformed_retention_days=2555, audit_window_days=2555)  # exactly the window is enough
    message = (
        "LakeCatalog Catalog: conformed_retention_days 2554 is shorter than audit_window_days 2555, so earlier "
        "states of conformed data could not be shown for the audit window; fix: keep conformed data at least "
        "2555 days"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(conformed_retention_days=2554, audit_window_days=2555)


def test_a_curated_zone_shorter_than_the_audit_window_is_accepted_and_capped() -> None:
    assert new(curated_retention_days=30, audit_window_days=2555).snapshot_retention_days == {
        "conformed": 2555,
        "curated": 30,
    }


def test_every_problem_is_reported_at_once() -> None:
    message = (
        "LakeCatalog Catalog: site_id 'plant A' gives the Glue database name(s) plant a_raw, plant a_conformed, "
        "plant a_curated, which must be lowercase letters, digits and underscores of at most 255 characters; "
        "fix: use a site id of letters, digits and underscores of at most 245 characters; "
        "areas [] is empty; fix: give at least one, partition projection enumerates them; "
        "lines [] is empty; fix: give at least one, partition projection enumerates them; "
        "curated_retention_days 0 is below 1; fix: give at least 1 day; "
        "conformed_retention_days 10 is shorter than audit_window_days 20, so earlier states of conformed data "
        "could not be shown for the audit window; fix: keep conformed data at least 20 days"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(
            site_id="plant A",
            areas=[],
            lines=[],
            conformed_retention_days=10,
            curated_retention_days=0,
            audit_window_days=20,
        )


# --- removal policy -------------------------------------------------------------------------------------


def deletion_policies(built: Built) -> dict[str, set[tuple[str, str]]]:
    template = built.template()
    databases = template.find_resources("AWS::Glue::Database").values()
    tables = [
        table
        for table in template.find_resources("AWS::Glue::Table").values()
        if "OpenTableFormatInput" in table["Properties"]
    ]
    assert (len(databases), len(tables)) == (3, 6)
    return {
        kind: {(resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) for resource in resources}
        for kind, resources in (("databases", databases), ("iceberg tables", tables))
    }


def test_databases_and_iceberg_tables_are_retained_by_default(default: Built) -> None:
    assert deletion_policies(default) == {
        "databases": {("Retain", "Retain")},
        "iceberg tables": {("Retain", "Retain")},
    }


def test_destroy_deletes_the_databases_and_iceberg_tables_with_their_stack() -> None:
    assert deletion_policies(build(removal_policy=RemovalPolicy.DESTROY)) == {
        "databases": {("Delete", "Delete")},
        "iceberg tables": {("Delete", "Delete")},
    }


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
        key=key,
        conformed_retention_days=400,
        curated_retention_days=400,
        audit_window_days=30,
    )
    assert unacknowledged_findings(stack) == []

"""The Glue Data Catalog of a site's lake: one database per zone; raw as a JSON table with partition
projection, conformed and curated as Apache Iceberg tables kept in shape by the catalog's table optimizers.

Partition projection computes the raw table's partitions from its properties, so no crawler runs and no
raw partition is ever missing from a query: areas and lines come from the site model. The Iceberg tables
need no projection: each commit records its files, so readers plan from the table's own metadata.
"""

from __future__ import annotations

import re

from aws_cdk import ArnFormat, RemovalPolicy, Stack, Token
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from factory_constructs.etl.glue_jobs.schemas import CONFORMED_TABLES, CURATED_TABLES, TABLE_PROPERTIES, Columns
from factory_constructs.grant_findings import acknowledge_grant_policy, arn_wildcard, resource_wildcard
from factory_constructs.lake.lake_bucket import ZONES

PROJECTION_START = "2024-01-01"
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

# Iceberg type of each Glue/Spark type the ETL's tables use. Spark 3.5 writes its TIMESTAMP (an instant,
# shown in the session time zone) as Iceberg timestamptz, and its BIGINT as long: a table the stack
# creates is the very table `CREATE TABLE ... USING iceberg` (dmc_etl.tables) makes from the same columns.
ICEBERG_TYPES = {
    "string": "string",
    "int": "int",
    "bigint": "long",
    "double": "double",
    "boolean": "boolean",
    "timestamp": "timestamptz",
    "date": "date",
}
# Iceberg numbers partition fields from 1000 (ids below are the schema's), as Spark does.
FIRST_PARTITION_FIELD_ID = 1000
# Snapshots kept at least this long where no audit window asks for more: a week of time travel to
# undo a bad run that is noticed only after a weekend.
MIN_SNAPSHOT_RETENTION_DAYS = 7
# The retention optimizer always keeps the newest snapshot (the table's current state).
SNAPSHOTS_ALWAYS_KEPT = 1
# Files under a table that no snapshot references (a failed run's output) are deleted after this many
# days; a run is stopped after 2 hours (EtlJobs' timeout), so no file of a running commit is taken.
ORPHAN_FILE_RETENTION_DAYS = 3
# Where the table optimizers log; the service chooses the names (Glue "Table optimization prerequisites").
OPTIMIZER_LOG_GROUPS = (
    "/aws-glue/iceberg-compaction/logs",
    "/aws-glue/iceberg-retention/logs",
    "/aws-glue/iceberg-orphan-file-deletion/logs",
)
# The Iceberg zones and their tables: (columns, partition keys) by table name.
ICEBERG_ZONES: dict[str, dict[str, tuple[Columns, Columns]]] = {
    "conformed": CONFORMED_TABLES,
    "curated": CURATED_TABLES,
}


def snapshot_retention_days(zone_days: int, audit_window_days: int | None) -> int:
    """Days an Iceberg table of a zone keeps its snapshots (its time travel) before they expire.

    At least the site's audit window (``audit_window_days``: how long the site must be able to show an
    earlier state of its records, for an audit-trail site the raw zone's Object Lock), and at least
    MIN_SNAPSHOT_RETENTION_DAYS; but never longer than the zone keeps its data (``zone_days``): a snapshot
    older than that points at files the zone's lifecycle has removed and could no longer be read.
    AWS documents no upper bound of its own for the retention period.
    """
    return min(zone_days, max(audit_window_days or 0, MIN_SNAPSHOT_RETENTION_DAYS))


def iceberg_schema(columns: Columns) -> glue.CfnTable.IcebergSchemaProperty:
    """Columns as an Iceberg schema: field ids 1, 2, ... in column order, every field optional (nullable)."""
    unknown = [f"{name} {kind}" for name, kind in columns if kind not in ICEBERG_TYPES]
    if unknown:
        raise ValueError(
            f"no Iceberg type for column(s) {', '.join(unknown)}; "
            f"fix: use one of {', '.join(ICEBERG_TYPES)} or add the mapping to ICEBERG_TYPES"
        )
    return glue.CfnTable.IcebergSchemaProperty(
        type="struct",
        schema_id=0,
        fields=[
            glue.CfnTable.IcebergStructFieldProperty(id=index, name=name, type=ICEBERG_TYPES[kind], required=False)
            for index, (name, kind) in enumerate(columns, start=1)
        ],
    )


def identity_partition_spec(columns: Columns, partition_keys: Columns) -> glue.CfnTable.IcebergPartitionSpecProperty:
    """Identity partitions on ``partition_keys``, which are the last columns of ``columns``."""
    first_key = len(columns) - len(partition_keys) + 1
    return glue.CfnTable.IcebergPartitionSpecProperty(
        spec_id=0,
        fields=[
            glue.CfnTable.IcebergPartitionFieldProperty(
                name=name, source_id=first_key + index, transform="identity", field_id=FIRST_PARTITION_FIELD_ID + index
            )
            for index, (name, _) in enumerate(partition_keys)
        ],
    )


class LakeCatalog(Construct):
    """Databases ``<site>_raw``, ``<site>_conformed``, ``<site>_curated`` (site id in lower case) and their tables.

    ``raw.tags`` reads the raw zone's JSON Lines through partition projection; ``areas`` and ``lines``
    (at least one each, duplicates ignored) are the values it offers for the ``area`` and ``line`` keys.
    ``conformed.tag_values``, ``conformed.rejects`` and the curated tables are Iceberg tables (format
    version, Parquet and zstd from ``TABLE_PROPERTIES``), created in the catalog by the stack with the
    columns and identity partitions of ``dmc_etl.schemas``, under ``s3://<zone bucket>/<table>/``. Their
    files are encrypted by the buckets' default encryption (SSE-KMS with ``key``, the site key).

    Each Iceberg table has three Glue table optimizers, run by ``optimizer_role``: compaction (binpack),
    snapshot retention (snapshots expire after ``snapshot_retention_days(<zone>_retention_days,
    audit_window_days)`` days, the files only they referenced are deleted) and orphan-file deletion
    (after ORPHAN_FILE_RETENTION_DAYS).

    ``conformed_retention_days`` / ``curated_retention_days``: how long the zone keeps its objects (its
    buckets' lifecycle). ``audit_window_days`` (default None): how long the site must be able to show
    an earlier state of its data; the conformed zone must keep data at least that long. None: no audit
    window, snapshots are kept MIN_SNAPSHOT_RETENTION_DAYS (or the zone's days, when shorter).
    ``removal_policy`` (default RETAIN): applies to the three databases and the Iceberg tables (the
    catalog entry holds the table's current metadata pointer); the optimizers go with their stack.
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
        key: kms.IKey,
        conformed_retention_days: int,
        curated_retention_days: int,
        audit_window_days: int | None = None,
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
        days = {
            "conformed_retention_days": conformed_retention_days,
            "curated_retention_days": curated_retention_days,
            "audit_window_days": audit_window_days,
        }
        tokens = [prop for prop, value in days.items() if value is not None and Token.is_unresolved(value)]
        for prop, value in days.items():
            if prop in tokens:
                problems.append(
                    f"{prop} is a token; fix: pass a number known at synth time, the snapshot retention "
                    "is computed from it"
                )
            elif value is not None and value < 1:
                problems.append(f"{prop} {value} is below 1; fix: give at least 1 day")
        if not tokens and audit_window_days is not None and conformed_retention_days < audit_window_days:
            problems.append(
                f"conformed_retention_days {conformed_retention_days} is shorter than audit_window_days "
                f"{audit_window_days}, so earlier states of conformed data could not be shown for the audit "
                f"window; fix: keep conformed data at least {audit_window_days} days"
            )
        if problems:
            raise ValueError(f"LakeCatalog {construct_id}: " + "; ".join(problems))
        stack = Stack.of(self)
        self._removal_policy = removal_policy
        self._catalog_id = stack.account
        self._areas = ",".join(sorted(set(areas)))
        self._lines = ",".join(sorted(set(lines)))
        self.buckets: dict[str, s3.IBucket] = {"raw": raw, "conformed": conformed, "curated": curated}
        self.database_names = {zone: f"{site_id.lower()}_{zone}" for zone in ZONES}
        self.databases = {zone: self._database(site_id, zone) for zone in ZONES}
        # How long rows stay in the Iceberg tables: the jobs delete older days (an object lifecycle on
        # these buckets would delete files that live snapshots still reference).
        self.retention_days = {"conformed": conformed_retention_days, "curated": curated_retention_days}
        self.snapshot_retention_days = {
            "conformed": snapshot_retention_days(conformed_retention_days, audit_window_days),
            "curated": snapshot_retention_days(curated_retention_days, audit_window_days),
        }
        self.raw_tags = self._raw_table(f"s3://{raw.bucket_name}/tags/")
        self.iceberg_tables: dict[str, dict[str, glue.CfnTable]] = {
            zone: {
                name: self._iceberg_table(zone, name, columns=columns + partition_keys, partition_keys=partition_keys)
                for name, (columns, partition_keys) in tables.items()
            }
            for zone, tables in ICEBERG_ZONES.items()
        }
        self.conformed_values = self.iceberg_tables["conformed"]["tag_values"]
        self.rejects = self.iceberg_tables["conformed"]["rejects"]
        self.curated_tables = self.iceberg_tables["curated"]
        # The Glue Data Catalog resources of the Iceberg tables: the catalog, their databases, the tables.
        self.iceberg_resource_arns = [
            stack.format_arn(service="glue", resource="catalog", arn_format=ArnFormat.NO_RESOURCE_NAME),
            *(
                stack.format_arn(service="glue", resource="database", resource_name=self.database_names[zone])
                for zone in ICEBERG_ZONES
            ),
            *(
                stack.format_arn(service="glue", resource="table", resource_name=f"{self.database_names[zone]}/{name}")
                for zone, tables in ICEBERG_ZONES.items()
                for name in tables
            ),
        ]
        self.optimizer_role = self._optimizer_role(key)
        self.optimizers: dict[str, dict[str, glue.CfnTableOptimizer]] = {
            name: self._optimizers(zone, name, table)
            for zone, tables in self.iceberg_tables.items()
            for name, table in tables.items()
        }

    def grant_iceberg_commits(self, grantee: iam.IGrantable) -> iam.Grant:
        """What an Iceberg writer needs in the Glue Data Catalog, on the conformed and curated tables only:
        read a table's metadata pointer (glue:GetTable, glue:GetDatabase) and swap it on commit
        (glue:UpdateTable). The data is on the buckets: grant those separately."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"],
            resource_arns=self.iceberg_resource_arns,
        )

    def _database(self, site_id: str, zone: str) -> glue.CfnDatabase:
        database = glue.CfnDatabase(
            self,
            f"{zone.title()}Database",
            catalog_id=self._catalog_id,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_names[zone], description=f"{zone} zone of site {site_id}"
            ),
        )
        database.apply_removal_policy(self._removal_policy)
        return database

    def _raw_table(self, location: str) -> glue.CfnTable:
        """raw.tags: JSON Lines under Object Lock, partitions projected (area/line enums, days, hours)."""
        template = location + "".join(f"{name}=${{{name}}}/" for name, _ in RAW_PARTITION_KEYS)
        return glue.CfnTable(
            self,
            "RawTags",
            catalog_id=self._catalog_id,
            database_name=self.databases["raw"].ref,
            table_input=glue.CfnTable.TableInputProperty(
                name="tags",
                table_type="EXTERNAL_TABLE",
                parameters={
                    "classification": "json",
                    "projection.enabled": "true",
                    "projection.area.type": "enum",
                    "projection.area.values": self._areas,
                    "projection.line.type": "enum",
                    "projection.line.values": self._lines,
                    "projection.date.type": "date",
                    "projection.date.format": "yyyy-MM-dd",
                    "projection.date.range": f"{PROJECTION_START},NOW",
                    "projection.date.interval.unit": "DAYS",
                    "projection.hour.type": "integer",
                    "projection.hour.range": "0,23",
                    "projection.hour.digits": "2",
                    "storage.location.template": template,
                },
                partition_keys=[glue.CfnTable.ColumnProperty(name=key, type=kind) for key, kind in RAW_PARTITION_KEYS],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    input_format="org.apache.hadoop.mapred.TextInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.openx.data.jsonserde.JsonSerDe",
                        parameters={"mapping.line_path": "line", "ignore.malformed.json": "true"},
                    ),
                    columns=[glue.CfnTable.ColumnProperty(name=column, type=kind) for column, kind in RAW_TAG_COLUMNS],
                ),
            ),
        )

    def _iceberg_table(self, zone: str, name: str, *, columns: Columns, partition_keys: Columns) -> glue.CfnTable:
        """An Iceberg table created by CloudFormation: the table name at the top and the whole definition in
        OpenTableFormatInput, with no TableInput (a TableInput next to it is refused, or loses the table's
        Iceberg parameters on the next update)."""
        table = glue.CfnTable(
            self,
            _table_id(zone, name),
            catalog_id=self._catalog_id,
            database_name=self.databases[zone].ref,
            name=name,
            open_table_format_input=glue.CfnTable.OpenTableFormatInputProperty(
                iceberg_input=glue.CfnTable.IcebergInputProperty(
                    metadata_operation="CREATE",
                    version=TABLE_PROPERTIES["format-version"],
                    iceberg_table_input=glue.CfnTable.IcebergTableInputProperty(
                        location=self._location(zone, name),
                        schema=iceberg_schema(columns),
                        partition_spec=identity_partition_spec(columns, partition_keys),
                        properties=dict(TABLE_PROPERTIES),
                    ),
                )
            ),
        )
        table.apply_removal_policy(self._removal_policy)
        return table

    def _location(self, zone: str, name: str) -> str:
        return f"s3://{self.buckets[zone].bucket_name}/{name}/"

    def _optimizer_role(self, key: kms.IKey) -> iam.Role:
        """The role the optimizers run as, with the permissions Glue documents for them, on these tables only."""
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "OptimizerRole",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description="Glue table optimizers of the lake's Iceberg tables",
        )
        prefixes = {zone: [f"{name}/" for name in tables] for zone, tables in ICEBERG_ZONES.items()}
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[
                    self.buckets[zone].arn_for_objects(f"{prefix}*")
                    for zone in ICEBERG_ZONES
                    for prefix in prefixes[zone]
                ],
            )
        )
        for zone in ICEBERG_ZONES:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[self.buckets[zone].bucket_arn],
                    conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes[zone]]}},
                )
            )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["glue:GetTable", "glue:UpdateTable"], resources=self.iceberg_resource_arns)
        )
        log_groups = [
            stack.format_arn(
                service="logs",
                resource="log-group",
                resource_name=f"{group}:*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for group in OPTIMIZER_LOG_GROUPS
        ]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], resources=log_groups
            )
        )
        # Compaction reads and writes SSE-KMS objects; retention writes new table metadata.
        key.grant(role, "kms:Decrypt", "kms:GenerateDataKey")
        acknowledge_grant_policy(
            role,
            [
                (
                    resource_wildcard(self.buckets[zone], f"/{prefix}*"),
                    f"Table optimizers rewrite, expire and delete the files of the Iceberg table under {prefix}; "
                    "the wildcard covers that one table's folder in its zone bucket.",
                )
                for zone in ICEBERG_ZONES
                for prefix in prefixes[zone]
            ]
            + [
                (
                    arn_wildcard(stack, arn),
                    "Glue's table optimizers log to this one service-named log group; the wildcard covers "
                    "only the log streams the service creates in it.",
                )
                for arn in log_groups
            ],
        )
        return role

    def _optimizers(self, zone: str, name: str, table: glue.CfnTable) -> dict[str, glue.CfnTableOptimizer]:
        """Compaction, snapshot retention and orphan-file deletion of one Iceberg table."""
        config = glue.CfnTableOptimizer.TableOptimizerConfigurationProperty
        role_arn = self.optimizer_role.role_arn
        configurations = {
            "compaction": config(
                enabled=True,
                role_arn=role_arn,
                compaction_configuration=glue.CfnTableOptimizer.CompactionConfigurationProperty(
                    iceberg_configuration=glue.CfnTableOptimizer.IcebergCompactionConfigurationProperty(
                        strategy="binpack"
                    )
                ),
            ),
            "retention": config(
                enabled=True,
                role_arn=role_arn,
                retention_configuration=glue.CfnTableOptimizer.RetentionConfigurationProperty(
                    iceberg_configuration=glue.CfnTableOptimizer.IcebergRetentionConfigurationProperty(
                        snapshot_retention_period_in_days=self.snapshot_retention_days[zone],
                        number_of_snapshots_to_retain=SNAPSHOTS_ALWAYS_KEPT,
                        clean_expired_files=True,
                    )
                ),
            ),
            "orphan_file_deletion": config(
                enabled=True,
                role_arn=role_arn,
                orphan_file_deletion_configuration=glue.CfnTableOptimizer.OrphanFileDeletionConfigurationProperty(
                    iceberg_configuration=glue.CfnTableOptimizer.IcebergConfigurationProperty(
                        location=self._location(zone, name),
                        orphan_file_retention_period_in_days=ORPHAN_FILE_RETENTION_DAYS,
                    )
                ),
            ),
        }
        optimizers = {}
        for kind, configuration in configurations.items():
            optimizer = glue.CfnTableOptimizer(
                self,
                f"{_table_id(zone, name)}{''.join(part.title() for part in kind.split('_'))}",
                catalog_id=self._catalog_id,
                database_name=self.databases[zone].ref,
                table_name=name,
                type=kind,
                table_optimizer_configuration=configuration,
            )
            # The table is named, not referenced, and the role must hold its policy before Glue assumes it.
            optimizer.node.add_dependency(table, self.optimizer_role)
            optimizers[kind] = optimizer
        return optimizers


def _table_id(zone: str, name: str) -> str:
    """Construct id of an Iceberg table: ConformedValues, Rejects, Curated<Name> (the ids the Parquet tables had)."""
    return (
        _CONFORMED_TABLE_IDS[name]
        if zone == "conformed"
        else "Curated" + "".join(part.title() for part in name.split("_"))
    )


_CONFORMED_TABLE_IDS = {"tag_values": "ConformedValues", "rejects": "Rejects"}

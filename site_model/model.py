"""Pydantic models of one site file. Unknown keys are errors everywhere.

Validators raise ``ValueError("<problem>; fix: <how>")``: the loader turns
them into one line per problem naming the file and the field path.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from envelope.units import canonical_unit_problems
from site_model.regions import AVAILABILITY_ZONES, EU_REGIONS

Regime = Literal["gdpr", "eu-gmp-annex-11", "fda-21-cfr-part-11", "none"]
# Regimes that require an immutable audit trail of the raw records.
AUDIT_TRAIL_REGIMES = frozenset({"eu-gmp-annex-11", "fda-21-cfr-part-11"})

Segment = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]+$", min_length=1, max_length=64)]
CellTag = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")]
ClockTime = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _region(value: str) -> str:
    if value not in AVAILABILITY_ZONES:
        known = ", ".join(sorted(AVAILABILITY_ZONES))
        raise ValueError(f"unknown region; fix: use one of {known}")
    return value


class Network(Strict):
    cidr: str = Field(description="IPv4 block of the site VPC, /16 to /22.")
    az_count: int = Field(2, ge=1, le=3, description="Availability zones the VPC spans.")
    nat_gateways: int = Field(1, ge=0, le=3, description="NAT gateways; 0 keeps the VPC fully isolated.")

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            network = ipaddress.IPv4Network(value, strict=True)
        except ValueError:
            raise ValueError("not a valid IPv4 CIDR block; fix: use a network address such as 10.10.0.0/16") from None
        if not 16 <= network.prefixlen <= 22:
            raise ValueError("prefix must be /16 to /22 to hold the site's subnets; fix: use e.g. 10.10.0.0/16")
        if not network.is_private:
            raise ValueError("not a private (RFC 1918) block; fix: use a block inside 10.0.0.0/8 or 172.16.0.0/12")
        return value

    @model_validator(mode="after")
    def _nat_per_az(self) -> Network:
        if self.nat_gateways > self.az_count:
            raise ValueError(
                f"nat_gateways {self.nat_gateways} exceeds az_count {self.az_count}; "
                "fix: use at most one NAT gateway per availability zone"
            )
        return self


class Retention(Strict):
    raw_days: int = Field(ge=1, le=36500, description="Days raw objects are kept.")
    conformed_days: int = Field(ge=1, le=36500, description="Days conformed objects are kept.")
    curated_days: int = Field(ge=1, le=36500, description="Days curated objects are kept.")
    infrequent_access_after_days: int = Field(
        30, ge=30, le=36500, description="Days before objects move to S3 Standard-IA (S3 needs at least 30)."
    )


class Lake(Strict):
    retention: Retention
    object_lock_days: int | None = Field(
        None,
        ge=1,
        le=36500,
        description="Object Lock (compliance mode) on raw; required by fda-21-cfr-part-11 and eu-gmp-annex-11.",
    )
    retain_data: bool = Field(
        True, description="false destroys buckets, keys and logs with the stack (dev sites only)."
    )

    @model_validator(mode="after")
    def _lock_within_retention(self) -> Lake:
        if self.object_lock_days is not None and self.object_lock_days > self.retention.raw_days:
            raise ValueError(
                f"object_lock_days {self.object_lock_days} outlives retention.raw_days {self.retention.raw_days}; "
                "fix: lock raw objects no longer than they are kept"
            )
        return self


class Ingestion(Strict):
    tag_count: int = Field(ge=1, le=10_000_000, description="Tags collected across the site's gateways.")
    sample_rate_hz: float = Field(gt=0, le=1000, description="Samples per second per tag at the source.")
    report_by_exception_ratio: float = Field(
        ge=0, lt=1, description="Share of samples the edge suppresses (deadband), 0 to below 1."
    )
    bytes_per_value: int = Field(170, ge=32, le=4096, description="Encoded size of one tag value in a batch.")
    batch_kb: int = Field(32, ge=1, le=120, description="Target size of one batch record (IoT Core allows 128 KB).")
    capacity: Literal["provisioned", "on-demand"] = Field("provisioned", description="Kinesis capacity mode.")
    stream_retention_hours: int = Field(72, ge=72, le=8760, description="Kinesis retention; at least 72 h for replay.")
    firehose_buffer_mb: int = Field(
        64, ge=64, le=128, description="Firehose buffer size (64+ with dynamic partitioning)."
    )
    firehose_buffer_seconds: int = Field(300, ge=60, le=900, description="Firehose buffer interval.")


class Shift(Strict):
    name: Segment
    start: ClockTime
    end: ClockTime = Field(description="End time; earlier than start means the shift ends the next day.")


class Line(Strict):
    area: Segment
    line: Segment
    ideal_cycle_time_s: float = Field(gt=0, description="Seconds per unit at ideal speed (OEE performance).")
    state_tag: CellTag = Field(description="cell/tag carrying the machine state.")
    running_states: list[str] = Field(["running"], min_length=1, description="State values that count as running.")
    good_count_tag: CellTag = Field(description="cell/tag of the cumulative good-unit counter.")
    total_count_tag: CellTag = Field(description="cell/tag of the cumulative total-unit counter.")
    shifts: list[Shift] = Field(min_length=1)


class Alerts(Strict):
    heartbeat_interval_s: int = Field(60, ge=10, le=3600, description="Gateways send health this often.")
    window_s: int = Field(
        300, ge=60, le=900, multiple_of=60, description="Tumbling window of the stream alerts (whole minutes)."
    )
    client_ratio_threshold: float = Field(0.8, gt=0, le=1, description="Alert when clients/max reaches this.")
    retransmission_rate_threshold: float = Field(0.05, gt=0, le=1, description="Alert above this retransmit rate.")
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+$", description="Subscribed to the alert topic.")


class Setpoint(Strict):
    path: str = Field(
        pattern=r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+){5}$", description="ISA-95 tag path the cloud may write."
    )
    node_id: str = Field(min_length=1, description="OPC UA node written, e.g. ns=2;s=Filler.TempSetpoint.")
    min: float = Field(allow_inf_nan=False, description="Lowest value a command may write.")
    max: float = Field(allow_inf_nan=False, description="Highest value a command may write.")

    @model_validator(mode="after")
    def _range(self) -> Setpoint:
        if self.min >= self.max:
            raise ValueError(f"min {self.min} is not below max {self.max}; fix: swap or widen the range")
        return self


class Commands(Strict):
    opcua_endpoint: str = Field(pattern=r"^opc\.tcp://\S+$", description="OPC UA server setpoints are written to.")
    certificate_dir: str = Field(
        "/greengrass/v2/dmc/opcua",
        pattern=r"^/",
        description="Folder on the gateway with client.pem, client.key and server.pem (Basic256Sha256).",
    )
    setpoints: list[Setpoint] = Field(min_length=1, description="The allow-list: tags the cloud may write.")


class Edge(Strict):
    thing_group: Segment
    gateways: list[Segment] = Field(min_length=1, description="Thing names of the site's Greengrass cores.")
    components: list[Literal["tag-pipeline", "command-handler"]] = Field(["tag-pipeline"], min_length=1)
    transport: Literal["mqtt", "stream-manager"] = Field("mqtt", description="How the pipeline reaches the cloud.")
    canonical_units: dict[str, str] = Field(
        {"temperature": "degC", "pressure": "bar", "flow": "m3/h", "length": "mm", "mass": "kg"},
        description="Quantity -> unit every value of that quantity is converted to.",
    )
    tag_map_path: str = Field(
        "/greengrass/v2/dmc/tag-map.yaml", pattern=r"^/", description="Where each gateway keeps its tag map file."
    )
    greengrass_root: str = Field(
        "/greengrass/v2",
        pattern=r"^/",
        description="The gateways' Greengrass root folder (the nucleus's --root); models are installed under it.",
    )
    commands: Commands | None = Field(None, description="Setpoint writes; required with the command-handler.")

    @field_validator("canonical_units")
    @classmethod
    def _units_both_sides_convert(cls, value: dict[str, str]) -> dict[str, str]:
        # The gateways and the conformed layer convert with the envelope's one table.
        problems = canonical_unit_problems(value)
        if problems:
            raise ValueError("\n".join(problems))
        return value

    @model_validator(mode="after")
    def _commands_configured(self) -> Edge:
        if "command-handler" in self.components and self.commands is None:
            raise ValueError(
                "components has command-handler but no commands section; "
                "fix: add edge.commands (opcua_endpoint, setpoints) or remove command-handler"
            )
        return self


class Features(Strict):
    ml_workspace: bool = Field(False, description="SageMaker domain reading the curated zone.")
    integration_api: bool = Field(True, description="API Gateway integration plane.")


# SageMaker's rule for user profile names (CreateUserProfile): 1-63 letters, digits and inner hyphens.
PROFILE_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# The JupyterLab instance types the plan has a price for (site_model/plan.py WORKSPACE_PRICES).
WorkspaceInstanceType = Literal["ml.t3.medium", "ml.t3.large", "ml.m5.large", "ml.m5.xlarge"]


class Analyst(Strict):
    name: str = Field(
        description="The analyst's user profile in the workspace: 1-63 letters, digits and inner hyphens.",
        json_schema_extra={"pattern": PROFILE_NAME.pattern},
    )
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="Whose profile it is (its dmc:owner tag).")

    @field_validator("name")
    @classmethod
    def _profile_name(cls, value: str) -> str:
        if not PROFILE_NAME.match(value):
            raise ValueError(
                "not a SageMaker user profile name; fix: use 1-63 letters, digits and hyphens, "
                "starting and ending with a letter or digit"
            )
        return value


class Ml(Strict):
    """The site's SageMaker workspace (used with features.ml_workspace)."""

    analysts: list[Analyst] = Field([], description="One user profile in the workspace per analyst.")
    idle_shutdown_minutes: int = Field(
        60, ge=15, le=1440, description="A JupyterLab app with no running code or terminal this long is deleted."
    )
    instance_type: WorkspaceInstanceType = Field("ml.t3.medium", description="Default instance of a JupyterLab app.")
    active_hours_per_analyst: int = Field(
        40, ge=0, le=730, description="Hours a month an analyst's app runs code (make plan prices the apps from it)."
    )

    @model_validator(mode="after")
    def _unique_analysts(self) -> Ml:
        # SageMaker writes profile names in lower case into their ARNs: names differing in case would collide.
        problems = []
        for field, values in (
            ("name", [analyst.name.lower() for analyst in self.analysts]),
            ("email", [analyst.email.lower() for analyst in self.analysts]),
        ):
            repeated = sorted({value for value in values if values.count(value) > 1})
            if repeated:
                problems.append(f"analysts repeat the {field} {repeated} (ignoring case); fix: list each analyst once")
        if problems:
            raise ValueError("\n".join(problems))
        return self


# arn:<partition>:events:<region>:<account>:event-bus/<name>; the name as EventBridge allows it.
EVENT_BUS_ARN = re.compile(r"^arn:aws[a-z-]*:events:(?P<region>[a-z0-9-]+):\d{12}:event-bus/[A-Za-z0-9._\-/]{1,256}$")


class Integration(Strict):
    """Limits of the site API and where its KPI summaries may go (used with features.integration_api)."""

    max_range_days: int = Field(
        31, ge=1, le=3660, description="Longest time range one history, interpolation or OEE request may ask for."
    )
    page_limit_max: int = Field(
        1000, ge=1, le=1000, description="Ceiling of a list route's limit (the API document allows at most 1000)."
    )
    rate_limit_per_s: int = Field(
        100, ge=1, le=10000, description="Steady requests per second the API stage serves before it answers 429."
    )
    burst_limit: int = Field(200, ge=1, le=5000, description="Requests the API stage accepts at once above the rate.")
    waf_requests_per_ip: int = Field(
        3000,
        ge=10,
        le=2_000_000_000,
        description="Requests one client IP may send in 5 minutes before the web ACL blocks it.",
    )
    query_scan_limit_gb: int = Field(
        10, ge=1, le=1024, description="Data one Athena query of the API may scan before Athena cancels it."
    )
    kpi_destination_bus_arn: str | None = Field(
        None,
        description="EventBridge bus (ARN) in one of data_regions that receives the site's KPI summaries "
        "(line KPIs, no plant data, no personal data); none: nothing leaves the site's bus.",
    )

    @field_validator("kpi_destination_bus_arn")
    @classmethod
    def _bus_arn(cls, value: str | None) -> str | None:
        if value is not None and not EVENT_BUS_ARN.match(value):
            raise ValueError(
                "not an EventBridge event bus ARN; fix: use arn:aws:events:<region>:<account>:event-bus/<name>"
            )
        return value


class Audit(Strict):
    """The site's CloudTrail trail and its share of its account's region baseline."""

    region_baseline: list[str] = Field(
        [],
        description="Regions (of data_regions) where this site's stack provides its account's region baseline: "
        "the trail of management events and the AWS Config recorder. Exactly one site per account and region "
        "lists a region; the other sites' trails there record only their own data events.",
    )
    trail_days: int | None = Field(
        None,
        ge=1,
        le=36500,
        description="Days the trail's log files are kept; default: the longest lake.retention (an audit trail "
        "is kept as long as the records it covers).",
    )
    trail_lock_days: int | None = Field(
        None,
        ge=1,
        le=36500,
        description="Object Lock (compliance mode) on the trail's log files; default: lake.object_lock_days "
        "on a fda-21-cfr-part-11 or eu-gmp-annex-11 site, no lock on others.",
    )

    @field_validator("region_baseline")
    @classmethod
    def _listed_once(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a region is listed twice; fix: list each region once")
        return value


class BackupRule(Strict):
    name: Segment = Field(description="Name of the rule in the backup plan, e.g. daily.")
    frequency: Literal["daily", "weekly", "monthly"] = Field(
        description="How often it backs up (at backup.start_hour_utc; weekly on Sundays, monthly on the 1st)."
    )
    retention_days: int = Field(ge=1, le=36500, description="Days each recovery point of this rule is kept.")


class Backup(Strict):
    """The site's AWS Backup plan over its DynamoDB tables and lake buckets."""

    rules: list[BackupRule] = Field(
        [
            BackupRule(name="daily", frequency="daily", retention_days=35),
            BackupRule(name="monthly", frequency="monthly", retention_days=365),
        ],
        min_length=1,
        description="The plan's rules; on a fda-21-cfr-part-11 or eu-gmp-annex-11 site the vault is locked "
        "(compliance mode) to keep every recovery point at least the shortest retention_days.",
    )
    start_hour_utc: int = Field(3, ge=0, le=23, description="Hour (UTC) the backup jobs start.")

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, value: list[BackupRule]) -> list[BackupRule]:
        names = [rule.name for rule in value]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"rules repeat the name {repeated}; fix: give each rule its own name")
        return value


class CostTags(Strict):
    cost_centre: str = Field(min_length=1, max_length=64)
    owner: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="Accountable owner's e-mail.")


class Site(Strict):
    id: str = Field(pattern=r"^[a-z][A-Za-z0-9]{1,19}$", description="Short site id, e.g. plantA.")
    display_name: str = Field(min_length=1, max_length=128)
    enterprise: Segment
    timezone: str = Field(description="IANA time zone of the plant, e.g. Europe/Berlin (shift calendars use it).")
    home_region: str
    data_regions: list[str] = Field(min_length=1, description="Regions where the site's data may reside.")
    account: str | None = Field(None, pattern=r"^\d{12}$", description="Target account; default: the CLI's.")
    compliance: list[Regime] = Field(min_length=1)
    data_classification: Literal["internal", "confidential", "restricted"] = "confidential"
    network: Network
    lake: Lake
    ingestion: Ingestion
    lines: list[Line] = Field(min_length=1)
    alerts: Alerts = Alerts()
    edge: Edge
    features: Features = Features()
    integration: Integration = Integration()
    ml: Ml = Ml()
    audit: Audit = Audit()
    backup: Backup = Backup()
    tags: CostTags

    @field_validator("home_region")
    @classmethod
    def _home_region(cls, value: str) -> str:
        return _region(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "unknown IANA time zone; fix: use a name such as Europe/Berlin or America/New_York"
            ) from None
        return value

    @field_validator("data_regions")
    @classmethod
    def _data_regions(cls, value: list[str]) -> list[str]:
        for region in value:
            _region(region)
        if len(set(value)) != len(value):
            raise ValueError("a region is listed twice; fix: list each region once")
        return value

    @field_validator("compliance")
    @classmethod
    def _none_alone(cls, value: list[str]) -> list[str]:
        if "none" in value and len(value) > 1:
            raise ValueError("'none' cannot be combined with other regimes; fix: remove 'none'")
        return value

    @model_validator(mode="after")
    def _residency(self) -> Site:
        problems = []
        if self.home_region in AVAILABILITY_ZONES and self.home_region not in self.data_regions:
            problems.append(
                f"home_region {self.home_region!r} is not among data_regions {self.data_regions}; "
                "fix: add it to data_regions"
            )
        if "gdpr" in self.compliance:
            outside = [region for region in self.data_regions if region not in EU_REGIONS]
            if outside:
                problems.append(
                    f"gdpr sites keep data in the EU but data_regions has {outside}; fix: use only eu-* regions"
                )
        if self.audit_trail and self.lake.object_lock_days is None:
            problems.append(
                "fda-21-cfr-part-11 and eu-gmp-annex-11 need an immutable raw zone; "
                "fix: set lake.object_lock_days (e.g. 2555 for 7 years)"
            )
        if self.network.az_count > len(AVAILABILITY_ZONES.get(self.home_region, ())):
            problems.append(f"network.az_count exceeds the zones of {self.home_region}; fix: lower it")
        lines = [f"{line.area}/{line.line}" for line in self.lines]
        if len(set(lines)) != len(lines):
            problems.append(f"lines repeat an area/line among {lines}; fix: list each line once")
        setpoints = self.edge.commands.setpoints if self.edge.commands else []
        foreign = [point.path for point in setpoints if not point.path.startswith(f"{self.enterprise}/{self.id}/")]
        if foreign:
            problems.append(
                f"edge.commands.setpoints {foreign} are not under {self.enterprise}/{self.id}/; "
                "fix: write tags of this site only"
            )
        if len(set(self.edge.gateways)) != len(self.edge.gateways):
            problems.append("edge.gateways lists a thing name twice; fix: list each gateway once")
        destination = self.integration.kpi_destination_bus_arn
        match = EVENT_BUS_ARN.match(destination) if destination else None
        if match and match["region"] not in self.data_regions:
            problems.append(
                f"integration.kpi_destination_bus_arn is in {match['region']!r}, outside data_regions "
                f"{self.data_regions}; fix: send KPI summaries to a bus in one of the site's data regions"
            )
        if self.ml.analysts and not self.features.ml_workspace:
            problems.append(
                "ml.analysts are listed but features.ml_workspace is false; "
                "fix: set features.ml_workspace: true or remove ml.analysts"
            )
        problems += self._audit_problems()
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _audit_problems(self) -> list[str]:
        problems = []
        outside = [region for region in self.audit.region_baseline if region not in self.data_regions]
        if outside:
            problems.append(
                f"audit.region_baseline has {outside}, outside data_regions {self.data_regions}; "
                "fix: list only regions the site may be deployed to"
            )
        records_days = self.records_days
        if self.audit_trail and self.audit.trail_days is not None and self.audit.trail_days < records_days:
            problems.append(
                f"audit.trail_days {self.audit.trail_days} is shorter than the records it covers are kept "
                f"({records_days} days, lake.retention); fix: keep the trail at least {records_days} days "
                "(21 CFR 11.10(e)) or leave trail_days unset"
            )
        lock = self.trail_lock_days
        if lock is not None and lock > self.trail_days:
            problems.append(
                f"the trail's Object Lock ({lock} days) outlives audit.trail_days {self.trail_days}; "
                "fix: lower audit.trail_lock_days or keep the trail longer"
            )
        return problems

    @property
    def audit_trail(self) -> bool:
        """True when a regime needs tamper-proof raw records (Part 11, Annex 11)."""
        return bool(AUDIT_TRAIL_REGIMES.intersection(self.compliance))

    @property
    def records_days(self) -> int:
        """The longest time the lake keeps a record (its zones' retention)."""
        retention = self.lake.retention
        return max(retention.raw_days, retention.conformed_days, retention.curated_days)

    @property
    def trail_days(self) -> int:
        """Days the site's CloudTrail log files are kept: audit.trail_days, else ``records_days``."""
        return self.audit.trail_days if self.audit.trail_days is not None else self.records_days

    @property
    def trail_lock_days(self) -> int | None:
        """Object Lock days of the trail's log files: audit.trail_lock_days, else the raw zone's lock on an
        audit-trail site (the regime's audit window), else none."""
        if self.audit.trail_lock_days is not None:
            return self.audit.trail_lock_days
        return self.lake.object_lock_days if self.audit_trail else None

    def region_baseline(self, region: str) -> bool:
        """True when this site's stack in ``region`` provides the account's management trail and Config recorder."""
        return region in self.audit.region_baseline

    def availability_zones(self, region: str) -> list[str]:
        """The explicit zones the VPC uses in ``region`` (no account lookup)."""
        return list(AVAILABILITY_ZONES[region][: self.network.az_count])

    def line_path(self, line: Line) -> str:
        """ISA-95 path of a line: enterprise/site/area/line."""
        return f"{self.enterprise}/{self.id}/{line.area}/{line.line}"

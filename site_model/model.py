"""Pydantic models of one site file. Unknown keys are errors everywhere.

Validators raise ``ValueError("<problem>; fix: <how>")``: the loader turns
them into one line per problem naming the file and the field path.
"""

from __future__ import annotations

import ipaddress
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
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def audit_trail(self) -> bool:
        """True when a regime needs tamper-proof raw records (Part 11, Annex 11)."""
        return bool(AUDIT_TRAIL_REGIMES.intersection(self.compliance))

    def availability_zones(self, region: str) -> list[str]:
        """The explicit zones the VPC uses in ``region`` (no account lookup)."""
        return list(AVAILABILITY_ZONES[region][: self.network.az_count])

    def line_path(self, line: Line) -> str:
        """ISA-95 path of a line: enterprise/site/area/line."""
        return f"{self.enterprise}/{self.id}/{line.area}/{line.line}"

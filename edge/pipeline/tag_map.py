"""The tag map of one gateway: which tags to read, from which source, and where they sit in ISA-95.

A YAML (or JSON) file per gateway; see ``examples/plantA-gw-01.yaml``::

    enterprise: acme
    site: plantA
    gateway: plantA-gw-01          # the gateway's IoT thing name
    sources:                       # connection settings; each source validates its own
      simulator: {seed: 7}
    tags:
      - source: simulator
        address: "analog:filler:mean=149:noise=0.05"
        path: filling/line1/filler/temperature   # area/line/cell/tag
        quantity: temperature                    # converted to the site's canonical unit
        unit: degF                               # what the source delivers
        deadband_abs: 0.5                        # in the source unit
        max_interval_s: 300

Unknown keys are errors. Every problem of a file is reported at once, one line
each, naming the file, the field, the bad value and the fix. Units are checked
against the site's canonical units when the map is loaded, so a conversion the
gateway does not know fails the deployment instead of the data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.dataclasses import dataclass

from edge.pipeline.units import conversion
from validation.messages import Describer

SourceName = Literal["simulator", "opcua", "modbus"]
Kind = Literal["analog", "counter", "state"]

_SEGMENT = r"[A-Za-z0-9_.\-]+"
Segment = Annotated[str, Field(pattern=rf"^{_SEGMENT}$", min_length=1, max_length=64)]
_TAG_PATH = re.compile(rf"^{_SEGMENT}(/{_SEGMENT}){{3}}$")
SCHEMA_PATH = Path(__file__).with_name("tag-map.schema.json")

# Fixes that point at the schema or suit tag maps; the rest are validation.messages.COMMON_FIXES.
_DESCRIBER = Describer(
    subject="(tag map)",
    default_fix="see edge/pipeline/tag-map.schema.json",
    fixes={
        "extra_forbidden": "remove it or check its spelling against edge/pipeline/tag-map.schema.json",
        "missing": "add it (see edge/pipeline/tag-map.schema.json)",
        "string_pattern_mismatch": "use letters, digits, '_', '.' or '-' only",
        "string_too_short": "write a non-empty value",
        "string_type": "write a quoted string",
        "too_short": "list at least one tag",
    },
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# A slotted dataclass, not a BaseModel: a gateway holds thousands of tags, and a model instance costs about
# 1 KB (its __dict__ and fields-set) against about 0.2 KB here (10,000 tags: 11 MB against 2 MB).
@dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class TagSpec:
    """One tag: where its value comes from and where it goes."""

    source: SourceName = Field(description="The source that reads it.")
    address: str = Field(
        min_length=1,
        max_length=256,
        description="Where the source finds the value, as the source reads it: an OPC UA NodeId "
        "(ns=2;s=Filler.Temp), a Modbus register (holding:0:float32) or a simulator signal (analog:filler:mean=20).",
    )
    path: str = Field(description="area/line/cell/tag; enterprise/site are prepended to form the ISA-95 path.")
    kind: Kind = Field("analog", description="analog values use deadbands; counters and states report every change.")
    quantity: Segment | None = Field(
        None, description="Physical quantity (temperature, pressure, ...); its values are sent in the site's unit."
    )
    unit: str = Field("", max_length=32, description="Unit the source delivers, e.g. degF; empty for states.")
    deadband_abs: float | None = Field(
        None,
        ge=0,
        description="Analog: report when the value moved more than this (source unit) since the last report.",
    )
    deadband_pct: float | None = Field(
        None, ge=0, le=100, description="Analog: report when the value moved more than this % of the last report."
    )
    max_interval_s: float = Field(300, gt=0, le=86400, description="Report at least this often, changed or not.")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not _TAG_PATH.match(value):
            raise ValueError(
                "is not area/line/cell/tag (four segments of letters, digits, '_', '.', '-'); "
                "fix: write e.g. filling/line1/filler/temperature"
            )
        return value

    @model_validator(mode="after")
    def _kind_rules(self) -> TagSpec:
        problems = []
        if self.kind != "analog":
            for name in ("deadband_abs", "deadband_pct"):
                if getattr(self, name) is not None:
                    problems.append(
                        f"{name} {getattr(self, name)} applies to analog tags only, and this tag is a {self.kind} "
                        f"(reported on every change); fix: remove {name} or set kind: analog"
                    )
        if self.quantity is not None and not self.unit:
            problems.append(f"quantity {self.quantity!r} needs the source unit; fix: set unit, e.g. unit: degC")
        if problems:
            raise ValueError("\n".join(problems))
        return self


class TagMap(_Strict):
    """Everything one gateway reads."""

    enterprise: Segment = Field(description="First segment of every ISA-95 path.")
    site: Segment = Field(description="The site id (tenants/<site>.yaml).")
    gateway: Segment = Field(description="The gateway's IoT thing name; it signs every value's idempotency key.")
    sources: dict[SourceName, dict[str, Any]] = Field(
        default_factory=dict, description="Connection settings per source; each source validates its own."
    )
    tags: list[TagSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> TagMap:
        problems = []
        for field in ("path", "address"):
            first: dict[str, int] = {}
            for index, tag in enumerate(self.tags):
                value = getattr(tag, field)
                if value in first:
                    problems.append(
                        f"tags[{index}].{field} {value!r} repeats tags[{first[value]}].{field}; "
                        f"fix: give every tag its own {field}"
                    )
                else:
                    first[value] = index
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def tag_path(self, tag: TagSpec) -> str:
        """The tag's ISA-95 path: enterprise/site/area/line/cell/tag."""
        return f"{self.enterprise}/{self.site}/{tag.path}"

    def addresses(self, source: SourceName) -> list[str]:
        """The addresses one source must read, in tag map order."""
        return [tag.address for tag in self.tags if tag.source == source]

    def settings(self, source: SourceName) -> dict[str, Any]:
        """The connection settings of one source (empty when the map has none)."""
        return dict(self.sources.get(source, {}))


class TagMapError(ValueError):
    """A tag map that cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, origin: str, problems: list[str]) -> None:
        self.origin = origin
        self.problems = problems
        super().__init__("\n".join(f"{origin}: {problem}" for problem in problems))


def unit_problems(tag_map: TagMap, canonical_units: Mapping[str, str]) -> list[str]:
    """Every tag whose unit the gateway cannot convert into the site's canonical unit."""
    problems = []
    for index, tag in enumerate(tag_map.tags):
        if tag.quantity is None:
            continue
        canonical = canonical_units.get(tag.quantity)
        if canonical is None:
            known = ", ".join(canonical_units) or "none"
            problems.append(
                f"tags[{index}].quantity: {tag.quantity!r} has no canonical unit in site {tag_map.site} "
                f"(it has: {known}); fix: use one of those, or add {tag.quantity} to edge.canonical_units "
                "of the site file"
            )
            continue
        try:
            conversion(tag.quantity, tag.unit, canonical)
        except ValueError as error:
            problems.append(f"tags[{index}].unit: {error}")
    return problems


def parse_tag_map(data: Any, *, origin: str, canonical_units: Mapping[str, str]) -> TagMap:
    """Validate decoded tag map data (e.g. a Greengrass component configuration); ``origin`` names it in errors."""
    if not isinstance(data, dict):
        raise TagMapError(
            origin, [f"must be a mapping of fields, got {type(data).__name__}; fix: start with 'enterprise: ...'"]
        )
    try:
        tag_map = TagMap.model_validate(data)
    except ValidationError as error:
        raise TagMapError(origin, _DESCRIBER.describe(error.errors())) from None
    problems = unit_problems(tag_map, canonical_units)
    if problems:
        raise TagMapError(origin, problems)
    return tag_map


def load_tag_map(path: Path, *, canonical_units: Mapping[str, str]) -> TagMap:
    """Read and validate a tag map file against the site's canonical units."""
    origin = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TagMapError(origin, [f"cannot be read ({error.strerror}); fix: check the path"]) from error
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(error, "problem", None) or str(error)
        raise TagMapError(origin, [f"is not valid YAML{where}: {reason}; fix: correct the syntax there"]) from None
    if data is None:
        raise TagMapError(origin, ["is empty; fix: describe the gateway's tags (see edge/pipeline/examples/)"])
    return parse_tag_map(data, origin=origin, canonical_units=canonical_units)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a tag map file, for editors."""
    return TagMap.model_json_schema()


if __name__ == "__main__":
    SCHEMA_PATH.write_text(json.dumps(json_schema(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")

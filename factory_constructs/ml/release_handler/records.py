"""Release records: what became of each model package version, in the artifacts bucket under ``releases/``.

One JSON object per version, keyed by its ARN's ``<group>/<version>``: ``released`` (which component
version it deployed), ``refused`` (every reason it was not deployed, while SageMaker still shows it
approved) or ``withdrawn``. A rejection or deletion reads it to know which component version to take
off the gateways (a deleted package can no longer be described). The bucket is versioned: every
earlier state of a record stays readable for audit.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA = "dmc.model-release/1"
RECORDS_PREFIX = "releases"
_PACKAGE_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/(?P<group>[A-Za-z0-9-]{1,63})/(?P<version>\d+)$"
)


@dataclass(frozen=True)
class Record:
    """The state of one model package version's release."""

    model_package_arn: str
    status: str  # released | refused | withdrawn
    component: str | None = None
    component_version: str | None = None
    content_hash: str | None = None
    problems: tuple[str, ...] = field(default=())
    at: str = ""

    def same_release(self, other: Record | None) -> bool:
        """Whether ``other`` records the same outcome (its time aside)."""
        return other is not None and {**asdict(self), "at": ""} == {**asdict(other), "at": ""}


def package_path(model_package_arn: str) -> str:
    """``<group>/<version>`` of a versioned model package ARN; raises ValueError naming the ARN."""
    match = _PACKAGE_ARN.match(model_package_arn)
    if not match:
        raise ValueError(
            f"model package ARN {model_package_arn!r} is not arn:...:model-package/<group>/<version>; "
            "fix: the release handles versioned packages of a model package group only"
        )
    return f"{match['group']}/{match['version']}"


def record_key(model_package_arn: str) -> str:
    return f"{RECORDS_PREFIX}/{package_path(model_package_arn)}.json"


def read_record(s3: Any, *, bucket: str, model_package_arn: str) -> Record | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=record_key(model_package_arn))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    document = json.loads(body)
    if document.get("schema") != SCHEMA:
        raise ValueError(
            f"release record {record_key(model_package_arn)} has schema {document.get('schema')!r}, not {SCHEMA!r}; "
            "fix: restore the record's previous version in the versioned artifacts bucket"
        )
    return Record(
        model_package_arn=document["modelPackageArn"],
        status=document["status"],
        component=document.get("component"),
        component_version=document.get("componentVersion"),
        content_hash=document.get("contentHash"),
        problems=tuple(document.get("problems", ())),
        at=document.get("at", ""),
    )


def record_document(record: Record) -> dict[str, Any]:
    """The record as stored (and as the detail of the release event)."""
    document: dict[str, Any] = {"schema": SCHEMA, "modelPackageArn": record.model_package_arn, "status": record.status}
    if record.component is not None:
        document.update(
            component=record.component, componentVersion=record.component_version, contentHash=record.content_hash
        )
    if record.problems:
        document["problems"] = list(record.problems)
    document["at"] = record.at
    return document


def write_record(s3: Any, record: Record, *, bucket: str) -> None:
    s3.put_object(
        Bucket=bucket,
        Key=record_key(record.model_package_arn),
        Body=json.dumps(record_document(record), sort_keys=True, indent=2).encode(),
        ContentType="application/json",
        ServerSideEncryption="aws:kms",
    )

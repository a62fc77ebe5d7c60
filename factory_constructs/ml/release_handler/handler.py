"""Model release Lambda: EventBridge "SageMaker Model Package State Change" of the site's group -> gateways.

Thin entry point: reads its settings, creates boto3 clients on first use, hands the package ARN to
``release.reconcile`` (the logic) and logs one JSON line. Each change of a release record is put on
the bus as a release event (source ``dmc.model-release``; detail: the record and the deployment
revision created, if any) before the record is stored. The function runs with a
reserved concurrency of 1: revising a deployment is a read-modify-write of the thing group's one
deployment, so two invocations must never interleave (Lambda queues the others).

Environment:
    SITE_ID              the site (a model's machines must be in it)
    MODEL_PACKAGE_GROUP  the site's model package group
    MODEL_DATA_BUCKET    the bucket the workspace writes model.tar.gz files to
    MODEL_DATA_PREFIX    the prefix under it a package's ModelDataUrl must start with (e.g. "ml/")
    ARTIFACTS_BUCKET     where component artifacts (models/) and release records (releases/) go
    THING_GROUP_ARN      the site's gateways: the target of the deployment revised
    PIPELINE_COMPONENT   the tag pipeline component, which runs the models (com.dmc.TagPipeline)
    GREENGRASS_ROOT      the gateways' Greengrass root folder (absolute), where models' artifacts are installed
    EVENT_BUS_NAME       the bus release events are put on

Packaging: this folder is a package (relative imports), shipped with ``ml/model_card.py`` and
``ml/edge_models.py`` beside it, so the asset holds ``release_handler/``, ``ml/`` and ``envelope/`` and the
Lambda handler is ``release_handler.handler.handler``.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import boto3

from .records import Record, record_document
from .release import Clients, Outcome, Settings, reconcile

SOURCE = "dmc.model-release"
DETAIL_TYPES = {"released": "Model Released", "refused": "Model Release Refused", "withdrawn": "Model Withdrawn"}
_REQUIRED = (
    "SITE_ID",
    "MODEL_PACKAGE_GROUP",
    "MODEL_DATA_BUCKET",
    "MODEL_DATA_PREFIX",
    "ARTIFACTS_BUCKET",
    "THING_GROUP_ARN",
    "PIPELINE_COMPONENT",
    "GREENGRASS_ROOT",
    "EVENT_BUS_NAME",
)


class PublishError(RuntimeError):
    """EventBridge accepted the call but refused the entry."""


def config_from_env(env: Mapping[str, str]) -> tuple[Settings, str]:
    """The settings and the bus name; raises ValueError naming every missing or bad variable."""
    problems = [f"{name} is not set" for name in _REQUIRED if not env.get(name)]
    arn = env.get("THING_GROUP_ARN", "")
    if arn and not (arn.startswith("arn:") and ":thinggroup/" in arn and len(arn.split(":")) == 6):
        problems.append(f"THING_GROUP_ARN={arn!r} is not a thing group ARN")
    prefix = env.get("MODEL_DATA_PREFIX", "")
    if prefix and not prefix.endswith("/"):
        problems.append(f"MODEL_DATA_PREFIX={prefix!r} does not end with '/'")
    root = env.get("GREENGRASS_ROOT", "")
    if root and not root.startswith("/"):
        problems.append(f"GREENGRASS_ROOT={root!r} is not an absolute path")
    if problems:
        raise ValueError("model release misconfigured: " + "; ".join(problems))
    settings = Settings(
        site_id=env["SITE_ID"],
        model_package_group=env["MODEL_PACKAGE_GROUP"],
        model_data_bucket=env["MODEL_DATA_BUCKET"],
        model_data_prefix=prefix,
        artifacts_bucket=env["ARTIFACTS_BUCKET"],
        thing_group_arn=arn,
        pipeline_component=env["PIPELINE_COMPONENT"],
        greengrass_root=root,
    )
    return settings, env["EVENT_BUS_NAME"]


@functools.cache
def aws_client(service: str) -> Any:
    """One boto3 client per service, created on first use and kept while the execution environment lives."""
    return boto3.client(service)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """EventBridge entry point; returns what it did (the log line)."""
    settings, bus = config_from_env(os.environ)
    model_package_arn = event["detail"]["ModelPackageArn"]
    outcome = reconcile(
        model_package_arn,
        settings=settings,
        clients=Clients(sagemaker=aws_client("sagemaker"), s3=aws_client("s3"), greengrass=aws_client("greengrassv2")),
        now=utc_now,
        sleep=time.sleep,
        announce=functools.partial(publish, aws_client("events"), bus=bus),
    )
    summary = log_line(model_package_arn, event, outcome)
    print(json.dumps(summary))
    return summary


def log_line(model_package_arn: str, event: Mapping[str, Any], outcome: Outcome) -> dict[str, Any]:
    record = outcome.record
    return {
        "message": "model-release",
        "model_package_arn": model_package_arn,
        "event_approval_status": event["detail"].get("ModelApprovalStatus"),
        "action": outcome.action,
        "recorded": outcome.recorded,
        "status": record.status if record else None,
        "component": record.component if record else None,
        "component_version": record.component_version if record else None,
        "deployment_id": outcome.deployment_id,
        "problems": list(record.problems) if record else [],
    }


def publish(events: Any, record: Record, deployment_id: str | None, *, bus: str) -> None:
    """One release event for a changed record; PutEvents reports a refused entry in its answer."""
    detail = {**record_document(record), "deploymentId": deployment_id}
    response = events.put_events(
        Entries=[
            {
                "Source": SOURCE,
                "DetailType": DETAIL_TYPES[record.status],
                "Detail": json.dumps(detail),
                "Resources": [record.model_package_arn],
                "EventBusName": bus,
            }
        ]
    )
    if response.get("FailedEntryCount"):
        codes = sorted({entry["ErrorCode"] for entry in response["Entries"] if "ErrorCode" in entry})
        raise PublishError(f"EventBridge refused the release event: {', '.join(codes)}")

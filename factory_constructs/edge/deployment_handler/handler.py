"""Custom resource handler: the edge stack's Greengrass deployment, revised without the released models.

CloudFormation invokes it with Create, Update and Delete of the ``Custom::GreengrassDeployment``
resource that ``EdgeDeployment`` synthesizes. Create and Update put the stack's part (``compose``) on
the thing group, keeping the model components the model release added since; Delete does nothing
on the gateways, as deleting a Greengrass deployment does not either: they keep running what they
run until a person deploys something else. The physical id is the target ARN, so a new revision is
an update, never a replacement.

Every answer goes to the pre-signed ``ResponseURL`` CloudFormation gives (through the VPC's S3
gateway endpoint): a failure is answered too, with the reason, so the stack operation fails at once
instead of waiting an hour. The function runs with a reserved concurrency of 1.
"""

from __future__ import annotations

import functools
import json
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import boto3

from ml.edge_models import latest_deployment

from .compose import stack_part, stack_revision

# CloudFormation shows at most this much of a failure's reason.
REASON_CHARS = 4000
# The answer must reach CloudFormation within the function's timeout.
RESPONSE_TIMEOUT_S = 10


@functools.cache
def aws_client(service: str) -> Any:
    """One boto3 client per service, created on first use and kept while the execution environment lives."""
    return boto3.client(service)


def apply(event: Mapping[str, Any], greengrass: Any) -> dict[str, str]:
    """Carry out the request; returns the resource's attributes (``DeploymentId``, empty on Delete)."""
    if event["RequestType"] == "Delete":
        return {}
    part = stack_part(event["ResourceProperties"])
    latest = latest_deployment(greengrass, part.target_arn)
    request = stack_revision(part, latest)
    if request is None:
        assert latest is not None  # no revision is needed only when a latest deployment exists
        return {"DeploymentId": str(latest["deploymentId"])}
    return {"DeploymentId": str(greengrass.create_deployment(**request)["deploymentId"])}


def response(event: Mapping[str, Any], data: Mapping[str, str] | None, error: str | None) -> dict[str, Any]:
    """The answer CloudFormation expects: SUCCESS with ``data``, or FAILED with the reason ``error``."""
    properties = event.get("ResourceProperties") or {}
    if event["RequestType"] == "Delete" or not properties.get("TargetArn"):
        physical = event.get("PhysicalResourceId") or event["LogicalResourceId"]
    else:
        physical = properties["TargetArn"]
    answer = {
        "Status": "FAILED" if error else "SUCCESS",
        "PhysicalResourceId": physical,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": dict(data or {}),
    }
    if error:
        answer["Reason"] = error[:REASON_CHARS]
    return answer


def send(url: str, answer: Mapping[str, Any]) -> None:
    """PUT the answer to the pre-signed URL; S3 refuses a signed PUT with a content type it was not signed for."""
    body = json.dumps(answer).encode()
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": ""})
    with urllib.request.urlopen(request, timeout=RESPONSE_TIMEOUT_S) as reply:
        reply.read()


def handler(
    event: dict[str, Any], context: object, *, deliver: Callable[[str, Mapping[str, Any]], None] = send
) -> dict[str, Any]:
    """CloudFormation entry point; returns (and logs) the answer it sent."""
    try:
        data, error = apply(event, aws_client("greengrassv2")), None
    except Exception as failure:
        data, error = None, f"{type(failure).__name__}: {failure}"
    answer = response(event, data, error)
    print(json.dumps({"message": "edge-deployment", "request": event["RequestType"], **answer}))
    deliver(event["ResponseURL"], answer)
    return answer

"""One construct on a bare stack, as aws-cdk's construct tests build it, and its findings under the packs.

Collaborators are made right there and are themselves compliant (our own constructs or a rotated
key), so a finding of ``unacknowledged_findings`` points at the construct under test.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from aws_cdk import Environment, RemovalPolicy, Stack, Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from factory_constructs.foundation.access_logs import AccessLogBucket
from factory_constructs.foundation.keys import SiteKeys
from factory_constructs.foundation.network import SiteNetwork
from factory_constructs.site_function import FunctionPlacement
from policies import tag_keys
from policies.gate import apply_compliance_gate
from stacks.site_app import FEATURE_FLAGS, new_app

ACCOUNT = "123456789012"
REGION = "eu-central-1"
CIDR = "10.20.0.0/16"


def bare_stack(*, audit_trail: bool = False) -> Stack:
    """A stack of its own App in REGION, tagged as a site's stack is (the residency and GxP rules read the tags)."""
    app = new_app(outdir=tempfile.mkdtemp(prefix="construct-test-"), context=dict(FEATURE_FLAGS))
    stack = Stack(app, "Test", env=Environment(account=ACCOUNT, region=REGION))
    Tags.of(stack).add(tag_keys.DATA_REGIONS, REGION)
    Tags.of(stack).add(tag_keys.AUDIT_TRAIL, "true" if audit_trail else "false")
    return stack


def site_keys(stack: Stack) -> SiteKeys:
    return SiteKeys(stack, "Keys", removal_policy=RemovalPolicy.RETAIN)


def keys_of(stack: Stack) -> SiteKeys:
    """The keys ``site_keys`` made on ``stack``."""
    keys = stack.node.find_child("Keys")
    assert isinstance(keys, SiteKeys)
    return keys


def access_logs(stack: Stack) -> s3.IBucket:
    return AccessLogBucket(stack, "AccessLogs", retention_days=400, removal_policy=RemovalPolicy.RETAIN).bucket


def network(stack: Stack, keys: SiteKeys) -> SiteNetwork:
    """The smallest site network: one zone, no NAT."""
    return SiteNetwork(
        stack,
        "Network",
        cidr=CIDR,
        availability_zones=[f"{REGION}a"],
        nat_gateways=0,
        logs_key=keys.logs,
        log_retention=logs.RetentionDays.THIRTEEN_MONTHS,
        removal_policy=RemovalPolicy.RETAIN,
        ml_endpoints=False,
        api_endpoints=False,
    )


def placement(stack: Stack, keys: SiteKeys) -> FunctionPlacement:
    return network(stack, keys).function_placement


# What stream.grant_read gives a role on a Kinesis stream.
KINESIS_READ_ACTIONS = [
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
    "kinesis:SubscribeToShard",
    "kinesis:DescribeStream",
    "kinesis:ListStreams",
    "kinesis:DescribeStreamConsumer",
]


def role_statements(stack: Stack, role: iam.IRole, statements: list[dict[str, Any]]) -> None:
    """The policy attached to ``role`` holds exactly ``statements``, in order."""
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {"Roles": [stack.resolve(role.role_name)], "PolicyDocument": {"Statement": Match.exact(statements)}},
    )


def unacknowledged_findings(stack: Stack) -> list[str]:
    """Synthesize the stack's App under every pack; each finding as '<rule> at <construct path>'."""
    app = stack.node.root
    apply_compliance_gate(app)  # type: ignore[arg-type]
    try:
        app.synth()  # type: ignore[attr-defined]
    except RuntimeError as error:
        if "ValidationFailed" not in str(error):
            raise
    report = json.loads((Path(app.outdir) / "validation-report.json").read_text(encoding="utf-8"))  # type: ignore[attr-defined]
    return sorted(
        f"{violation['ruleName']} at {construct['constructPath']}"
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    )

"""QueryWorkgroup on a bare stack: the workgroup's enforced settings, the results bucket, grant_query,
validations, nag."""

from __future__ import annotations

from typing import Any, cast

import pytest
from aws_cdk import CfnElement, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from construct_helpers import access_logs, bare_stack, keys_of, site_keys, unacknowledged_findings
from factory_constructs.api.query_workgroup import QueryWorkgroup

pytestmark = pytest.mark.synth

REQUIRED = {"name": "plantA-api", "scan_limit_bytes": 10 * 1024**3}


def build(*, audit_trail: bool = False, **props: Any) -> tuple[Stack, QueryWorkgroup]:
    stack = bare_stack(audit_trail=audit_trail)
    keys = site_keys(stack)
    workgroup = QueryWorkgroup(stack, "Queries", key=keys.data, access_logs=access_logs(stack), **{**REQUIRED, **props})
    return stack, workgroup


@pytest.fixture(scope="module")
def default() -> tuple[Stack, QueryWorkgroup]:
    return build()


def test_the_workgroup_enforces_engine_3_encrypted_results_a_scan_cutoff_and_metrics(
    default: tuple[Stack, QueryWorkgroup],
) -> None:
    stack, workgroup = default
    key_arn = stack.resolve(keys_of(stack).data.key_arn)
    Template.from_stack(stack).has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "Name": "plantA-api",
            "State": "ENABLED",
            "WorkGroupConfiguration": {
                "EnforceWorkGroupConfiguration": True,
                "PublishCloudWatchMetricsEnabled": True,
                "BytesScannedCutoffPerQuery": 10 * 1024**3,
                "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
                "ResultConfiguration": {
                    "OutputLocation": {
                        "Fn::Join": ["", ["s3://", stack.resolve(workgroup.results.bucket_name), "/results/"]]
                    },
                    "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": key_arn},
                    "ExpectedBucketOwner": "123456789012",
                },
            },
        },
    )


def test_results_expire_within_days_in_a_bucket_with_the_lakes_controls(default: tuple[Stack, QueryWorkgroup]) -> None:
    stack, workgroup = default
    resource = Template.from_stack(stack).to_json()["Resources"][
        stack.get_logical_id(cast(CfnElement, workgroup.results.node.default_child))
    ]
    properties = resource["Properties"]
    assert resource["DeletionPolicy"] == "Retain"
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["LifecycleConfiguration"]["Rules"] == [
        {
            "Id": "ExpireResults",
            "Status": "Enabled",
            "ExpirationInDays": 7,
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
    ]
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert properties["LoggingConfiguration"]["LogFilePrefix"] == "athena-results/"
    assert properties["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True


def test_results_bucket_refuses_other_encryption_and_other_accounts(default: tuple[Stack, QueryWorkgroup]) -> None:
    stack, workgroup = default
    sids = [
        statement.get("Sid")
        for policy in Template.from_stack(stack)
        .find_resources(
            "AWS::S3::BucketPolicy", {"Properties": {"Bucket": stack.resolve(workgroup.results.bucket_name)}}
        )
        .values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert {"DenyNonKmsWrites", "DenyOtherAccounts"} <= set(sids)


def test_grant_query_runs_queries_in_this_workgroup_and_reads_and_writes_only_the_results_folder() -> None:
    stack, workgroup = build()
    role = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    workgroup.grant_query(role)
    results_arn = stack.resolve(workgroup.results.bucket_arn)
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like({"Resource": [results_arn, {"Fn::Join": ["", [results_arn, "/results/*"]]}]}),
                        {
                            "Action": [
                                "athena:GetWorkGroup",
                                "athena:StartQueryExecution",
                                "athena:GetQueryExecution",
                                "athena:GetQueryResults",
                                "athena:StopQueryExecution",
                            ],
                            "Effect": "Allow",
                            "Resource": {
                                "Fn::Join": [
                                    "",
                                    [
                                        "arn:",
                                        {"Ref": "AWS::Partition"},
                                        ":athena:eu-central-1:123456789012:workgroup/plantA-api",
                                    ],
                                ]
                            },
                        },
                    ]
                )
            }
        },
    )


def test_results_days_and_removal_policy_are_honoured() -> None:
    stack, workgroup = build(results_days=2, removal_policy=RemovalPolicy.DESTROY)
    resource = Template.from_stack(stack).to_json()["Resources"][
        stack.get_logical_id(cast(CfnElement, workgroup.results.node.default_child))
    ]
    assert resource["DeletionPolicy"] == "Delete"
    assert resource["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 2


def test_invalid_props_are_reported_together() -> None:
    with pytest.raises(ValueError) as raised:
        build(name="plant A/api", scan_limit_bytes=1_000, results_days=0)
    assert str(raised.value) == (
        "QueryWorkgroup Queries: name 'plant A/api' is not 1-128 characters of A-Z a-z 0-9 . _ -; fix: use e.g. "
        "plantA-api; scan_limit_bytes 1000 is below 10000000, Athena's smallest cutoff; fix: raise it; "
        "results_days 0 is below 1; fix: keep results at least a day"
    )


def test_the_workgroup_alone_on_an_audit_trail_stack_has_no_unacknowledged_findings() -> None:
    stack, _ = build(audit_trail=True)
    assert unacknowledged_findings(stack) == []

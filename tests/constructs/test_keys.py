"""SiteKeys on a bare stack: rotation, key policies, what a grant gives, removal policy, the packs."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import CfnElement, Environment, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from construct_helpers import ACCOUNT, REGION, bare_stack, site_keys, unacknowledged_findings
from factory_constructs.foundation.keys import SiteKeys

pytestmark = pytest.mark.synth

ROOT_STATEMENT = {
    "Action": "kms:*",
    "Effect": "Allow",
    "Principal": {"AWS": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iam::{ACCOUNT}:root"]]}},
    "Resource": "*",
}


def logs_service_statement(region: str) -> dict[str, Any]:
    return {
        "Sid": "CloudWatchLogsOfThisAccount",
        "Effect": "Allow",
        "Principal": {"Service": f"logs.{region}.amazonaws.com"},
        "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        "Resource": "*",
        "Condition": {
            "ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": {
                    "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":logs:{region}:{ACCOUNT}:log-group/*"]]
                }
            }
        },
    }


def logical_id(key: Any) -> str:
    stack = Stack.of(key)
    element: CfnElement = key.node.default_child
    return stack.resolve(stack.get_logical_id(element))


def key_resource(template: Template, key: Any) -> dict[str, Any]:
    return template.to_json()["Resources"][logical_id(key)]


# --- defaults -------------------------------------------------------------------------------------------------


def test_data_key_rotates_with_a_30_day_pending_window_and_only_the_account_in_its_policy() -> None:
    stack = bare_stack()
    keys = site_keys(stack)
    template = Template.from_stack(stack)
    data = key_resource(template, keys.data)
    assert data["Properties"]["Description"] == "Site data at rest: lake, streams, catalog, jobs"
    assert data["Properties"]["EnableKeyRotation"] is True
    assert data["Properties"]["PendingWindowInDays"] == 30
    assert data["Properties"]["KeyPolicy"]["Statement"] == [ROOT_STATEMENT]
    template.resource_count_is("AWS::KMS::Key", 2)


def test_logs_key_rotates_and_admits_this_regions_logs_service_for_log_groups_of_this_account() -> None:
    stack = bare_stack()
    keys = site_keys(stack)
    log_key = key_resource(Template.from_stack(stack), keys.logs)
    assert log_key["Properties"]["Description"] == "Site log groups"
    assert log_key["Properties"]["EnableKeyRotation"] is True
    assert log_key["Properties"]["PendingWindowInDays"] == 30
    assert log_key["Properties"]["KeyPolicy"]["Statement"] == [ROOT_STATEMENT, logs_service_statement(REGION)]


# --- customisation: the stack's region ------------------------------------------------------------------------


def test_logs_key_follows_the_stacks_region() -> None:
    app = bare_stack().node.root
    stack = Stack(app, "Sydney", env=Environment(account=ACCOUNT, region="ap-southeast-2"))
    keys = SiteKeys(stack, "Keys", removal_policy=RemovalPolicy.RETAIN)
    statements = key_resource(Template.from_stack(stack), keys.logs)["Properties"]["KeyPolicy"]["Statement"]
    assert statements[1] == logs_service_statement("ap-southeast-2")


# --- grants ---------------------------------------------------------------------------------------------------


def encrypt_decrypt_statement(key: Any) -> dict[str, Any]:
    return {
        "Action": ["kms:Decrypt", "kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [logical_id(key), "Arn"]},
    }


def test_grant_encrypt_decrypt_on_the_data_key_gives_the_role_exactly_that_key_and_leaves_the_key_policy() -> None:
    stack = bare_stack()
    keys = site_keys(stack)
    role = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    keys.data.grant_encrypt_decrypt(role)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {"Statement": [encrypt_decrypt_statement(keys.data)], "Version": "2012-10-17"},
            "Roles": [{"Ref": stack.resolve(stack.get_logical_id(role.node.default_child))}],
        },
    )
    assert key_resource(template, keys.data)["Properties"]["KeyPolicy"]["Statement"] == [ROOT_STATEMENT]


def test_grant_encrypt_decrypt_on_the_logs_key_names_only_the_logs_key() -> None:
    stack = bare_stack()
    keys = site_keys(stack)
    role = iam.Role(stack, "Writer", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"))
    keys.logs.grant_encrypt_decrypt(role)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::IAM::Policy", {"PolicyDocument": {"Statement": [encrypt_decrypt_statement(keys.logs)]}}
    )
    statements = key_resource(template, keys.logs)["Properties"]["KeyPolicy"]["Statement"]
    assert statements == [ROOT_STATEMENT, logs_service_statement(REGION)]


# --- removal policy -------------------------------------------------------------------------------------------


def test_retain_keeps_both_keys() -> None:
    stack = bare_stack()
    site_keys(stack)
    Template.from_stack(stack).all_resources(
        "AWS::KMS::Key",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": Match.object_like({"PendingWindowInDays": 30}),
        },
    )


def test_destroy_deletes_both_keys_after_the_pending_window() -> None:
    stack = bare_stack()
    SiteKeys(stack, "Keys", removal_policy=RemovalPolicy.DESTROY)
    template = Template.from_stack(stack)
    template.all_resources(
        "AWS::KMS::Key",
        {
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": Match.object_like({"PendingWindowInDays": 30}),
        },
    )
    template.resource_count_is("AWS::KMS::Key", 2)


# --- packs ----------------------------------------------------------------------------------------------------


def test_keys_alone_have_no_unacknowledged_finding_on_an_audit_trail_site() -> None:
    stack = bare_stack(audit_trail=True)
    site_keys(stack)
    assert unacknowledged_findings(stack) == []

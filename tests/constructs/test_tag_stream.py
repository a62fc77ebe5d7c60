"""TagStream on a bare stack: encryption, retention, capacity, validations, grants, metric, removal, nag."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import pytest
from aws_cdk import CfnParameter, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template

from construct_helpers import KINESIS_READ_ACTIONS, bare_stack, role_statements, site_keys, unacknowledged_findings
from factory_constructs.ingestion.tag_stream import TagStream

pytestmark = pytest.mark.synth


class Built(NamedTuple):
    stack: Stack
    key: kms.IKey
    tag_stream: TagStream

    def template(self) -> Template:
        return Template.from_stack(self.stack)

    def resolve(self, value: Any) -> Any:
        return self.stack.resolve(value)


def build(*, audit_trail: bool = False, **props: Any) -> Built:
    """A TagStream "Tags" kept 72 hours on on-demand capacity unless ``props`` override them."""
    stack = bare_stack(audit_trail=audit_trail)
    key = site_keys(stack).data
    tag_stream = TagStream(stack, "Tags", key=key, **{"retention_hours": 72, "shards": None, **props})
    return Built(stack, key, tag_stream)


def new(**props: Any) -> TagStream:
    """Only the constructor (for validation tests)."""
    stack = bare_stack()
    return TagStream(stack, "Tags", key=site_keys(stack).data, **props)


# --- defaults ---------------------------------------------------------------------------------------


def test_defaults_encrypt_with_the_given_key_keep_records_72_hours_on_on_demand_capacity() -> None:
    built = build()
    built.template().has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "StreamEncryption": Match.exact({"EncryptionType": "KMS", "KeyId": built.resolve(built.key.key_arn)}),
            "RetentionPeriodHours": 72,
            "StreamModeDetails": {"StreamMode": "ON_DEMAND"},
            "ShardCount": Match.absent(),
        },
    )


# --- customisations ---------------------------------------------------------------------------------


def test_shards_provision_that_many_shards() -> None:
    build(shards=3).template().has_resource_properties(
        "AWS::Kinesis::Stream", {"ShardCount": 3, "StreamModeDetails": {"StreamMode": "PROVISIONED"}}
    )


def test_a_single_shard_is_provisioned() -> None:
    build(shards=1).template().has_resource_properties(
        "AWS::Kinesis::Stream", {"ShardCount": 1, "StreamModeDetails": {"StreamMode": "PROVISIONED"}}
    )


@pytest.mark.parametrize("hours", [168, 8760])
def test_retention_hours_set_how_long_records_are_kept(hours: int) -> None:
    build(retention_hours=hours).template().has_resource_properties(
        "AWS::Kinesis::Stream", {"RetentionPeriodHours": hours}
    )


# --- validations ------------------------------------------------------------------------------------


def test_retention_hours_must_be_at_least_72() -> None:
    message = "TagStream Tags: retention_hours 71 is below 72; fix: raise it"
    with pytest.raises(ValueError, match=re.escape(message)):
        new(retention_hours=71, shards=None)


def test_retention_hours_must_be_at_most_8760() -> None:
    message = "TagStream Tags: retention_hours 8761 is above 8760, the most Kinesis keeps; fix: lower it"
    with pytest.raises(ValueError, match=re.escape(message)):
        new(retention_hours=8761, shards=None)


@pytest.mark.parametrize("shards", [0, -1])
def test_shards_must_be_at_least_one(shards: int) -> None:
    message = f"TagStream Tags: shards {shards} is below 1; fix: use at least 1, or None for on-demand capacity"
    with pytest.raises(ValueError, match=re.escape(message)):
        new(retention_hours=72, shards=shards)


def test_every_problem_is_reported_at_once() -> None:
    message = (
        "TagStream Tags: retention_hours 24 is below 72; fix: raise it; "
        "shards 0 is below 1; fix: use at least 1, or None for on-demand capacity"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(retention_hours=24, shards=0)


def test_retention_and_shards_given_as_tokens_are_left_to_deploy_time() -> None:
    stack = bare_stack()
    hours = CfnParameter(stack, "Hours", type="Number").value_as_number
    count = CfnParameter(stack, "Shards", type="Number").value_as_number
    TagStream(stack, "Tags", key=site_keys(stack).data, retention_hours=hours, shards=count)  # type: ignore[arg-type]
    Template.from_stack(stack).has_resource_properties(
        "AWS::Kinesis::Stream", {"RetentionPeriodHours": {"Ref": "Hours"}, "ShardCount": {"Ref": "Shards"}}
    )


# --- grants -----------------------------------------------------------------------------------------


def a_role(built: Built) -> iam.Role:
    return iam.Role(built.stack, "Grantee", assumed_by=iam.ServicePrincipal("firehose.amazonaws.com"))


def test_grant_read_gives_the_kinesis_read_actions_on_the_stream_and_decrypt_with_the_key() -> None:
    built = build()
    role = a_role(built)
    built.tag_stream.stream.grant_read(role)
    role_statements(
        built.stack,
        role,
        [
            {
                "Action": KINESIS_READ_ACTIONS,
                "Effect": "Allow",
                "Resource": built.resolve(built.tag_stream.stream.stream_arn),
            },
            {"Action": "kms:Decrypt", "Effect": "Allow", "Resource": built.resolve(built.key.key_arn)},
        ],
    )


def test_grant_write_gives_the_put_actions_on_the_stream_and_encrypt_with_the_key() -> None:
    built = build()
    role = a_role(built)
    built.tag_stream.stream.grant_write(role)
    role_statements(
        built.stack,
        role,
        [
            {
                "Action": ["kinesis:ListShards", "kinesis:PutRecord", "kinesis:PutRecords"],
                "Effect": "Allow",
                "Resource": built.resolve(built.tag_stream.stream.stream_arn),
            },
            {
                "Action": ["kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
                "Effect": "Allow",
                "Resource": built.resolve(built.key.key_arn),
            },
        ],
    )


# --- metrics ----------------------------------------------------------------------------------------


def test_metric_incoming_records_is_the_streams_kinesis_metric() -> None:
    built = build()
    metric = built.tag_stream.stream.metric_incoming_records()
    assert metric.namespace == "AWS/Kinesis"
    assert metric.metric_name == "IncomingRecords"
    assert built.resolve(metric.dimensions) == {"StreamName": built.resolve(built.tag_stream.stream.stream_name)}


# --- removal policy ---------------------------------------------------------------------------------


def test_stream_is_retained_by_default() -> None:
    build().template().has_resource(
        "AWS::Kinesis::Stream", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    )


def test_destroy_deletes_the_stream_with_its_stack() -> None:
    build(removal_policy=RemovalPolicy.DESTROY).template().has_resource(
        "AWS::Kinesis::Stream", {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"}
    )


# --- nag --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shards", [None, 2], ids=["on-demand", "provisioned"])
def test_a_stream_alone_on_an_audit_trail_stack_has_no_unacknowledged_findings(shards: int | None) -> None:
    assert unacknowledged_findings(build(audit_trail=True, shards=shards).stack) == []

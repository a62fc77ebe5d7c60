"""ApiTables on a bare stack: keys, index, expiry, encryption, recovery, deletion protection, grants, nag."""

from __future__ import annotations

from typing import Any, cast

import pytest
from aws_cdk import CfnElement, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template

from construct_helpers import bare_stack, keys_of, role_statements, site_keys, unacknowledged_findings
from factory_constructs.api.api_handler.latest_store import LINE_INDEX
from factory_constructs.api.api_tables import ApiTables

pytestmark = pytest.mark.synth


def build(**props: Any) -> tuple[Stack, ApiTables]:
    stack = bare_stack()
    return stack, ApiTables(stack, "Tables", key=site_keys(stack).data, **props)


def data_key_arn(stack: Stack) -> Any:
    return stack.resolve(keys_of(stack).data.key_arn)


@pytest.fixture(scope="module")
def default() -> tuple[Stack, ApiTables]:
    return build()


def table(stack: Stack, table: Any) -> dict[str, Any]:
    resource: dict[str, Any] = Template.from_stack(stack).to_json()["Resources"][
        stack.get_logical_id(cast(CfnElement, table.node.default_child))
    ]
    return resource


def keys(attribute: str, kind: str = "HASH") -> dict[str, str]:
    return {"AttributeName": attribute, "KeyType": kind}


def test_latest_is_keyed_by_path_with_the_by_line_index_the_catalog_queries(default: tuple[Stack, ApiTables]) -> None:
    stack, tables = default
    properties = table(stack, tables.latest)["Properties"]
    assert properties["KeySchema"] == [keys("path")]
    assert LINE_INDEX == "by_line"  # the handlers query the index by this name
    assert properties["GlobalSecondaryIndexes"] == [
        {
            "IndexName": LINE_INDEX,
            "KeySchema": [keys("line_path"), keys("path", "RANGE")],
            "Projection": {"ProjectionType": "ALL"},
        }
    ]


def test_commands_are_keyed_by_command_id_and_alerts_by_site_and_time_and_expire(
    default: tuple[Stack, ApiTables],
) -> None:
    stack, tables = default
    assert table(stack, tables.commands)["Properties"]["KeySchema"] == [keys("command_id")]
    alerts = table(stack, tables.alerts)["Properties"]
    assert alerts["KeySchema"] == [keys("site"), keys("at_id", "RANGE")]
    assert alerts["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


@pytest.mark.parametrize("name", ["latest", "commands", "alerts"])
def test_every_table_is_on_demand_encrypted_with_the_key_recoverable_protected_and_retained(
    default: tuple[Stack, ApiTables], name: str
) -> None:
    stack, tables = default
    resource = table(stack, getattr(tables, name))
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
    (replica,) = resource["Properties"]["Replicas"]
    assert replica["DeletionProtectionEnabled"] is True
    assert replica["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert "KMSMasterKeyId" in replica["SSESpecification"]


def test_destroy_turns_deletion_protection_off() -> None:
    stack, tables = build(removal_policy=RemovalPolicy.DESTROY)
    resource = table(stack, tables.latest)
    assert resource["DeletionPolicy"] == "Delete"
    assert resource["Properties"]["Replicas"][0]["DeletionProtectionEnabled"] is False


def grantee_role(stack: Stack) -> iam.Role:
    return iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))


def test_a_read_grant_adds_the_index_for_queries_and_only_decrypt() -> None:
    stack, tables = build()
    role = grantee_role(stack)
    tables.grant(role, tables.latest, "dynamodb:Query")
    latest_arn = stack.resolve(tables.latest.table_arn)
    role_statements(
        stack,
        role,
        [
            {"Action": "kms:Decrypt", "Effect": "Allow", "Resource": data_key_arn(stack)},
            {
                "Action": "dynamodb:Query",
                "Effect": "Allow",
                "Resource": [latest_arn, {"Fn::Join": ["", [latest_arn, f"/index/{LINE_INDEX}"]]}],
            },
        ],
    )


def test_a_write_grant_also_encrypts_and_names_only_the_table() -> None:
    stack, tables = build()
    role = grantee_role(stack)
    tables.grant(role, tables.commands, "dynamodb:PutItem", "dynamodb:GetItem")
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like({"Action": Match.array_with(["kms:Encrypt", "kms:GenerateDataKey*"])}),
                        {
                            "Action": ["dynamodb:PutItem", "dynamodb:GetItem"],
                            "Effect": "Allow",
                            "Resource": stack.resolve(tables.commands.table_arn),
                        },
                    ]
                )
            }
        },
    )


def test_grant_refuses_other_tables_and_non_dynamodb_actions() -> None:
    stack, tables = build()
    other = ApiTables(stack, "Other", key=kms.Key(stack, "OtherKey", enable_key_rotation=True))
    role = grantee_role(stack)
    with pytest.raises(ValueError, match=r"^table Test/Other/Latest is not one of these tables; fix: pass latest"):
        tables.grant(role, other.latest, "dynamodb:GetItem")
    with pytest.raises(ValueError, match=r"^actions \['s3:GetObject'\] are not DynamoDB actions; fix: name e\.g\."):
        tables.grant(role, tables.latest, "s3:GetObject")
    with pytest.raises(ValueError, match=r"^actions \[\] are not DynamoDB actions"):
        tables.grant(role, tables.latest)


def test_the_tables_alone_on_an_audit_trail_stack_have_no_unacknowledged_findings() -> None:
    stack = bare_stack(audit_trail=True)
    ApiTables(stack, "Tables", key=site_keys(stack).data)
    assert unacknowledged_findings(stack) == []

"""ApiUserPool on a bare stack: sign-in, MFA, password policy, threat protection, groups, client, validation, nag."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import RemovalPolicy, Stack
from aws_cdk.assertions import Match, Template

from construct_helpers import bare_stack, unacknowledged_findings
from factory_constructs.api.api_handler.contract import GROUPS
from factory_constructs.api.user_pool import ApiUserPool

pytestmark = pytest.mark.synth


def build(*, audit_trail: bool = False, **props: Any) -> tuple[Stack, ApiUserPool]:
    stack = bare_stack(audit_trail=audit_trail)
    return stack, ApiUserPool(stack, "Users", **{"groups": GROUPS, **props})


@pytest.fixture(scope="module")
def default() -> Template:
    stack, _ = build()
    return Template.from_stack(stack)


def test_only_administrators_create_users_who_sign_in_with_email_password_and_totp(default: Template) -> None:
    default.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "UsernameAttributes": ["email"],
            "MfaConfiguration": "ON",
            "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
            "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
            "Policies": {
                "PasswordPolicy": {
                    "MinimumLength": 14,
                    "RequireLowercase": True,
                    "RequireUppercase": True,
                    "RequireNumbers": True,
                    "RequireSymbols": True,
                    "TemporaryPasswordValidityDays": 3,
                }
            },
        },
    )


def test_threat_protection_blocks_compromised_credentials_on_the_plus_plan(default: Template) -> None:
    default.has_resource_properties(
        "AWS::Cognito::UserPool", {"UserPoolTier": "PLUS", "UserPoolAddOns": {"AdvancedSecurityMode": "ENFORCED"}}
    )


def test_the_pool_is_retained_and_protected_from_deletion(default: Template) -> None:
    default.has_resource(
        "AWS::Cognito::UserPool",
        {"DeletionPolicy": "Retain", "Properties": Match.object_like({"DeletionProtection": "ACTIVE"})},
    )


def test_destroy_lifts_deletion_protection() -> None:
    stack, _ = build(removal_policy=RemovalPolicy.DESTROY)
    Template.from_stack(stack).has_resource(
        "AWS::Cognito::UserPool",
        {"DeletionPolicy": "Delete", "Properties": Match.object_like({"DeletionProtection": "INACTIVE"})},
    )


def test_one_group_per_role_of_the_contract_in_order_of_precedence(default: Template) -> None:
    groups = sorted(
        (group["Properties"]["Precedence"], group["Properties"]["GroupName"])
        for group in default.find_resources("AWS::Cognito::UserPoolGroup").values()
    )
    assert groups == [(0, "operator"), (1, "engineer"), (2, "analyst")]


def test_the_client_signs_in_by_srp_without_secret_or_oauth_with_short_tokens(default: Template) -> None:
    default.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {
            "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            "GenerateSecret": False,
            "AllowedOAuthFlowsUserPoolClient": False,
            "AllowedOAuthFlows": Match.absent(),
            "CallbackURLs": Match.absent(),
            "PreventUserExistenceErrors": "ENABLED",
            "EnableTokenRevocation": True,
            "IdTokenValidity": 60,
            "AccessTokenValidity": 60,
            "RefreshTokenValidity": 720,
        },
    )


def test_invalid_groups_are_reported_together() -> None:
    with pytest.raises(ValueError) as raised:
        build(groups=["Operator", "analyst", "analyst"])
    assert str(raised.value) == (
        "ApiUserPool Users: groups ['Operator'] are not 1-64 characters of a-z 0-9 _ - starting with a letter; "
        "fix: rename them; groups ['Operator', 'analyst', 'analyst'] name a group twice; fix: list each once"
    )
    with pytest.raises(ValueError, match=r"^ApiUserPool Users: groups is empty; fix: name the roles"):
        build(groups=[])


def test_the_pool_alone_on_an_audit_trail_stack_has_no_unacknowledged_findings() -> None:
    stack, _ = build(audit_trail=True)
    assert unacknowledged_findings(stack) == []

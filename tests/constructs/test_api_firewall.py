"""ApiFirewall on a bare stack: the web ACL's rules, its logging, association, validation, nag."""

from __future__ import annotations

from typing import Any, cast

import pytest
from aws_cdk import CfnElement, Stack
from aws_cdk.assertions import Match, Template

from construct_helpers import bare_stack, keys_of, site_keys, unacknowledged_findings
from factory_constructs.api.waf import ApiFirewall

pytestmark = pytest.mark.synth


def build(*, audit_trail: bool = False, **props: Any) -> tuple[Stack, ApiFirewall]:
    stack = bare_stack(audit_trail=audit_trail)
    keys = site_keys(stack)
    firewall = ApiFirewall(
        stack, "Firewall", logs_key=keys.logs, **{"name": "plantA-api", "requests_per_ip": 3000, **props}
    )
    return stack, firewall


@pytest.fixture(scope="module")
def default() -> tuple[Stack, ApiFirewall]:
    return build()


def visibility(metric: str) -> dict[str, Any]:
    return {"CloudWatchMetricsEnabled": True, "MetricName": metric, "SampledRequestsEnabled": True}


def managed(name: str, priority: int, **statement: Any) -> dict[str, Any]:
    return {
        "Name": name,
        "Priority": priority,
        "OverrideAction": {"None": {}},
        "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": name, **statement}},
        "VisibilityConfig": visibility(name),
    }


def test_a_regional_acl_applies_the_managed_rule_groups_and_a_rate_limit_per_ip(
    default: tuple[Stack, ApiFirewall],
) -> None:
    stack, _ = default
    Template.from_stack(stack).has_resource_properties(
        "AWS::WAFv2::WebACL",
        {
            "Scope": "REGIONAL",
            "DefaultAction": {"Allow": {}},
            "VisibilityConfig": visibility("SiteApi"),
            "Rules": [
                managed(
                    "AWSManagedRulesCommonRuleSet",
                    0,
                    # Batch bodies of the document exceed the set's 8 KB limit; API Gateway validates them.
                    RuleActionOverrides=[{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}],
                ),
                managed("AWSManagedRulesKnownBadInputsRuleSet", 1),
                managed("AWSManagedRulesAmazonIpReputationList", 2),
                {
                    "Name": "RateLimitPerIp",
                    "Priority": 3,
                    "Action": {"Block": {}},
                    "Statement": {
                        "RateBasedStatement": {"AggregateKeyType": "IP", "Limit": 3000, "EvaluationWindowSec": 300}
                    },
                    "VisibilityConfig": visibility("RateLimitPerIp"),
                },
            ],
        },
    )


def test_logs_go_to_an_encrypted_aws_waf_logs_group_without_the_authorization_header(
    default: tuple[Stack, ApiFirewall],
) -> None:
    stack, firewall = default
    template = Template.from_stack(stack)
    template.has_resource(
        "AWS::Logs::LogGroup",
        {
            "DeletionPolicy": "Retain",
            "Properties": {
                "LogGroupName": "aws-waf-logs-plantA-api",
                "KmsKeyId": stack.resolve(keys_of(stack).logs.key_arn),
                "RetentionInDays": 400,
            },
        },
    )
    template.has_resource_properties(
        "AWS::WAFv2::LoggingConfiguration",
        {
            "ResourceArn": stack.resolve(firewall.web_acl.attr_arn),
            # WAF wants the group's ARN without the ":*" that LogGroup.log_group_arn carries.
            "LogDestinationConfigs": [
                {
                    "Fn::Join": [
                        "",
                        [
                            "arn:",
                            {"Ref": "AWS::Partition"},
                            ":logs:eu-central-1:123456789012:log-group:aws-waf-logs-plantA-api",
                        ],
                    ]
                }
            ],
            "RedactedFields": [{"SingleHeader": {"Name": "authorization"}}],
        },
    )
    log_group_id = stack.get_logical_id(cast(CfnElement, firewall.log_group.node.default_child))
    template.has_resource(
        "AWS::WAFv2::LoggingConfiguration",
        {"DependsOn": Match.array_with([log_group_id])},
    )


def test_associate_puts_the_acl_in_front_of_a_stage() -> None:
    stack, firewall = build()
    firewall.associate("StageAssociation", "arn:aws:apigateway:eu-central-1::/restapis/abc/stages/v1")
    Template.from_stack(stack).has_resource_properties(
        "AWS::WAFv2::WebACLAssociation",
        {
            "ResourceArn": "arn:aws:apigateway:eu-central-1::/restapis/abc/stages/v1",
            "WebACLArn": stack.resolve(firewall.web_acl.attr_arn),
        },
    )


def test_invalid_props_are_reported_together() -> None:
    with pytest.raises(ValueError) as raised:
        build(name="plant A", requests_per_ip=5)
    assert str(raised.value) == (
        "ApiFirewall Firewall: name 'plant A' is not 1-100 characters of A-Z a-z 0-9 _ -; fix: pass e.g. the site "
        "id; requests_per_ip 5 is outside 10-2000000000, what a WAF rate-based rule allows; fix: pick a limit in "
        "that range"
    )


def test_the_firewall_alone_on_an_audit_trail_stack_has_no_unacknowledged_findings() -> None:
    stack, _ = build(audit_trail=True)
    assert unacknowledged_findings(stack) == []

"""A regional WAF web ACL in front of the site API's stages, logging to an encrypted log group."""

from __future__ import annotations

import re

from aws_cdk import ArnFormat, RemovalPolicy, Stack, Token
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

# WAF delivers logs only to log groups whose name starts with this (AWS WAF developer guide, logging).
LOG_GROUP_PREFIX = "aws-waf-logs-"
# AWS managed rule groups, in evaluation order: OWASP-style common rules, inputs known to exploit
# software (Log4j, ...), and addresses Amazon threat intelligence lists as malicious.
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)
# Rules of those groups that only count: the common set blocks bodies above 8 KB, but a batch request of
# the API's document (up to 100 entries) is larger; API Gateway checks every body against its schema.
COUNTED_RULES = {"AWSManagedRulesCommonRuleSet": ("SizeRestrictions_BODY",)}
# WAF's bounds of a rate-based rule over its 5-minute window.
MIN_RATE, MAX_RATE = 10, 2_000_000_000
# The Authorization header carries SigV4 signatures and Cognito ID tokens: never write it to logs.
REDACTED_HEADERS = ("authorization",)
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


class ApiFirewall(Construct):
    """A REGIONAL web ACL (default allow) with the AWS managed common, known-bad-inputs and IP-reputation rule
    groups and a rate-based rule that blocks one client IP above ``requests_per_ip`` requests in 5 minutes
    (10 to 2,000,000,000).

    Its logs go to the log group ``aws-waf-logs-<name>`` (``name``: 1-100 of ``A-Z a-z 0-9 _ -``, unique per
    account and region, e.g. the site id), encrypted with ``logs_key``, kept ``log_retention`` (default 13
    months), with the Authorization header redacted.
    Associate it with a stage through ``associate``, in the stage's own stack: the packs look for the
    association next to the stage.
    ``removal_policy`` (default RETAIN): the log group.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        logs_key: kms.IKey,
        requests_per_ip: int,
        log_retention: logs.RetentionDays = logs.RetentionDays.THIRTEEN_MONTHS,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        if not Token.is_unresolved(name) and not _NAME.match(name):
            problems.append(f"name {name!r} is not 1-100 characters of A-Z a-z 0-9 _ -; fix: pass e.g. the site id")
        if not Token.is_unresolved(requests_per_ip) and not MIN_RATE <= requests_per_ip <= MAX_RATE:
            problems.append(
                f"requests_per_ip {requests_per_ip} is outside {MIN_RATE}-{MAX_RATE}, what a WAF rate-based rule "
                "allows; fix: pick a limit in that range"
            )
        if problems:
            raise ValueError(f"ApiFirewall {construct_id}: " + "; ".join(problems))
        stack = Stack.of(self)
        rules = [_managed_rule(group, priority) for priority, group in enumerate(MANAGED_RULE_GROUPS)]
        rules.append(
            wafv2.CfnWebACL.RuleProperty(
                name="RateLimitPerIp",
                priority=len(rules),
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        aggregate_key_type="IP", limit=requests_per_ip, evaluation_window_sec=300
                    )
                ),
                visibility_config=_visibility("RateLimitPerIp"),
            )
        )
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            description="Site API: AWS managed rules and a rate limit per client IP",
            rules=rules,
            visibility_config=_visibility("SiteApi"),
        )
        self.log_group_name = f"{LOG_GROUP_PREFIX}{name}"
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=self.log_group_name,
            encryption_key=logs_key,
            retention=log_retention,
            removal_policy=removal_policy,
        )
        # WAF takes the log group's ARN without the ":*" that LogGroup.log_group_arn ends with.
        log_group_arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=self.log_group_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.logging = wafv2.CfnLoggingConfiguration(
            self,
            "Logging",
            resource_arn=self.web_acl.attr_arn,
            log_destination_configs=[log_group_arn],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
                for header in REDACTED_HEADERS
            ],
        )
        self.logging.node.add_dependency(self.log_group)

    def associate(self, construct_id: str, stage_arn: str) -> wafv2.CfnWebACLAssociation:
        """Put the web ACL in front of the API stage ``stage_arn`` (built in this construct's stack)."""
        return wafv2.CfnWebACLAssociation(self, construct_id, resource_arn=stage_arn, web_acl_arn=self.web_acl.attr_arn)


def _visibility(metric: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )


def _managed_rule(group: str, priority: int) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=group,
        priority=priority,
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS",
                name=group,
                rule_action_overrides=[
                    wafv2.CfnWebACL.RuleActionOverrideProperty(
                        name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                    )
                    for rule in COUNTED_RULES.get(group, ())
                ]
                or None,
            )
        ),
        visibility_config=_visibility(group),
    )

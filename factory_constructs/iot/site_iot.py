"""IoT Core for one site: gateways' identity and permissions, and routing into the stream."""

from __future__ import annotations

import re

from aws_cdk import Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_s3 as s3
from constructs import Construct

from factory_constructs.grant_findings import acknowledge_grant_policy, resource_wildcard

THING = "${iot:Connection.Thing.ThingName}"
DEAD_LETTER_PREFIX = "dead-letter/iot-rules"
AUDIT_PREFIX = "audit/commands"
ROLE_ALIAS_SUFFIX = "-greengrass-tes"
# The site id is one MQTT topic level (no + # /) and part of the thing type, policy and role alias names;
# these characters are valid in all of them, and the longest derived name (the role alias) stays within 128.
MAX_SITE_ID_CHARS = 128 - len(ROLE_ALIAS_SUFFIX)
SITE_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_SITE_ID_CHARS}}}")
THING_GROUP_NAME = re.compile(r"[A-Za-z0-9:_-]{1,128}")  # IoT's pattern and length for thing group names


class SiteIot(Construct):
    """Thing group and type, the gateway policy, the Greengrass token-exchange role alias,
    and topic rules: telemetry (partition by ISA-95 line) and health (by gateway) into
    Kinesis, command audit records into the raw zone, rule failures into its dead-letter prefix.

    Every gateway may act only as its own thing name under ``dmc/<site>/<thing>/``.

    ``site_id``: 1-113 characters of ``A-Z a-z 0-9 _ -`` (a topic level, and part of the thing type,
    policy and role alias names); ``thing_group_name``: 1-128 characters of ``A-Z a-z 0-9 : _ -``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        site_id: str,
        thing_group_name: str,
        stream: kinesis.IStream,
        raw_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        if not Token.is_unresolved(site_id) and not SITE_ID.fullmatch(site_id):
            problems.append(
                f"site_id {site_id!r} is not 1-{MAX_SITE_ID_CHARS} characters of "
                "A-Z a-z 0-9 _ - (it is one MQTT topic level, so no + # /, and names the thing type, gateway "
                "policy and role alias); fix: pass the site's id, e.g. plantA"
            )
        if not Token.is_unresolved(thing_group_name) and not THING_GROUP_NAME.fullmatch(thing_group_name):
            problems.append(
                f"thing_group_name {thing_group_name!r} is not 1-128 characters of A-Z a-z 0-9 : _ -; "
                "fix: rename the thing group, e.g. plantA-gateways"
            )
        if problems:
            raise ValueError(f"SiteIot {construct_id}: " + "; ".join(problems))
        stack = Stack.of(self)
        self.site_id = site_id
        self.role_alias_name = f"{site_id}{ROLE_ALIAS_SUFFIX}"
        self.thing_group = iot.CfnThingGroup(
            self,
            "ThingGroup",
            thing_group_name=thing_group_name,
            thing_group_properties=iot.CfnThingGroup.ThingGroupPropertiesProperty(
                thing_group_description=f"Greengrass gateways of site {site_id}"
            ),
        )
        self.thing_type = iot.CfnThingType(
            self,
            "ThingType",
            thing_type_name=f"{site_id}-gateway",
            thing_type_properties=iot.CfnThingType.ThingTypePropertiesProperty(
                thing_type_description="Greengrass v2 core next to the PLCs", searchable_attributes=["line"]
            ),
        )
        self.token_exchange_role = iam.Role(
            self,
            "TokenExchangeRole",
            assumed_by=iam.ServicePrincipal("credentials.iot.amazonaws.com"),
            description="What Greengrass components on the site's gateways may call in AWS",
        )
        self.role_alias = iot.CfnRoleAlias(
            self,
            "RoleAlias",
            role_alias=self.role_alias_name,
            role_arn=self.token_exchange_role.role_arn,
            credential_duration_seconds=3600,
        )
        self.gateway_policy = iot.CfnPolicy(
            self, "GatewayPolicy", policy_name=f"{site_id}-gateway", policy_document=self._gateway_policy(stack)
        )
        self.rule_role = iam.Role(self, "RuleRole", assumed_by=iam.ServicePrincipal("iot.amazonaws.com"))
        stream.grant_write(self.rule_role)
        raw_bucket.grant_put(self.rule_role)
        dead_letter = iot.CfnTopicRule.ActionProperty(
            s3=iot.CfnTopicRule.S3ActionProperty(
                bucket_name=raw_bucket.bucket_name,
                key=f"{DEAD_LETTER_PREFIX}/${{topic()}}/${{timestamp()}}-${{newuuid()}}.json",
                role_arn=self.rule_role.role_arn,
            )
        )
        self.telemetry_rule = self._rule("TelemetryRule", "telemetry", self._to_stream(stream, "${line}"), dead_letter)
        self.health_rule = self._rule("HealthRule", "health", self._to_stream(stream, "${gateway}"), dead_letter)
        self.audit_rule = self._rule(
            "CommandAuditRule",
            "commands/audit",
            iot.CfnTopicRule.ActionProperty(
                s3=iot.CfnTopicRule.S3ActionProperty(
                    bucket_name=raw_bucket.bucket_name,
                    key=f"{AUDIT_PREFIX}/${{topic(3)}}/${{timestamp()}}-${{newuuid()}}.json",
                    role_arn=self.rule_role.role_arn,
                )
            ),
            dead_letter,
        )
        acknowledge_grant_policy(
            self.rule_role,
            [
                (
                    resource_wildcard(raw_bucket, "/*"),
                    "Topic rules write dead letters and command audit records under keys made of topic, "
                    "timestamp and a UUID; the wildcard covers that one bucket's objects.",
                )
            ],
        )

    def _to_stream(self, stream: kinesis.IStream, partition_key: str) -> iot.CfnTopicRule.ActionProperty:
        return iot.CfnTopicRule.ActionProperty(
            kinesis=iot.CfnTopicRule.KinesisActionProperty(
                stream_name=stream.stream_name, partition_key=partition_key, role_arn=self.rule_role.role_arn
            )
        )

    def _rule(
        self,
        construct_id: str,
        channel: str,
        action: iot.CfnTopicRule.ActionProperty,
        error_action: iot.CfnTopicRule.ActionProperty,
    ) -> iot.CfnTopicRule:
        return iot.CfnTopicRule(
            self,
            construct_id,
            topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                sql=f"SELECT * FROM 'dmc/{self.site_id}/+/{channel}'",
                aws_iot_sql_version="2016-03-23",
                rule_disabled=False,
                actions=[action],
                error_action=error_action,
            ),
        )

    def _gateway_policy(self, stack: Stack) -> dict[str, object]:
        def arn(resource: str) -> str:
            return stack.format_arn(service="iot", resource=resource)

        own = f"dmc/{self.site_id}/{THING}"
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ConnectAsOwnThing",
                    "Effect": "Allow",
                    "Action": "iot:Connect",
                    "Resource": arn(f"client/{THING}"),
                    "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
                },
                {
                    "Sid": "PublishOwnChannels",
                    "Effect": "Allow",
                    "Action": "iot:Publish",
                    "Resource": [
                        arn(f"topic/{own}/telemetry"),
                        arn(f"topic/{own}/health"),
                        arn(f"topic/{own}/commands/audit"),
                        arn(f"topic/$aws/things/{THING}/*"),
                    ],
                },
                {
                    "Sid": "ReceiveOwnCommandsAndJobs",
                    "Effect": "Allow",
                    "Action": ["iot:Subscribe"],
                    "Resource": [arn(f"topicfilter/{own}/commands"), arn(f"topicfilter/$aws/things/{THING}/*")],
                },
                {
                    "Sid": "ReceiveOwnTopics",
                    "Effect": "Allow",
                    "Action": ["iot:Receive"],
                    "Resource": [arn(f"topic/{own}/commands"), arn(f"topic/$aws/things/{THING}/*")],
                },
                {
                    "Sid": "OwnShadow",
                    "Effect": "Allow",
                    "Action": ["iot:GetThingShadow", "iot:UpdateThingShadow", "iot:DeleteThingShadow"],
                    "Resource": arn(f"thing/{THING}"),
                },
                {
                    "Sid": "TokenExchange",
                    "Effect": "Allow",
                    "Action": "iot:AssumeRoleWithCertificate",
                    "Resource": arn(f"rolealias/{self.role_alias_name}"),
                },
                {
                    "Sid": "GreengrassDataPlane",
                    "Effect": "Allow",
                    "Action": [
                        "greengrass:GetComponentVersionArtifact",
                        "greengrass:ResolveComponentCandidates",
                        "greengrass:GetDeploymentConfiguration",
                        "greengrass:ListThingGroupsForCoreDevice",
                    ],
                    "Resource": "*",
                },
            ],
        }

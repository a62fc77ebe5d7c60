"""SiteIot on a bare stack: names, the gateway policy statement by statement, topic rules, grants, validation, nag."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import pytest
from aws_cdk import CfnElement, CfnParameter, RemovalPolicy, Stack
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from construct_helpers import ACCOUNT, REGION, access_logs, bare_stack, site_keys, unacknowledged_findings
from factory_constructs.ingestion.tag_stream import TagStream
from factory_constructs.iot.site_iot import SiteIot
from factory_constructs.lake.lake_bucket import LakeBucket

pytestmark = pytest.mark.synth

THING = "${iot:Connection.Thing.ThingName}"


class Built(NamedTuple):
    stack: Stack
    key: kms.IKey
    stream: kinesis.IStream
    raw: s3.IBucket
    iot: SiteIot

    def template(self) -> Template:
        return Template.from_stack(self.stack)

    def ref(self, resource: Any) -> str:
        """The logical id of an L2's (or L1's) CloudFormation resource."""
        cfn = resource if isinstance(resource, CfnElement) else resource.node.default_child
        return self.stack.get_logical_id(cfn)

    def arn(self, resource: Any) -> dict[str, Any]:
        return {"Fn::GetAtt": [self.ref(resource), "Arn"]}


def collaborators(stack: Stack, *, locked: bool = False) -> tuple[kms.IKey, kinesis.IStream, s3.IBucket]:
    """The site key, a TagStream and the raw zone (Object Lock on an audit-trail site), all compliant themselves."""
    keys = site_keys(stack)
    stream = TagStream(
        stack, "TagStream", key=keys.data, retention_hours=72, shards=None, removal_policy=RemovalPolicy.RETAIN
    )
    raw = LakeBucket(
        stack,
        "Raw",
        zone="raw",
        key=keys.data,
        access_logs=access_logs(stack),
        expiration_days=3650,
        object_lock_days=2555 if locked else None,
    )
    return keys.data, stream.stream, raw.bucket


def build(*, site_id: str = "plantA", thing_group_name: str = "plantA-gateways") -> Built:
    stack = bare_stack()
    key, stream, raw = collaborators(stack)
    iot = SiteIot(stack, "Iot", site_id=site_id, thing_group_name=thing_group_name, stream=stream, raw_bucket=raw)
    return Built(stack, key, stream, raw, iot)


@pytest.fixture(scope="module")
def defaults() -> Built:
    return build()


@pytest.fixture(scope="module")
def template(defaults: Built) -> Template:
    return defaults.template()


def iot_arn(resource: str) -> dict[str, Any]:
    """How ``Stack.format_arn(service="iot", resource=...)`` renders on the bare stack."""
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iot:{REGION}:{ACCOUNT}:{resource}"]]}


def statements(template: Template) -> dict[str, dict[str, Any]]:
    """The gateway policy's statements by Sid."""
    (policy,) = template.find_resources("AWS::IoT::Policy").values()
    document = policy["Properties"]["PolicyDocument"]
    assert document["Version"] == "2012-10-17"
    return {
        statement["Sid"]: {key: value for key, value in statement.items() if key != "Sid"}
        for statement in document["Statement"]
    }


# --- defaults: identity ------------------------------------------------------------------------------


def test_thing_group_has_the_given_name_and_describes_the_site(template: Template) -> None:
    template.has_resource_properties(
        "AWS::IoT::ThingGroup",
        {
            "ThingGroupName": "plantA-gateways",
            "ThingGroupProperties": {"ThingGroupDescription": "Greengrass gateways of site plantA"},
        },
    )


def test_thing_type_is_the_sites_gateway_type_searchable_by_line(template: Template) -> None:
    template.has_resource_properties(
        "AWS::IoT::ThingType",
        {
            "ThingTypeName": "plantA-gateway",
            "ThingTypeProperties": {
                "ThingTypeDescription": "Greengrass v2 core next to the PLCs",
                "SearchableAttributes": ["line"],
            },
        },
    )


def test_token_exchange_role_is_assumed_only_by_the_iot_credentials_provider(template: Template) -> None:
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {
                        "Action": "sts:AssumeRole",
                        "Effect": "Allow",
                        "Principal": {"Service": "credentials.iot.amazonaws.com"},
                    }
                ],
                "Version": "2012-10-17",
            },
            "Description": "What Greengrass components on the site's gateways may call in AWS",
            # The default maximum session (one hour) is what the role alias hands out.
            "MaxSessionDuration": Match.absent(),
        },
    )


def test_token_exchange_role_gets_no_permissions_from_site_iot(defaults: Built, template: Template) -> None:
    """What gateways may call is granted by the constructs that need it (EdgeDeployment), not here."""
    role = defaults.ref(defaults.iot.token_exchange_role)
    attached = [
        name
        for name, policy in template.find_resources("AWS::IAM::Policy").items()
        if {"Ref": role} in policy["Properties"]["Roles"]
    ]
    assert attached == []


def test_role_alias_hands_out_the_token_exchange_role_for_one_hour(defaults: Built, template: Template) -> None:
    template.has_resource_properties(
        "AWS::IoT::RoleAlias",
        {
            "RoleAlias": "plantA-greengrass-tes",
            "RoleArn": defaults.arn(defaults.iot.token_exchange_role),
            "CredentialDurationSeconds": 3600,
        },
    )
    assert defaults.iot.role_alias_name == "plantA-greengrass-tes"


# --- defaults: the gateway policy --------------------------------------------------------------------

OWN = f"dmc/plantA/{THING}"
GATEWAY_POLICY = {
    "ConnectAsOwnThing": {
        "Effect": "Allow",
        "Action": "iot:Connect",
        "Resource": iot_arn(f"client/{THING}"),
        "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
    },
    "PublishOwnChannels": {
        "Effect": "Allow",
        "Action": "iot:Publish",
        "Resource": [
            iot_arn(f"topic/{OWN}/telemetry"),
            iot_arn(f"topic/{OWN}/health"),
            iot_arn(f"topic/{OWN}/commands/audit"),
            iot_arn(f"topic/$aws/things/{THING}/*"),
        ],
    },
    "ReceiveOwnCommandsAndJobs": {
        "Effect": "Allow",
        "Action": ["iot:Subscribe"],
        "Resource": [iot_arn(f"topicfilter/{OWN}/commands"), iot_arn(f"topicfilter/$aws/things/{THING}/*")],
    },
    "ReceiveOwnTopics": {
        "Effect": "Allow",
        "Action": ["iot:Receive"],
        "Resource": [iot_arn(f"topic/{OWN}/commands"), iot_arn(f"topic/$aws/things/{THING}/*")],
    },
    "OwnShadow": {
        "Effect": "Allow",
        "Action": ["iot:GetThingShadow", "iot:UpdateThingShadow", "iot:DeleteThingShadow"],
        "Resource": iot_arn(f"thing/{THING}"),
    },
    "TokenExchange": {
        "Effect": "Allow",
        "Action": "iot:AssumeRoleWithCertificate",
        "Resource": iot_arn("rolealias/plantA-greengrass-tes"),
    },
    "GreengrassDataPlane": {
        "Effect": "Allow",
        "Action": [
            "greengrass:GetComponentVersionArtifact",
            "greengrass:ResolveComponentCandidates",
            "greengrass:GetDeploymentConfiguration",
            "greengrass:ListThingGroupsForCoreDevice",
        ],
        "Resource": "*",
    },
}


def test_gateway_policy_is_named_for_the_site_and_holds_exactly_these_statements(template: Template) -> None:
    template.has_resource_properties("AWS::IoT::Policy", {"PolicyName": "plantA-gateway"})
    assert list(statements(template)) == list(GATEWAY_POLICY)


@pytest.mark.parametrize("sid", list(GATEWAY_POLICY))
def test_gateway_policy_statement_lets_a_gateway_act_only_as_its_own_thing(template: Template, sid: str) -> None:
    """Connect only as the attached thing; publish, subscribe and receive only its own topics and shadow;
    exchange its certificate only for the site's role alias."""
    assert statements(template)[sid] == GATEWAY_POLICY[sid]


# --- defaults: topic rules ----------------------------------------------------------------------------


def dead_letter(built: Built) -> dict[str, Any]:
    return {
        "S3": {
            "BucketName": {"Ref": built.ref(built.raw)},
            "Key": "dead-letter/iot-rules/${topic()}/${timestamp()}-${newuuid()}.json",
            "RoleArn": built.arn(built.iot.rule_role),
        }
    }


def to_stream(built: Built, partition_key: str) -> dict[str, Any]:
    return {
        "Kinesis": {
            "StreamName": {"Ref": built.ref(built.stream)},
            "PartitionKey": partition_key,
            "RoleArn": built.arn(built.iot.rule_role),
        }
    }


def to_audit(built: Built) -> dict[str, Any]:
    return {
        "S3": {
            "BucketName": {"Ref": built.ref(built.raw)},
            "Key": "audit/commands/${topic(3)}/${timestamp()}-${newuuid()}.json",
            "RoleArn": built.arn(built.iot.rule_role),
        }
    }


@pytest.mark.parametrize(
    ("rule", "channel", "action"),
    [
        ("telemetry_rule", "telemetry", lambda built: to_stream(built, "${line}")),
        ("health_rule", "health", lambda built: to_stream(built, "${gateway}")),
        ("audit_rule", "commands/audit", to_audit),
    ],
    ids=["telemetry", "health", "commands-audit"],
)
def test_topic_rule_routes_its_channel_and_sends_failures_to_the_raw_zones_dead_letters(
    defaults: Built, template: Template, rule: str, channel: str, action: Any
) -> None:
    """Telemetry into the stream by ISA-95 line, health by gateway, command audit records into the raw zone."""
    rules = template.find_resources("AWS::IoT::TopicRule")
    payload = rules[defaults.ref(getattr(defaults.iot, rule))]["Properties"]["TopicRulePayload"]
    assert payload == {
        "Sql": f"SELECT * FROM 'dmc/plantA/+/{channel}'",
        "AwsIotSqlVersion": "2016-03-23",
        "RuleDisabled": False,
        "Actions": [action(defaults)],
        "ErrorAction": dead_letter(defaults),
    }


def test_no_other_topic_rule_reads_the_sites_topics(template: Template) -> None:
    rules = template.find_resources("AWS::IoT::TopicRule").values()
    assert sorted(rule["Properties"]["TopicRulePayload"]["Sql"] for rule in rules) == [
        "SELECT * FROM 'dmc/plantA/+/commands/audit'",
        "SELECT * FROM 'dmc/plantA/+/health'",
        "SELECT * FROM 'dmc/plantA/+/telemetry'",
    ]


# --- grants -------------------------------------------------------------------------------------------


def test_rule_role_is_assumed_only_by_iot(defaults: Built, template: Template) -> None:
    role = template.find_resources("AWS::IAM::Role")[defaults.ref(defaults.iot.rule_role)]
    assert role["Properties"]["AssumeRolePolicyDocument"] == {
        "Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "iot.amazonaws.com"}}],
        "Version": "2012-10-17",
    }


def test_rule_role_may_put_records_into_the_stream_and_objects_into_the_raw_zone_only(
    defaults: Built, template: Template
) -> None:
    key = defaults.arn(defaults.key)
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": defaults.ref(defaults.iot.rule_role)}],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Action": ["kinesis:ListShards", "kinesis:PutRecord", "kinesis:PutRecords"],
                        "Effect": "Allow",
                        "Resource": defaults.arn(defaults.stream),
                    },
                    {
                        "Action": ["kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
                        "Effect": "Allow",
                        "Resource": key,
                    },
                    {
                        "Action": [
                            "s3:PutObject",
                            "s3:PutObjectLegalHold",
                            "s3:PutObjectRetention",
                            "s3:PutObjectTagging",
                            "s3:PutObjectVersionTagging",
                            "s3:Abort*",
                        ],
                        "Effect": "Allow",
                        "Resource": {"Fn::Join": ["", [defaults.arn(defaults.raw), "/*"]]},
                    },
                    {
                        "Action": ["kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Decrypt"],
                        "Effect": "Allow",
                        "Resource": key,
                    },
                ],
            },
        },
    )


# --- customisation: the site's id and thing group -----------------------------------------------------


def test_names_topics_and_policy_resources_follow_the_site_id() -> None:
    built = build(site_id="plant_B-2", thing_group_name="eu:plant_B-2-gateways")
    template = built.template()
    template.has_resource_properties("AWS::IoT::ThingGroup", {"ThingGroupName": "eu:plant_B-2-gateways"})
    template.has_resource_properties("AWS::IoT::ThingType", {"ThingTypeName": "plant_B-2-gateway"})
    template.has_resource_properties("AWS::IoT::RoleAlias", {"RoleAlias": "plant_B-2-greengrass-tes"})
    template.has_resource_properties("AWS::IoT::Policy", {"PolicyName": "plant_B-2-gateway"})
    template.has_resource_properties(
        "AWS::IoT::TopicRule",
        {"TopicRulePayload": Match.object_like({"Sql": "SELECT * FROM 'dmc/plant_B-2/+/health'"})},
    )
    policy = statements(template)
    assert policy["TokenExchange"]["Resource"] == iot_arn("rolealias/plant_B-2-greengrass-tes")
    assert policy["ReceiveOwnTopics"]["Resource"][0] == iot_arn(f"topic/dmc/plant_B-2/{THING}/commands")


def test_longest_valid_names_are_accepted() -> None:
    built = build(site_id="s" * 113, thing_group_name="g" * 128)
    built.template().has_resource_properties("AWS::IoT::RoleAlias", {"RoleAlias": "s" * 113 + "-greengrass-tes"})


def test_unresolved_names_are_left_to_cloudformation() -> None:
    stack = bare_stack()
    _, stream, raw = collaborators(stack)
    group = CfnParameter(stack, "ThingGroupName").value_as_string
    SiteIot(stack, "Iot", site_id="plantA", thing_group_name=group, stream=stream, raw_bucket=raw)
    Template.from_stack(stack).has_resource_properties(
        "AWS::IoT::ThingGroup", {"ThingGroupName": {"Ref": "ThingGroupName"}}
    )


# --- validation ---------------------------------------------------------------------------------------


def new(**props: Any) -> SiteIot:
    """Only the constructor: no template is synthesized."""
    stack = bare_stack()
    _, stream, raw = collaborators(stack)
    return SiteIot(
        stack,
        "Iot",
        stream=stream,
        raw_bucket=raw,
        **{"site_id": "plantA", "thing_group_name": "plantA-gateways", **props},
    )


def site_id_problem(value: str) -> str:
    return (
        f"site_id {value!r} is not 1-113 characters of A-Z a-z 0-9 _ - (it is one MQTT topic level, so no + # /, "
        "and names the thing type, gateway policy and role alias); fix: pass the site's id, e.g. plantA"
    )


def thing_group_problem(value: str) -> str:
    return (
        f"thing_group_name {value!r} is not 1-128 characters of A-Z a-z 0-9 : _ -; "
        "fix: rename the thing group, e.g. plantA-gateways"
    )


@pytest.mark.parametrize(
    "site_id",
    ["plant+A", "plant#", "plant/A", "", "s" * 114, "plant.A", "plant A", "plant'A", "plant:A"],
    ids=["plus-wildcard", "hash-wildcard", "topic-level", "empty", "too-long", "dot", "space", "quote", "colon"],
)
def test_a_site_id_that_is_not_one_topic_level_or_a_valid_name_part_is_refused(site_id: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"SiteIot Iot: {site_id_problem(site_id)}") + "$"):
        new(site_id=site_id)


@pytest.mark.parametrize(
    "name",
    ["plant.A-gateways", "plantA/gateways", "plantA gateways", "", "g" * 129],
    ids=["dot", "slash", "space", "empty", "too-long"],
)
def test_a_thing_group_name_iot_would_reject_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"SiteIot Iot: {thing_group_problem(name)}") + "$"):
        new(thing_group_name=name)


def test_every_problem_is_reported_at_once() -> None:
    expected = f"SiteIot Iot: {site_id_problem('plant/#')}; {thing_group_problem('plant.gateways')}"
    with pytest.raises(ValueError, match=re.escape(expected) + "$"):
        new(site_id="plant/#", thing_group_name="plant.gateways")


# --- nag ----------------------------------------------------------------------------------------------


def test_alone_under_the_packs_leaves_no_finding_unacknowledged() -> None:
    """On an audit-trail site's stack, with a locked raw zone: the GxP rules apply too."""
    stack = bare_stack(audit_trail=True)
    _, stream, raw = collaborators(stack, locked=True)
    SiteIot(stack, "Iot", site_id="plantA", thing_group_name="plantA-gateways", stream=stream, raw_bucket=raw)
    assert unacknowledged_findings(stack) == []

"""Each custom rule: a compliant and a non-compliant resource, checked through its pack."""

from collections.abc import Callable

import pytest
from aws_cdk import App, CfnResource, Duration, RemovalPolicy, Stack, Tags, Validations
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from cdk_nag import NagRuleCompliance

from policies import tag_keys
from policies.acknowledge import acknowledge
from policies.packs import GxPChecks, ResidencyChecks, _RulePack
from policies.rules import Rule

pytestmark = pytest.mark.synth


def findings(
    pack: type, build: Callable[[Stack], object], *, region: str = "eu-central-1", audit: bool = True
) -> list[str]:
    """Rule names the pack reports for a stack that ``build`` fills."""
    app = App()
    stack = Stack(app, "Site", env={"region": region})
    Tags.of(stack).add(tag_keys.DATA_REGIONS, "eu-central-1 eu-west-1")
    Tags.of(stack).add(tag_keys.AUDIT_TRAIL, "true" if audit else "false")
    build(stack)
    app.synth()  # applies the tags, as a real synth does before validation
    report = pack(app).validate_scope(app)
    return sorted({violation.rule_name for violation in report.violations})


def versioned(stack: Stack) -> None:
    s3.Bucket(stack, "B", versioned=True)


def test_s3_versioned() -> None:
    assert findings(GxPChecks, versioned) == []
    assert findings(GxPChecks, lambda stack: s3.Bucket(stack, "B")) == ["GxP-S3Versioned"]


def raw_bucket(lock: s3.ObjectLockRetention | None) -> Callable[[Stack], object]:
    def build(stack: Stack) -> None:
        bucket = s3.Bucket(
            stack, "Raw", versioned=True, object_lock_enabled=lock is not None, object_lock_default_retention=lock
        )
        Tags.of(bucket).add(tag_keys.ZONE, "raw")

    return build


def test_raw_object_lock() -> None:
    assert findings(GxPChecks, raw_bucket(s3.ObjectLockRetention.compliance(Duration.days(7)))) == []
    assert findings(GxPChecks, raw_bucket(s3.ObjectLockRetention.governance(Duration.days(7)))) == ["GxP-RawObjectLock"]
    assert findings(GxPChecks, raw_bucket(None)) == ["GxP-RawObjectLock"]
    assert findings(GxPChecks, raw_bucket(None), audit=False) == []  # no audit-trail regime


def test_kms_rotation() -> None:
    assert findings(GxPChecks, lambda stack: kms.Key(stack, "K", enable_key_rotation=True)) == []
    assert findings(GxPChecks, lambda stack: kms.Key(stack, "K")) == ["GxP-KmsRotation"]


def test_log_retention() -> None:
    def log_group(days: logs.RetentionDays, encrypted: bool) -> Callable[[Stack], object]:
        def build(stack: Stack) -> None:
            key = kms.Key(stack, "K", enable_key_rotation=True) if encrypted else None
            logs.LogGroup(stack, "L", retention=days, encryption_key=key)

        return build

    assert findings(GxPChecks, log_group(logs.RetentionDays.ONE_YEAR, True)) == []
    assert findings(GxPChecks, log_group(logs.RetentionDays.ONE_MONTH, True)) == ["GxP-LogRetention"]
    assert findings(GxPChecks, log_group(logs.RetentionDays.ONE_YEAR, False)) == ["GxP-LogRetention"]


def test_stateful_retained() -> None:
    def bucket(policy: RemovalPolicy) -> Callable[[Stack], object]:
        return lambda stack: s3.Bucket(stack, "B", versioned=True, removal_policy=policy)

    assert findings(GxPChecks, bucket(RemovalPolicy.RETAIN)) == []
    assert findings(GxPChecks, bucket(RemovalPolicy.DESTROY)) == ["GxP-StatefulRetained"]
    assert findings(GxPChecks, bucket(RemovalPolicy.DESTROY), audit=False) == []


def test_stack_region() -> None:
    assert findings(ResidencyChecks, versioned, region="eu-west-1") == []
    assert findings(ResidencyChecks, versioned, region="us-east-1") == ["Residency-StackRegion"]


def test_no_external_egress() -> None:
    def rule(action: iot.CfnTopicRule.ActionProperty) -> Callable[[Stack], object]:
        def build(stack: Stack) -> None:
            iot.CfnTopicRule(
                stack,
                "R",
                topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(sql="SELECT * FROM 'a'", actions=[action]),
            )

        return build

    to_http = iot.CfnTopicRule.ActionProperty(http=iot.CfnTopicRule.HttpActionProperty(url="https://example.org"))
    to_kinesis = iot.CfnTopicRule.ActionProperty(
        kinesis=iot.CfnTopicRule.KinesisActionProperty(role_arn="arn:aws:iam::1:role/r", stream_name="s")
    )
    assert findings(ResidencyChecks, rule(to_kinesis)) == []
    assert findings(ResidencyChecks, rule(to_http)) == ["Residency-NoExternalEgress"]


def test_a_finding_of_our_packs_fails_the_synth_until_acknowledged() -> None:
    def synth_unversioned(reason: str | None) -> None:
        app = App()
        bucket = s3.Bucket(Stack(app, "Site", env={"region": "eu-central-1"}), "B")
        if reason:
            acknowledge(bucket, "GxP::GxP-S3Versioned", reason)
        Validations.of(app).add_plugins(GxPChecks(app))
        app.synth()

    with pytest.raises(RuntimeError, match=r"GxP::GxP-S3Versioned"):
        synth_unversioned(None)
    synth_unversioned("scratch bucket of a lab site whose objects are rebuilt from the raw zone each night")


def test_a_rule_that_raises_is_reported_as_a_finding() -> None:
    def unreadable(node: CfnResource) -> NagRuleCompliance:
        raise ValueError(f"cannot read {node.cfn_resource_type}")

    class Broken(_RulePack):
        pack = "GxP"
        rules = (
            Rule(
                suffix="Unreadable",
                info="A rule that cannot read the resource.",
                explanation="Stands for a rule meeting a property it does not understand.",
                evaluate=unreadable,
                resource_types=frozenset({"AWS::S3::Bucket"}),
            ),
        )

    assert findings(Broken, versioned) == ["GxP-Unreadable"]

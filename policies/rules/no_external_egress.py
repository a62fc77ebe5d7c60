"""Residency-NoExternalEgress: plant data is not pushed to endpoints outside AWS's regional services."""

from aws_cdk import CfnResource
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kinesisfirehose as firehose
from cdk_nag import NagRuleCompliance

from policies.rules import Rule, resolved


def _evaluate(node: CfnResource) -> NagRuleCompliance:
    if isinstance(node, iot.CfnTopicRule):
        payload = resolved(node, node.topic_rule_payload) or {}
        actions = list(payload.get("actions") or [])
        if payload.get("errorAction"):
            actions.append(payload["errorAction"])
        egress = any("http" in action for action in actions)
        return NagRuleCompliance.NON_COMPLIANT if egress else NagRuleCompliance.COMPLIANT
    if isinstance(node, firehose.CfnDeliveryStream):
        endpoint = resolved(node, node.http_endpoint_destination_configuration)
        return NagRuleCompliance.NON_COMPLIANT if endpoint else NagRuleCompliance.COMPLIANT
    return NagRuleCompliance.NOT_APPLICABLE


NO_EXTERNAL_EGRESS = Rule(
    suffix="NoExternalEgress",
    info="An IoT topic rule or Firehose stream sends data to an HTTP endpoint.",
    explanation="Data residency: an HTTP destination can be anywhere; route plant data only to the site's own "
    "regional services (Kinesis, Firehose, S3).",
    evaluate=_evaluate,
    resource_types=frozenset({"AWS::IoT::TopicRule", "AWS::KinesisFirehose::DeliveryStream"}),
    clauses=("GDPR Art. 44",),
)

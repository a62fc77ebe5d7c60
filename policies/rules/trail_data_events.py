"""GxP-TrailDataEvents: on an audit-trail site, every lake bucket's object reads and writes are recorded by a
logging trail of the site with log-file validation (Part 11 §11.10(e) audit trails, Annex 11 §9).

The rule runs on each lake bucket (``dmc:zone``) of a site's stack (tagged ``dmc:site``) and looks for an
``AWS::CloudTrail::Trail`` anywhere in that site stack or its nested stacks with ``IsLogging`` and
``EnableLogFileValidation``, and a basic event selector recording ``AWS::S3::Object`` reads and writes
(``ReadWriteType`` All) of the bucket (``<bucket arn>/``) or of every bucket (``arn:aws:s3``). A trail
written with advanced event selectors is not read: AuditTrail writes basic ones. A construct on a bare stack
(no ``dmc:site``) is not judged: the site, not the bucket, lacks the trail.
"""

from typing import Any

from aws_cdk import CfnResource
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_s3 as s3
from cdk_nag import NagRuleCompliance

from policies import tag_keys
from policies.rules import Rule, in_stack_of, resolved, resource_tag, site_resources, stack_tag

EVERY_BUCKET = ("arn:aws:s3", "arn:aws:s3:::")


def _records(selector: dict[str, Any], bucket_arn: Any) -> bool:
    if selector.get("readWriteType", "All") != "All":
        return False
    for data in selector.get("dataResources") or []:
        if data.get("type") != "AWS::S3::Object":
            continue
        for value in data.get("values") or []:
            if value in EVERY_BUCKET or value == {"Fn::Join": ["", [bucket_arn, "/"]]}:
                return True
    return False


def _evaluate(node: CfnResource) -> NagRuleCompliance:
    if not isinstance(node, s3.CfnBucket) or resource_tag(node, tag_keys.ZONE) is None:
        return NagRuleCompliance.NOT_APPLICABLE
    if stack_tag(node, tag_keys.SITE) is None or stack_tag(node, tag_keys.AUDIT_TRAIL) != "true":
        return NagRuleCompliance.NOT_APPLICABLE
    bucket_arn = resolved(node, node.attr_arn)
    for trail in site_resources(node, cloudtrail.CfnTrail):
        if (
            in_stack_of(node, trail.is_logging) is not True
            or in_stack_of(node, trail.enable_log_file_validation) is not True
        ):
            continue
        if any(_records(selector, bucket_arn) for selector in in_stack_of(node, trail.event_selectors) or []):
            return NagRuleCompliance.COMPLIANT
    return NagRuleCompliance.NON_COMPLIANT


TRAIL_DATA_EVENTS = Rule(
    suffix="TrailDataEvents",
    info="No logging trail of the site with log-file validation records the object reads and writes of this "
    "lake bucket (S3 data events).",
    explanation="Part 11 and Annex 11 need a secure, time-stamped record of who read or changed the records: give "
    "the site an AuditTrail whose data events cover every lake bucket (factory_constructs/audit/audit_trail.py).",
    evaluate=_evaluate,
    resource_types=frozenset({"AWS::S3::Bucket"}),
    clauses=("21 CFR 11.10(e)", "Annex 11 §9"),
)

"""The second scanner's acknowledgments, all in this one file: a checkov check, the resources it applies to
and the real reason. ``make scan`` fails on a failed check without one, and on one that matches nothing.

The cdk-nag packs gate the synth (policies/gate.py); checkov is a second, independent reading of the same
templates. Where both flag the same thing, the reason here names the construct whose cdk-nag
acknowledgment carries the control, so the two can be read side by side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from policies.acknowledge import check as check_reason


@dataclass(frozen=True)
class ScanAcknowledgment:
    check: str  # checkov check id, e.g. CKV_AWS_116
    resource: re.Pattern[str]  # full match on checkov's resource name: "<type>.<logical id>"
    reason: str

    def __post_init__(self) -> None:
        check_reason(
            f"Checkov::Checkov-{self.check.replace('_', '')}", self.reason
        )  # the reason rules of every acknowledgment

    def covers(self, check: str, resource: str) -> bool:
        return check == self.check and self.resource.fullmatch(resource) is not None


# The Lambda function CDK adds for ``restrict_default_security_group`` (factory_constructs/foundation/network.py).
_RESTRICT_DEFAULT_SG = re.compile(
    r"AWS::Lambda::Function\.CustomVpcRestrictDefaultSGCustomResourceProviderHandler[0-9A-F]{8}"
)

# CDK's one provider function for a stack's ``AwsCustomResource``s: the network's prefix-list lookups
# (factory_constructs/foundation/network.py).
_AWS_CUSTOM_RESOURCE = re.compile(r"AWS::Lambda::Function\.AWS679f53fac002430cb0da5b7982bd2287[0-9A-F]{8}")

ACKNOWLEDGED: tuple[ScanAcknowledgment, ...] = (
    ScanAcknowledgment(
        "CKV_AWS_18",
        re.compile(r"AWS::S3::Bucket\.AccessLogsBucket[0-9A-F]{8}"),
        "The site's access-log target bucket cannot log into itself without recursion; versioning keeps each "
        "log object's history (SiteAccessLogs, the same reason as its AwsSolutions-S1 acknowledgment).",
    ),
    ScanAcknowledgment(
        "CKV_AWS_67",
        re.compile(r"AWS::CloudTrail::Trail\.Trail[0-9A-F]{8}"),
        "Every region a site may be deployed to gets its own single-region management trail from the one site "
        "that provides that region's baseline (site_model/loader.py checks it); a multi-region trail would record "
        "each other region a second time (AuditTrail).",
    ),
    ScanAcknowledgment(
        "CKV_AWS_116",
        re.compile(r"AWS::Lambda::Function\.RawDeliveryTransformFunction[0-9A-F]{8}"),
        "Firehose invokes the transform synchronously, so a dead-letter queue would never receive anything; "
        "failed records go to the raw bucket's errors/ prefix (RawDelivery).",
    ),
    ScanAcknowledgment(
        "CKV_AWS_116",
        re.compile(r"AWS::Lambda::Function\.ComponentsDeploymentHandlerFunction[0-9A-F]{8}"),
        "Only CloudFormation invokes the edge deployment handler, and the handler answers every failure to "
        "CloudFormation, which fails the stack operation: a dead-letter queue would never receive anything "
        "(EdgeDeployment).",
    ),
    ScanAcknowledgment(
        "CKV_AWS_116",
        re.compile(r"AWS::Lambda::Function\.StreamAlertsHandlerFunction[0-9A-F]{8}"),
        "A Kinesis event source mapping drives the function, not an asynchronous invoke; failed batches go to "
        "the mapping's SQS on-failure destination (StreamAlerts).",
    ),
    ScanAcknowledgment(
        "CKV_AWS_116",
        re.compile(r"AWS::Lambda::Function\.Functions(Catalog|Values|Commands|Alerts)Function[0-9A-F]{8}"),
        "API Gateway invokes the site API's route functions synchronously and returns their errors to the "
        "caller, so a dead-letter queue would never receive anything (ApiFunctions, its LambdaDLQ reason).",
    ),
    ScanAcknowledgment(
        "CKV_AWS_116",
        re.compile(r"AWS::Lambda::Function\.FunctionsLatestConsumerFunction[0-9A-F]{8}"),
        "A Kinesis event source mapping drives the latest-value consumer, not an asynchronous invoke; failed "
        "batches go to the mapping's SQS on-failure destination (ApiFunctions).",
    ),
    ScanAcknowledgment(
        "CKV_AWS_120",
        re.compile(r"AWS::ApiGateway::Stage\.Api(Systems|Users)DeploymentStagev1[0-9A-F]{8}"),
        "No route of the site API is cached, decided per route: values, alerts and command state must be "
        "current, commands are writes, and a cache would answer before the handler checks the caller's group "
        "(SiteApi, its APIGWCacheEnabledAndEncrypted reason).",
    ),
    ScanAcknowledgment(
        "CKV_AWS_116",
        _RESTRICT_DEFAULT_SG,
        "CloudFormation invokes this custom-resource handler synchronously during deployment and reports a "
        "failure as a failed stack operation, so a dead-letter queue would never receive anything.",
    ),
    ScanAcknowledgment(
        "CKV_AWS_117",
        _RESTRICT_DEFAULT_SG,
        "The handler only calls the EC2 API to remove the default security group's rules while the stack "
        "deploys; it touches no plant data, and CDK's provider offers no VPC placement for it.",
    ),
    ScanAcknowledgment(
        "CKV_AWS_115",
        _RESTRICT_DEFAULT_SG,
        "CloudFormation calls the handler once per deployment of the VPC, so concurrent executions are "
        "bounded by deployments; CDK's provider offers no reserved-concurrency setting for it.",
    ),
    ScanAcknowledgment(
        "CKV_AWS_116",
        _AWS_CUSTOM_RESOURCE,
        "Only CloudFormation invokes CDK's AwsCustomResource provider and reports a failed prefix-list lookup "
        "as a failed stack operation, so a dead-letter queue would never receive anything (SiteNetwork).",
    ),
    ScanAcknowledgment(
        "CKV_AWS_117",
        _AWS_CUSTOM_RESOURCE,
        "The provider only reads the managed prefix lists' ids from the EC2 API while the stack deploys; it "
        "touches no plant data, and inside the VPC it would need the egress rules it looks up (SiteNetwork).",
    ),
    ScanAcknowledgment(
        "CKV_AWS_115",
        _AWS_CUSTOM_RESOURCE,
        "CloudFormation calls the provider once per custom-resource operation of a deployment, so concurrent "
        "executions are bounded by the stack's custom resources; CDK offers no reserved-concurrency setting "
        "for this shared provider (SiteNetwork, its LambdaConcurrency reason).",
    ),
)

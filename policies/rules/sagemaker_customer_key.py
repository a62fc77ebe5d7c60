"""GxP-SageMakerCustomerKey: a SageMaker domain's storage is encrypted with a customer key of the site.

The domain's ``KmsKeyId`` encrypts its EFS home folders and every space's EBS volume; without it SageMaker
uses an AWS managed key, whose policy the site cannot read or restrict and whose use it cannot revoke. The
key must be a reference to a key of the templates (a ``Ref`` or ``Fn::GetAtt``, through a parameter between
nested stacks): a literal ARN or alias cannot be shown to be the site's own customer-managed key. The same
holds for notebook sharing (``SharingSettings``) of the domain's default users and of each user profile:
when notebook output is allowed, its S3 copies need ``S3KmsKeyId`` the same way.
"""

from typing import Any

from aws_cdk import CfnResource
from aws_cdk import aws_sagemaker as sagemaker
from cdk_nag import NagRuleCompliance

from policies.rules import Rule, resolved

# CloudFormation intrinsics that name a resource of the templates (a parameter carries one between stacks).
_REFERENCES = frozenset({"Ref", "Fn::GetAtt"})


def _is_reference(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _REFERENCES


def _sharing_encrypted(settings: Any) -> bool:
    sharing = (settings or {}).get("sharingSettings") or {}
    if sharing.get("notebookOutputOption", "Disabled") != "Allowed" or not sharing.get("s3OutputPath"):
        return True  # nothing is copied to S3
    return _is_reference(sharing.get("s3KmsKeyId"))


def _evaluate(node: CfnResource) -> NagRuleCompliance:
    if isinstance(node, sagemaker.CfnDomain):
        encrypted = _is_reference(resolved(node, node.kms_key_id)) and _sharing_encrypted(
            resolved(node, node.default_user_settings)
        )
    elif isinstance(node, sagemaker.CfnUserProfile):
        encrypted = _sharing_encrypted(resolved(node, node.user_settings))
    else:
        return NagRuleCompliance.NOT_APPLICABLE
    return NagRuleCompliance.COMPLIANT if encrypted else NagRuleCompliance.NON_COMPLIANT


SAGEMAKER_CUSTOMER_KEY = Rule(
    suffix="SageMakerCustomerKey",
    info="The SageMaker domain's storage (EFS home folders, space volumes) or its users' shared notebook copies "
    "are not encrypted with a customer key of the site.",
    explanation="Set the domain's KmsKeyId to the site's data key (a reference to the key, not a literal ARN or "
    "alias), and S3KmsKeyId wherever SharingSettings allow notebook output, so the site controls who can decrypt.",
    evaluate=_evaluate,
    resource_types=frozenset({"AWS::SageMaker::Domain", "AWS::SageMaker::UserProfile"}),
    clauses=("21 CFR 11.30", "GDPR Art. 32"),
)

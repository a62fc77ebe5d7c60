"""Acknowledgments for the findings that CDK grants raise on a role's policy, with their reasons.

Grants (``bucket.grant_read(role)``, ``key.grant_encrypt_decrypt(role)``...) write
least-privilege statements scoped to the named resources, but use action groups
(``s3:GetObject*``) and object wildcards (``<bucket>/*``) that the packs flag.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from aws_cdk import CfnResource, Names, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

from policies.acknowledge import acknowledge, in_regulatory_packs

# The action groups CDK's grant methods use; each stays scoped to the grant's resources.
GRANT_ACTION_GROUPS = (
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
    "s3:Abort*",
    "s3:DeleteObject*",
    "s3:GetBucket*",
    "s3:GetObject*",
    "s3:List*",
)


def resource_wildcard(resource: IConstruct, suffix: str) -> str:
    """The IAM5 finding id of ``<resource's ARN><suffix>``, e.g. suffix "/*" for a bucket's objects."""
    cfn = cast(CfnResource, resource.node.default_child)
    return f"AwsSolutions::AwsSolutions-IAM5[Resource::<{Stack.of(cfn).get_logical_id(cfn)}.Arn>{suffix}]"


def arn_wildcard(stack: Stack, arn: str) -> str:
    """The IAM5 finding id of ``arn`` as cdk-nag prints it: intrinsics flattened to ``<AWS::Partition>`` and
    ``<LogicalId.Attribute>``."""
    resolved: Any = stack.resolve(arn)
    parts = resolved["Fn::Join"][1] if isinstance(resolved, dict) and "Fn::Join" in resolved else [resolved]
    text = ""
    for part in parts:
        if isinstance(part, str):
            text += part
        elif "Ref" in part:
            text += f"<{part['Ref']}>"
        else:
            text += f"<{'.'.join(part['Fn::GetAtt'])}>"
    return f"AwsSolutions::AwsSolutions-IAM5[Resource::{text}]"


def bucket_wildcard(consumer: IConstruct, bucket: s3.IBucket, suffix: str) -> str:
    """The IAM5 finding id of ``<bucket ARN><suffix>`` in ``consumer``'s stack. From a sibling nested stack of
    the site (the lake is in the data stack) the ARN arrives as a parameter that CDK names after the producing
    stack's output; in the same stack it is the bucket's own attribute; an imported bucket's ARN is literal."""
    cfn = cast("s3.CfnBucket | None", bucket.node.default_child)
    consuming = Stack.of(consumer)
    if cfn is None:
        return arn_wildcard(consuming, f"{bucket.bucket_arn}{suffix}")
    producer = Stack.of(cfn)
    attribute = f"{producer.get_logical_id(cfn)}.Arn"
    if producer is not consuming:
        attribute = f"referenceto{Names.node_unique_id(cfn.node)}Arn"
        if producer.nested_stack_resource is not None and producer.nested_stack_parent is consuming.nested_stack_parent:
            nested = Names.node_unique_id(producer.nested_stack_resource.node)
            attribute = f"referenceto{nested}Outputs{Names.node_unique_id(cfn.node)}Arn"
    return f"AwsSolutions::AwsSolutions-IAM5[Resource::<{attribute}>{suffix}]"


def asset_objects(stack: Stack, reader: str) -> tuple[str, str]:
    """The finding (and its reason) of reading CDK assets: keys are content hashes in the bootstrap bucket."""
    # The finding names the account as the stack knows it: a token on an account-agnostic stack.
    account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
    return (
        "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::"
        f"cdk-hnb659fds-assets-{account}-{stack.region}/*]",
        f"{reader} read CDK assets, stored under content-hash keys in the account's CDK bootstrap bucket; "
        "the grant is read-only on that one bucket's objects, which hold only deployment assets.",
    )


def acknowledge_grant_policy(role: iam.IRole, wildcards: Iterable[tuple[str, str]] = ()) -> None:
    """Acknowledge the grant-built policy of ``role``.

    ``wildcards``: (finding id from ``resource_wildcard``, reason) pairs for resource
    wildcards the grants need, e.g. every object of the raw bucket.
    """
    policy = role.node.try_find_child("DefaultPolicy")
    if policy is None:
        return
    resource = cast(IConstruct, policy.node.default_child)
    acknowledge(
        resource,
        in_regulatory_packs("IAMNoInlinePolicy"),
        "This policy holds only the least-privilege statements that CDK grants generate for this one role; "
        "it is deleted with the role and cannot be attached to any other principal.",
    )
    # Grants made after this call land in the same policy, so every group is acknowledged up front;
    # the evidence lists only the findings that actually occurred.
    acknowledge(
        resource,
        [f"AwsSolutions::AwsSolutions-IAM5[Action::{action}]" for action in GRANT_ACTION_GROUPS],
        "These action groups come from CDK grant methods and apply only to the one key, bucket or stream "
        "named in the same statement, never to other resources.",
    )
    for finding, reason in wildcards:
        acknowledge(resource, finding, reason)

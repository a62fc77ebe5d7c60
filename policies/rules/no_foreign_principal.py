"""GxP-NoForeignPrincipal: no resource policy lets a principal of another account in (Part 11 §11.10(d) access
limited to authorized individuals, Annex 11 §12.1).

Read: every Allow statement of the resource's policy documents (bucket, queue, topic, event bus, log and
secret policies, key policies, role trust policies, backup vault access policies, REST API and table resource
policies) and Lambda permissions. A principal is the site's account when it is the stack's own account (a
literal id equal to the stack's, or ``Ref AWS::AccountId``), a reference to a resource of the site's templates
(a role), or an AWS service. ``"*"`` (and ``NotPrincipal``) is any account, unless the statement is
conditioned on the caller's or source account. Anything else is another account: one that cannot be proven
the site's own is treated as foreign.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aws_cdk import CfnResource, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from cdk_nag import NagRuleCompliance

from policies.documents import policy_documents
from policies.rules import Rule, resolved

OWN = "${own-account}"
# Condition keys that tie a "*" principal to one account (compared against the own account).
ACCOUNT_KEYS = frozenset({"aws:principalaccount", "aws:sourceaccount", "aws:sourceowner", "kms:calleraccount"})
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_SERVICE = re.compile(r"^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$")
# The property holding the resource policy, by resource type (the L1 attribute name).
POLICY_PROPERTIES = {
    "AWS::S3::BucketPolicy": "policy_document",
    "AWS::SQS::QueuePolicy": "policy_document",
    "AWS::SNS::TopicPolicy": "policy_document",
    "AWS::KMS::Key": "key_policy",
    "AWS::IAM::Role": "assume_role_policy_document",
    "AWS::Events::EventBus": "policy",
    "AWS::Logs::ResourcePolicy": "policy_document",
    "AWS::SecretsManager::ResourcePolicy": "resource_policy",
    "AWS::Backup::BackupVault": "access_policy",
    "AWS::ApiGateway::RestApi": "policy",
    "AWS::DynamoDB::Table": "resource_policy",
    "AWS::DynamoDB::GlobalTable": "replicas",
    "AWS::ECR::Repository": "repository_policy_text",
}


def _render(value: Any, account: str | None) -> str:
    """A principal as text: the own account as ``OWN``, any other reference as ``{ref}``."""
    if isinstance(value, str):
        return OWN if account and value == account else value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return {"AWS::AccountId": OWN, "AWS::Partition": "aws"}.get(argument, "{ref}")
        if function == "Fn::GetAtt":
            return "{ref}"
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(_render(part, account) for part in parts)
    return json.dumps(value, sort_keys=True)


def _own(principal: str, account: str | None) -> bool:
    if principal in ("{ref}", OWN) or _SERVICE.match(principal):
        return True
    if _ACCOUNT_ID.match(principal):
        return principal == account
    parts = principal.split(":", 5)
    return len(parts) == 6 and parts[0] == "arn" and parts[4] in (OWN, account)


def _tied_to_own_account(condition: Any, account: str | None) -> bool:
    for operator in (condition or {}).values():
        if not isinstance(operator, dict):
            continue
        for key, value in operator.items():
            values = value if isinstance(value, list) else [value]
            if key.lower() in ACCOUNT_KEYS and all(_render(item, account) == OWN for item in values):
                return True
    return False


def _statement_foreign(statement: dict[str, Any], account: str | None) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    if "NotPrincipal" in statement:
        return True
    principal = statement.get("Principal")
    values: list[Any] = []
    if principal == "*":
        values = ["*"]
    elif isinstance(principal, dict):
        for kind, entries in principal.items():
            if kind in ("AWS", "Federated", "CanonicalUser"):
                values += entries if isinstance(entries, list) else [entries]
    for value in values:
        rendered = _render(value, account)
        if rendered == "*":
            if not _tied_to_own_account(statement.get("Condition"), account):
                return True
        elif not _own(rendered, account):
            return True
    return False


def _evaluate(node: CfnResource) -> NagRuleCompliance:
    stack_account = Stack.of(node).account
    account = None if Token.is_unresolved(stack_account) else stack_account
    if isinstance(node, lambda_.CfnPermission):
        principal = _render(resolved(node, node.principal), account)
        if principal == "*":
            source = resolved(node, node.source_account)
            foreign = source is None or _render(source, account) != OWN
        else:
            foreign = not _own(principal, account)
        return NagRuleCompliance.NON_COMPLIANT if foreign else NagRuleCompliance.COMPLIANT
    if isinstance(node, events.CfnEventBusPolicy):  # one statement, spread over its properties
        statement = resolved(node, node.statement) or {
            "Effect": "Allow",
            "Principal": {"AWS": resolved(node, node.principal)},
            "Condition": resolved(node, node.condition),
        }
        foreign = _statement_foreign(statement, account)
    else:
        # Only the policy property: resolving a whole resource (an API's OpenAPI body) costs more than the check.
        # A generic CfnResource (a CDK custom-resource provider's role) has no typed attributes: all of it.
        generic = type(node) is CfnResource
        policy = resolved(
            node, node._cfn_properties if generic else getattr(node, POLICY_PROPERTIES[node.cfn_resource_type])
        )
        foreign = any(
            _statement_foreign(statement, account)
            for document in policy_documents(policy)
            for statement in document["Statement"]
            if isinstance(statement, dict)
        )
    return NagRuleCompliance.NON_COMPLIANT if foreign else NagRuleCompliance.COMPLIANT


NO_FOREIGN_PRINCIPAL = Rule(
    suffix="NoForeignPrincipal",
    info="A resource policy allows a principal of another account (or any account).",
    explanation="A site's records are reached only from its own account: name principals of the site's account "
    "(its roles, its account root for key policies) or AWS services, and condition a '*' principal on "
    "aws:SourceAccount or aws:PrincipalAccount.",
    evaluate=_evaluate,
    resource_types=frozenset({*POLICY_PROPERTIES, "AWS::Lambda::Permission", "AWS::Events::EventBusPolicy"}),
    clauses=("21 CFR 11.10(d)", "Annex 11 §12.1"),
)

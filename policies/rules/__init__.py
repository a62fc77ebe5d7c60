"""One rule per module; ``Rule`` holds what cdk-nag needs to report a finding."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import jsii
from aws_cdk import CfnResource, Stack
from cdk_nag import IApplyRule, NagMessageLevel, NagRuleCompliance
from constructs import IConstruct

T = TypeVar("T")


@dataclass(frozen=True)
class Rule:
    """A custom rule: reported as ``<Pack>-<suffix>`` and acknowledged as ``<Pack>::<Pack>-<suffix>``."""

    suffix: str
    info: str
    explanation: str
    evaluate: Callable[[CfnResource], NagRuleCompliance]
    # The CloudFormation types the rule looks at. The pack skips every other resource before
    # anything crosses into jsii: each callback costs a round trip, and synth time matters.
    resource_types: frozenset[str]
    level: NagMessageLevel = NagMessageLevel.ERROR
    # The regulation clauses the rule implements (ids of policies/clauses.py); a finding names them.
    clauses: tuple[str, ...] = ()


@jsii.implements(IApplyRule)
class AppliedRule:
    """A rule bound to one resource, in the shape cdk-nag's ``applyRule`` reads (properties, not attributes)."""

    def __init__(self, rule: Rule, node: CfnResource) -> None:
        self._rule = rule
        self._node = node

    @property
    def node(self) -> CfnResource:
        return self._node

    @property
    def info(self) -> str:
        clauses = "; ".join(self._rule.clauses)
        return f"{self._rule.info} [{clauses}]" if clauses else self._rule.info

    @property
    def explanation(self) -> str:
        return self._rule.explanation

    @property
    def level(self) -> NagMessageLevel:
        return self._rule.level

    @property
    def rule_suffix_override(self) -> str:
        return self._rule.suffix

    def rule(self, node: CfnResource) -> NagRuleCompliance:
        return self._rule.evaluate(node)


def resolved(node: CfnResource, value: Any) -> Any:
    """A property as plain data (camelCase keys), tokens of the same stack resolved."""
    return Stack.of(node).resolve(value)


def stack_tag(node: CfnResource, key: str) -> str | None:
    """A tag of the resource's stack (site tags are applied to every stack of a site)."""
    return Stack.of(node).tags.tag_values().get(key)


def resource_tag(node: CfnResource, key: str) -> str | None:
    """A tag on the resource itself, or None when it has none or is not taggable."""
    tags = getattr(node, "tags", None)
    if tags is None or not hasattr(tags, "render_tags"):
        return None
    for tag in resolved(node, tags.render_tags()) or []:
        if tag.get("key") == key:
            return str(tag.get("value"))
    return None


def site_stack(node: IConstruct) -> Stack:
    """The top-level stack ``node`` belongs to (a nested stack belongs to its parent's)."""
    stack = Stack.of(node)
    while stack.nested_stack_parent is not None:
        stack = stack.nested_stack_parent
    return stack


def site_resources(node: IConstruct, kind: type[T]) -> tuple[T, ...]:
    """Every L1 resource of class ``kind`` in ``node``'s site stack and its nested stacks, for a rule that judges
    a whole site. The packs run on a finished tree, so each site's walk is kept (``_site_index``)."""
    return cast(tuple[T, ...], _site_index(site_stack(node)).get(kind, ()))


@functools.lru_cache(maxsize=32)
def _site_index(stack: Stack) -> dict[type, tuple[Any, ...]]:
    """The constructs of a site stack's tree by class. Keyed by the stack object itself (jsii hands back the same
    Python object for one construct), which the cache holds on to, so a later tree's stack is never taken for it.
    One walk costs tens of milliseconds of jsii calls: without the cache, once per rule and resource."""
    index: dict[type, list[Any]] = {}
    for construct in stack.node.find_all():
        index.setdefault(type(construct), []).append(construct)
    return {kind: tuple(constructs) for kind, constructs in index.items()}


def in_stack_of(node: CfnResource, value: Any) -> Any:
    """``value`` (a property of a resource anywhere in the site) resolved as ``node``'s stack sees it: a reference
    to ``node`` reads ``{"Fn::GetAtt": [<its logical id>, ...]}`` or ``{"Ref": <its logical id>}``, as in
    ``resolved(node, node.attr_arn)``, even from another nested stack (where the template holds a parameter).
    Two resources at the same path inside different nested stacks would share a logical id; a site has none."""
    return Stack.of(node).resolve(value)


# Resources that keep plant data, records or evidence.
STATEFUL_RESOURCE_TYPES = frozenset(
    {
        "AWS::S3::Bucket",
        "AWS::KMS::Key",
        "AWS::Logs::LogGroup",
        "AWS::Kinesis::Stream",
        "AWS::DynamoDB::Table",
        "AWS::DynamoDB::GlobalTable",
        "AWS::Glue::Database",
        "AWS::SQS::Queue",
    }
)
# ... and those that carry it on: where data may reside or pass through.
DATA_RESOURCE_TYPES = STATEFUL_RESOURCE_TYPES | {
    "AWS::KinesisFirehose::DeliveryStream",
    "AWS::SNS::Topic",
    # The ML workspace: home folders and space volumes, and the registry of the site's model versions.
    "AWS::SageMaker::Domain",
    "AWS::SageMaker::UserProfile",
    "AWS::SageMaker::Space",
    "AWS::SageMaker::ModelPackageGroup",
}

"""The only way to acknowledge a compliance finding: a rule id and a real reason."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from aws_cdk import Acknowledgment, Validations
from constructs import Construct, IConstruct

MIN_REASON_CHARS = 40
MIN_REASON_WORDS = 6
# Reasons that say nothing about why the finding is acceptable here.
_PLACEHOLDERS = re.compile(
    r"\b(todo|tbd|fixme|xxx|n/?a|placeholder|lorem|ipsum|suppress(ed)?|ignore[sd]?|not needed|"
    r"false positive|later|temporary|wip)\b",
    re.IGNORECASE,
)
# <Plugin>::<Rule>, optionally naming one finding: AwsSolutions::AwsSolutions-IAM5[Action::s3:GetObject*]
_RULE_ID = re.compile(r"^[A-Za-z0-9.]+::[A-Za-z0-9.]+-[A-Za-z0-9]+(\[.+\])?$")


class AcknowledgmentError(ValueError):
    """An acknowledgment without a usable rule id or reason."""


# A compensating control an acknowledgment relies on (``backed_by``): the class name of a construct that must be
# present in the same site stack ("AuditTrail"), or the id of a rule of our packs that must hold on every
# resource acknowledged ("GxP::GxP-S3Versioned"). The gate checks each (policies/gate.py).
_CONSTRUCT_CONTROL = re.compile(r"^[A-Z][A-Za-z0-9]+$")
_RULE_CONTROL = re.compile(r"^(GxP|Residency)::(GxP|Residency)-[A-Za-z0-9]+$")
# What a reason says that only another construct makes true: such a reason must name that construct.
CLAIMS: dict[str, re.Pattern[str]] = {
    "AuditTrail": re.compile(r"\bCloudTrail\b|\bdata events?\b", re.IGNORECASE),
    "SiteBackup": re.compile(r"\bbackup plans?\b|\brecovery points?\b", re.IGNORECASE),
    "SiteConfigRules": re.compile(r"\bConfig rules?\b", re.IGNORECASE),
}


def check(rule_id: str, reason: str, backed_by: Sequence[str] = ()) -> None:
    """Raise AcknowledgmentError unless the id is plugin-qualified, the reason is specific and every control
    the reason claims is named in ``backed_by``."""
    problems = []
    if not _RULE_ID.match(rule_id):
        problems.append(
            f"rule id {rule_id!r} is not plugin-qualified; fix: copy it from the failed synth, "
            "e.g. 'AwsSolutions::AwsSolutions-IAM5[Action::s3:GetObject*]' or 'GxP::GxP-S3Versioned'"
        )
    text = reason.strip()
    if len(text) < MIN_REASON_CHARS or len(text.split()) < MIN_REASON_WORDS:
        problems.append(
            f"reason {text!r} is too short ({len(text)} chars, {len(text.split())} words); fix: say in at least "
            f"{MIN_REASON_CHARS} characters and {MIN_REASON_WORDS} words why the finding is acceptable here"
        )
    placeholder = _PLACEHOLDERS.search(text)
    if placeholder:
        problems.append(
            f"reason uses the placeholder {placeholder.group(0)!r}; fix: state the control that makes it acceptable"
        )
    for control in backed_by:
        if not (_CONSTRUCT_CONTROL.match(control) or _RULE_CONTROL.match(control)):
            problems.append(
                f"backed_by {control!r} names neither a construct class nor a rule of our packs; fix: name the "
                "construct that provides the control (e.g. 'AuditTrail') or the rule that proves it "
                "(e.g. 'GxP::GxP-S3Versioned')"
            )
    for control, claim in CLAIMS.items():
        cited = claim.search(text)
        if cited and control not in backed_by:
            problems.append(
                f"reason cites {cited.group(0)!r}, a control {control} provides, without naming it; fix: pass "
                f"backed_by=[{control!r}] so the gate checks the site stack contains it"
            )
    if problems:
        raise AcknowledgmentError("; ".join(problems))


# The regulatory packs share many rule names (S3BucketReplicationEnabled, ...).
REGULATORY_PACKS = ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")


def in_regulatory_packs(rule: str) -> list[str]:
    """The plugin-qualified ids of one rule name in the HIPAA, NIST 800-53 r5 and PCI DSS packs."""
    return [f"{pack}::{pack}-{rule}" for pack in REGULATORY_PACKS]


def acknowledge(
    scope: IConstruct, rule_ids: str | Sequence[str], reason: str, *, backed_by: Sequence[str] = ()
) -> None:
    """Acknowledge findings on ``scope``; keep it the narrowest construct. The synth's validation report
    carries every acknowledgment with its reason into the site's evidence.

    ``backed_by``: the compensating controls the reason relies on (see ``CLAIMS``); the reason in the evidence
    ends with ``[control: ...]``, and the gate fails the synth when one is absent."""
    ids = [rule_ids] if isinstance(rule_ids, str) else list(rule_ids)
    controls = list(backed_by)
    for rule_id in ids:
        check(rule_id, reason, controls)
    if controls:
        reason = f"{reason} [control: {', '.join(controls)}]"
        backed_acknowledgments(scope).append(BackedAcknowledgment(scope, tuple(ids), tuple(controls)))
    # One call for all of them: each call into the CDK is a round trip to its jsii process.
    Validations.of(scope).acknowledge(*(Acknowledgment(id=rule_id, reason=reason) for rule_id in ids))


@dataclass(frozen=True)
class BackedAcknowledgment:
    """An acknowledgment of ``rule_ids`` on ``scope`` that relies on ``controls`` (checked by the gate)."""

    scope: IConstruct
    rule_ids: tuple[str, ...]
    controls: tuple[str, ...]


class _Register(Construct):
    """Holds the backed acknowledgments of one construct tree, at its root, for the gate to check."""

    ID = "BackedAcknowledgments"

    def __init__(self, scope: Construct) -> None:
        super().__init__(scope, self.ID)
        self.entries: list[BackedAcknowledgment] = []


def backed_acknowledgments(scope: IConstruct) -> list[BackedAcknowledgment]:
    """The backed acknowledgments made anywhere in ``scope``'s tree (a list the caller may append to)."""
    root = scope.node.root
    register = root.node.try_find_child(_Register.ID)
    if register is None:
        register = _Register(cast(Construct, root))
    return cast(_Register, register).entries

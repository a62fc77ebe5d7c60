"""The only way to acknowledge a compliance finding: a rule id and a real reason."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

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


def check(rule_id: str, reason: str) -> None:
    """Raise AcknowledgmentError unless the id is plugin-qualified and the reason is specific."""
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
    if problems:
        raise AcknowledgmentError("; ".join(problems))


# The regulatory packs share many rule names (S3BucketReplicationEnabled, ...).
REGULATORY_PACKS = ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")


def in_regulatory_packs(rule: str) -> list[str]:
    """The plugin-qualified ids of one rule name in the HIPAA, NIST 800-53 r5 and PCI DSS packs."""
    return [f"{pack}::{pack}-{rule}" for pack in REGULATORY_PACKS]


def acknowledge(scope: IConstruct, rule_ids: str | Sequence[str], reason: str) -> None:
    """Acknowledge findings on ``scope``; keep it the narrowest construct. The synth's validation report
    carries every acknowledgment with its reason into the site's evidence."""
    ids = [rule_ids] if isinstance(rule_ids, str) else list(rule_ids)
    for rule_id in ids:
        check(rule_id, reason)
    # One call for all of them: each call into the CDK is a round trip to its jsii process.
    Validations.of(scope).acknowledge(*(Acknowledgment(id=rule_id, reason=reason) for rule_id in ids))

"""The compliance gate: every pack runs as a validation plugin on every synth."""

from __future__ import annotations

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks

from policies.packs import GxPChecks, ResidencyChecks

PACKS = (AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks, GxPChecks, ResidencyChecks)


def apply_compliance_gate(app: App) -> list[str]:
    """Add every pack to ``app``; any unacknowledged finding then fails the synth. Returns the pack names."""
    packs = [pack(app) for pack in PACKS]
    Validations.of(app).add_plugins(*packs)
    return [pack.name for pack in packs]

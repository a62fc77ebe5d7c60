"""Every rule of our packs names the regulation clauses it implements, and a finding carries them."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack, Tags
from aws_cdk import aws_s3 as s3

from policies import tag_keys
from policies.clauses import CLAUSES, unknown
from policies.packs import GxPChecks, ResidencyChecks


@pytest.mark.parametrize("pack", [GxPChecks, ResidencyChecks], ids=lambda pack: pack.pack)
def test_every_rule_names_known_clauses(pack: type[GxPChecks]) -> None:
    for rule in pack.rules:
        assert rule.clauses, f"{pack.pack}-{rule.suffix} names no clause"
        assert unknown(rule.clauses) == [], f"{pack.pack}-{rule.suffix}: add them to policies/clauses.py"


def test_every_clause_is_implemented_by_a_rule() -> None:
    named = {clause for pack in (GxPChecks, ResidencyChecks) for rule in pack.rules for clause in rule.clauses}
    assert sorted(set(CLAUSES) - named) == [], "a clause no rule implements does not belong in the map"


def test_unknown_names_what_is_not_defined() -> None:
    assert unknown(("21 CFR 11.10(e)", "21 CFR 11.99")) == ["21 CFR 11.99"]


@pytest.mark.synth
def test_a_finding_names_its_clauses() -> None:
    app = App()
    stack = Stack(app, "Site", env={"region": "eu-central-1"})
    Tags.of(stack).add(tag_keys.AUDIT_TRAIL, "true")
    s3.Bucket(stack, "Unversioned")
    app.synth()
    report = GxPChecks(app).validate_scope(app)
    (violation,) = [violation for violation in report.violations if violation.rule_name == "GxP-S3Versioned"]
    assert violation.description.endswith("[21 CFR 11.10(c); Annex 11 §7.1]")

import pytest

from policies.acknowledge import AcknowledgmentError, check, in_regulatory_packs

GOOD_REASON = "The public subnets hold only the NAT gateways, so the IGW route is what egress needs."


def test_a_specific_reason_and_qualified_id_pass() -> None:
    check("AwsSolutions::AwsSolutions-IAM5[Action::s3:GetObject*]", GOOD_REASON)
    check("GxP::GxP-S3Versioned", GOOD_REASON)


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("ok", r"reason 'ok' is too short \(2 chars, 1 words\)"),
        ("Not needed for this stack", "too short"),
        ("TODO: write a reason for this acknowledgment once we know more about it", "placeholder 'TODO'"),
        ("This is a false positive of the rule and can be safely ignored here", "placeholder 'false positive'"),
    ],
)
def test_vague_reasons_are_rejected(reason: str, message: str) -> None:
    with pytest.raises(AcknowledgmentError, match=message):
        check("AwsSolutions::AwsSolutions-S1", reason)


def test_unqualified_rule_id_is_rejected_with_the_fix() -> None:
    with pytest.raises(AcknowledgmentError) as caught:
        check("AwsSolutions-S1", GOOD_REASON)
    assert str(caught.value) == (
        "rule id 'AwsSolutions-S1' is not plugin-qualified; fix: copy it from the failed synth, "
        "e.g. 'AwsSolutions::AwsSolutions-IAM5[Action::s3:GetObject*]' or 'GxP::GxP-S3Versioned'"
    )


def test_regulatory_packs_share_a_rule_name() -> None:
    assert in_regulatory_packs("S3BucketReplicationEnabled") == [
        "HIPAA.Security::HIPAA.Security-S3BucketReplicationEnabled",
        "NIST.800.53.R5::NIST.800.53.R5-S3BucketReplicationEnabled",
        "PCI.DSS.321::PCI.DSS.321-S3BucketReplicationEnabled",
    ]


# --- compensating controls ------------------------------------------------------------------------------------

TRAIL_REASON = "Reads of this bucket are recorded by the site's CloudTrail data events, kept under Object Lock."


def test_a_reason_that_cites_a_control_must_name_it() -> None:
    with pytest.raises(AcknowledgmentError) as caught:
        check("AwsSolutions::AwsSolutions-S1", TRAIL_REASON)
    assert str(caught.value) == (
        "reason cites 'CloudTrail', a control AuditTrail provides, without naming it; fix: pass "
        "backed_by=['AuditTrail'] so the gate checks the site stack contains it"
    )
    check("AwsSolutions::AwsSolutions-S1", TRAIL_REASON, ["AuditTrail"])


@pytest.mark.parametrize(
    ("reason", "control"),
    [
        ("The table is in the site's backup plan, restored from its daily recovery points when needed.", "SiteBackup"),
        ("A Config rule watches the bucket between deployments and reports drift to the account.", "SiteConfigRules"),
    ],
)
def test_each_claimed_control_is_recognised(reason: str, control: str) -> None:
    with pytest.raises(AcknowledgmentError, match=f"a control {control} provides"):
        check("AwsSolutions::AwsSolutions-S1", reason)
    check("AwsSolutions::AwsSolutions-S1", reason, [control])


def test_a_control_is_a_construct_class_or_a_rule_of_our_packs() -> None:
    check("AwsSolutions::AwsSolutions-S1", GOOD_REASON, ["SiteBackup", "GxP::GxP-S3Versioned"])
    with pytest.raises(AcknowledgmentError) as caught:
        check("AwsSolutions::AwsSolutions-S1", GOOD_REASON, ["audit trail", "AwsSolutions::AwsSolutions-S10"])
    assert str(caught.value).count("names neither a construct class nor a rule of our packs") == 2

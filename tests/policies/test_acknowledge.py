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

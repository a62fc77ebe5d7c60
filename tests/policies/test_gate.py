"""The gate: every example site (and a customised one) synthesizes with zero unacknowledged findings."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import App, NestedStack, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3

from factory_constructs.audit.audit_trail import AuditTrail
from factory_constructs.foundation.keys import SiteKeys
from policies import PACK_NAMES
from policies.acknowledge import acknowledge
from policies.gate import CONTROL_RULES, PACKS, BackedControls, apply_compliance_gate
from policies.rules.s3_versioned import S3_VERSIONED
from synth_helpers import example_sites, synth, variant

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def every_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("all-sites")
    synth(example_sites(), outdir)  # raises ValidationFailed on any unacknowledged finding
    return outdir


def test_every_example_site_passes_every_pack(every_site: Path) -> None:
    report = json.loads((every_site / "validation-report.json").read_text())
    assert [plugin["violations"] for plugin in report["pluginReports"]] == [[] for _ in report["pluginReports"]]
    assert {plugin["conclusion"] for plugin in report["pluginReports"]} == {"success"}


def test_every_acknowledgment_in_the_report_carries_a_reason(every_site: Path) -> None:
    report = json.loads((every_site / "validation-report.json").read_text())
    suppressed = [item for plugin in report["pluginReports"] for item in plugin["suppressedViolations"]]
    assert suppressed
    assert all(len(item["reason"]) >= 40 for item in suppressed)


def test_cfn_lint_finds_no_error_in_any_template(every_site: Path) -> None:
    templates = sorted(str(path) for path in every_site.glob("*.template.json"))
    assert len(templates) >= 6  # three sites, each with nested stacks
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--format", "parseable", *templates],
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ":E" in line]
    assert errors == []
    assert result.returncode & 2 == 0, result.stdout


def test_customised_site_passes_too(tmp_path: Path) -> None:
    site = variant(
        example_sites()["plantC"],
        account="123456789012",  # a concrete account is named in some findings' ids
        network={"nat_gateways": 0, "az_count": 3},
        features={"ml_workspace": True, "integration_api": False},
    )
    synth({"plantC": site}, tmp_path)


def test_audit_trail_site_that_destroys_data_fails_the_gate(tmp_path: Path) -> None:
    site = variant(example_sites()["plantB"], lake={"retain_data": False})
    with pytest.raises(RuntimeError, match=r"plantB/Foundation/Keys/Data/Resource .*\n.*GxP::GxP-StatefulRetained"):
        synth({"plantB": site}, tmp_path)


def test_gate_fails_on_an_unacknowledged_finding(tmp_path: Path) -> None:
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Bare", env={"region": "eu-central-1"})
    s3.Bucket(stack, "Unversioned")
    apply_compliance_gate(app)
    with pytest.raises(RuntimeError, match=r"Acknowledge with 'AwsSolutions::AwsSolutions-S10'"):
        app.synth()


def test_pack_names_match_the_packs() -> None:
    assert tuple(pack().name for pack in PACKS) == PACK_NAMES


def test_the_gate_adds_every_pack_as_a_plugin() -> None:
    assert apply_compliance_gate(App()) == list(PACK_NAMES)


# --- acknowledgments backed by a compensating control ---------------------------------------------------------

TRAIL_REASON = "Reads of this bucket are recorded by the site's CloudTrail data events, kept under Object Lock."
VERSIONED_REASON = "Replicas would leave the region; versioning keeps every overwritten or deleted object instead."


def backed_site(tmp_path: Path) -> tuple[App, Stack, s3.Bucket]:
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Site", env={"region": "eu-central-1", "account": "111111111111"})
    return app, stack, s3.Bucket(stack, "Logs", versioned=True)


def test_a_backed_acknowledgment_fails_the_gate_when_its_construct_is_absent(tmp_path: Path) -> None:
    app, _, bucket = backed_site(tmp_path)
    acknowledge(bucket, "AwsSolutions::AwsSolutions-S1", TRAIL_REASON, backed_by=["AuditTrail"])
    apply_compliance_gate(app)
    with pytest.raises(
        RuntimeError,
        match=re.escape(
            "Site/Logs: the acknowledgment of AwsSolutions::AwsSolutions-S1 relies on AuditTrail, which stack Site "
            "does not contain; fix: add the AuditTrail construct to the site, or drop the claim from the reason "
            "and backed_by"
        ),
    ):
        app.synth()


def test_a_construct_control_anywhere_in_the_site_stack_backs_it(tmp_path: Path) -> None:
    app, stack, bucket = backed_site(tmp_path)
    acknowledge(bucket, "AwsSolutions::AwsSolutions-S1", TRAIL_REASON, backed_by=["AuditTrail"])
    audit = NestedStack(stack, "Audit")
    AuditTrail(
        audit,
        "Trail",
        name="site-audit",
        key=SiteKeys(audit, "Keys", removal_policy=RemovalPolicy.RETAIN).logs,
        access_logs=bucket,
        data_event_buckets=[bucket],
        retention_days=30,
        log_retention=logs.RetentionDays.THIRTEEN_MONTHS,
    )
    assert BackedControls(app).validate() == []
    other = Stack(app, "OtherSite", env={"region": "eu-central-1"})
    acknowledge(
        s3.Bucket(other, "Logs", versioned=True),
        "AwsSolutions::AwsSolutions-S1",
        TRAIL_REASON,
        backed_by=["AuditTrail"],
    )
    assert [problem.split(":")[0] for problem in BackedControls(app).validate()] == ["OtherSite/Logs"]


def test_a_rule_control_must_hold_on_the_acknowledged_resources(tmp_path: Path) -> None:
    app, stack, versioned = backed_site(tmp_path)
    acknowledge(
        versioned,
        "HIPAA.Security::HIPAA.Security-S3BucketReplicationEnabled",
        VERSIONED_REASON,
        backed_by=["GxP::GxP-S3Versioned"],
    )
    assert BackedControls(app).validate() == []
    unversioned = s3.Bucket(stack, "Scratch")
    acknowledge(
        unversioned,
        "HIPAA.Security::HIPAA.Security-S3BucketReplicationEnabled",
        VERSIONED_REASON,
        backed_by=["GxP::GxP-S3Versioned"],
    )
    assert BackedControls(app).validate() == [
        "Site/Scratch/Resource: the acknowledgment of HIPAA.Security::HIPAA.Security-S3BucketReplicationEnabled "
        f"relies on GxP::GxP-S3Versioned, which does not hold here ({S3_VERSIONED.info}); "
        f"fix: {S3_VERSIONED.explanation}"
    ]


def test_a_rule_control_that_checks_nothing_acknowledged_or_is_unknown_fails(tmp_path: Path) -> None:
    app, stack, _ = backed_site(tmp_path)
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    acknowledge(key, "AwsSolutions::AwsSolutions-KMS5", VERSIONED_REASON, backed_by=["GxP::GxP-S3Versioned"])
    acknowledge(key, "AwsSolutions::AwsSolutions-KMS6", VERSIONED_REASON, backed_by=["GxP::GxP-Versioned"])
    problems = BackedControls(app).validate()
    assert problems == [
        "Site/Key: the acknowledgment of AwsSolutions::AwsSolutions-KMS5 relies on GxP::GxP-S3Versioned, which checks "
        "none of its resources; fix: acknowledge on the resource the rule checks, or drop the claim",
        f"Site/Key: backed_by names GxP::GxP-Versioned, which is not a rule of our packs; fix: name one of "
        f"{', '.join(sorted(CONTROL_RULES))}",
    ]


def test_the_example_sites_back_every_claimed_control(every_site: Path) -> None:
    report = json.loads((every_site / "validation-report.json").read_text())
    reasons = [item["reason"] for plugin in report["pluginReports"] for item in plugin["suppressedViolations"]]
    # The synth passed, so BackedControls found every named control; the buckets name their versioning.
    assert sum(reason.endswith("[control: GxP::GxP-S3Versioned]") for reason in reasons) >= 3 * 5

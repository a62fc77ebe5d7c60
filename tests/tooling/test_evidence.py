"""tooling.evidence: per-stack compliance evidence read from a real synthesized cloud assembly.

A small app (two top-level stacks, one with a nested stack) is synthesized under the gate: the
validation report and the manifest it writes are what ``collect`` reads, exactly as after `make synth`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
from aws_cdk import CfnWaitConditionHandle, NestedStack, Stack, Tags
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm

from policies import PACK_NAMES, tag_keys
from policies.acknowledge import acknowledge, in_regulatory_packs
from policies.gate import apply_compliance_gate
from policies.rules.log_retention import LOG_RETENTION
from stacks.site_app import new_app
from tooling.evidence import collect, write

pytestmark = pytest.mark.synth

LOGGING_REASON = "This bucket is the access-log target of the other buckets; logging it into itself would loop forever."
REPLICATION_REASON = (
    "Residency keeps this data in eu-central-1; versioning and the retained KMS key protect it instead."
)
SCRATCH_LOG_REASON = (
    "A scratch log group of a short-lived build step; the audit records themselves are kept for ten years."
)
BUCKET = "Alpha/Evidence/Resource"
LOG_GROUP = "Alpha/Inner/Audit/Resource"  # inside the nested stack: its evidence belongs to Alpha
# A finding of our packs names the clauses its rule implements.
LOG_RETENTION_FINDING = f"{LOG_RETENTION.info} [{'; '.join(LOG_RETENTION.clauses)}]"
# What the gate acknowledges, in the order of the validation report (pack order, then rule order).
ACKNOWLEDGMENTS = [
    ("AwsSolutions", "AwsSolutions::AwsSolutions-S1", BUCKET, LOGGING_REASON),
    ("HIPAA.Security", "HIPAA.Security::HIPAA.Security-S3BucketLoggingEnabled", BUCKET, LOGGING_REASON),
    ("HIPAA.Security", "HIPAA.Security::HIPAA.Security-S3BucketReplicationEnabled", BUCKET, REPLICATION_REASON),
    ("NIST.800.53.R5", "NIST.800.53.R5::NIST.800.53.R5-S3BucketLoggingEnabled", BUCKET, LOGGING_REASON),
    ("NIST.800.53.R5", "NIST.800.53.R5::NIST.800.53.R5-S3BucketReplicationEnabled", BUCKET, REPLICATION_REASON),
    ("PCI.DSS.321", "PCI.DSS.321::PCI.DSS.321-S3BucketLoggingEnabled", BUCKET, LOGGING_REASON),
    ("PCI.DSS.321", "PCI.DSS.321::PCI.DSS.321-S3BucketReplicationEnabled", BUCKET, REPLICATION_REASON),
    ("GxP", "GxP::GxP-LogRetention", LOG_GROUP, SCRATCH_LOG_REASON),
]


def synthesize(outdir: Path, *, acknowledge_log_group: bool) -> None:
    """Alpha (eu-central-1): a key, a bucket with acknowledged findings, a nested stack with a short-lived
    log group (acknowledged or not) and a parameter. Beta (us-east-1): one resource, no finding."""
    app = new_app(outdir=str(outdir))
    alpha = Stack(app, "Alpha", env={"region": "eu-central-1"})
    Tags.of(alpha).add(tag_keys.DATA_REGIONS, "eu-central-1 eu-west-1")
    key = kms.Key(alpha, "Key", enable_key_rotation=True)
    bucket = s3.Bucket(
        alpha,
        "Evidence",
        versioned=True,
        enforce_ssl=True,
        encryption_key=key,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
    )
    acknowledge(
        bucket, ["AwsSolutions::AwsSolutions-S1", *in_regulatory_packs("S3BucketLoggingEnabled")], LOGGING_REASON
    )
    acknowledge(bucket, in_regulatory_packs("S3BucketReplicationEnabled"), REPLICATION_REASON)
    inner = NestedStack(alpha, "Inner")
    audit = logs.LogGroup(inner, "Audit", retention=logs.RetentionDays.ONE_MONTH, encryption_key=key)
    if acknowledge_log_group:
        acknowledge(audit, "GxP::GxP-LogRetention", SCRATCH_LOG_REASON)
    ssm.StringParameter(inner, "Setting", string_value="evidence")
    CfnWaitConditionHandle(inner, "Marker")
    beta = Stack(app, "Beta", env={"region": "us-east-1"})
    Tags.of(beta).add(tag_keys.DATA_REGIONS, "us-east-1")
    CfnWaitConditionHandle(beta, "Marker")
    apply_compliance_gate(app)
    app.synth()


@pytest.fixture(scope="module")
def passed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An assembly whose every finding is acknowledged."""
    outdir = tmp_path_factory.mktemp("passed")
    synthesize(outdir, acknowledge_log_group=True)
    return outdir


@pytest.fixture(scope="module")
def failed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An assembly whose synth failed on the nested stack's unacknowledged log group finding."""
    outdir = tmp_path_factory.mktemp("failed")
    with pytest.raises(RuntimeError, match=r"Acknowledge with 'GxP::GxP-LogRetention'"):
        synthesize(outdir, acknowledge_log_group=False)
    return outdir


def resource_types(assembly: Path) -> dict[str, list[str]]:
    """Template file -> the types of its resources, to show what the counts are made of."""
    return {
        path.name: sorted(resource["Type"] for resource in json.loads(path.read_text())["Resources"].values())
        for path in sorted(assembly.glob("*.template.json"))
    }


def test_evidence_is_per_top_level_stack_only(passed: Path) -> None:
    evidence = collect(passed)
    assert sorted(evidence) == ["Alpha", "Beta"]  # not the nested stack, the asset manifests or the tree
    assert [item.stack for item in evidence.values()] == list(evidence)


def test_every_pack_is_listed_with_its_conclusion_even_without_findings(passed: Path) -> None:
    report = json.loads((passed / "validation-report.json").read_text())
    assert "Residency" not in {plugin["pluginName"] for plugin in report["pluginReports"]}  # nothing to report
    for evidence in collect(passed).values():
        assert evidence.packs == dict.fromkeys(PACK_NAMES, "success")


def test_acknowledgments_carry_pack_rule_resource_and_reason(passed: Path) -> None:
    evidence = collect(passed)
    assert evidence["Alpha"].acknowledgments == [
        {"pack": pack, "rule": rule, "path": path, "reason": reason} for pack, rule, path, reason in ACKNOWLEDGMENTS
    ]
    assert evidence["Beta"].acknowledgments == []


def test_a_passing_assembly_has_no_findings(passed: Path) -> None:
    assert {name: item.findings for name, item in collect(passed).items()} == {"Alpha": [], "Beta": []}


def test_resources_are_counted_with_those_of_nested_stacks(passed: Path) -> None:
    assert resource_types(passed) == {
        "Alpha.template.json": [
            "AWS::CloudFormation::Stack",
            "AWS::KMS::Key",
            "AWS::S3::Bucket",
            "AWS::S3::BucketPolicy",
        ],
        "AlphaInner4AB7C21B.nested.template.json": [
            "AWS::CloudFormation::WaitConditionHandle",
            "AWS::Logs::LogGroup",
            "AWS::SSM::Parameter",
        ],
        "Beta.template.json": ["AWS::CloudFormation::WaitConditionHandle"],
    }
    evidence = collect(passed)
    assert (evidence["Alpha"].resources, evidence["Beta"].resources) == (4 + 3, 1)


def test_json_evidence_holds_every_field(passed: Path, tmp_path: Path) -> None:
    alpha = collect(passed)["Alpha"]
    write(alpha, tmp_path)
    written = json.loads((tmp_path / "Alpha.json").read_text())
    assert written == asdict(alpha)
    assert sorted(written) == ["acknowledgments", "findings", "packs", "resources", "stack"]
    assert (written["stack"], written["resources"], len(written["acknowledgments"])) == ("Alpha", 7, 8)


def test_markdown_lists_packs_and_a_table_row_per_acknowledgment(passed: Path, tmp_path: Path) -> None:
    target = write(collect(passed)["Alpha"], tmp_path / "compliance")
    assert target == tmp_path / "compliance" / "Alpha.md"
    assert target.read_text().splitlines() == [
        "# Compliance evidence: Alpha",
        "",
        "Resources: 7. Unacknowledged findings: 0. Acknowledgments: 8.",
        "",
        "## Packs that ran",
        "",
        "- AwsSolutions: success",
        "- GxP: success",
        "- HIPAA.Security: success",
        "- NIST.800.53.R5: success",
        "- PCI.DSS.321: success",
        "- Residency: success",
        "",
        "## Acknowledgments",
        "",
        "| rule | resource | reason |",
        "|---|---|---|",
        *[f"| {rule} | {path} | {reason} |" for _, rule, path, reason in ACKNOWLEDGMENTS],
    ]
    assert target.read_text().endswith(" |\n")


def test_markdown_of_a_stack_without_acknowledgments_keeps_the_empty_table(passed: Path, tmp_path: Path) -> None:
    target = write(collect(passed)["Beta"], tmp_path)
    assert target.read_text() == "\n".join(
        [
            "# Compliance evidence: Beta",
            "",
            "Resources: 1. Unacknowledged findings: 0. Acknowledgments: 0.",
            "",
            "## Packs that ran",
            "",
            *[f"- {pack}: success" for pack in sorted(PACK_NAMES)],
            "",
            "## Acknowledgments",
            "",
            "| rule | resource | reason |",
            "|---|---|---|",
            "",
        ]
    )


def test_a_failed_synth_still_writes_the_report_and_the_evidence_names_the_finding(failed: Path) -> None:
    evidence = collect(failed)
    alpha = evidence["Alpha"]
    assert alpha.findings == [
        {"pack": "GxP", "rule": "GxP-LogRetention", "path": LOG_GROUP, "description": LOG_RETENTION_FINDING}
    ]
    assert alpha.packs == {**dict.fromkeys(PACK_NAMES, "success"), "GxP": "failure"}
    # The acknowledged findings stay in the report of a failed synth, with their reasons.
    assert alpha.acknowledgments == [
        {"pack": pack, "rule": rule, "path": path, "reason": reason}
        for pack, rule, path, reason in ACKNOWLEDGMENTS[:-1]
    ]
    assert (evidence["Beta"].findings, evidence["Beta"].acknowledgments) == ([], [])
    assert alpha.resources == 7


def test_markdown_of_a_failed_synth_ends_with_the_unacknowledged_findings(failed: Path, tmp_path: Path) -> None:
    alpha = collect(failed)["Alpha"]
    lines = write(alpha, tmp_path).read_text().splitlines()
    assert lines[2] == "Resources: 7. Unacknowledged findings: 1. Acknowledgments: 7."
    assert lines[6:12] == [f"- {pack}: {'failure' if pack == 'GxP' else 'success'}" for pack in sorted(PACK_NAMES)]
    assert lines[-4 - 7 : -4] == [f"| {rule} | {path} | {reason} |" for _, rule, path, reason in ACKNOWLEDGMENTS[:-1]]
    assert lines[-4:] == [
        "",
        "## Unacknowledged findings",
        "",
        f"- GxP-LogRetention at {LOG_GROUP}: {LOG_RETENTION_FINDING}",
    ]


def test_findings_and_acknowledgments_go_to_the_stack_of_their_construct_path(tmp_path: Path) -> None:
    """A hand-written report (the shape aws-cdk writes) with entries for two stacks, one in a nested stack."""
    manifest = {
        "artifacts": {
            "plantA": {"type": "aws:cloudformation:stack"},
            "plantB": {"type": "aws:cloudformation:stack"},
            "plantA.assets": {"type": "cdk:asset-manifest"},
            "Tree": {"type": "cdk:tree"},
        }
    }
    report = {
        "pluginReports": [
            {
                "pluginName": "GxP",
                "conclusion": "failure",
                "violations": [
                    {
                        "ruleName": "GxP-S3Versioned",
                        "description": "not versioned",
                        "violatingConstructs": [{"constructPath": "plantB/Data/Lake/Raw/Resource"}],
                    }
                ],
                "suppressedViolations": [
                    {
                        "ruleName": "GxP-KmsRotation",
                        "acknowledgedId": "GxP::GxP-KmsRotation",
                        "reason": "an imported key rotated by its owner account",
                        "violatingConstructs": [{"constructPath": "plantA/Foundation/Key/Resource"}],
                    }
                ],
            }
        ]
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "validation-report.json").write_text(json.dumps(report))
    template: dict[str, dict[str, object]] = {"Resources": {"A": {}, "B": {}}}
    for name in ("plantA.template.json", "plantAData1234ABCD.nested.template.json", "plantB.template.json"):
        (tmp_path / name).write_text(json.dumps(template))
    nested = {"files": {"1234": {"source": {"path": "plantAData1234ABCD.nested.template.json"}}}}
    (tmp_path / "plantA.assets.json").write_text(json.dumps(nested))
    evidence = collect(tmp_path)
    assert sorted(evidence) == ["plantA", "plantB"]
    plant_a, plant_b = evidence["plantA"], evidence["plantB"]
    assert (plant_a.findings, plant_a.resources) == ([], 4)  # plantA and its nested template, not plantB's
    assert plant_a.acknowledgments == [
        {
            "pack": "GxP",
            "rule": "GxP::GxP-KmsRotation",
            "path": "plantA/Foundation/Key/Resource",
            "reason": "an imported key rotated by its owner account",
        }
    ]
    assert plant_b.findings == [
        {
            "pack": "GxP",
            "rule": "GxP-S3Versioned",
            "path": "plantB/Data/Lake/Raw/Resource",
            "description": "not versioned",
        }
    ]
    assert (plant_b.acknowledgments, plant_b.resources, plant_b.packs["GxP"]) == ([], 2, "failure")


def test_a_stack_whose_name_prefixes_another_counts_only_its_own_nested_templates(tmp_path: Path) -> None:
    artifacts = {name: {"type": "aws:cloudformation:stack"} for name in ("plantA", "plantAB")}
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    (tmp_path / "validation-report.json").write_text(json.dumps({"pluginReports": []}))
    for stack, nested in (("plantA", "plantAData16C7E8A0"), ("plantAB", "plantABDataADAD4F47")):
        nested_file = f"{nested}.nested.template.json"
        assets = {"files": {nested: {"source": {"path": nested_file, "packaging": "file"}}}}
        (tmp_path / f"{stack}.assets.json").write_text(json.dumps(assets))
        (tmp_path / f"{stack}.template.json").write_text(json.dumps({"Resources": {"Data": {}}}))
        (tmp_path / nested_file).write_text(json.dumps({"Resources": {"A": {}, "B": {}}}))
    assert {name: item.resources for name, item in collect(tmp_path).items()} == {"plantA": 3, "plantAB": 3}

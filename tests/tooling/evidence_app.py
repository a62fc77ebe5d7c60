"""A small site stack synthesized under the whole gate, for the traceability matrix, the change record and the
evidence page: real validation report, real rule evaluations, real templates. The fixtures are in conftest.py.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import NestedStack, Stack, Tags
from aws_cdk import aws_config as config
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3

from policies import tag_keys
from policies.acknowledge import acknowledge, in_regulatory_packs
from policies.gate import apply_compliance_gate
from stacks.site_app import new_app

STACK = "plantT"
SITE_TAGS = {
    tag_keys.SITE: STACK,
    tag_keys.COMPLIANCE: "fda-21-cfr-part-11",
    tag_keys.AUDIT_TRAIL: "true",
    tag_keys.DATA_REGIONS: "eu-central-1",
}
RECORDS = f"{STACK}/Records/Resource"
SCRATCH = f"{STACK}/Scratch/Resource"
KEY = f"{STACK}/Key/Resource"
LOG_GROUP = f"{STACK}/Inner/Audit/Resource"
LOGGING_REASON = "Both buckets hold test fixtures only; their reads are of no audit interest for this small app."
REPLICATION_REASON = "Residency keeps this data in eu-central-1, so no replica may exist in a second region."
SCRATCH_REASON = "The scratch bucket holds intermediate files rebuilt from the records bucket on every run."
LOG_REASON = "A build step's log group; the step's results are kept in the versioned records bucket for years."
VERSIONING_RULE = "S3_BUCKET_VERSIONING_ENABLED"
VERSIONING_NAME = f"{STACK}-s3-bucket-versioning-enabled"
# The plain mapping the matrix takes (managed rule -> clauses), as factory_constructs/audit/config_rules.py gives.
CONFIG_CLAUSES = {VERSIONING_RULE: ("21 CFR 11.10(c)", "21 CFR 11.10(e)")}


def synthesize(outdir: Path, *, revised: bool) -> None:
    """The first version (``revised=False``) fails the gate: the nested stack's short-lived log group breaks
    GxP-LogRetention unacknowledged, while the unversioned scratch bucket's GxP-S3Versioned finding is
    acknowledged. The next version passes: the scratch bucket is versioned (its acknowledgments go) and the log
    group's finding is acknowledged (a new one)."""
    app = new_app(outdir=str(outdir))
    stack = Stack(app, STACK, env={"region": "eu-central-1"})
    for tag, value in SITE_TAGS.items():
        Tags.of(stack).add(tag, value)
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    buckets = [
        s3.Bucket(
            stack,
            name,
            versioned=versioned,
            enforce_ssl=True,
            encryption_key=key,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        )
        for name, versioned in (("Records", True), ("Scratch", revised))
    ]
    for bucket in buckets:
        acknowledge(
            bucket, ["AwsSolutions::AwsSolutions-S1", *in_regulatory_packs("S3BucketLoggingEnabled")], LOGGING_REASON
        )
        acknowledge(bucket, in_regulatory_packs("S3BucketReplicationEnabled"), REPLICATION_REASON)
    if not revised:
        scratch = buckets[1]
        acknowledge(
            scratch, ["GxP::GxP-S3Versioned", *in_regulatory_packs("S3BucketVersioningEnabled")], SCRATCH_REASON
        )
    inner = NestedStack(stack, "Inner")
    audit = logs.LogGroup(inner, "Audit", retention=logs.RetentionDays.ONE_MONTH, encryption_key=key)
    if revised:
        acknowledge(audit, "GxP::GxP-LogRetention", LOG_REASON)
    config.ManagedRule(
        stack,
        "Versioning",
        identifier=VERSIONING_RULE,
        config_rule_name=VERSIONING_NAME,
        rule_scope=config.RuleScope.from_tag(tag_keys.SITE, STACK),
    )
    apply_compliance_gate(app)
    app.synth()

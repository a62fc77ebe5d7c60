"""The audit rules of the GxP pack: a compliant and a non-compliant case each, checked through the pack."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from aws_cdk import App, NestedStack, Stack, Tags
from aws_cdk import aws_backup as backup
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs

from policies import tag_keys
from policies.packs import GxPChecks

pytestmark = pytest.mark.synth

ACCOUNT = "111111111111"
OTHER_ACCOUNT = "222222222222"
RULES = ("GxP-TrailDataEvents", "GxP-AuditTablePitr", "GxP-BackupCoverage", "GxP-NoForeignPrincipal")


def findings(build: Callable[[Stack], object], *, site: bool = True, audit: bool = True) -> list[str]:
    """The audit rules' findings (name at construct path) for a stack ``build`` fills, tagged as a site's is."""
    app = App()
    stack = Stack(app, "Site", env={"region": "eu-central-1", "account": ACCOUNT})
    if site:
        Tags.of(stack).add(tag_keys.SITE, "plantX")
    Tags.of(stack).add(tag_keys.AUDIT_TRAIL, "true" if audit else "false")
    build(stack)
    app.synth()  # applies the tags, as a real synth does before validation
    report = GxPChecks(app).validate_scope(app)
    return sorted(
        f"{violation.rule_name} at {resource.construct_path}"
        for violation in report.violations
        if violation.rule_name in RULES
        for resource in violation.violating_resources
    )


def lake_bucket(scope: Stack | NestedStack, construct_id: str = "Raw") -> s3.Bucket:
    bucket = s3.Bucket(scope, construct_id, versioned=True)
    Tags.of(bucket).add(tag_keys.ZONE, "raw")
    return bucket


def trail(scope: Stack | NestedStack, buckets: list[s3.IBucket], *, validation: bool = True) -> cloudtrail.Trail:
    made = cloudtrail.Trail(
        scope, "Trail", management_events=cloudtrail.ReadWriteType.NONE, enable_file_validation=validation
    )
    made.add_s3_event_selector([cloudtrail.S3EventSelector(bucket=bucket) for bucket in buckets])
    return made


RAW = "Site/Raw/Resource"

# --- GxP-TrailDataEvents --------------------------------------------------------------------------------------


def test_a_lake_bucket_recorded_by_a_validating_trail_is_compliant() -> None:
    assert [item for item in findings(lambda stack: trail(stack, [lake_bucket(stack)])) if "Trail" in item] == []


def test_a_lake_bucket_recorded_by_a_trail_in_another_nested_stack_of_the_site_is_compliant() -> None:
    def build(stack: Stack) -> None:
        bucket = lake_bucket(NestedStack(stack, "Data"))
        trail(NestedStack(stack, "Audit"), [bucket])

    assert [item for item in findings(build) if "Trail" in item] == []


def test_a_lake_bucket_of_an_audit_trail_site_without_a_trail_is_not() -> None:
    assert findings(lambda stack: lake_bucket(stack)) == [
        f"GxP-BackupCoverage at {RAW}",
        f"GxP-TrailDataEvents at {RAW}",
    ]


def test_a_trail_without_log_file_validation_or_recording_another_bucket_does_not_count() -> None:
    def unvalidated(stack: Stack) -> None:
        trail(stack, [lake_bucket(stack)], validation=False)

    def elsewhere(stack: Stack) -> None:
        lake_bucket(stack)
        trail(stack, [s3.Bucket(stack, "Other", versioned=True)])

    assert f"GxP-TrailDataEvents at {RAW}" in findings(unvalidated)
    assert f"GxP-TrailDataEvents at {RAW}" in findings(elsewhere)


def test_no_trail_is_asked_of_a_site_without_an_audit_trail_regime_or_of_a_bare_construct() -> None:
    assert "GxP-TrailDataEvents" not in " ".join(findings(lambda stack: lake_bucket(stack), audit=False))
    assert findings(lambda stack: lake_bucket(stack), site=False) == []


# --- GxP-AuditTablePitr ---------------------------------------------------------------------------------------


def audit_table(pitr: bool, *, global_table: bool = False) -> Callable[[Stack], object]:
    def build(stack: Stack) -> None:
        key = dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING)
        recovery = dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=pitr)
        table = (
            dynamodb.TableV2(stack, "Commands", partition_key=key, point_in_time_recovery_specification=recovery)
            if global_table
            else dynamodb.Table(stack, "Commands", partition_key=key, point_in_time_recovery_specification=recovery)
        )
        Tags.of(table).add(tag_keys.RECORD, tag_keys.AUDIT_RECORD)

    return build


@pytest.mark.parametrize("global_table", [False, True], ids=["Table", "TableV2"])
def test_an_audit_table_needs_point_in_time_recovery(global_table: bool) -> None:
    assert "GxP-AuditTablePitr" not in " ".join(findings(audit_table(True, global_table=global_table)))
    assert "GxP-AuditTablePitr at Site/Commands/Resource" in findings(audit_table(False, global_table=global_table))


def test_a_table_that_holds_no_audit_records_is_not_judged() -> None:
    def build(stack: Stack) -> None:
        dynamodb.Table(stack, "Cache", partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING))

    assert "GxP-AuditTablePitr" not in " ".join(findings(build))


# --- GxP-BackupCoverage ---------------------------------------------------------------------------------------


def plan(scope: Stack | NestedStack, resources: list[backup.BackupResource]) -> None:
    backup.BackupPlan.daily35_day_retention(scope, "Plan").add_selection("Selection", resources=resources)


def table(scope: Stack | NestedStack) -> dynamodb.TableV2:
    return dynamodb.TableV2(
        scope, "Table", partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING)
    )


def test_tables_and_lake_buckets_named_in_a_selection_of_the_site_are_covered() -> None:
    def build(stack: Stack) -> None:
        data = NestedStack(stack, "Data")
        resources = [table(data).table_arn, lake_bucket(data).bucket_arn]
        plan(NestedStack(stack, "Audit"), [backup.BackupResource.from_arn(arn) for arn in resources])

    assert [item for item in findings(build, audit=False) if "Backup" in item] == []


def test_a_selection_by_one_of_their_tags_covers_them_too() -> None:
    def build(stack: Stack) -> None:
        table(stack)
        lake_bucket(stack)
        plan(stack, [backup.BackupResource.from_tag(tag_keys.SITE, "plantX")])

    assert [item for item in findings(build, audit=False) if "Backup" in item] == []


def test_a_table_or_lake_bucket_left_out_is_a_finding() -> None:
    def build(stack: Stack) -> None:
        covered = table(stack)
        lake_bucket(stack)
        plan(stack, [backup.BackupResource.from_arn(covered.table_arn)])

    assert findings(build, audit=False) == [f"GxP-BackupCoverage at {RAW}"]
    assert findings(lambda stack: table(stack), audit=False) == ["GxP-BackupCoverage at Site/Table/Resource"]


def test_buckets_outside_the_lake_and_bare_constructs_are_not_judged() -> None:
    assert findings(lambda stack: s3.Bucket(stack, "Scratch", versioned=True), audit=False) == []
    assert findings(lambda stack: table(stack), site=False) == []


# --- GxP-NoForeignPrincipal -----------------------------------------------------------------------------------


def queue_allowing(principal: iam.IPrincipal, conditions: Mapping[str, Any] | None = None) -> Callable[[Stack], object]:
    def build(stack: Stack) -> None:
        queue = sqs.Queue(stack, "Queue", enforce_ssl=True)
        queue.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[principal], actions=["sqs:SendMessage"], resources=[queue.queue_arn], conditions=conditions
            )
        )

    return build


POLICY = "GxP-NoForeignPrincipal at Site/Queue/Policy/Resource"


def test_principals_of_the_sites_account_and_services_may_be_let_in() -> None:
    def roles_and_services(stack: Stack) -> None:
        role = iam.Role(stack, "Writer", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        queue_allowing(role)(stack)
        queue_allowing(iam.AccountPrincipal(ACCOUNT))(NestedStack(stack, "Inner"))

    assert findings(roles_and_services, audit=False) == []
    assert findings(queue_allowing(iam.ServicePrincipal("events.amazonaws.com")), audit=False) == []


def test_a_principal_of_another_account_is_a_finding() -> None:
    assert findings(queue_allowing(iam.AccountPrincipal(OTHER_ACCOUNT)), audit=False) == [POLICY]
    other_role = iam.ArnPrincipal(f"arn:aws:iam::{OTHER_ACCOUNT}:role/reader")
    assert findings(queue_allowing(other_role), audit=False) == [POLICY]


def test_any_principal_needs_a_condition_on_the_sites_own_account() -> None:
    assert findings(queue_allowing(iam.AnyPrincipal()), audit=False) == [POLICY]
    own = {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert findings(queue_allowing(iam.AnyPrincipal(), own), audit=False) == []
    other = {"StringEquals": {"aws:SourceAccount": OTHER_ACCOUNT}}
    assert findings(queue_allowing(iam.AnyPrincipal(), other), audit=False) == [POLICY]


def test_key_policies_trust_policies_and_lambda_permissions_are_read_too() -> None:
    def key_for_other(stack: Stack) -> None:
        kms.Key(stack, "Key", enable_key_rotation=True).grant_decrypt(iam.AccountPrincipal(OTHER_ACCOUNT))

    def role_for_other(stack: Stack) -> None:
        iam.Role(stack, "Role", assumed_by=iam.AccountPrincipal(OTHER_ACCOUNT))

    def invoked_by_other(stack: Stack) -> None:
        lambda_.CfnPermission(
            stack, "Invoke", action="lambda:InvokeFunction", function_name="f", principal=OTHER_ACCOUNT
        )

    assert findings(key_for_other, audit=False) == ["GxP-NoForeignPrincipal at Site/Key/Resource"]
    assert findings(role_for_other, audit=False) == ["GxP-NoForeignPrincipal at Site/Role/Resource"]
    assert findings(invoked_by_other, audit=False) == ["GxP-NoForeignPrincipal at Site/Invoke"]
    assert findings(lambda stack: kms.Key(stack, "Key", enable_key_rotation=True), audit=False) == []


def test_deny_statements_may_name_anyone() -> None:
    def deny_everyone_else(stack: Stack) -> None:
        bucket = s3.Bucket(stack, "Bucket", versioned=True, enforce_ssl=True)  # TLS deny to "*"
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:*"],
                resources=[bucket.arn_for_objects("*")],
                conditions={"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT}},
            )
        )

    assert findings(deny_everyone_else, audit=False) == []

"""The rules over SageMaker domains and user profiles (cdk-nag has none): a compliant and a non-compliant
resource each, through their pack; and residency over the workspace's resources."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk import App, Stack, Tags
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker

from policies import tag_keys
from policies.packs import GxPChecks, ResidencyChecks

pytestmark = pytest.mark.synth

ROLE = "arn:aws:iam::123456789012:role/workspace"


def findings(pack: type, build: Callable[[Stack], object], *, region: str = "eu-central-1") -> list[str]:
    """Rule names ``pack`` reports for a stack in ``region`` (allowed data regions: eu-central-1, eu-west-1)."""
    app = App()
    stack = Stack(app, "Site", env={"region": region, "account": "123456789012"})
    Tags.of(stack).add(tag_keys.DATA_REGIONS, "eu-central-1 eu-west-1")
    build(stack)
    app.synth()
    report = pack(app).validate_scope(app)
    return sorted({violation.rule_name for violation in report.violations})


def domain(
    *,
    access: str | None = "VpcOnly",
    key: str | None = "site",
    sharing: sagemaker.CfnDomain.SharingSettingsProperty | None = None,
) -> Callable[[Stack], object]:
    """A domain with ``access`` (None: the property left out), a KmsKeyId that is the stack's own key ("site"),
    a literal, or None (left out), and the default users' ``sharing``."""

    def build(stack: Stack) -> None:
        kms_key_id = kms.Key(stack, "Key", enable_key_rotation=True).key_arn if key == "site" else key
        sagemaker.CfnDomain(
            stack,
            "Domain",
            domain_name="plantA-workspace",
            auth_mode="IAM",
            app_network_access_type=access,
            vpc_id="vpc-1",
            subnet_ids=["subnet-1"],
            kms_key_id=kms_key_id,
            default_user_settings=sagemaker.CfnDomain.UserSettingsProperty(
                execution_role=ROLE, security_groups=["sg-1"], sharing_settings=sharing
            ),
        )

    return build


def profile(**settings: Any) -> Callable[[Stack], object]:
    def build(stack: Stack) -> None:
        sagemaker.CfnUserProfile(
            stack,
            "Profile",
            domain_id="d-1",
            user_profile_name="anna-keller",
            user_settings=sagemaker.CfnUserProfile.UserSettingsProperty(**settings) if settings else None,
        )

    return build


def test_a_domain_must_be_vpc_only() -> None:
    assert findings(ResidencyChecks, domain()) == []
    # Left out, SageMaker makes it PublicInternetOnly.
    assert findings(ResidencyChecks, domain(access=None)) == ["Residency-SageMakerDomainVpcOnly"]
    assert findings(ResidencyChecks, domain(access="PublicInternetOnly")) == ["Residency-SageMakerDomainVpcOnly"]


def test_a_domain_must_be_encrypted_with_a_key_of_the_templates() -> None:
    assert findings(GxPChecks, domain()) == []
    assert findings(GxPChecks, domain(key=None)) == ["GxP-SageMakerCustomerKey"]  # an AWS managed key
    # A literal cannot be shown to be the site's customer-managed key.
    assert findings(GxPChecks, domain(key="alias/aws/sagemaker")) == ["GxP-SageMakerCustomerKey"]


def test_shared_notebooks_of_the_default_users_need_a_customer_key_too() -> None:
    def sharing(key: str | None) -> sagemaker.CfnDomain.SharingSettingsProperty:
        return sagemaker.CfnDomain.SharingSettingsProperty(
            notebook_output_option="Allowed", s3_output_path="s3://shared/notebooks", s3_kms_key_id=key
        )

    assert findings(GxPChecks, domain(sharing=sharing(None))) == ["GxP-SageMakerCustomerKey"]
    disabled = sagemaker.CfnDomain.SharingSettingsProperty(notebook_output_option="Disabled")
    assert findings(GxPChecks, domain(sharing=disabled)) == []


def test_a_profile_that_shares_notebooks_without_a_customer_key_is_refused() -> None:
    unencrypted = sagemaker.CfnUserProfile.SharingSettingsProperty(
        notebook_output_option="Allowed", s3_output_path="s3://shared/notebooks"
    )
    assert findings(GxPChecks, profile(sharing_settings=unencrypted)) == ["GxP-SageMakerCustomerKey"]

    def encrypted(stack: Stack) -> None:
        key = kms.Key(stack, "Key", enable_key_rotation=True)
        sharing = sagemaker.CfnUserProfile.SharingSettingsProperty(
            notebook_output_option="Allowed", s3_output_path="s3://shared/notebooks", s3_kms_key_id=key.key_arn
        )
        profile(sharing_settings=sharing)(stack)

    assert findings(GxPChecks, encrypted) == []


def test_a_profile_inherits_the_domains_role_and_security_groups() -> None:
    assert findings(GxPChecks, profile()) == []
    assert findings(GxPChecks, profile(studio_web_portal="ENABLED")) == []
    assert findings(GxPChecks, profile(execution_role=ROLE)) == ["GxP-SageMakerProfileInherits"]
    assert findings(GxPChecks, profile(security_groups=["sg-open"])) == ["GxP-SageMakerProfileInherits"]


@pytest.mark.parametrize("build", [domain(), profile()], ids=["domain", "profile"])
def test_the_workspace_resources_must_be_in_an_allowed_data_region(build: Callable[[Stack], object]) -> None:
    assert "Residency-StackRegion" not in findings(ResidencyChecks, build, region="eu-west-1")
    assert "Residency-StackRegion" in findings(ResidencyChecks, build, region="us-east-1")


def test_the_model_registry_must_be_in_an_allowed_data_region() -> None:
    def group(stack: Stack) -> None:
        sagemaker.CfnModelPackageGroup(stack, "Models", model_package_group_name="plantA-models")

    assert findings(ResidencyChecks, group) == []
    assert findings(ResidencyChecks, group, region="us-east-1") == ["Residency-StackRegion"]

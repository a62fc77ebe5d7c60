"""The site's SageMaker workspace: a VpcOnly Studio domain on the site key, one user profile per analyst,
the idle shutdown of their JupyterLab apps, and the model package group of the site's models.

The idle check that the lifecycle configuration installs is ``idle_shutdown/`` beside this file: the
shell script that starts it, and the program itself (plain Python, tested against a real Jupyter server).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, Fn, RemovalPolicy, Stack, Tags, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from factory_constructs.grant_findings import acknowledge_grant_policy, arn_wildcard, bucket_wildcard
from factory_constructs.ml.idle_shutdown import lifecycle_script
from policies import tag_keys

# SageMaker's rule for the names of domains, user profiles, lifecycle configurations and model package groups.
NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
INSTANCE_TYPE = re.compile(r"ml\.[a-z0-9]+\.[a-z0-9]+")
# StudioLifecycleConfigContent (the script, base64-encoded) is at most this long.
MAX_LIFECYCLE_CONTENT = 16384
JUPYTER_LAB = "JupyterLab"
# A space's home volume (EBS, on the site key): what a new space gets, and the most a user may raise it to.
DEFAULT_SPACE_GB, MAX_SPACE_GB = 5, 100
# What the apps of a VpcOnly domain send each other through their security group: NFS to the domain's EFS
# home folders, and the ports Studio's apps talk to one another on (SageMaker developer guide, "Connect
# Studio notebooks in a VPC to external resources").
NFS = ec2.Port.tcp(2049)
APP_PORTS = ec2.Port.tcp_range(8192, 65535)
GLUE_READ_ACTIONS = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions"]
WRITE_ACTIONS = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"]


@dataclass(frozen=True)
class WorkspaceUser:
    """An analyst of the site: ``name`` becomes the user profile's name, ``email`` its owner tag."""

    name: str
    email: str


class MlWorkspace(Construct):
    """A SageMaker Studio domain ``<site_id>-workspace`` with IAM authentication, in ``VpcOnly`` network mode
    in ``subnets`` of ``vpc``: its apps reach nothing but the VPC (HTTPS to its interface endpoints, which
    must include SageMaker API, runtime and Studio, STS, CloudWatch Logs, ECR, KMS and S3), and each other
    through ``security_group``. ``key`` (the site key) encrypts the domain's EFS home folders and its
    spaces' EBS volumes; notebook sharing is off.

    Every user and space runs as ``execution_role``, which may read ``curated`` (the curated zone bucket)
    and, in the Glue Data Catalog, ``curated_database`` and its ``curated_tables``; write, overwrite and
    delete only under ``model_data_prefix`` (default ``"ml/"``) of ``curated``; and delete its domain's
    JupyterLab apps, which the idle check does. Nothing else.

    ``lifecycle_config`` (type JupyterLab, the default of users and spaces) starts the idle check of
    ``idle_shutdown/`` in each JupyterLab app: an app with no busy kernel and no kernel or terminal activity
    for ``idle_shutdown_minutes`` (default 60) is deleted; its space and files stay. New apps run on
    ``instance_type`` (default ml.t3.medium).

    ``analysts`` (default none): one user profile each, named after the analyst and tagged ``dmc:owner`` with
    the analyst's e-mail; profiles inherit every setting of the domain. ``model_package_group``
    (``<site_id>-models``) holds the versions of the site's models.

    ``removal_policy`` (default RETAIN): the domain (its EFS home folders hold the analysts' work) and the
    model package group (the record of which versions were approved).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        site_id: str,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        key: kms.IKey,
        curated: s3.IBucket,
        curated_database: str,
        curated_tables: Sequence[str],
        analysts: Sequence[WorkspaceUser] = (),
        idle_shutdown_minutes: int = 60,
        instance_type: str = "ml.t3.medium",
        model_data_prefix: str = "ml/",
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        script = lifecycle_script(idle_shutdown_minutes, stack.region)
        content = (
            Fn.base64(script)
            if Token.is_unresolved(script)
            else base64.b64encode(script.encode("utf-8")).decode("ascii")
        )
        digest = hashlib.sha256(script.encode("utf-8")).hexdigest()[:8]
        names = {
            "domain": f"{site_id}-workspace",
            "model package group": f"{site_id}-models",
            # Lifecycle configurations cannot change: a new script is a new one, under a new name.
            "lifecycle configuration": f"{site_id}-idle-shutdown-{digest}",
        }
        problems = _problems(
            site_id=site_id,
            names=names,
            analysts=analysts,
            curated_tables=curated_tables,
            idle_shutdown_minutes=idle_shutdown_minutes,
            instance_type=instance_type,
            model_data_prefix=model_data_prefix,
            content=content,
        )
        if problems:
            raise ValueError(f"MlWorkspace {construct_id}: " + "; ".join(problems))
        self.key = key
        self.model_data_bucket = curated
        self.model_data_prefix = model_data_prefix
        self.security_group = self._security_group(vpc)
        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker workspace users and spaces: read the curated zone, write its ml/ prefix",
        )
        self.lifecycle_config = sagemaker.CfnStudioLifecycleConfig(
            self,
            "IdleShutdown",
            studio_lifecycle_config_app_type=JUPYTER_LAB,
            studio_lifecycle_config_name=names["lifecycle configuration"],
            studio_lifecycle_config_content=content,
        )
        jupyter_lab = sagemaker.CfnDomain.JupyterLabAppSettingsProperty(
            default_resource_spec=sagemaker.CfnDomain.ResourceSpecProperty(
                instance_type=instance_type,
                lifecycle_config_arn=self.lifecycle_config.attr_studio_lifecycle_config_arn,
            ),
            lifecycle_config_arns=[self.lifecycle_config.attr_studio_lifecycle_config_arn],
        )
        storage = sagemaker.CfnDomain.DefaultSpaceStorageSettingsProperty(
            default_ebs_storage_settings=sagemaker.CfnDomain.DefaultEbsStorageSettingsProperty(
                default_ebs_volume_size_in_gb=DEFAULT_SPACE_GB, maximum_ebs_volume_size_in_gb=MAX_SPACE_GB
            )
        )
        security_groups = [self.security_group.security_group_id]
        self.domain = sagemaker.CfnDomain(
            self,
            "Domain",
            domain_name=names["domain"],
            auth_mode="IAM",
            app_network_access_type="VpcOnly",
            vpc_id=vpc.vpc_id,
            subnet_ids=vpc.select_subnets(subnet_type=subnets.subnet_type).subnet_ids,
            kms_key_id=key.key_arn,
            # The domain's tags reach the apps and spaces created in it (cost allocation per site).
            tag_propagation="ENABLED",
            default_user_settings=sagemaker.CfnDomain.UserSettingsProperty(
                execution_role=self.execution_role.role_arn,
                security_groups=security_groups,
                studio_web_portal="ENABLED",
                default_landing_uri="studio::",
                jupyter_lab_app_settings=jupyter_lab,
                space_storage_settings=storage,
                sharing_settings=sagemaker.CfnDomain.SharingSettingsProperty(notebook_output_option="Disabled"),
            ),
            default_space_settings=sagemaker.CfnDomain.DefaultSpaceSettingsProperty(
                execution_role=self.execution_role.role_arn,
                security_groups=security_groups,
                jupyter_lab_app_settings=jupyter_lab,
                space_storage_settings=storage,
            ),
        )
        self.domain.apply_removal_policy(removal_policy)
        self.user_profiles: dict[str, sagemaker.CfnUserProfile] = {}
        for analyst in analysts:
            profile = sagemaker.CfnUserProfile(
                self,
                f"Profile{_construct_id(analyst.name)}",
                domain_id=self.domain.attr_domain_id,
                user_profile_name=analyst.name,
            )
            Tags.of(profile).add(tag_keys.OWNER, analyst.email)
            self.user_profiles[analyst.name] = profile
        self.model_package_group = sagemaker.CfnModelPackageGroup(
            self,
            "Models",
            model_package_group_name=names["model package group"],
            model_package_group_description=f"Models of site {site_id}: an approved version is released to the "
            "site's gateways",
        )
        self.model_package_group.apply_removal_policy(removal_policy)
        self._grant_execution_role(stack, curated, curated_database, curated_tables, key)

    def _security_group(self, vpc: ec2.IVpc) -> ec2.SecurityGroup:
        """HTTPS into the VPC (its interface endpoints) and the apps' own traffic among themselves; nothing else."""
        group = ec2.SecurityGroup(
            self,
            "AppSecurityGroup",
            vpc=vpc,
            description="SageMaker workspace apps: HTTPS to the VPC endpoints, NFS and app traffic among themselves",
            allow_all_outbound=False,
        )
        group.add_egress_rule(ec2.Peer.ipv4(vpc.vpc_cidr_block), ec2.Port.tcp(443), "HTTPS to the VPC endpoints")
        for port, description in ((NFS, "NFS to the domain's EFS home folders"), (APP_PORTS, "Studio app traffic")):
            group.add_ingress_rule(group, port, description)
            group.add_egress_rule(group, port, description)
        return group

    def _grant_execution_role(
        self, stack: Stack, curated: s3.IBucket, database: str, tables: Sequence[str], key: kms.IKey
    ) -> None:
        role = self.execution_role
        # Reading objects decrypts them: the bucket's grant gives kms:Decrypt on its key.
        curated.grant_read(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=WRITE_ACTIONS, resources=[curated.arn_for_objects(f"{self.model_data_prefix}*")]
            )
        )
        key.grant(role, "kms:GenerateDataKey")  # writing an object under the site key

        def glue(resource: str, name: str | None = None) -> str:
            return stack.format_arn(
                service="glue",
                resource=resource,
                resource_name=name,
                arn_format=ArnFormat.NO_RESOURCE_NAME if name is None else ArnFormat.SLASH_RESOURCE_NAME,
            )

        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=GLUE_READ_ACTIONS,
                resources=[
                    glue("catalog"),
                    glue("database", database),
                    *(glue("table", f"{database}/{table}") for table in tables),
                ],
            )
        )
        # The idle check deletes its own app; an app's ARN is app/<domain>/<user or space>/<type>/<name>, in
        # lower case.
        apps = stack.format_arn(
            service="sagemaker", resource="app", resource_name=f"{self.domain.attr_domain_id}/*/jupyterlab/*"
        )
        role.add_to_principal_policy(iam.PolicyStatement(actions=["sagemaker:DeleteApp"], resources=[apps]))
        acknowledge_grant_policy(
            role,
            [
                (
                    bucket_wildcard(self, curated, "/*"),
                    "The workspace reads the whole curated zone, which holds only the site's own aggregates and "
                    "KPIs; the wildcard covers the objects of that one bucket, read-only.",
                ),
                (
                    bucket_wildcard(self, curated, f"/{self.model_data_prefix}*"),
                    f"Notebooks write model data and artifacts (model.tar.gz) under {self.model_data_prefix} "
                    "with keys they choose; the wildcard covers that one folder of the curated bucket.",
                ),
                (
                    arn_wildcard(stack, apps),
                    "The idle check deletes the JupyterLab app it runs in; app names are chosen per space, so the "
                    "wildcard covers the JupyterLab apps of this one domain and nothing else.",
                ),
            ],
        )


def _problems(
    *,
    site_id: str,
    names: dict[str, str],
    analysts: Sequence[WorkspaceUser],
    curated_tables: Sequence[str],
    idle_shutdown_minutes: int,
    instance_type: str,
    model_data_prefix: str,
    content: str,
) -> list[str]:
    problems = []
    if not Token.is_unresolved(site_id):
        invalid = {kind: name for kind, name in names.items() if not NAME.fullmatch(name)}
        if invalid:
            problems.append(
                f"site_id {site_id!r} gives the SageMaker name(s) {invalid}, which must be 1-63 letters, digits "
                "and inner hyphens; fix: use a site id of letters and digits of at most 40 characters"
            )
    profile_names = [analyst.name for analyst in analysts]
    invalid_profiles = [name for name in profile_names if not NAME.fullmatch(name)]
    if invalid_profiles:
        problems.append(
            f"analysts {invalid_profiles} are not SageMaker user profile names; fix: use 1-63 letters, digits "
            "and hyphens, starting and ending with a letter or digit"
        )
    lowered = [name.lower() for name in profile_names]
    repeated = sorted({name for name in lowered if lowered.count(name) > 1})
    if repeated:
        problems.append(
            f"analysts name {repeated} more than once (ignoring case: SageMaker lower-cases profile ARNs); "
            "fix: give each analyst one profile"
        )
    if not curated_tables:
        problems.append("curated_tables is empty; fix: name the curated tables the workspace reads")
    if not Token.is_unresolved(idle_shutdown_minutes) and idle_shutdown_minutes < 1:
        problems.append(f"idle_shutdown_minutes {idle_shutdown_minutes} is below 1; fix: give at least 1 minute")
    if not INSTANCE_TYPE.fullmatch(instance_type):
        problems.append(f"instance_type {instance_type!r} is not a SageMaker instance type; fix: use e.g. ml.t3.medium")
    if Token.is_unresolved(model_data_prefix) or not re.fullmatch(r"([A-Za-z0-9_.\-]+/)+", model_data_prefix):
        problems.append(
            f"model_data_prefix {model_data_prefix!r} is not a literal prefix of folders ending in '/'; "
            "fix: give a folder such as 'ml/'"
        )
    if not Token.is_unresolved(content) and len(content) > MAX_LIFECYCLE_CONTENT:
        problems.append(
            f"the idle shutdown's lifecycle script is {len(content)} characters in base64, above SageMaker's "
            f"{MAX_LIFECYCLE_CONTENT}; fix: shorten idle_shutdown/idle_shutdown.py"
        )
    return problems


def _construct_id(name: str) -> str:
    """A profile's construct id from its name: anna-keller -> AnnaKeller (names are unique ignoring case)."""
    return "".join(part[:1].upper() + part[1:].lower() for part in name.split("-") if part)

"""Bringing the gateways in line with one model package version's current approval state.

The handler acts on the package as SageMaker describes it now, not on the event's copy: SageMaker may
send several events per change, and EventBridge may deliver them late or twice, so every invocation
converges on the present state and a repeated one finds nothing to do.

- Approved: read ``model.tar.gz`` (only from the workspace's output prefix), check the model card
  (``ml.model_card``) and its ONNX file, copy both to the artifacts bucket under content-addressed
  keys, create the component version unless it exists, and revise the thing group's deployment to
  run it. A package that cannot be deployed stays approved in SageMaker; its release record and the
  release event say why (``refused``), and nothing on the gateways changes.
- Rejected, pending, being deleted or deleted: take the component version this package released (its
  release record says which) out of the deployment, unless a newer approval already replaced it. An
  approved package SageMaker has not finished (status other than Completed) is released by the event
  of its completion.

Clients are passed in; ``now`` gives the records' time, ``sleep`` the wait while Greengrass checks a
new component version, and ``announce`` publishes a changed record before it is stored (a failed
announcement fails the invocation first, so its retry announces again instead of finding the record
already stored and staying silent).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ml.edge_models import latest_deployment

from . import deployment as revision
from .archive import location_problems, read_model, s3_location
from .component import ModelComponent, collision_problem, model_component, recipe_bytes
from .records import Record, package_path, read_record, write_record

APPROVED = "Approved"
# Only a package SageMaker has finished is released; one being deleted is taken off like a deleted one.
COMPLETED = "Completed"
# Greengrass checks a new component version (its artifacts, their digests) before it can be deployed.
DEPLOYABLE = "DEPLOYABLE"
# A version Greengrass refused, or one someone deprecated, is never deployed by the release.
UNUSABLE = frozenset({"FAILED", "DEPRECATED"})
STATE_POLLS, POLL_INTERVAL_S = 10, 3.0
# SageMaker answers a described package that is gone (deleted) with a validation error.
GONE = frozenset({"ValidationException", "ResourceNotFound", "ResourceNotFoundException"})


@dataclass(frozen=True)
class Settings:
    """What the handler's environment names: the site, its group, buckets, target and pipeline."""

    site_id: str
    model_package_group: str
    model_data_bucket: str
    model_data_prefix: str
    artifacts_bucket: str
    thing_group_arn: str
    pipeline_component: str
    greengrass_root: str  # the gateways' Greengrass root folder

    def component_arn(self, component: str, version: str) -> str:
        """The component version's ARN, in the partition, region and account of the thing group."""
        _, partition, _, region, account, _ = self.thing_group_arn.split(":", 5)
        return f"arn:{partition}:greengrass:{region}:{account}:components:{component}:versions:{version}"


@dataclass(frozen=True)
class Clients:
    sagemaker: Any
    s3: Any
    greengrass: Any


@dataclass(frozen=True)
class Outcome:
    """What one invocation did.

    ``action``: ``released`` or ``withdrawn`` (a deployment revision was created), ``refused`` (the
    approved package cannot be deployed) or ``unchanged``. ``recorded``: the release record changed
    (a repeated event changes nothing). ``deployment_id``: the revision created, else None.
    """

    action: str
    record: Record | None
    recorded: bool = False
    deployment_id: str | None = None


class ReleaseError(RuntimeError):
    """A transient failure: the invocation raises it so that Lambda retries the event."""


# announce(record, deployment_id): publishes a record that is about to be stored.
Announce = Callable[[Record, "str | None"], None]


def reconcile(
    model_package_arn: str,
    *,
    settings: Settings,
    clients: Clients,
    now: Callable[[], str],
    sleep: Callable[[float], None],
    announce: Announce,
) -> Outcome:
    """Make the gateways match the package's current approval state; see the module docstring."""
    package_path(model_package_arn)  # refuses anything but a versioned package ARN before any call
    package = _describe(clients.sagemaker, model_package_arn)
    group = None if package is None else package.get("ModelPackageGroupName", "")
    if group is not None and group.lower() != settings.model_package_group.lower():
        raise ValueError(
            f"model package {model_package_arn} is in group {group!r}, not {settings.model_package_group!r}; "
            "fix: the rule must match this site's group only"
        )
    release = _Release(settings=settings, clients=clients, now=now, sleep=sleep, announce=announce)
    if (
        package is not None
        and package.get("ModelApprovalStatus") == APPROVED
        and package.get("ModelPackageStatus") == COMPLETED
    ):
        return release.approved(model_package_arn, package)
    return release.withdrawn(model_package_arn)


def _describe(sagemaker: Any, model_package_arn: str) -> dict[str, Any] | None:
    try:
        return dict(sagemaker.describe_model_package(ModelPackageName=model_package_arn))
    except ClientError as error:
        if error.response["Error"]["Code"] in GONE:
            return None
        raise


@dataclass(frozen=True)
class _Release:
    settings: Settings
    clients: Clients
    now: Callable[[], str]
    sleep: Callable[[float], None]
    announce: Announce

    def approved(self, model_package_arn: str, package: dict[str, Any]) -> Outcome:
        settings, clients = self.settings, self.clients

        def refuse(problems: list[str]) -> Outcome:
            record = Record(model_package_arn, status="refused", problems=tuple(problems), at=self.now())
            return self._recorded(record, action="refused")

        urls = [
            container["ModelDataUrl"]
            for container in package.get("InferenceSpecification", {}).get("Containers", [])
            if "ModelDataUrl" in container
        ]
        if len(urls) != 1:
            return refuse(
                [
                    f"the package names {len(urls)} ModelDataUrl(s) in its inference containers; "
                    "fix: register one container whose ModelDataUrl is the training job's model.tar.gz"
                ]
            )
        problems = location_problems(urls[0], bucket=settings.model_data_bucket, prefix=settings.model_data_prefix)
        if problems:
            return refuse(problems)
        bucket, key = s3_location(urls[0])
        archive = clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            component = model_component(read_model(archive, site_id=settings.site_id))
        except ValueError as error:
            return refuse(str(error).splitlines())
        current = latest_deployment(clients.greengrass, settings.thing_group_arn)
        problems = revision.release_problems(
            current, target_arn=settings.thing_group_arn, pipeline=settings.pipeline_component
        )
        if problems:
            return refuse(problems)
        assert current is not None
        problem = self._ensure_component(component)
        if problem is not None:
            return refuse([problem])
        request = revision.add_model(
            current,
            pipeline=settings.pipeline_component,
            root=settings.greengrass_root,
            component=component.name,
            version=component.version,
        )
        record = Record(
            model_package_arn,
            status="released",
            component=component.name,
            component_version=component.version,
            content_hash=component.content_hash,
            at=self.now(),
        )
        return self._revised(record, request, action="released")

    def withdrawn(self, model_package_arn: str) -> Outcome:
        settings, clients = self.settings, self.clients
        released = read_record(clients.s3, bucket=settings.artifacts_bucket, model_package_arn=model_package_arn)
        if released is None or released.status != "released":
            return Outcome(action="unchanged", record=released)
        assert released.component is not None and released.component_version is not None
        current = latest_deployment(clients.greengrass, settings.thing_group_arn)
        request = (
            revision.remove_model(
                current,
                pipeline=settings.pipeline_component,
                root=settings.greengrass_root,
                component=released.component,
                version=released.component_version,
            )
            if current is not None
            else None
        )
        record = Record(
            model_package_arn,
            status="withdrawn",
            component=released.component,
            component_version=released.component_version,
            content_hash=released.content_hash,
            at=self.now(),
        )
        return self._revised(record, request, action="withdrawn")

    def _revised(self, record: Record, request: dict[str, Any] | None, *, action: str) -> Outcome:
        """Create the revision (if any), then announce and store the record."""
        if request is None:
            return self._recorded(record, action="unchanged")
        deployment_id = str(self.clients.greengrass.create_deployment(**request)["deploymentId"])
        return self._recorded(record, action=action, deployment_id=deployment_id)

    def _recorded(self, record: Record, *, action: str, deployment_id: str | None = None) -> Outcome:
        """Announce and store ``record`` unless the stored one already says the same (its time aside)."""
        stored = read_record(
            self.clients.s3, bucket=self.settings.artifacts_bucket, model_package_arn=record.model_package_arn
        )
        if record.same_release(stored) and deployment_id is None:
            return Outcome(action=action, record=stored)
        self.announce(record, deployment_id)
        write_record(self.clients.s3, record, bucket=self.settings.artifacts_bucket)
        return Outcome(action=action, record=record, recorded=True, deployment_id=deployment_id)

    def _ensure_component(self, component: ModelComponent) -> str | None:
        """Create the component version (artifacts first) unless it exists; wait until it is deployable.
        Returns why it cannot be deployed, or None."""
        settings, greengrass = self.settings, self.clients.greengrass
        arn = settings.component_arn(component.name, component.version)
        try:
            existing = greengrass.describe_component(arn=arn)
        except greengrass.exceptions.ResourceNotFoundException:
            existing = None
        if existing is not None:
            problem = collision_problem(component, existing.get("description", ""))
            if problem is not None:
                return problem
            state = existing["status"]
        else:
            for name, data in component.files:
                self.clients.s3.put_object(
                    Bucket=settings.artifacts_bucket, Key=component.key(name), Body=data, ServerSideEncryption="aws:kms"
                )
            recipe = recipe_bytes(component, bucket=settings.artifacts_bucket)
            # The token makes a Lambda retry of the same creation a no-op at Greengrass.
            state = greengrass.create_component_version(
                inlineRecipe=recipe, clientToken=hashlib.sha256(recipe).hexdigest()
            )["status"]
        for _ in range(STATE_POLLS):
            if state["componentState"] == DEPLOYABLE:
                return None
            if state["componentState"] in UNUSABLE:
                return (
                    f"{component.name} {component.version} is {state['componentState']} in Greengrass "
                    f"({state.get('message', 'no message')}; {state.get('errors', {})}); fix: check the artifacts "
                    f"under s3://{settings.artifacts_bucket}/{component.key('')} and the component version"
                )
            self.sleep(POLL_INTERVAL_S)
            state = greengrass.describe_component(arn=arn)["status"]
        raise ReleaseError(
            f"{component.name} {component.version} is still {state['componentState']} after {STATE_POLLS} checks; "
            "the event is retried"
        )
